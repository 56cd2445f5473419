"""A tqdm progress bar as a hook, shown when the loop runs attached to a terminal."""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from torch_estimator.contract.hook_types import SessionRunContext, SessionRunHook, SessionRunValues

__all__ = ["ProgressBarHook"]


class ProgressBarHook(SessionRunHook):
    """One bar per loop: steps for training, batches for evaluation and prediction.

    ``total`` is the planned number of steps when known (``steps=``), or the absolute last step
    (``max_steps=``) from which the restored global step is subtracted.
    """

    def __init__(self, description: str, total: int | None = None, absolute_total: bool = False) -> None:
        self.description = description
        self.total = total
        self.absolute_total = absolute_total
        self.bar: Any = None
        self.redirect: Any = None

    def after_create_session(self, session: Any, coord: Any) -> None:
        total = self.total
        if total is not None and self.absolute_total:
            total = max(0, total - session.global_step)
        # Log lines printed while the bar is open go through tqdm.write, so the bar stays whole.
        self.redirect = logging_redirect_tqdm()
        self.redirect.__enter__()
        self.bar = tqdm(total=total, desc=self.description, unit="step", dynamic_ncols=True, leave=True)

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        self.bar.update(1)

    def end(self, session: Any) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.redirect is not None:
            self.redirect.__exit__(None, None, None)
