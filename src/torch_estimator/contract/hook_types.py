"""The SessionRunHook protocol types: what a hook receives and returns at each step.

They live at the bottom of the package so that EstimatorSpec can check hooks without importing the
engine. The standard hooks themselves live in ``torch_estimator.hooks``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["SessionRunArgs", "SessionRunContext", "SessionRunHook", "SessionRunValues"]


class SessionRunHook:
    """Base class for hooks that run around each step of train, evaluate and predict.

    Every method is optional; the hook list skips the ones a subclass does not override, so an
    unused method costs nothing per step. Order of calls for one loop::

        hooks.begin()
        (variables created, restored or initialised)
        hooks.after_create_session(session, coord)
        repeat:
            args = hooks.before_run(run_context)      # SessionRunArgs or None
            (one step runs: model_fn, train_op)
            hooks.after_run(run_context, SessionRunValues(results))
        hooks.end(session)                            # not called if the loop raised

    >>> class CountSteps(SessionRunHook):
    ...     def begin(self):
    ...         self.steps = 0
    ...     def after_run(self, run_context, run_values):
    ...         self.steps += 1
    """

    def begin(self) -> None:
        """Called once before the loop starts; may create variables through the Graph."""

    def after_create_session(self, session: Any, coord: Any) -> None:
        """Called after variables are restored or initialised, before the first step."""

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs | None:
        """Called before each step; return SessionRunArgs to ask for values after the step."""
        return None

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        """Called after each step with the values asked for in before_run."""

    def end(self, session: Any) -> None:
        """Called once when the loop ends normally (stop requested or input exhausted)."""


class SessionRunArgs(NamedTuple):
    """What a hook asks for in ``before_run``.

    ``fetches`` is a name (``"loss"``, ``"global_step"``, a prediction key, a metric name, a
    summary tag, a name given with ``te.identity``), a zero-argument callable, or a dict / list /
    tuple of those; ``run_values.results`` mirrors its structure. ``feed_dict`` and ``options``
    exist for source compatibility; eager PyTorch has nothing to feed.
    """

    fetches: Any
    feed_dict: Any = None
    options: Any = None


class SessionRunValues(NamedTuple):
    """What a hook receives in ``after_run``: ``results`` mirrors the hook's own fetches."""

    results: Any
    options: Any = None
    run_metadata: Any = None


class SessionRunContext:
    """Passed to ``before_run`` / ``after_run``; lets a hook read the session and request a stop."""

    __slots__ = ("_original_args", "_session", "_stop_requested")

    def __init__(self, original_args: SessionRunArgs, session: Any) -> None:
        self._original_args = original_args
        self._session = session
        self._stop_requested = False

    @property
    def original_args(self) -> SessionRunArgs:
        """The SessionRunArgs of the loop's own step (the train op and loss, say)."""
        return self._original_args

    @property
    def session(self) -> Any:
        """The session object: ``run(fetches)`` and ``global_step``."""
        return self._session

    @property
    def stop_requested(self) -> bool:
        """Whether some hook has called ``request_stop`` during this step."""
        return self._stop_requested

    def request_stop(self) -> None:
        """Ask the loop to stop after this step (every hook still gets its after_run)."""
        self._stop_requested = True
