"""A canned classifier with a label_vocabulary, exported: its predict signature's ``classes`` /
``all_classes`` are named like ``Estimator.predict()`` names them, loaded in-process and over REST."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

import torch_estimator as te
from torch_estimator import saved_model
from torch_estimator.serving import ModelConfig

VOCABULARY = ["cat", "dog", "eel"]
ROWS = [[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [2.0, -1.0]]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu", tf_random_seed=1)
    estimator = te.DNNClassifier(
        hidden_units=[4],
        feature_columns=[te.feature_column.numeric_column("x", shape=(2,))],
        n_classes=3,
        label_vocabulary=VOCABULARY,
        model_dir=str(tmp_path_factory.mktemp("dnn")),
        config=config,
    )
    batch = ({"x": torch.tensor(ROWS)}, np.array(["cat", "dog", "eel", "dog"]))
    estimator.train(lambda: iter([batch] * 3), steps=3)
    base = str(tmp_path_factory.mktemp("served") / "model")
    receiver_fn = te.export.build_raw_serving_input_receiver_fn({"x": torch.zeros(1, 2)})
    exported = estimator.export_saved_model(str(tmp_path_factory.mktemp("exports")), receiver_fn)
    os.makedirs(base)
    os.rename(exported, os.path.join(base, "1"))
    predictions = list(estimator.predict(lambda: iter([({"x": torch.tensor(ROWS)}, None)])))
    return os.path.join(base, "1"), predictions


def test_signature_file_names_the_predict_signatures_class_outputs(classifier):
    path, _ = classifier
    with open(os.path.join(path, "saved_model.json")) as f:
        signatures = json.load(f)["signatures"]
    assert signatures["predict"]["output_vocabularies"] == {"classes": VOCABULARY, "all_classes": VOCABULARY}
    # The classify signature keeps naming its classes by class_names.
    assert signatures["serving_default"]["output_vocabularies"] == {}
    assert signatures["serving_default"]["class_names"] == VOCABULARY


def test_loaded_predict_signature_yields_the_names_predict_yields(classifier):
    path, predictions = classifier
    predict = saved_model.load(path).signatures["predict"]
    outputs = predict(x=torch.tensor(ROWS))
    for key in ("classes", "all_classes"):
        assert isinstance(outputs[key], np.ndarray) and outputs[key].dtype == object
        assert outputs[key].tolist() == [p[key].tolist() for p in predictions]
    assert {name for row in outputs["all_classes"].tolist() for name in row} == {b"cat", b"dog", b"eel"}
    # Unnamed outputs stay tensors; run() keeps the ids.
    assert outputs["class_ids"].tolist() == [p["class_ids"].tolist() for p in predictions]
    ids = predict.run({"x": torch.tensor(ROWS)})["classes"]
    assert ids.dtype == torch.int64 and ids.tolist() == outputs["class_ids"].tolist()


@pytest.mark.integration
def test_rest_predict_returns_the_vocabulary_names(classifier, start_server, serving):
    path, predictions = classifier
    server = start_server([ModelConfig("pets", os.path.dirname(path))], poll_wait_seconds=0)
    url = f"{server.url}/v1/models/pets"
    status, body = serving.request("POST", url + ":predict", {"signature_name": "predict", "instances": ROWS})
    assert status == 200, body
    for row, prediction in zip(body["predictions"], predictions, strict=True):
        assert row["classes"] == [name.decode() for name in prediction["classes"].tolist()]
        assert row["all_classes"] == [name.decode() for name in prediction["all_classes"].tolist()]
        assert row["class_ids"] == prediction["class_ids"].tolist()
    metadata = serving.request("GET", url + "/metadata")[1]
    outputs = metadata["metadata"]["signature_def"]["signature_def"]["predict"]["outputs"]
    assert outputs["classes"]["dtype"] == "DT_STRING" and outputs["class_ids"]["dtype"] == "DT_INT64"
