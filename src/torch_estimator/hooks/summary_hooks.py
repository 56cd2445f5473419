"""Hooks that write TensorBoard events: steps per second, and the summaries recorded by model_fn."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from torch_estimator.contract.hook_types import SessionRunContext, SessionRunHook, SessionRunValues
from torch_estimator.hooks.timer import SecondOrStepTimer
from torch_estimator.summary.writer import writer_for

__all__ = ["StepCounterHook", "SummarySaverHook"]

logger = logging.getLogger("torch_estimator")

_STEPS_PER_SEC_TAG = "global_step/sec"
_MAX_NOT_INCREASING_WARNINGS = 5


class StepCounterHook(SessionRunHook):
    """Logs and writes ``global_step/sec`` every ``every_n_steps`` steps or ``every_n_secs`` seconds.

    The first trigger only starts the clock. The value is written to ``summary_writer``, else to
    ``writer_for(output_dir)``, else only logged (``"global_step/sec: X"`` at INFO). Warns (the first
    5 times) when the global step does not increase between steps.

    Raises:
        ValueError: not exactly one of ``every_n_steps`` / ``every_n_secs``. ``every_n_steps``
            defaults to 100, so passing only ``every_n_secs`` needs ``every_n_steps=None`` (as in TF).

    >>> StepCounterHook(every_n_steps=None, every_n_secs=30).timer.every_secs
    30
    """

    def __init__(
        self,
        every_n_steps: int | None = 100,
        every_n_secs: float | None = None,
        output_dir: str | None = None,
        summary_writer: Any = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (every_n_steps is None) == (every_n_secs is None):
            raise ValueError(
                "exactly one of every_n_steps and every_n_secs should be provided. Received "
                f"every_n_steps={every_n_steps!r}, every_n_secs={every_n_secs!r} (every_n_steps defaults to "
                "100: pass every_n_steps=None with every_n_secs)."
            )
        self.timer = SecondOrStepTimer(every_steps=every_n_steps, every_secs=every_n_secs, clock=clock)
        self.output_dir = output_dir
        self.summary_writer = summary_writer
        self._writer: Any = None
        self._step_before_run = 0
        self._last_step_before_run: int | None = None
        self._warnings_left = _MAX_NOT_INCREASING_WARNINGS

    def begin(self) -> None:
        self._writer = self.summary_writer
        if self._writer is None and self.output_dir:
            self._writer = writer_for(self.output_dir)

    def after_create_session(self, session: Any, coord: Any) -> None:
        # Reset stale state, as when a session is recreated.
        self.timer.reset()
        self._last_step_before_run = None
        self._step_before_run = session.global_step

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        stale_step = self._step_before_run
        step = run_context.session.global_step
        if self.timer.should_trigger_for_step(stale_step + 1) and self.timer.should_trigger_for_step(step):
            elapsed_secs, elapsed_steps = self.timer.update_last_triggered_step(step)
            if elapsed_secs is not None and elapsed_secs > 0:
                self._record(elapsed_steps / elapsed_secs, step)
        # As TF: compare the step before this run with the one before the previous run.
        if stale_step == self._last_step_before_run and self._warnings_left > 0:
            self._warnings_left -= 1
            logger.warning(
                "It seems that global step (te.train.get_global_step) has not been increased. Current value "
                "(could be stable): %s vs previous value: %s. You could increase the global step by passing "
                "te.train.get_global_step() to Optimizer.apply_gradients or Optimizer.minimize.",
                stale_step,
                self._last_step_before_run,
            )
        self._last_step_before_run = stale_step
        self._step_before_run = step

    def _record(self, steps_per_sec: float, step: int) -> None:
        if self._writer is not None:
            self._writer.write_scalars(step, {_STEPS_PER_SEC_TAG: steps_per_sec})
        logger.info("%s: %g", _STEPS_PER_SEC_TAG, steps_per_sec)


class SummarySaverHook(SessionRunHook):
    """Writes the summaries model_fn recorded (``te.summary.*``) every N steps or seconds.

    ``scaffold`` means "every summary" (or ``scaffold.summary_op`` when set); ``summary_op`` is a
    tag, a list of tags, or a zero-argument callable returning ``tag -> (kind, value)``. Summaries
    are written on the first step (after a ``SessionLog.START``), then at the cadence, at the real
    global step after the step; conversion to Python happens only then. ``end()`` flushes. With
    neither ``output_dir`` nor ``summary_writer`` the hook does nothing.

    Raises:
        ValueError: not exactly one of ``scaffold`` / ``summary_op`` ("Exactly one of scaffold or
            summary_op must be provided."), or not exactly one of ``save_steps`` / ``save_secs``.

    >>> hook = SummarySaverHook(save_steps=100, output_dir=None, summary_op=["loss"])
    """

    def __init__(
        self,
        save_steps: int | None = None,
        save_secs: float | None = None,
        output_dir: str | None = None,
        summary_writer: Any = None,
        scaffold: Any = None,
        summary_op: str | Iterable[str] | Callable[[], Mapping[str, tuple[str, Any]]] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (scaffold is None) == (summary_op is None):
            raise ValueError(
                "Exactly one of scaffold or summary_op must be provided. Received "
                f"scaffold={scaffold!r}, summary_op={summary_op!r}."
            )
        self.timer = SecondOrStepTimer(every_secs=save_secs, every_steps=save_steps, clock=clock)
        self.output_dir = output_dir
        self.summary_writer = summary_writer
        self.scaffold = scaffold
        self.summary_op = summary_op
        self._writer: Any = None
        self._next_step: int | None = None
        self._request_summary = False

    def begin(self) -> None:
        self._writer = self.summary_writer
        if self._writer is None and self.output_dir:
            self._writer = writer_for(self.output_dir)
        self._next_step = None

    def before_run(self, run_context: SessionRunContext) -> None:
        self._request_summary = self._next_step is None or self.timer.should_trigger_for_step(self._next_step)

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        if self._writer is None:
            return
        first = self._next_step is None
        # Between summary writes no read: the step before this run + 1, as TF assumed.
        step = run_context.session.global_step if first or self._request_summary else self._next_step
        if first:
            self._writer.write_session_start(step)
        if self._request_summary:
            self.timer.update_last_triggered_step(step)
            summaries = self._selected(run_context.session)
            if summaries:
                self._writer.write_summaries(step, summaries)
        self._next_step = step + 1

    def end(self, session: Any) -> None:
        if self._writer is not None:
            self._writer.flush()

    def _selected(self, session: Any) -> Mapping[str, tuple[str, Any]]:
        selector = self.summary_op
        if selector is None:
            selector = getattr(self.scaffold, "summary_op", None)
        if selector is None:
            return session.summaries()
        if callable(selector):
            return selector()
        recorded = session.summaries()
        tags = [selector] if isinstance(selector, str) else selector
        # A tag missing this step is skipped: model_fn may record some summaries conditionally.
        return {tag: recorded[tag] for tag in tags if tag in recorded}
