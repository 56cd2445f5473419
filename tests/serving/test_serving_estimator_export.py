"""The whole path: an Estimator trains, ``export_saved_model`` writes a version, the server answers the
same as ``Estimator.predict`` and as the loaded signature called in-process."""

from __future__ import annotations

import base64
import os

import pytest
import torch

import torch_estimator as te
from torch_estimator import saved_model
from torch_estimator.serving import ModelConfig
from torch_estimator.serving.protos import example_class

NAMES = ["setosa", "versicolor", "virginica"]
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]]


def model_fn(features, labels, mode):
    net = te.layers.dense(features["x"], 8, activation=torch.relu, name="hidden")
    logits = te.layers.dense(net, 3, name="logits")
    probabilities, classes = logits.softmax(-1), logits.argmax(-1)
    if mode == te.ModeKeys.PREDICT:
        outputs = {
            "serving_default": te.export.PredictOutput(
                {"probabilities": probabilities, "class_ids": classes}
            ),
            "classify": te.export.ClassificationOutput(
                scores=probabilities, classes=classes, class_names=NAMES
            ),
            "regress": te.export.RegressionOutput(logits[:, 0]),
        }
        predictions = {"probabilities": probabilities, "class_ids": classes, "first_logit": logits[:, 0]}
        return te.EstimatorSpec(mode, predictions=predictions, export_outputs=outputs)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    train_op = te.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


def input_fn():
    return {"x": torch.tensor(ROWS)}, torch.tensor([0, 1, 2])


@pytest.fixture(scope="module")
def estimator(tmp_path_factory):
    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu", tf_random_seed=3)
    estimator = te.Estimator(model_fn, model_dir=str(tmp_path_factory.mktemp("estimator")), config=config)
    estimator.train(lambda: iter([input_fn()] * 5), steps=5)
    return estimator


def export_as_version(estimator, receiver_fn, base):
    exported = estimator.export_saved_model(os.path.join(os.path.dirname(base), "exports"), receiver_fn)
    os.makedirs(base, exist_ok=True)
    os.rename(exported, os.path.join(base, "1"))
    return os.path.join(base, "1")


@pytest.mark.integration
def test_served_answers_equal_estimator_predict_and_the_loaded_signature(
    estimator, tmp_path, start_server, serving
):
    base = str(tmp_path / "iris")
    receiver_fn = te.export.build_raw_serving_input_receiver_fn({"x": torch.zeros(1, 4)})
    version = export_as_version(estimator, receiver_fn, base)
    predictions = list(estimator.predict(lambda: iter([({"x": torch.tensor(ROWS)}, None)])))
    loaded = saved_model.load(version).signatures

    server = start_server([ModelConfig("iris", base)], poll_wait_seconds=0)
    url = f"{server.url}/v1/models/iris"
    status, body = serving.request("POST", url + ":predict", {"instances": ROWS})
    assert status == 200, body
    in_process = loaded["serving_default"](x=torch.tensor(ROWS))
    for row, prediction, index in zip(body["predictions"], predictions, range(len(ROWS)), strict=True):
        assert row["class_ids"] == int(prediction["class_ids"]) == int(in_process["class_ids"][index])
        assert torch.equal(torch.tensor(row["probabilities"]), in_process["probabilities"][index])
        assert row["probabilities"] == pytest.approx(prediction["probabilities"].tolist(), rel=1e-6)

    status, body = serving.request(
        "POST", url + ":classify", {"signature_name": "classify", "examples": [{"x": r} for r in ROWS]}
    )
    assert status == 200, body
    for result, prediction in zip(body["results"], predictions, strict=True):
        assert [label for label, _ in result] == NAMES
        assert [score for _, score in result] == pytest.approx(prediction["probabilities"].tolist(), rel=1e-6)

    status, body = serving.request(
        "POST", url + ":regress", {"signature_name": "regress", "examples": [{"x": r} for r in ROWS]}
    )
    assert status == 200, body
    assert body["results"] == pytest.approx([float(p["first_logit"]) for p in predictions], rel=1e-6)


@pytest.mark.integration
def test_parsing_receiver_export_serves_tf_examples(estimator, tmp_path, start_server, serving):
    base = str(tmp_path / "parsed")
    spec = {"x": te.export.FixedLenFeature([4], torch.float32)}
    export_as_version(estimator, te.export.build_parsing_serving_input_receiver_fn(spec), base)
    predictions = list(estimator.predict(lambda: iter([({"x": torch.tensor(ROWS)}, None)])))

    examples = []
    for row in ROWS:
        example = example_class()()
        example.features.feature["x"].float_list.value.extend(row)
        examples.append({"b64": base64.b64encode(example.SerializeToString()).decode()})
    server = start_server([ModelConfig("parsed", base)], poll_wait_seconds=0)
    status, body = serving.request(
        "POST",
        f"{server.url}/v1/models/parsed:classify",
        {"signature_name": "classify", "examples": examples},
    )
    assert status == 200, body
    for result, prediction in zip(body["results"], predictions, strict=True):
        assert [score for _, score in result] == pytest.approx(prediction["probabilities"].tolist(), rel=1e-6)
    metadata = serving.request("GET", f"{server.url}/v1/models/parsed/metadata")[1]
    assert metadata["metadata"]["signature_def"]["signature_def"]["classify"]["method_name"] == (
        "tensorflow/serving/classify"
    )
