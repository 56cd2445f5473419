"""Estimator.export_saved_model: TF's order of checks, signature names and methods (SEMANTICS (l)).

The classifier (conftest): logits = x @ [[1, 0, -1], [0, 1, 1]] + [0, 0, 0.5]. For x = [1, 2]:
logits = [1, 2, 1.5], class 1, regress output logits[0] = 1.
"""

from __future__ import annotations

import json
import logging
import os

import pytest
import torch

import torch_estimator as te

X = torch.tensor([[1.0, 2.0]])


def signature_file(path):
    with open(os.path.join(path, "saved_model.json")) as f:
        return json.load(f)


def test_a_missing_receiver_fn_is_reported_before_the_checkpoint(make_trained, tmp_path):
    estimator = make_trained(steps=0)
    with pytest.raises(ValueError, match="An input_receiver_fn must be defined"):
        estimator.export_saved_model(str(tmp_path / "export"), None)


def test_no_checkpoint_raises_couldnt_find_trained_model(make_trained, export_fakes, tmp_path):
    estimator = make_trained(steps=0)
    base = tmp_path / "export"
    with pytest.raises(ValueError, match=f"Couldn't find trained model at {estimator.model_dir}"):
        estimator.export_saved_model(str(base), export_fakes.raw_receiver_fn())
    assert not base.exists()


def test_a_map_without_known_modes_raises_no_valid_modes(make_trained, export_fakes, tmp_path):
    # 'predict' is Keras' spelling; the map needs ModeKeys ('infer'), as in TF.
    with pytest.raises(ValueError, match=r"No valid modes for exporting found. Got \['predict'\]"):
        make_trained().experimental_export_all_saved_models(
            str(tmp_path / "export"), {"predict": export_fakes.raw_receiver_fn()}
        )


def test_train_mode_cannot_be_exported(make_trained, export_fakes, tmp_path):
    fn = te.export.build_raw_supervised_input_receiver_fn({"x": torch.zeros(2, 2)}, torch.zeros(2))
    with pytest.raises(NotImplementedError, match=r"optimizer update.*Export\s+ModeKeys.EVAL"):
        make_trained().export_saved_model(str(tmp_path / "export"), fn, experimental_mode=te.ModeKeys.TRAIN)
    assert not (tmp_path / "export").exists()


def test_a_receiver_fn_must_return_a_receiver(make_trained, tmp_path):
    with pytest.raises(TypeError, match=r"must return a ServingInputReceiver.*Received: dict"):
        make_trained().export_saved_model(str(tmp_path / "export"), lambda: {"x": torch.zeros(2, 2)})
    assert os.listdir(tmp_path / "export") == []


def test_export_writes_one_program_per_signature_with_tf_method_names(make_trained, export_fakes, tmp_path):
    path = make_trained().export_saved_model(str(tmp_path / "export"), export_fakes.raw_receiver_fn())
    assert os.path.dirname(path) == str(tmp_path / "export")
    assert len(os.path.basename(path)) == 10 and os.path.basename(path).isdigit()
    metadata = signature_file(path)
    signatures = metadata["signatures"]
    assert {name: entry["method_name"] for name, entry in signatures.items()} == {
        "serving_default": "tensorflow/serving/classify",
        "predict": "tensorflow/serving/predict",
        "regress": "tensorflow/serving/regress",
    }
    assert metadata["default_signature"] == "serving_default"
    assert metadata["global_step"] == 1 and metadata["mode"] == "infer"
    assert sorted(os.listdir(os.path.join(path, "programs"))) == [
        "predict.pt2",
        "regress.pt2",
        "serving_default.pt2",
    ]
    classify = signatures["serving_default"]
    assert classify["inputs"] == {"x": {"dtype": "float32", "shape": [-1, 2]}}
    assert classify["outputs"] == {
        "scores": {"dtype": "float32", "shape": [-1, 3]},
        "classes": {"dtype": "int64", "shape": [-1]},
    }
    assert classify["class_names"] == export_fakes.CLASS_NAMES
    assert signatures["regress"]["outputs"] == {"outputs": {"dtype": "float32", "shape": [-1]}}
    assert signatures["predict"]["class_names"] is None


def test_exported_signatures_compute_the_hand_derived_values(make_trained, export_fakes, tmp_path):
    path = make_trained().export_saved_model(str(tmp_path / "export"), export_fakes.raw_receiver_fn())
    loaded = te.saved_model.load(path)
    classify = loaded.signatures["serving_default"](x=X)
    assert classify["classes"].tolist() == [1]
    torch.testing.assert_close(classify["scores"], torch.tensor([[1.0, 2.0, 1.5]]).softmax(-1))
    assert loaded.signatures["regress"](x=X)["outputs"].tolist() == [1.0]
    # Any batch size: three rows, the last x = [3, -1] -> logits [3, -1, -3.5], class 0.
    rows = torch.tensor([[1.0, 2.0], [1.0, 2.0], [3.0, -1.0]])
    assert loaded.signatures["predict"](x=rows)["class_ids"].tolist() == [1, 1, 0]


def test_a_single_output_is_also_the_default_signature(make_trained, export_fakes, tmp_path):
    params = {"outputs": lambda predictions, logits: {"predict": te.export.PredictOutput(predictions)}}
    path = make_trained(params=params).export_saved_model(
        str(tmp_path / "export"), export_fakes.raw_receiver_fn()
    )
    signatures = signature_file(path)["signatures"]
    assert list(signatures) == ["predict", "serving_default"]
    assert signatures["serving_default"]["method_name"] == "tensorflow/serving/predict"
    # Traced once, saved under both names.
    assert sorted(os.listdir(os.path.join(path, "programs"))) == ["predict.pt2", "serving_default.pt2"]


def test_default_export_outputs_are_the_predictions(make_trained, export_fakes, tmp_path):
    params = {"outputs": lambda predictions, logits: None}
    path = make_trained(params=params).export_saved_model(
        str(tmp_path / "export"), export_fakes.raw_receiver_fn()
    )
    outputs = signature_file(path)["signatures"]["serving_default"]["outputs"]
    assert sorted(outputs) == ["class_ids", "probabilities"]


def test_outputs_that_cannot_be_served_are_excluded_with_a_warning(
    make_trained, export_fakes, tmp_path, caplog
):
    def outputs(predictions, logits):
        loss = logits.sum()
        return {"serving_default": te.export.EvalOutput(loss=loss), "train": te.export.TrainOutput(loss=loss)}

    with caplog.at_level(logging.WARNING, logger="torch_estimator"):
        path = make_trained(params={"outputs": outputs}).export_saved_model(
            str(tmp_path / "export"), export_fakes.raw_receiver_fn()
        )
    metadata = signature_file(path)
    assert metadata["signatures"] == {} and metadata["default_signature"] is None
    assert "Export includes no signatures!" in caplog.text


def test_receiver_alternatives_make_alt_key_signatures(make_trained, tmp_path):
    def receiver_fn():
        # The main signature takes one column p and builds x = [p, 2p]; the 'raw' alternative
        # feeds x itself (TF fed the intermediate features tensor).
        packed = torch.zeros(2, 1)
        x = torch.cat([packed, packed * 2], dim=1)
        return te.export.ServingInputReceiver({"x": x}, {"packed": packed}, {"raw": {"x": x}})

    path = make_trained().export_saved_model(str(tmp_path / "export"), receiver_fn)
    loaded = te.saved_model.load(path)
    assert sorted(loaded.signatures) == [
        "predict",
        "raw:predict",
        "raw:regress",
        "raw:serving_default",
        "regress",
        "serving_default",
    ]
    assert os.path.exists(os.path.join(path, "programs", "raw_serving_default.pt2"))
    assert loaded.signatures["serving_default"].inputs == {
        "packed": te.saved_model.TensorSpec(torch.float32, (None, 1))
    }
    # packed = 1 -> x = [1, 2] -> class 1, like x = [1, 2] fed directly.
    assert loaded.signatures["serving_default"](packed=torch.ones(1, 1))["classes"].tolist() == [1]
    assert loaded.signatures["raw:serving_default"](x=X)["classes"].tolist() == [1]


def test_tensor_serving_receiver_passes_one_tensor_to_model_fn(make_trained, tmp_path):
    def receiver_fn():
        x = torch.zeros(2, 2)
        return te.export.TensorServingInputReceiver(x, {"x": x})

    path = make_trained().export_saved_model(str(tmp_path / "export"), receiver_fn)
    assert te.saved_model.load(path).signatures["predict"](x=X)["class_ids"].tolist() == [1]


def test_checkpoint_path_selects_the_checkpoint(make_trained, export_fakes, tmp_path):
    estimator = make_trained(steps=1)
    first = estimator.latest_checkpoint()
    estimator.train(export_fakes.train_input_fn, steps=2)
    latest = estimator.export_saved_model(str(tmp_path / "export"), export_fakes.raw_receiver_fn())
    older = estimator.export_saved_model(
        str(tmp_path / "export_old"), export_fakes.raw_receiver_fn(), checkpoint_path=first
    )
    assert signature_file(latest)["global_step"] == 3
    assert signature_file(older)["global_step"] == 1


def test_variables_missing_from_the_checkpoint_name_the_mode(make_trained, export_fakes, tmp_path):
    def model_fn(features, labels, mode, params):
        if mode == te.ModeKeys.PREDICT:
            te.get_variable("only_in_predict", [1])
        return export_fakes.classifier_model_fn(features, labels, mode, params)

    with pytest.raises(
        ValueError, match=r"(?s)Could not load all requested variables from checkpoint.*mode `infer`"
    ):
        make_trained(model_fn).export_saved_model(str(tmp_path / "export"), export_fakes.raw_receiver_fn())
    assert os.listdir(tmp_path / "export") == []


def test_input_names_must_be_python_identifiers(make_trained, tmp_path):
    def receiver_fn():
        x = torch.zeros(2, 2)
        return te.export.ServingInputReceiver({"x": x}, {"x-y": x})

    with pytest.raises(ValueError, match=r"cannot take an input named 'x-y'.*Python identifiers"):
        make_trained().export_saved_model(str(tmp_path / "export"), receiver_fn)
    assert os.listdir(tmp_path / "export") == []


def test_an_untraceable_model_fn_names_the_signature(make_trained, export_fakes, tmp_path):
    def model_fn(features, labels, mode, params):
        spec = export_fakes.classifier_model_fn(features, labels, mode, params)
        if mode == te.ModeKeys.PREDICT and bool(features["x"].sum() > 0):  # a branch on a tensor value
            return spec
        return spec

    with pytest.raises(RuntimeError, match=r"torch.export could not trace signature 'serving_default'"):
        make_trained(model_fn).export_saved_model(str(tmp_path / "export"), export_fakes.raw_receiver_fn())
