"""The global step: an int64 scalar variable named ``global_step`` that train ops advance."""

from __future__ import annotations

import torch

from torch_estimator.contract.current import current_graph
from torch_estimator.graph.graph import Graph, require_graph

__all__ = ["GLOBAL_STEP_NAME", "create_global_step", "get_global_step", "get_or_create_global_step"]

GLOBAL_STEP_NAME = "global_step"


def create_global_step(graph: Graph) -> torch.Tensor:
    """Creates ``global_step`` (int64 scalar, 0, not trainable) in ``graph``, or returns it.

    It lives on the CPU whatever the Graph's device: hooks read it after every step, and reading a
    GPU scalar would wait for the step's GPU work, so the host could not queue the next step while
    the GPU runs this one.
    """
    existing = graph.find_variable(GLOBAL_STEP_NAME)
    if existing is not None:
        return existing
    return graph.add_variable(
        GLOBAL_STEP_NAME, torch.zeros((), dtype=torch.int64), trainable=False, device="cpu"
    )


def get_global_step() -> torch.Tensor | None:
    """The current Graph's global step tensor, or None (also outside model_fn).

    >>> get_global_step() is None
    True
    """
    graph = current_graph()
    if graph is None:
        return None
    return graph.find_variable(GLOBAL_STEP_NAME)


def get_or_create_global_step() -> torch.Tensor:
    """The current Graph's global step, created if missing."""
    return create_global_step(require_graph("te.train.get_or_create_global_step"))
