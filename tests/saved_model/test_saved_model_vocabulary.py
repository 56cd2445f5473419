"""Outputs a model_fn names with te.graph.set_output_vocabulary come out of a loaded signature as
bytes names, as Estimator.predict() yields them; format 1 files (no output_vocabularies) still load.

The model: y = x @ [1, 2], ``label`` = 1 where y > 0 else 0 (vocabulary ["neg", "pos"]) and ``bucket``
= the same ids with no vocabulary (names are str(id)).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

import torch_estimator as te
from torch_estimator.saved_model.vocabulary import name_class_ids

X = torch.tensor([[1.0, 1.0], [-1.0, 0.0]])


def model_fn(features, labels, mode):
    w = te.get_variable("w", [2], initializer=torch.tensor([1.0, 2.0]))
    y = features["x"] @ w
    label = (y > 0).long()
    predictions = {"y": y, "label": label, "bucket": label.clone()}
    te.graph.set_output_vocabulary("label", ["neg", "pos"])
    te.graph.set_output_vocabulary("bucket")
    if mode == te.ModeKeys.PREDICT:
        outputs = {
            "predict": te.export.PredictOutput(predictions),
            "serving_default": te.export.PredictOutput({"l": label}),
        }
        return te.EstimatorSpec(mode, predictions=predictions, export_outputs=outputs)
    loss = (y**2).mean()
    train_op = te.train.GradientDescentOptimizer(0.0).minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    directory = tmp_path_factory.mktemp("vocabulary")
    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu")
    estimator = te.Estimator(model_fn, model_dir=str(directory / "model"), config=config)
    estimator.train(lambda: {"x": torch.ones(2, 2)}, steps=1)
    fn = te.export.build_raw_serving_input_receiver_fn({"x": torch.zeros(1, 2)})
    return estimator, estimator.export_saved_model(str(directory / "export"), fn)


def test_named_outputs_equal_estimator_predict(trained):
    """y = [3, -1] -> label ids [1, 0] -> [b'pos', b'neg']; bucket -> [b'1', b'0']."""
    estimator, path = trained
    outputs = te.saved_model.load(path).signatures["predict"](x=X)
    (expected,) = estimator.predict(lambda: iter([({"x": X}, None)]), yield_single_examples=False)
    assert outputs["label"].tolist() == expected["label"].tolist() == [b"pos", b"neg"]
    assert outputs["bucket"].tolist() == expected["bucket"].tolist() == [b"1", b"0"]
    assert outputs["label"].dtype == np.dtype(object) and outputs["y"].tolist() == [3.0, -1.0]


def test_an_output_that_is_no_named_prediction_keeps_its_ids(trained):
    _, path = trained
    renamed = te.saved_model.load(path).signatures["serving_default"]
    assert renamed.output_vocabularies == {}
    assert renamed(x=X)["l"].tolist() == [1, 0]


def test_format_1_file_without_output_vocabularies_loads_with_ids(trained, tmp_path):
    _, path = trained
    copy = tmp_path / "v1"
    os.makedirs(copy)
    os.symlink(os.path.join(path, "programs"), copy / "programs")
    with open(os.path.join(path, "saved_model.json")) as f:
        metadata = json.load(f)
    metadata["format_version"] = 1
    for entry in metadata["signatures"].values():
        del entry["output_vocabularies"]
    (copy / "saved_model.json").write_text(json.dumps(metadata))
    predict = te.saved_model.load(copy).signatures["predict"]
    assert predict.output_vocabularies == {} and predict(x=X)["label"].tolist() == [1, 0]


@pytest.mark.parametrize(
    "vocabularies", [{"nope": ["a"]}, {"label": "ab"}, {"label": [1, 2]}, ["label"]], ids=str
)
def test_invalid_output_vocabularies_entry_is_refused(trained, tmp_path, vocabularies):
    _, path = trained
    os.symlink(os.path.join(path, "programs"), tmp_path / "programs")
    with open(os.path.join(path, "saved_model.json")) as f:
        metadata = json.load(f)
    metadata["signatures"]["predict"]["output_vocabularies"] = vocabularies
    (tmp_path / "saved_model.json").write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match=r"invalid output_vocabularies entry.*Export the model again"):
        te.saved_model.load(tmp_path)


def test_name_class_ids_refuses_ids_outside_the_vocabulary_and_floats():
    with pytest.raises(ValueError, match=r"in \[0, 2\).*Received ids \[2\]"):
        name_class_ids(torch.tensor([0, 2]), ["a", "b"])
    with pytest.raises(ValueError, match="must be integers"):
        name_class_ids(torch.tensor([0.5]), None)
