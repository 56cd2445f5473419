"""ProfilerHook: profiles one step every N steps or seconds with torch.profiler; writes Chrome traces."""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import profiler

from torch_estimator.contract.hook_types import SessionRunContext, SessionRunHook, SessionRunValues
from torch_estimator.hooks.timer import SecondOrStepTimer

__all__ = ["ProfilerHook"]

logger = logging.getLogger("torch_estimator")


class ProfilerHook(SessionRunHook):
    """Profiles the steps its timer triggers on (never the very first step) and writes
    ``<output_dir>/timeline-<global step>.json``, a Chrome trace (chrome://tracing, Perfetto).

    The profile starts in ``before_run`` and stops in ``after_run``, so it covers model_fn and the
    train op of that step; CUDA activity is included when CUDA is available. ``show_memory`` maps to
    ``profile_memory``. ``show_dataflow`` is accepted for source compatibility (Chrome traces from
    torch.profiler have no dataflow arrows), and no run metadata is written to an event file.

    Raises:
        ValueError: not exactly one of ``save_steps`` / ``save_secs``.

    >>> hook = ProfilerHook(save_steps=100, output_dir="/tmp/profile")
    """

    def __init__(
        self,
        save_steps: int | None = None,
        save_secs: float | None = None,
        output_dir: str = "",
        show_dataflow: bool = True,
        show_memory: bool = False,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timer = SecondOrStepTimer(every_secs=save_secs, every_steps=save_steps, clock=clock)
        self.output_dir = os.fspath(output_dir)
        self.show_dataflow = show_dataflow
        self.show_memory = show_memory
        self._next_step: int | None = None
        self._profile: Any = None

    def begin(self) -> None:
        self._next_step = None

    def before_run(self, run_context: SessionRunContext) -> None:
        if self._next_step is None:
            # The first step only starts the timer: read the step it starts from.
            self.timer.update_last_triggered_step(run_context.session.global_step)
            return
        if self.timer.should_trigger_for_step(self._next_step):
            activities = [profiler.ProfilerActivity.CPU]
            if torch.cuda.is_available():
                activities.append(profiler.ProfilerActivity.CUDA)
            self._profile = profiler.profile(activities=activities, profile_memory=self.show_memory)
            with warnings.catch_warnings():
                # Some torch versions warn that a profile's events are cleared between cycles; each
                # profile here records a single step and is exported at once.
                warnings.filterwarnings("ignore", message=".*Profiler clears events", category=UserWarning)
                self._profile.start()

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        profile = self._profile
        if profile is None:
            # No read between profiles: the step before this run + 1, as TF assumed.
            step = run_context.session.global_step if self._next_step is None else self._next_step
            self._next_step = step + 1
            return
        self._profile = None
        profile.stop()
        step = run_context.session.global_step
        self.timer.update_last_triggered_step(step)
        path = os.path.join(self.output_dir, f"timeline-{step}.json")
        if self.output_dir:
            os.makedirs(self.output_dir, exist_ok=True)
        profile.export_chrome_trace(path)
        logger.info("Saved a Chrome trace of step %d to %s.", step, path)
        self._next_step = step + 1

    def end(self, session: Any) -> None:
        # Input that ends during a profiled step skips its after_run (end still runs): stop the profiler.
        if self._profile is not None:
            self._profile.stop()
            self._profile = None
