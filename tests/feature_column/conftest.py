"""Helpers for feature-column tests: run a model_fn body inside a fresh Graph."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from torch_estimator.contract import EstimatorSpec
from torch_estimator.graph import Graph


class Runner:
    """Calls ``body(features)`` as model_fn of one Graph; the Graph keeps variables across calls."""

    def __init__(self, body: Callable[[Any], Any]) -> None:
        self.outputs: Any = None

        def model_fn(features: Any, mode: str) -> EstimatorSpec:
            self.outputs = body(features)
            return EstimatorSpec(mode, predictions=torch.zeros(1))

        self.graph = Graph(model_fn)

    def __call__(self, features: Any) -> Any:
        self.graph(features, None, "infer")
        return self.outputs

    def variables(self) -> dict[str, torch.Tensor]:
        return dict(self.graph.state_dict())

    def set(self, name: str, value: Any) -> None:
        with torch.no_grad():
            self.graph.find_variable(name).copy_(torch.as_tensor(value, dtype=torch.float32))


@pytest.fixture
def run() -> Callable[[Callable[[Any], Any]], Runner]:
    return Runner
