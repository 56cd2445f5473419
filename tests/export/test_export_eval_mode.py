"""EVAL exports: an 'eval' signature with loss, predictions and metrics of the batch passed in.

Batch (conftest train_input_fn): x = [[1, 2], [3, -1]], labels [2, 0]. Logits: row 1 [1, 2, 1.5]
(class 1, wrong), row 2 [3, -1, -3.5] (class 0, right): accuracy 0.5.
"""

from __future__ import annotations

import json
import os

import pytest
import torch

import torch_estimator as te

X = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
LABELS = torch.tensor([2, 0])


def supervised_receiver_fn():
    return te.export.build_raw_supervised_input_receiver_fn(
        {"x": torch.zeros(2, 2)}, torch.zeros(2, dtype=torch.int64)
    )


@pytest.fixture
def eval_export(make_trained, tmp_path):
    estimator = make_trained()
    path = estimator.export_saved_model(
        str(tmp_path / "export"), supervised_receiver_fn(), experimental_mode=te.ModeKeys.EVAL
    )
    return estimator, path


def test_eval_signature_has_tf_eval_output_keys(eval_export):
    _, path = eval_export
    with open(os.path.join(path, "saved_model.json")) as f:
        metadata = json.load(f)
    assert metadata["mode"] == "eval" and metadata["default_signature"] is None
    (name, entry), *_ = metadata["signatures"].items()
    assert name == "eval" and entry["method_name"] == "tensorflow/supervised/eval"
    assert entry["inputs"] == {
        "x": {"dtype": "float32", "shape": [-1, 2]},
        "label": {"dtype": "int64", "shape": [-1]},
    }
    assert entry["outputs"] == {
        "loss": {"dtype": "float32", "shape": []},
        "predictions/class_ids": {"dtype": "int64", "shape": [-1]},
        "predictions/probabilities": {"dtype": "float32", "shape": [-1, 3]},
        "metrics/accuracy/value": {"dtype": "float32", "shape": []},
        "metrics/accuracy/update_op": {"dtype": "float32", "shape": []},
    }


def test_eval_signature_evaluates_each_call_from_zero(eval_export):
    estimator, path = eval_export
    signature = te.saved_model.load(path).signatures["eval"]
    first = signature(x=X, label=LABELS)
    second = signature(x=X, label=LABELS)  # metric accumulators start from zero on every call
    assert float(first["metrics/accuracy/value"]) == 0.5 == float(second["metrics/accuracy/update_op"])
    assert first["predictions/class_ids"].tolist() == [1, 0]
    expected = estimator.evaluate(lambda: iter([({"x": X}, LABELS)]))
    assert float(first["loss"]) == pytest.approx(expected["loss"])
    assert expected["accuracy"] == 0.5
    # One right row alone: accuracy 1.
    assert float(signature(x=X[1:], label=LABELS[1:])["metrics/accuracy/value"]) == 1.0


def test_eval_and_predict_export_together(make_trained, export_fakes, tmp_path):
    path = make_trained().experimental_export_all_saved_models(
        str(tmp_path / "export"),
        {te.ModeKeys.PREDICT: export_fakes.raw_receiver_fn(), te.ModeKeys.EVAL: supervised_receiver_fn()},
    )
    loaded = te.saved_model.load(path)
    # EVAL is processed before PREDICT (TF's order); the default signature is PREDICT's.
    assert list(loaded.signatures) == ["eval", "serving_default", "predict", "regress"]
    assert loaded.default_signature == "serving_default" and loaded.metadata["mode"] == "infer"
    assert loaded.signatures["eval"].mode == "eval" and loaded.signatures["predict"].mode == "infer"
