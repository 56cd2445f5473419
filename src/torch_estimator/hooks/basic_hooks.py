"""Standard hooks that only read values: logging, stopping, NaN checks, waiting, final values, feeds."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch

from torch_estimator.contract.convert import to_numpy
from torch_estimator.contract.hook_types import (
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
)
from torch_estimator.hooks.errors import NanLossDuringTrainingError
from torch_estimator.hooks.timer import NeverTriggerTimer, SecondOrStepTimer

__all__ = [
    "FeedFnHook",
    "FinalOpsHook",
    "GlobalStepWaiterHook",
    "LoggingTensorHook",
    "NanTensorHook",
    "StopAtStepHook",
]

logger = logging.getLogger("torch_estimator")


class LoggingTensorHook(SessionRunHook):
    """Logs values every N local iterations or N seconds, and/or at the end, at INFO.

    ``tensors`` is a dict ``tag -> name or callable`` (logged in sorted tag order) or an iterable of
    names (logged in the given order, each its own tag). Iterations are counted locally from 0 (not
    the global step); the first iteration is always logged. Default line: ``"tag = v, tag2 = v2
    (0.123 sec)"`` (no time on the first log); ``formatter(dict of values)`` replaces it.

    Raises:
        ValueError: neither ``at_end`` nor exactly one of ``every_n_iter`` / ``every_n_secs``
            (TF: "either at_end and/or exactly one of every_n_iter and every_n_secs must be
            provided"), or ``every_n_iter <= 0``.

    >>> hook = LoggingTensorHook({"loss": "loss", "step": "global_step"}, every_n_iter=100)
    """

    def __init__(
        self,
        tensors: Mapping[str, Any] | Iterable[Any],
        every_n_iter: int | None = None,
        every_n_secs: float | None = None,
        at_end: bool = False,
        formatter: Callable[[dict[Any, Any]], str] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        only_log_at_end = at_end and every_n_iter is None and every_n_secs is None
        if not only_log_at_end and (every_n_iter is None) == (every_n_secs is None):
            raise ValueError(
                "either at_end and/or exactly one of every_n_iter and every_n_secs must be provided. "
                f"Received every_n_iter={every_n_iter!r}, every_n_secs={every_n_secs!r}, at_end={at_end!r}."
            )
        if every_n_iter is not None and every_n_iter <= 0:
            raise ValueError(f"invalid every_n_iter={every_n_iter}. Pass a positive number of iterations.")
        if isinstance(tensors, Mapping):
            self.tag_order: list[Any] = sorted(tensors)
            self.tensors: dict[Any, Any] = dict(tensors)
        else:
            self.tag_order = list(tensors)
            self.tensors = {item: item for item in self.tag_order}
        self.formatter = formatter
        self.at_end = at_end
        self.timer: SecondOrStepTimer | NeverTriggerTimer = (
            NeverTriggerTimer()
            if only_log_at_end
            else SecondOrStepTimer(every_n_secs, every_n_iter, clock=clock)
        )
        self._args = SessionRunArgs(self.tensors)
        self._iter_count = 0
        self._should_trigger = False

    def begin(self) -> None:
        self.timer.reset()
        self._iter_count = 0

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs | None:
        self._should_trigger = self.timer.should_trigger_for_step(self._iter_count)
        return self._args if self._should_trigger else None

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        if self._should_trigger:
            self._log(run_values.results)
        self._iter_count += 1

    def end(self, session: Any) -> None:
        if self.at_end:
            self._log(session.run(self.tensors))

    def _log(self, values: Mapping[Any, Any]) -> None:
        elapsed_secs, _ = self.timer.update_last_triggered_step(self._iter_count)
        values = {tag: to_numpy(value) for tag, value in values.items()}
        with np.printoptions(suppress=True):
            if self.formatter is not None:
                logger.info(self.formatter(values))
                return
            # str(), as TF's "%s": format() would print a 0-d float32 array at float64 precision.
            line = ", ".join(f"{tag!s} = {values[tag]!s}" for tag in self.tag_order)
            if elapsed_secs is not None:
                logger.info("%s (%.3f sec)", line, elapsed_secs)
            else:
                logger.info("%s", line)


class StopAtStepHook(SessionRunHook):
    """Requests a stop once the global step reaches ``last_step`` (or start step + ``num_steps``).

    With ``num_steps`` the last step is the global step at ``after_create_session`` plus
    ``num_steps`` (so ``train(steps=N)`` is incremental). After each step, if the step's starting
    global step + 1 reaches the last step, the real global step is read and a stop requested when
    it is ``>= last_step`` (TF's rule).

    Raises:
        ValueError: both or neither of ``num_steps`` / ``last_step``.

    >>> StopAtStepHook(last_step=10).last_step
    10
    """

    def __init__(self, num_steps: int | None = None, last_step: int | None = None) -> None:
        if num_steps is None and last_step is None:
            raise ValueError("One of num_steps or last_step must be specified. Received None for both.")
        if num_steps is not None and last_step is not None:
            raise ValueError(
                f"Only one of num_steps or last_step can be specified. Received num_steps={num_steps!r}, "
                f"last_step={last_step!r}."
            )
        self.num_steps = num_steps
        self.last_step = last_step
        self._step_before_run = 0

    def after_create_session(self, session: Any, coord: Any) -> None:
        step = session.global_step
        if self.num_steps is not None:
            self.last_step = step + self.num_steps
        self._step_before_run = step

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        # The global step after this step is the one before the next: one read per step, as TF's
        # fetch of the (pre-run) global step.
        step = run_context.session.global_step
        if self._step_before_run + 1 >= self.last_step and step >= self.last_step:
            run_context.request_stop()
        self._step_before_run = step


class NanTensorHook(SessionRunHook):
    """Stops training when the loss is NaN: raises ``NanLossDuringTrainingError``, or (with
    ``fail_on_nan_loss=False``) logs a warning and requests a stop.

    ``loss_tensor`` is a fetch name (``"loss"``) or a zero-argument callable. Runs every step. A loss
    on the CPU is checked at once. A loss on a GPU is checked one step late: reading it at once would
    make the host wait for each step's GPU work before it could queue the next step. Its ``isnan`` is
    copied to host memory without waiting, and read after the next step has been queued, or sooner
    when the session flushes its deferred checks (before every checkpoint save). So the checkpoints
    written are those TF wrote: a save that TF's raise would have prevented raises instead.

    >>> hook = NanTensorHook("loss")
    """

    def __init__(self, loss_tensor: Any, fail_on_nan_loss: bool = True) -> None:
        self.loss_tensor = loss_tensor
        self.fail_on_nan_loss = fail_on_nan_loss
        self._args = SessionRunArgs(loss_tensor)
        self._pending: _DeviceNanFlag | None = None
        self._stop_due = False

    def after_create_session(self, session: Any, coord: Any) -> None:
        self._pending = None
        self._stop_due = False
        deferred = getattr(session, "deferred_checks", None)
        if deferred is not None:
            deferred.append(self.flush)

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return self._args

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        loss = run_values.results
        if isinstance(loss, torch.Tensor) and loss.device.type == "cuda":
            self.flush()  # the previous step's flag: its work finished while this step was queued
            self._pending = _DeviceNanFlag(loss)
            if self._stop_due:
                run_context.request_stop()
            return
        if isinstance(loss, torch.Tensor):
            # One scalar read is cheaper than building an isnan tensor; both sync a device once.
            is_nan = math.isnan(loss.item()) if loss.dim() == 0 else bool(loss.isnan().any())
        else:
            is_nan = bool(np.isnan(loss).any()) if isinstance(loss, np.ndarray) else math.isnan(loss)
        if is_nan and self._diverged():
            run_context.request_stop()

    def flush(self) -> None:
        """Reads a GPU loss check still in flight (waiting for its step); raises if it was NaN."""
        pending, self._pending = self._pending, None
        if pending is not None and pending.is_nan() and self._diverged():
            self._stop_due = True

    def end(self, session: Any) -> None:
        self.flush()

    def _diverged(self) -> bool:
        """Raises when failing on NaN; otherwise warns and returns True (stop training)."""
        message = "Model diverged with loss = NaN."
        if self.fail_on_nan_loss:
            logger.error(message)
            raise NanLossDuringTrainingError
        logger.warning(message)
        return True


class _DeviceNanFlag:
    """``isnan(loss).any()`` of a GPU tensor, on its way to host memory; read it with ``is_nan``."""

    def __init__(self, loss: torch.Tensor) -> None:
        flag = torch.isnan(loss.detach()).any()
        self.host = torch.empty((), dtype=torch.bool, pin_memory=True)
        self.host.copy_(flag, non_blocking=True)
        self.event = torch.cuda.Event()
        self.event.record()

    def is_nan(self) -> bool:
        self.event.synchronize()
        return bool(self.host)


class GlobalStepWaiterHook(SessionRunHook):
    """Before the first step, waits (polling every 0.5 s) until the global step reaches ``wait_until_step``.

    ``wait_until_step <= 0`` never waits. ``sleep`` is injectable for tests.

    >>> hook = GlobalStepWaiterHook(0)
    """

    def __init__(self, wait_until_step: int, *, sleep: Callable[[float], Any] = time.sleep) -> None:
        self.wait_until_step = wait_until_step
        self.sleep = sleep
        self._started = False

    def begin(self) -> None:
        self._started = False

    def before_run(self, run_context: SessionRunContext) -> None:
        if self._started:
            return None
        if self.wait_until_step <= 0:
            self._started = True
            return None
        logger.info("Waiting for global step %d before starting training.", self.wait_until_step)
        last_logged_step = 0
        while True:
            step = run_context.session.global_step
            if step >= self.wait_until_step:
                self._started = True
                return None
            if step - last_logged_step > 1000:
                logger.info(
                    "Waiting for global step %d before starting training. Current step is %d.",
                    self.wait_until_step,
                    step,
                )
                last_logged_step = step
            self.sleep(0.5)


class FinalOpsHook(SessionRunHook):
    """Evaluates ``final_ops`` (a name, callable, or dict/list of them) in ``end()``: ``final_ops_values``.

    ``final_ops_feed_dict`` is accepted for source compatibility; PyTorch has nothing to feed.

    >>> FinalOpsHook({"loss": "loss"}).final_ops_values is None
    True
    """

    def __init__(self, final_ops: Any, final_ops_feed_dict: Any = None) -> None:
        self.final_ops = final_ops
        self.final_ops_feed_dict = final_ops_feed_dict
        self.final_ops_values: Any = None

    def end(self, session: Any) -> None:
        if self.final_ops is None:
            return
        try:
            self.final_ops_values = session.run(self.final_ops)
        except StopIteration:
            logger.warning(
                "A StopIteration exception is raised by the code in FinalOpsHook. This typically means the "
                "values computed by the FinalOpsHook read another batch from the input, which should not "
                "happen: a metric's value must only read its state, never the input. Please fix that."
            )
            raise


class FeedFnHook(SessionRunHook):
    """Calls ``feed_fn()`` before each step and passes its dict as ``feed_dict``.

    Eager PyTorch has no placeholders to feed, so the feeds are only collected (``HookList.feed_dict``);
    the hook exists so that TF code using it keeps running.

    >>> FeedFnHook(lambda: {}).feed_fn()
    {}
    """

    def __init__(self, feed_fn: Callable[[], Mapping[Any, Any]]) -> None:
        self.feed_fn = feed_fn

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return SessionRunArgs(fetches=None, feed_dict=self.feed_fn())
