"""TrainOp: the work a training step does after model_fn returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch_estimator.contract.current import current_graph

__all__ = ["TrainOp"]


class TrainOp:
    """A deferred training step, returned by ``optimizer.minimize`` and ``te.train.group``.

    TF's train_op was a graph operation run by the session; here it is a callable that the engine
    runs once per step after model_fn returns (backward, optimizer step, global step increment).
    A TrainOp belongs to the Graph that was current when it was made; EstimatorSpec rejects one
    kept from an earlier call.

    >>> calls = []
    >>> op = TrainOp(lambda: calls.append("step"), name="my_step")
    >>> op.run(); calls
    ['step']
    """

    __slots__ = ("_fn", "graph", "name")

    def __init__(self, fn: Callable[[], Any], name: str = "train_op", graph: Any = None) -> None:
        if not callable(fn):
            raise TypeError(f"TrainOp needs a zero-argument callable. Received: {fn!r}.")
        self._fn = fn
        self.name = name
        self.graph = graph if graph is not None else current_graph()

    @property
    def fn(self) -> Callable[[], Any]:
        """The callable this op runs (``te.train.group`` inspects it to share one backward)."""
        return self._fn

    def run(self) -> Any:
        """Runs the step."""
        return self._fn()

    def __call__(self) -> Any:
        return self._fn()

    def __repr__(self) -> str:
        return f"TrainOp(name={self.name!r})"
