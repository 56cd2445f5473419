"""Where a metric function keeps its accumulators: a ``MetricState`` owned by the current Graph.

TF's metric functions made local variables (``total``, ``count``, ...) in the graph; model_fn ran
once. Here model_fn runs once per eval batch in one Graph, so a metric function finds its state by
name on every call (``accuracy``, ``accuracy_1``, ... in call order, as layers are named) and the
first call creates it. State tensors are additive sums and counts, zero in a fresh Graph, on the
Graph's device, and outside ``state_dict()`` (never checkpointed). Because every one is a sum,
summing each tensor over ranks (``all_reduce(SUM)``) merges distributed evaluation exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any

import torch

from torch_estimator.contract.metric_types import MetricValue, UpdateOp
from torch_estimator.graph.graph import Graph

__all__ = [
    "STATE_PREFIX",
    "MetricState",
    "div_no_nan",
    "metric_name",
    "metric_pair",
    "metric_state",
    "metric_states",
]

STATE_PREFIX = "metric:"
"""Prefix of a metric state's key in ``Graph.objects``: ``metric:<scoped name>``."""

Layout = Mapping[str, tuple[Sequence[int], torch.dtype]]


class MetricState:
    """The accumulators of one metric function in one Graph.

    ``named_tensors`` are additive (sums, counts, histograms): an update adds into them in place,
    and the states of several ranks merge by summing each tensor. ``constants`` are fixed values the
    update needs on every batch (sorted thresholds, say); they are never summed.

    >>> state = MetricState("mean", {"total": torch.zeros(()), "count": torch.zeros(())}, key="mean")
    >>> state["total"].add_(3.0); state["count"].add_(2.0)
    tensor(3.)
    tensor(2.)
    >>> [float(t) for t in state.tensors()]
    [3.0, 2.0]
    """

    def __init__(
        self,
        kind: str,
        tensors: Mapping[str, torch.Tensor],
        key: Hashable,
        constants: Mapping[str, Any] | None = None,
    ) -> None:
        self.kind = kind
        self.key = key
        self.named_tensors = dict(tensors)
        self.constants = dict(constants or {})

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.named_tensors[name]

    def tensors(self) -> list[torch.Tensor]:
        """Every accumulator, in a fixed order: what a distributed run sums across ranks."""
        return list(self.named_tensors.values())

    def reset(self) -> None:
        """Zeroes every accumulator in place."""
        for tensor in self.named_tensors.values():
            tensor.zero_()

    def __repr__(self) -> str:
        shapes = {name: tuple(tensor.shape) for name, tensor in self.named_tensors.items()}
        return f"MetricState(kind={self.kind!r}, tensors={shapes})"


def metric_name(graph: Graph, name: str | None, default_name: str) -> str:
    """The metric's full name: ``name`` (or ``default_name``) uniqued in call order, under the scope.

    A metric's state is found again on the next call by this name, so every call of model_fn must
    create its metrics in the same order, as with layers.

    >>> graph = Graph(lambda features: None)
    >>> [metric_name(graph, name, "accuracy") for name in (None, None, "acc")]
    ['accuracy', 'accuracy_1', 'acc']
    """
    return graph.scoped(graph.unique_name(name or default_name))


def metric_state(
    graph: Graph,
    name: str,
    kind: str,
    key: Hashable,
    layout: Layout | Callable[[], Layout],
    constants: Callable[[], Mapping[str, Any]] | None = None,
) -> MetricState:
    """The state of metric ``name`` in ``graph``, created zero (on ``graph.device``) the first time.

    ``kind`` (the metric function) and ``key`` (whatever fixes the layout: thresholds, num_classes,
    a shape) must be equal on every call; they are all that is checked on the per-batch fast path.
    ``layout`` (or a function making it) and ``constants`` are used once, at creation.

    Raises:
        ValueError: a state called ``name`` exists for another kind or key.

    >>> graph = Graph(lambda features: None)
    >>> state = metric_state(graph, "mean", "mean", None, {"total": ((), torch.float32)})
    >>> metric_state(graph, "mean", "mean", None, {"total": ((), torch.float32)}) is state
    True
    """
    state = graph.objects.get(STATE_PREFIX + name)
    if state is None:
        entries = layout() if callable(layout) else layout
        tensors = {
            entry: torch.zeros(tuple(shape), dtype=dtype, device=graph.device)
            for entry, (shape, dtype) in entries.items()
        }
        state = MetricState(kind, tensors, key, constants() if constants is not None else None)
        graph.objects[STATE_PREFIX + name] = state
    elif not isinstance(state, MetricState) or state.kind != kind or state.key != key:
        raise ValueError(
            f"Metric {name!r} already exists in this Graph as {_describe_state(state)}, and is now asked for "
            f"as {kind} with {_describe_key(key)}. A metric must be created with the same arguments and "
            "input shapes on every call of model_fn; give different metrics different names."
        )
    return state


def metric_states(graph: Graph) -> Iterator[MetricState]:
    """Every metric function's state in ``graph``, in creation order (for cross-rank reduction).

    >>> graph = Graph(lambda features: None)
    >>> _ = metric_state(graph, "mean", "mean", None, {"total": ((), torch.float32)})
    >>> [state.kind for state in metric_states(graph)]
    ['mean']
    """
    for key, owned in graph.objects.items():
        if key.startswith(STATE_PREFIX) and isinstance(owned, MetricState):
            yield owned


def metric_pair(
    graph: Graph, name: str, compute: Callable[[], Any], update: Callable[[], None]
) -> tuple[MetricValue, UpdateOp]:
    """The ``(value, update_op)`` pair a metric function returns.

    ``compute`` reads the state and never changes it; ``update`` folds the current batch in and
    returns None (TF's update op also returned the running value: read ``value.compute()``).

    >>> graph = Graph(lambda features: None)
    >>> value, update_op = metric_pair(graph, "m", lambda: torch.tensor(1.0), lambda: None)
    >>> value, update_op
    (MetricValue(name='m'), UpdateOp(name='m/update_op'))
    """
    return MetricValue(compute, name=name, graph=graph), UpdateOp(
        update, name=f"{name}/update_op", graph=graph
    )


def div_no_nan(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """TF's ``div_no_nan``: ``numerator / denominator``, and 0 where the denominator is 0.

    >>> div_no_nan(torch.tensor([1.0, 1.0]), torch.tensor([2.0, 0.0]))
    tensor([0.5000, 0.0000])
    """
    zero = torch.zeros((), dtype=numerator.dtype, device=numerator.device)
    safe = torch.where(denominator == 0, torch.ones_like(denominator), denominator)
    return torch.where(denominator == 0, zero, numerator / safe)


def _describe_state(state: Any) -> str:
    if not isinstance(state, MetricState):
        return type(state).__name__
    return f"{state.kind} with {_describe_key(state.key)}"


def _describe_key(key: Hashable) -> str:
    if isinstance(key, str):
        return key
    text = repr(key)
    return f"key {text if len(text) <= 80 else text[:77] + '...'}"
