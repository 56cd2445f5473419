"""CheckpointSaverHook and its listeners: save at start, every N steps or seconds, and at the end."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from torch_estimator.contract.hook_types import SessionRunContext, SessionRunHook, SessionRunValues
from torch_estimator.hooks.timer import SecondOrStepTimer

__all__ = ["CheckpointSaverHook", "CheckpointSaverListener"]

logger = logging.getLogger("torch_estimator")


class CheckpointSaverListener:
    """Called around each checkpoint save of a ``CheckpointSaverHook``; every method is optional.

    Order: ``begin()`` once; per save ``before_save(session, step)``, the save, then
    ``after_save(session, step)`` (a truthy return asks training to stop); ``end(session, step)``
    after the final save.

    >>> class Announce(CheckpointSaverListener):
    ...     def after_save(self, session, global_step_value):
    ...         print(f"saved {global_step_value}")
    >>> Announce().after_save(None, 5)
    saved 5
    """

    def begin(self) -> None:
        """Called once, from the hook's ``begin``."""

    def before_save(self, session: Any, global_step_value: int) -> None:
        """Called before each save."""

    def after_save(self, session: Any, global_step_value: int) -> bool | None:
        """Called after each save; return True to stop training."""
        return None

    def end(self, session: Any, global_step_value: int) -> None:
        """Called once at the end, after the final save."""


class CheckpointSaverHook(SessionRunHook):
    """Saves a checkpoint at session start, every ``save_steps`` steps or ``save_secs`` seconds, and at end.

    * ``after_create_session``: saves at the current global step (0 on a fresh start, the restored
      step on resume).
    * ``after_run``: saves when the timer triggers for the real global step after the step.
    * ``end``: saves if the last global step is not the last saved one, then calls the listeners'
      ``end``.

    Each save calls every listener's ``before_save``, then ``saver.save(session,
    <checkpoint_dir>/<checkpoint_basename>, global_step=step)``, then every ``after_save``; a truthy
    ``after_save`` requests a stop (a stop asked by the save at session start is applied at the
    first ``after_run``). The saver is ``saver``, else ``scaffold.saver``, else the session's
    ``default_saver``. ``save_graph_def`` is accepted: PyTorch has no graph def, so no
    ``graph.pbtxt`` or ``.meta`` file is written. ``listeners`` is a public list (the Estimator
    appends its ``saving_listeners`` to it).

    Raises:
        ValueError: both ``saver`` and ``scaffold``, or not exactly one of ``save_secs`` / ``save_steps``.

    >>> hook = CheckpointSaverHook("/tmp/model", save_steps=100)
    >>> hook.save_path
    '/tmp/model/model.ckpt'
    """

    def __init__(
        self,
        checkpoint_dir: str,
        save_secs: float | None = None,
        save_steps: int | None = None,
        saver: Any = None,
        checkpoint_basename: str = "model.ckpt",
        scaffold: Any = None,
        listeners: Iterable[CheckpointSaverListener] | None = None,
        save_graph_def: bool = True,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        logger.info("Create CheckpointSaverHook.")
        if saver is not None and scaffold is not None:
            raise ValueError(
                "You cannot provide both saver and scaffold. Received saver and a scaffold; pass the saver "
                "through scaffold=Scaffold(saver=...) or pass saver alone."
            )
        self.checkpoint_dir = checkpoint_dir
        self.save_path = os.path.join(os.fspath(checkpoint_dir), checkpoint_basename)
        self.saver = saver
        self.scaffold = scaffold
        self.timer = SecondOrStepTimer(every_secs=save_secs, every_steps=save_steps, clock=clock)
        self.listeners: list[CheckpointSaverListener] = list(listeners or [])
        self.save_graph_def = save_graph_def
        self._step_before_run = 0
        self._pending_stop = False

    def begin(self) -> None:
        for listener in self.listeners:
            listener.begin()

    def after_create_session(self, session: Any, coord: Any) -> None:
        step = session.global_step
        self._step_before_run = step
        # TF ignores a stop asked here; we keep it for the first step, so a listener can end training early.
        self._pending_stop = self._save(session, step)
        self.timer.update_last_triggered_step(step)

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        session = run_context.session
        step = session.global_step
        should_stop = self._pending_stop
        self._pending_stop = False
        # TF's two checks: the expected step (the one before the run + 1), then the real one.
        timer = self.timer
        if timer.should_trigger_for_step(self._step_before_run + 1) and timer.should_trigger_for_step(step):
            self.timer.update_last_triggered_step(step)
            should_stop = self._save(session, step) or should_stop
        self._step_before_run = step
        if should_stop:
            run_context.request_stop()

    def end(self, session: Any) -> None:
        last_step = session.global_step
        if last_step != self.timer.last_triggered_step():
            self._save(session, last_step)
        for listener in self.listeners:
            listener.end(session, last_step)

    def _save(self, session: Any, step: int) -> bool:
        """One save with its listeners; returns whether a listener asked to stop."""
        saver = self._resolve_saver(session)
        flush_checks = getattr(session, "flush_checks", None)
        if flush_checks is not None:
            flush_checks()  # a NaN loss still on its way from the GPU stops the save
        logger.info("Calling checkpoint listeners before saving checkpoint %d...", step)
        for listener in self.listeners:
            listener.before_save(session, step)
        logger.info("Saving checkpoints for %d into %s.", step, self.save_path)
        saver.save(session, self.save_path, global_step=step)
        logger.info("Calling checkpoint listeners after saving checkpoint %d...", step)
        should_stop = False
        for listener in self.listeners:
            if listener.after_save(session, step):
                logger.info(
                    "A CheckpointSaverListener requested that training be stopped. listener: %s", listener
                )
                should_stop = True
        return should_stop

    def _resolve_saver(self, session: Any) -> Any:
        if self.saver is not None:
            return self.saver
        if self.scaffold is not None and self.scaffold.saver is not None:
            return self.scaffold.saver
        default = getattr(session, "default_saver", None)
        if default is not None:
            return default
        raise RuntimeError(
            "CheckpointSaverHook found no saver. Please add a saver or provide a saver or scaffold: pass "
            "saver=te.train.Saver(), scaffold=te.train.Scaffold(saver=...), or run the hook inside an "
            "Estimator, whose session provides the default saver."
        )
