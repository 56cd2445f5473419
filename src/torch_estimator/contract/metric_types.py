"""The two halves of a ``(value, update_op)`` metric pair, and the Metric-object protocol."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from torch_estimator.contract.current import current_graph

__all__ = ["MetricLike", "MetricValue", "UpdateOp", "is_metric_object"]


class MetricValue:
    """The lazy value half of a metric pair: reading it computes from state and never updates it."""

    __slots__ = ("_compute", "graph", "name")

    def __init__(self, compute: Callable[[], Any], name: str = "metric", graph: Any = None) -> None:
        self._compute = compute
        self.name = name
        self.graph = graph if graph is not None else current_graph()

    def compute(self) -> Any:
        """The metric's value from the state accumulated so far."""
        return self._compute()

    def __call__(self) -> Any:
        return self._compute()

    def __repr__(self) -> str:
        return f"MetricValue(name={self.name!r})"


class UpdateOp:
    """The update half of a metric pair: run once per evaluation batch, as ``update(*args)``.

    >>> seen = []
    >>> update_op = UpdateOp(seen.append, name="m/update_op", args=(3,))
    >>> update_op(); update_op.run(); seen
    [3, 3]
    """

    __slots__ = ("args", "graph", "name", "update")

    def __init__(
        self, update: Callable[..., Any], name: str = "update_op", graph: Any = None, args: tuple = ()
    ) -> None:
        self.update = update
        self.args = args  # arguments instead of a closure: what UpdateOps reads (metrics/state.py)
        self.name = name
        self.graph = graph if graph is not None else current_graph()

    def run(self) -> Any:
        """Folds this batch into the metric's state."""
        return self.update(*self.args)

    def __call__(self) -> Any:
        return self.update(*self.args)

    def __repr__(self) -> str:
        return f"UpdateOp(name={self.name!r})"


@runtime_checkable
class MetricLike(Protocol):
    """A stateful metric object (``torchmetrics.Metric`` or anything with these three methods)."""

    def update(self, *args: Any, **kwargs: Any) -> Any: ...

    def compute(self) -> Any: ...

    def reset(self) -> Any: ...


def is_metric_object(value: object) -> bool:
    """True for objects with ``update``, ``compute`` and ``reset`` (torchmetrics or hand-written)."""
    return all(callable(getattr(value, attr, None)) for attr in ("update", "compute", "reset"))
