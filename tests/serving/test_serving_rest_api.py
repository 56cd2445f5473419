"""Each REST endpoint and body form over real HTTP on loopback, against the conftest's hand-checkable
exports (see conftest.py for the models and the numbers derived there)."""

from __future__ import annotations

import base64
import math
import shutil

import pytest
import torch

from torch_estimator import saved_model
from torch_estimator.serving import ModelConfig, ModelServer, ServerOptions
from torch_estimator.serving.protos import example_class

# softmax([1, 2, 3]) = [e^-2, e^-1, 1] / (e^-2 + e^-1 + 1)
_Z = math.exp(-2) + math.exp(-1) + 1
SOFTMAX_123 = [math.exp(-2) / _Z, math.exp(-1) / _Z, 1 / _Z]


@pytest.fixture(scope="module")
def server(tmp_path_factory, export_versions):
    base = tmp_path_factory.mktemp("rest") / "model"
    base.mkdir()
    shutil.copytree(export_versions[1], base / "1")
    with ModelServer(ServerOptions(models=(ModelConfig("model", str(base)),), port=0)) as running:
        yield running


@pytest.fixture(scope="module")
def loaded(export_versions):
    return saved_model.load(export_versions[1])


def approx(values, expected):
    return values == pytest.approx(expected, rel=1e-6)


def test_model_status(server, serving):
    status, body = serving.request("GET", f"{server.url}/v1/models/model")
    assert status == 200
    assert body == {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }
    assert serving.request("GET", f"{server.url}/v1/models/model/versions/1") == (200, body)


def test_metadata_lists_signature_defs_with_tf_dtypes_and_shapes(server, serving):
    status, body = serving.request("GET", f"{server.url}/v1/models/model/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "model", "signature_name": "", "version": "1"}
    defs = body["metadata"]["signature_def"]["signature_def"]
    assert set(defs) == {"serving_default", "classify", "classify_ids", "regress", "two_inputs", "parsed"}
    assert defs["serving_default"]["method_name"] == "tensorflow/serving/predict"
    assert defs["serving_default"]["inputs"]["x"] == {
        "dtype": "DT_FLOAT",
        "tensor_shape": {
            "dim": [{"size": "-1", "name": ""}, {"size": "4", "name": ""}],
            "unknown_rank": False,
        },
        "name": "x",
    }
    assert defs["serving_default"]["outputs"]["class_ids"]["dtype"] == "DT_INT64"
    # The classify signature's class ids are served as names: DT_STRING, as TF had them.
    assert defs["classify"]["outputs"]["classes"]["dtype"] == "DT_STRING"
    assert defs["two_inputs"]["inputs"]["b"]["dtype"] == "DT_INT64"
    assert serving.request("GET", f"{server.url}/v1/models/model/versions/1/metadata") == (200, body)


def test_predict_row_format_single_input_several_outputs(server, serving):
    status, body = serving.request(
        "POST", f"{server.url}/v1/models/model:predict", {"instances": [[1, 2, 3, 4]]}
    )
    assert status == 200
    (row,) = body["predictions"]
    assert row["class_ids"] == 2
    assert approx(row["probabilities"], SOFTMAX_123)


def test_predict_columnar_format(server, serving):
    request = {"inputs": [[1, 2, 3, 4], [0, 0, 0, 0]]}
    status, body = serving.request("POST", f"{server.url}/v1/models/model:predict", request)
    assert status == 200
    assert body["outputs"]["class_ids"] == [2, 0]  # argmax of equal logits is the first
    assert approx(body["outputs"]["probabilities"][1], [1 / 3] * 3)
    # The single input may also be named.
    named = {"inputs": {"x": [[1, 2, 3, 4], [0, 0, 0, 0]]}}
    assert serving.request("POST", f"{server.url}/v1/models/model:predict", named) == (200, body)


def test_predict_named_inputs_row_and_columnar(server, serving):
    url = f"{server.url}/v1/models/model:predict"
    rows = {"signature_name": "two_inputs", "instances": [{"a": [1, 2], "b": 3}, {"a": [0.5, 0.5], "b": -1}]}
    # total = sum(a) + b: 1 + 2 + 3 = 6 and 0.5 + 0.5 - 1 = 0; b_squared 9 and 1.
    assert serving.request("POST", url, rows) == (
        200,
        {"predictions": [{"total": 6.0, "b_squared": 9}, {"total": 0.0, "b_squared": 1}]},
    )
    columns = {"signature_name": "two_inputs", "inputs": {"a": [[1, 2], [0.5, 0.5]], "b": [3, -1]}}
    assert serving.request("POST", url, columns) == (
        200,
        {"outputs": {"total": [6.0, 0.0], "b_squared": [9, 1]}},
    )


def test_predict_single_output_gives_a_list_of_values(server, serving):
    url = f"{server.url}/v1/models/model:predict"
    request = {"signature_name": "regress", "instances": [[1, 2, 3, 4], [1, 1, 1, 1]]}
    assert serving.request("POST", url, request) == (200, {"predictions": [10.0, 4.0]})
    columnar = {"signature_name": "regress", "inputs": [[1, 2, 3, 4]]}
    assert serving.request("POST", url, columnar) == (200, {"outputs": [10.0]})


def test_predict_on_a_classify_signature_names_the_classes(server, serving):
    url = f"{server.url}/v1/models/model:predict"
    request = {"signature_name": "classify", "instances": [[1, 2, 3, 4], [3, 2, 1, 0]]}
    status, body = serving.request("POST", url, request)
    assert status == 200
    assert [row["classes"] for row in body["predictions"]] == ["virginica", "setosa"]
    request["signature_name"] = "classify_ids"  # no class_names: TF's default names str(id)
    assert [row["classes"] for row in serving.request("POST", url, request)[1]["predictions"]] == ["2", "0"]


def test_predict_answers_equal_the_in_process_signature_call(server, serving, loaded):
    x = [[0.1, -2.5, 3.25, 7.0], [1e-3, 4e4, -0.3, 0.0], [0.7, 0.7, 0.7, 0.7]]
    expected = loaded.signatures["serving_default"](x=torch.tensor(x))
    status, body = serving.request("POST", f"{server.url}/v1/models/model:predict", {"inputs": x})
    assert status == 200
    # Floats travel as the shortest text of each float32, so they read back bit for bit.
    assert torch.equal(
        torch.tensor(body["outputs"]["probabilities"], dtype=torch.float32), expected["probabilities"]
    )
    assert body["outputs"]["class_ids"] == expected["class_ids"].tolist()


def test_classify_with_json_examples(server, serving):
    url = f"{server.url}/v1/models/model:classify"
    request = {"signature_name": "classify", "examples": [{"x": [1, 2, 3, 4]}, {"x": [0.0, 0.0, 0.0, 0.0]}]}
    status, body = serving.request("POST", url, request)
    assert status == 200
    first, second = body["results"]
    assert [label for label, _ in first] == ["setosa", "versicolor", "virginica"]
    assert approx([score for _, score in first], SOFTMAX_123)
    assert approx([score for _, score in second], [1 / 3] * 3)
    request["signature_name"] = "classify_ids"
    assert [label for label, _ in serving.request("POST", url, request)[1]["results"][0]] == ["0", "1", "2"]


def test_regress_with_json_examples_and_context(server, serving):
    url = f"{server.url}/v1/models/model:regress"
    assert serving.request("POST", url, {"signature_name": "regress", "examples": [{"x": [1, 2, 3, 4]}]}) == (
        200,
        {"results": [10.0]},
    )
    # "parsed" has a feature_spec: x required, bias defaults to 0.5; context features go to every
    # example and an example's own feature wins: 10 + 0.5, 10 + 2, 4 + 2.
    request = {"signature_name": "parsed", "examples": [{"x": [1, 2, 3, 4]}]}
    assert serving.request("POST", url, request) == (200, {"results": [10.5]})
    request = {
        "signature_name": "parsed",
        "context": {"bias": 2.0},
        "examples": [{"x": [1, 2, 3, 4]}, {"x": [1, 1, 1, 1], "bias": 1}],
    }
    assert serving.request("POST", url, request) == (200, {"results": [12.0, 5.0]})


def serialized_example(features: dict[str, list[float]]) -> str:
    example = example_class()()
    for name, values in features.items():
        example.features.feature[name].float_list.value.extend(values)
    return base64.b64encode(example.SerializeToString()).decode()


def test_regress_and_classify_with_serialized_tf_examples(server, serving):
    url = f"{server.url}/v1/models/model:"
    request = {
        "signature_name": "parsed",
        "examples": [{"b64": serialized_example({"x": [1, 2, 3, 4], "bias": [-1.0]})}],
    }
    assert serving.request("POST", url + "regress", request) == (200, {"results": [9.0]})
    request = {"signature_name": "classify", "examples": [{"b64": serialized_example({"x": [3, 2, 1, 0]})}]}
    status, body = serving.request("POST", url + "classify", request)
    assert status == 200
    assert approx([score for _, score in body["results"][0]], SOFTMAX_123[::-1])


def test_trailing_slash_and_latest_without_version(server, serving):
    status, body = serving.request("GET", f"{server.url}/v1/models/model/")
    assert status == 200 and body["model_version_status"][0]["version"] == "1"
