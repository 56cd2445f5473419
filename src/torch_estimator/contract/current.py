"""The one piece of ambient state: the Graph whose model_fn is running.

TF's ``get_variable`` found its graph implicitly; we keep that contract with a context variable that
is set only while a Graph runs model_fn (or a hook builds state in it).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

__all__ = ["current_graph", "graph_context", "reset_current_graph", "set_current_graph"]

_CURRENT_GRAPH: contextvars.ContextVar[Any] = contextvars.ContextVar("torch_estimator_graph", default=None)


def current_graph() -> Any:
    """The Graph that is running model_fn now, or None outside model_fn."""
    return _CURRENT_GRAPH.get()


def set_current_graph(graph: Any) -> contextvars.Token[Any]:
    """Makes ``graph`` current; pass the returned token to ``reset_current_graph``."""
    return _CURRENT_GRAPH.set(graph)


def reset_current_graph(token: contextvars.Token[Any]) -> None:
    """Restores the Graph that was current before ``set_current_graph``."""
    _CURRENT_GRAPH.reset(token)


@contextlib.contextmanager
def graph_context(graph: Any) -> Iterator[Any]:
    """Makes ``graph`` the current Graph for the duration of the block."""
    token = _CURRENT_GRAPH.set(graph)
    try:
        yield graph
    finally:
        _CURRENT_GRAPH.reset(token)
