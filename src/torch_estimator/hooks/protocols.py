"""What the standard hooks expect of the objects they are handed: the session, a saver, a writer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["HookSession", "SaverLike", "SummaryWriterLike"]


@runtime_checkable
class HookSession(Protocol):
    """The ``session`` a hook receives (the engine's ``Session``; tests use a small fake).

    * ``graph``: the Graph running model_fn.
    * ``global_step``: the global step now, as an int (after the last step's train op).
    * ``run(fetches)``: names (``"loss"``, ``"global_step"``, prediction keys, metric names, summary
      tags, ``te.identity`` names) or callables, resolved against the last step; dicts, lists and
      tuples are mirrored.
    * ``summaries()``: ``tag -> (kind, value)`` recorded by ``te.summary.*`` in the last step.
    * ``default_saver``: the Estimator's Saver, or None.
    * ``model_dir``: the model directory, or None.
    """

    graph: Any
    default_saver: Any
    model_dir: str | None

    @property
    def global_step(self) -> int: ...

    def run(self, fetches: Any) -> Any: ...

    def summaries(self) -> Mapping[str, tuple[str, Any]]: ...


@runtime_checkable
class SaverLike(Protocol):
    """Writes a checkpoint: ``save(session, save_path, global_step=step)`` returns the path written."""

    def save(self, session: Any, save_path: str, global_step: int | None = None) -> str: ...


@runtime_checkable
class SummaryWriterLike(Protocol):
    """What summary hooks write through (``te.summary.FileWriter`` is one)."""

    def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None: ...

    def write_summaries(self, step: int, summaries: Mapping[str, tuple[str, Any]]) -> None: ...

    def write_session_start(self, step: int) -> None: ...

    def flush(self) -> None: ...
