"""Fixtures for the serving tests: small exports in the export format, running servers, an HTTP client.

Test modules reach the helpers through fixtures (pytest runs with ``--import-mode=importlib``).

The exports here are written by hand in the export format (saved_model.json + one torch.export
program per signature), not by ``Estimator.export_saved_model``: one version directory can then hold
every signature shape the server must handle (several inputs, a feature_spec, class names or not),
with numbers derivable by hand, and the server tests do not depend on the exporter's choices.
test_serving_estimator_export.py covers the real exporter end to end.

The exported models are tiny and hand-checkable; ``k`` is the version number, so a hot swap shows in
the answers. With ``x = [1, 2, 3, 4]`` and ``k = 1``:

* ``serving_default`` (predict): logits = k * x[:3] = [1, 2, 3]; ``probabilities`` = softmax(logits)
  = [e^-2, e^-1, 1] / (e^-2 + e^-1 + 1) = [0.0900306, 0.2447285, 0.6652410]; ``class_ids`` = 2.
* ``classify`` (classify, class_names setosa/versicolor/virginica): ``scores`` as probabilities,
  ``classes`` = argmax = 2 -> "virginica". ``classify_ids``: the same without class_names ("2").
* ``regress`` (regress): ``outputs`` = k * sum(x) = 10.
* ``two_inputs`` (predict): a float32 [-1, 2], b int64 [-1]; ``total`` = k * sum(a) + b,
  ``b_squared`` = b * b. a = [1, 2], b = 3 -> total 6, b_squared 9.
* ``parsed`` (regress with a feature_spec: x fixed_len float32 [4] required, bias fixed_len
  float32 [] default 0.5): ``outputs`` = k * sum(x) + bias = 10.5 without a bias.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import shutil
import types
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

CLASS_NAMES = ["setosa", "versicolor", "virginica"]


class Scores(torch.nn.Module):
    def __init__(self, k: float, score_key: str, class_key: str) -> None:
        super().__init__()
        self.register_buffer("k", torch.tensor(k))
        self.score_key, self.class_key = score_key, class_key

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = x[:, :3] * self.k
        return {self.score_key: logits.softmax(-1), self.class_key: logits.argmax(-1)}


class Regress(torch.nn.Module):
    def __init__(self, k: float) -> None:
        super().__init__()
        self.register_buffer("k", torch.tensor(k))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"outputs": x.sum(-1) * self.k}


class TwoInputs(torch.nn.Module):
    def __init__(self, k: float) -> None:
        super().__init__()
        self.register_buffer("k", torch.tensor(k))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"total": a.sum(-1) * self.k + b, "b_squared": b * b}


class Parsed(torch.nn.Module):
    def __init__(self, k: float) -> None:
        super().__init__()
        self.register_buffer("k", torch.tensor(k))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"outputs": x.sum(-1) * self.k + bias}


@dataclasses.dataclass
class SignatureSource:
    module: torch.nn.Module
    example: dict[str, torch.Tensor]
    method: str
    class_names: list[str] | None = None
    feature_spec: dict[str, Any] | None = None


def signature_sources(k: float) -> dict[str, SignatureSource]:
    x = torch.zeros(2, 4)
    predict, classify, regress = (f"tensorflow/serving/{m}" for m in ("predict", "classify", "regress"))
    return {
        "serving_default": SignatureSource(Scores(k, "probabilities", "class_ids"), {"x": x}, predict),
        "classify": SignatureSource(Scores(k, "scores", "classes"), {"x": x}, classify, CLASS_NAMES),
        "classify_ids": SignatureSource(Scores(k, "scores", "classes"), {"x": x}, classify),
        "regress": SignatureSource(Regress(k), {"x": x}, regress),
        "two_inputs": SignatureSource(
            TwoInputs(k), {"a": torch.zeros(2, 2), "b": torch.zeros(2, dtype=torch.int64)}, predict
        ),
        "parsed": SignatureSource(
            Parsed(k),
            {"x": x, "bias": torch.zeros(2)},
            regress,
            feature_spec={
                "x": {"kind": "fixed_len", "dtype": "float32", "shape": [4], "default_value": None},
                "bias": {"kind": "fixed_len", "dtype": "float32", "shape": [], "default_value": 0.5},
            },
        ),
    }


def _spec(tensor: torch.Tensor) -> dict[str, Any]:
    return {"dtype": str(tensor.dtype).removeprefix("torch."), "shape": [-1, *tensor.shape[1:]]}


def write_export(path: str, sources: dict[str, SignatureSource], global_step: int = 1) -> str:
    """An export directory in the export format (saved_model.json + programs/<name>.pt2)."""
    os.makedirs(os.path.join(path, "programs"))
    signatures = {}
    for name, source in sources.items():
        batch = torch.export.Dim("batch")
        with torch.no_grad():
            program = torch.export.export(
                source.module.eval(),
                args=(),
                kwargs=source.example,
                dynamic_shapes={key: {0: batch} for key in source.example},
                strict=False,
            )
            outputs = source.module(**source.example)
        torch.export.save(program, os.path.join(path, "programs", f"{name}.pt2"))
        signatures[name] = {
            "method_name": source.method,
            "program": f"programs/{name}.pt2",
            "inputs": {key: _spec(value) for key, value in source.example.items()},
            "outputs": {key: _spec(value) for key, value in outputs.items()},
            "class_names": source.class_names,
            "feature_spec": source.feature_spec,
        }
    metadata = {
        "format": "torch-estimator-saved-model",
        "format_version": 1,
        "torch_version": torch.__version__,
        "global_step": global_step,
        "mode": "infer",
        "default_signature": "serving_default",
        "signatures": signatures,
    }
    with open(os.path.join(path, "saved_model.json"), "w") as file:
        json.dump(metadata, file)
    return path


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def export_versions(tmp_path_factory: pytest.TempPathFactory) -> dict[int, str]:
    """Export dirs of versions 1 and 2 (k = version), written once per session; copy, don't modify."""
    root = tmp_path_factory.mktemp("exports")
    return {
        k: write_export(str(root / str(k)), signature_sources(float(k)), global_step=100 * k) for k in (1, 2)
    }


@pytest.fixture
def model_base(tmp_path, export_versions) -> Callable[..., str]:
    """``model_base(1, 2, name="m")``: a base path holding copies of those versions."""

    def make(*versions: int, name: str = "model") -> str:
        base = tmp_path / name
        base.mkdir(exist_ok=True)
        for version in versions:
            add_version(str(base), export_versions[version], version)
        return str(base)

    return make


def add_version(base: str, source: str, version: int) -> None:
    """Copies an export in as ``base/<version>`` atomically (temp name, then rename), as exports appear."""
    temp = os.path.join(base, f"temp-{version}")
    shutil.copytree(source, temp)
    os.rename(temp, os.path.join(base, str(version)))


@pytest.fixture
def serving() -> types.SimpleNamespace:
    """The serving helpers: ``add_version``, ``request`` and ``keepalive_client`` below."""
    return types.SimpleNamespace(add_version=add_version, request=request, keepalive_client=keepalive_client)


@pytest.fixture
def start_server() -> Iterator[Callable[..., Any]]:
    """``start_server(models, **ServerOptions fields)`` -> a started ``ModelServer`` on a free loopback
    port, stopped at the end of the test."""
    from torch_estimator.serving import ModelServer, ServerOptions

    servers = []

    def start(models: Any, **options: Any) -> Any:
        options.setdefault("port", 0)
        server = ModelServer(ServerOptions(models=tuple(models), **options))
        servers.append(server)
        return server.start(timeout=30)

    yield start
    for server in servers:
        server.stop(timeout=10)


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def request(method: str, url: str, body: Any = None, timeout: float = 10.0) -> tuple[int, Any]:
    """``(status, parsed JSON body)`` of one request; ``body`` is JSON-encoded unless bytes. No proxies:
    the traffic stays on loopback."""
    assert url.startswith("http://127.0.0.1:"), url
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with _NO_PROXY.open(req, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())


def keepalive_client(port: int, timeout: float = 10.0) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
