"""``te.get_metric``: a persistent Metric object (torchmetrics or any update/compute/reset object)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from torch_estimator.contract.describe import describe
from torch_estimator.contract.metric_types import is_metric_object
from torch_estimator.graph.graph import Graph, require_graph

__all__ = ["OBJECT_PREFIX", "get_metric", "metric_objects"]

OBJECT_PREFIX = "metric_object:"
"""Prefix of a Metric object's key in ``Graph.objects``: ``metric_object:<scoped name>``."""

MetricT = TypeVar("MetricT")


def get_metric(name: str, factory: Callable[[], MetricT]) -> MetricT:
    """The Metric object called ``name`` (under the current scope), made by ``factory`` the first time.

    As ``te.get_module`` does for modules: model_fn runs once per eval batch, and this gives it the
    same object on every call, so ``metric.update(...)`` accumulates over the evaluation. The object
    belongs to the current Graph (moved to its device when it has ``.to``), is not in
    ``state_dict()`` (never checkpointed), and starts from zero in each ``evaluate`` (a new Graph).
    Put it in ``eval_metric_ops`` after calling ``update`` in this call.

    Raises:
        TypeError: ``factory()`` returned an object without ``update``, ``compute`` and ``reset``.
        RuntimeError: called outside model_fn.

    >>> import torch, torchmetrics
    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.spec import EstimatorSpec
    >>> def model_fn(features, labels, mode):
    ...     metric = get_metric("mae", torchmetrics.MeanAbsoluteError)
    ...     metric.update(features, labels)
    ...     return EstimatorSpec(mode, loss=torch.zeros(()), eval_metric_ops={"mae": metric})
    >>> graph = Graph(model_fn)
    >>> for prediction, label in [(1.0, 2.0), (0.0, 3.0)]:
    ...     spec = graph(torch.tensor([prediction]), torch.tensor([label]), "eval")
    >>> spec.eval_metric_ops["mae"].compute()
    tensor(2.)
    """
    graph = require_graph("te.get_metric")
    full_name = graph.scoped(name)

    def create() -> Any:
        metric = factory()
        if not is_metric_object(metric):
            raise TypeError(
                f"get_metric({full_name!r}, factory) needs factory() to return a Metric object (a "
                "torchmetrics.Metric, or anything with update, compute and reset). "
                f"Received: {describe(metric)}."
            )
        move = getattr(metric, "to", None)
        if callable(move):
            moved = move(graph.device)
            if moved is not None:
                metric = moved
        return metric

    return graph.get_object(OBJECT_PREFIX + full_name, create)


def metric_objects(graph: Graph) -> Iterator[tuple[str, Any]]:
    """``(scoped name, metric)`` for every Metric object made by ``get_metric`` in ``graph``.

    >>> import torchmetrics
    >>> from torch_estimator.contract.current import graph_context
    >>> graph = Graph(lambda features: None)
    >>> with graph_context(graph):
    ...     _ = get_metric("mae", torchmetrics.MeanAbsoluteError)
    >>> [name for name, _ in metric_objects(graph)]
    ['mae']
    """
    for key, owned in graph.objects.items():
        if key.startswith(OBJECT_PREFIX):
            yield key[len(OBJECT_PREFIX) :], owned
