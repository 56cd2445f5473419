"""The one piece of ambient state: the Graph whose model_fn is running.

TF's ``get_variable`` found its graph implicitly; we keep that contract with a context variable that
is set only while a Graph runs model_fn (or a hook builds state in it).

torch.compile cannot trace a context variable (each ``get`` would break the compiled graph), so
while Dynamo traces a Graph call the current Graph lives in a plain module-level slot instead,
which Dynamo reads as a constant and whose assignment it replays when the compiled code runs.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import torch

__all__ = ["current_graph", "graph_context", "reset_current_graph", "set_current_graph"]

_CURRENT_GRAPH: contextvars.ContextVar[Any] = contextvars.ContextVar("torch_estimator_graph", default=None)
# The Graph whose call torch.compile traced, set by the compiled code itself. Eager code that runs
# between compiled pieces of the same call (after a graph break) finds it here.
_COMPILED_CALL: list[Any] = [None]


def current_graph() -> Any:
    """The Graph that is running model_fn now, or None outside model_fn."""
    if torch.compiler.is_compiling():
        return _COMPILED_CALL[0]
    graph = _CURRENT_GRAPH.get()
    return _COMPILED_CALL[0] if graph is None else graph


def set_current_graph(graph: Any) -> Any:
    """Makes ``graph`` current; pass the returned token to ``reset_current_graph``."""
    if torch.compiler.is_compiling():
        previous = _COMPILED_CALL[0]
        _COMPILED_CALL[0] = graph
        return (_COMPILED_CALL, previous)
    return _CURRENT_GRAPH.set(graph)


def reset_current_graph(token: Any) -> None:
    """Restores the Graph that was current before ``set_current_graph``."""
    if isinstance(token, tuple):
        _COMPILED_CALL[0] = token[1]
    else:
        _CURRENT_GRAPH.reset(token)


@contextlib.contextmanager
def graph_context(graph: Any) -> Iterator[Any]:
    """Makes ``graph`` the current Graph for the duration of the block."""
    token = _CURRENT_GRAPH.set(graph)
    try:
        yield graph
    finally:
        _CURRENT_GRAPH.reset(token)
