"""Every bad-request class gets TF Serving's HTTP code and an ``{"error": ...}`` naming the problem, and
the server keeps serving after each."""

from __future__ import annotations

import base64
import http.client
import shutil

import pytest

from torch_estimator.serving import ModelConfig, ModelServer, ServerOptions

GOOD = {"instances": [[1, 2, 3, 4]]}


@pytest.fixture(scope="module")
def server(tmp_path_factory, export_versions):
    base = tmp_path_factory.mktemp("errors") / "model"
    base.mkdir()
    shutil.copytree(export_versions[1], base / "1")
    model = ModelConfig("model", str(base), version_labels={"stable": 1})
    with ModelServer(ServerOptions(models=(model,), port=0, max_body_bytes=4096)) as running:
        yield running


BAD_REQUESTS = [
    # (id, method, path, body, status, phrases the error must contain)
    ("malformed-json", "POST", ":predict", b'{"instances": [1, 2', 400, ["JSON Parse error"]),
    ("not-an-object", "POST", ":predict", b"[1, 2]", 400, ["JSON object"]),
    ("not-utf8", "POST", ":predict", b"\xff\xfe{}", 400, ["JSON Parse error"]),
    ("no-instances-or-inputs", "POST", ":predict", {"signature_name": "serving_default"}, 400, ["instances"]),
    (
        "both-formats",
        "POST",
        ":predict",
        {"instances": [[1, 2, 3, 4]], "inputs": [[1, 2, 3, 4]]},
        400,
        ["Not both"],
    ),
    (
        "unknown-signature",
        "POST",
        ":predict",
        {"signature_name": "nope", **GOOD},
        400,
        ['"nope"', "not found"],
    ),
    (
        "unknown-input-name",
        "POST",
        ":predict",
        {"instances": [{"y": [1, 2, 3, 4]}]},
        400,
        ["Sent extra: ['y']", "Missing but required: ['x']"],
    ),
    (
        "missing-input-name",
        "POST",
        ":predict",
        {"signature_name": "two_inputs", "inputs": {"a": [[1, 2]]}},
        400,
        ["Missing but required: ['b']"],
    ),
    (
        "string-for-float",
        "POST",
        ":predict",
        {"instances": [["a", 2, 3, 4]]},
        400,
        ["'x'", "DT_FLOAT", "string"],
    ),
    ("bool-for-float", "POST", ":predict", {"instances": [[True, 2, 3, 4]]}, 400, ["'x'", "true/false"]),
    (
        "fraction-for-int",
        "POST",
        ":predict",
        {"signature_name": "two_inputs", "instances": [{"a": [1, 2], "b": 1.5}]},
        400,
        ["'b'", "DT_INT64", "non-integer"],
    ),
    (
        "b64-for-float",
        "POST",
        ":predict",
        {"instances": [{"b64": base64.b64encode(b"abc").decode()}]},
        400,
        ["'x'", "b64", "DT_STRING"],
    ),
    ("wrong-shape", "POST", ":predict", {"instances": [[1, 2, 3]]}, 400, ["'x'", "[-1, 4]", "[1, 3]"]),
    ("ragged", "POST", ":predict", {"instances": [[1, 2, 3, 4], [1, 2]]}, 400, ["'x'", "different lengths"]),
    ("empty-instances", "POST", ":predict", {"instances": []}, 400, ["non-empty"]),
    (
        "batch-sizes-differ",
        "POST",
        ":predict",
        {"signature_name": "two_inputs", "inputs": {"a": [[1, 2]], "b": [1, 2]}},
        400,
        ["same batch size"],
    ),
    (
        "classify-on-predict-signature",
        "POST",
        ":classify",
        {"examples": [{"x": [1, 2, 3, 4]}]},
        400,
        ["Expected classification signature method_name to be tensorflow/serving/classify"],
    ),
    (
        "regress-on-classify-signature",
        "POST",
        ":regress",
        {"signature_name": "classify", "examples": [{"x": [1, 2, 3, 4]}]},
        400,
        ["Expected regression signature method_name"],
    ),
    (
        "missing-feature",
        "POST",
        ":regress",
        {"signature_name": "parsed", "examples": [{"bias": 1.0}]},
        400,
        ["Feature: x", "is required but could not be found"],
    ),
    (
        "feature-size",
        "POST",
        ":regress",
        {"signature_name": "parsed", "examples": [{"x": [1, 2]}]},
        400,
        ["Key: x", "Values size: 2"],
    ),
    (
        "feature-type",
        "POST",
        ":regress",
        {"signature_name": "parsed", "examples": [{"x": ["a", "b", "c", "d"]}]},
        400,
        ["Key: x", "Data types don't match"],
    ),
    (
        "bad-tf-example",
        "POST",
        ":regress",
        {"signature_name": "parsed", "examples": [{"b64": base64.b64encode(b"\xff\xff\xff").decode()}]},
        400,
        ["tf.Example"],
    ),
    ("no-examples", "POST", ":regress", {"signature_name": "regress"}, 400, ["'examples'"]),
    ("unknown-model", "POST", "/v1/models/other:predict", GOOD, 404, ["Servable not found", "Latest(other)"]),
    ("unknown-version", "POST", "/v1/models/model/versions/7:predict", GOOD, 404, ["Specific(model, 7)"]),
    ("unknown-label", "POST", "/v1/models/model/labels/canary:predict", GOOD, 404, ["version label: canary"]),
    (
        "status-unknown-model",
        "GET",
        "/v1/models/other",
        None,
        404,
        ["Could not find any versions of model other"],
    ),
    ("status-unknown-version", "GET", "/v1/models/model/versions/7", None, 404, ["version 7 of model model"]),
    ("metadata-unknown-version", "GET", "/v1/models/model/versions/7/metadata", None, 404, ["Specific"]),
    ("malformed-path", "GET", "/v2/whatever", None, 404, ["Malformed request: GET /v2/whatever"]),
    ("get-predict", "GET", ":predict", None, 405, ["GET", "POST"]),
    ("post-status", "POST", "", GOOD, 405, ["POST", "GET"]),
    ("put-metadata", "PUT", "/v1/models/model/metadata", GOOD, 405, ["PUT"]),
    ("oversized-body", "POST", ":predict", {"instances": [[1.5, 2, 3, 4]] * 400}, 413, ["4096 bytes"]),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "phrases"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[c[0] for c in BAD_REQUESTS],
)
def test_bad_request_gets_its_code_and_a_clear_error_then_serving_goes_on(
    server, serving, method, path, body, status, phrases
):
    url = server.url + (path if path.startswith("/") else f"/v1/models/model{path}")
    got_status, answer = serving.request(method, url, body)
    assert got_status == status, answer
    assert set(answer) == {"error"}
    for phrase in phrases:
        assert phrase in answer["error"]
    assert serving.request("POST", f"{server.url}/v1/models/model:predict", GOOD)[0] == 200


def test_oversized_chunked_body_is_refused_while_reading(server):
    """Without a Content-Length the limit applies to the bytes received."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    chunks = (b'{"instances": [' + b"[1, 2, 3, 4]," * 100 for _ in range(10))
    try:
        connection.request("POST", "/v1/models/model:predict", body=chunks, encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 413
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer and close before the client has sent everything
    finally:
        connection.close()
