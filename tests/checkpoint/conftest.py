"""Shared fixtures for the checkpoint tests: tiny Graphs and a fake clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from torch_estimator.contract import EstimatorSpec, ModeKeys
from torch_estimator.graph import Graph, get_or_create_global_step, get_variable, variable_scope


def linear_model_fn(features, mode):
    """dense/kernel [3, 2], dense/bias [2] and global_step: the smallest model with a scope."""
    with variable_scope("dense"):
        kernel = get_variable("kernel", [3, 2])
        bias = get_variable("bias", [2])
    get_or_create_global_step()
    return EstimatorSpec(mode, predictions=features @ kernel + bias)


def build_graph(kernel: float = 0.0, bias: float = 0.0, step: int = 0) -> Graph:
    """A linear Graph after one PREDICT call, its variables filled with the given constants."""
    graph = Graph(linear_model_fn)
    graph(torch.ones(1, 3), None, ModeKeys.PREDICT)
    with torch.no_grad():
        graph.find_variable("dense/kernel").fill_(kernel)
        graph.find_variable("dense/bias").fill_(bias)
        graph.find_variable("global_step").fill_(step)
    return graph


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make_graph() -> Callable[..., Graph]:
    return build_graph


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(0.0)
