"""A driver that runs metric functions the way Estimator.evaluate does.

model_fn runs once per batch in one Graph; after each call every update op runs (sorted by metric
name, under no_grad); values are read once at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest
import torch

from torch_estimator.contract import EstimatorSpec, ModeKeys
from torch_estimator.graph import Graph

MetricsFn = Callable[[Any, Any], Mapping[str, Any]]


class MetricDriver:
    """``driver(metrics_fn, batches)`` -> ``{name: value tensor}``; ``graph`` and ``spec`` are the last."""

    def __init__(self) -> None:
        self.graph: Graph | None = None
        self.spec: EstimatorSpec | None = None

    def model_fn_for(self, metrics_fn: MetricsFn) -> Callable[..., EstimatorSpec]:
        def model_fn(features: Any, labels: Any, mode: str) -> EstimatorSpec:
            return EstimatorSpec(
                mode, loss=torch.zeros(()), eval_metric_ops=dict(metrics_fn(features, labels))
            )

        return model_fn

    def run_batches(self, graph: Graph, batches: Iterable[tuple[Any, Any]]) -> EstimatorSpec:
        spec = None
        with torch.no_grad():
            for features, labels in batches:
                spec = graph(features, labels, ModeKeys.EVAL)
                for name in sorted(spec.eval_metric_ops):
                    spec.eval_metric_ops[name][1].run()
        assert spec is not None, "give at least one batch"
        return spec

    def __call__(self, metrics_fn: MetricsFn, batches: Iterable[tuple[Any, Any]]) -> dict[str, Any]:
        self.graph = Graph(self.model_fn_for(metrics_fn))
        self.spec = self.run_batches(self.graph, batches)
        return self.values()

    def values(self) -> dict[str, Any]:
        """The last spec's metric values, read now."""
        assert self.spec is not None
        return {name: pair[0].compute() for name, pair in self.spec.eval_metric_ops.items()}


@pytest.fixture(scope="session")
def run_metrics() -> MetricDriver:
    """Session-scoped so hypothesis tests may use it; every call makes a fresh Graph."""
    return MetricDriver()
