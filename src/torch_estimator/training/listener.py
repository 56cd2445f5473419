"""Evaluation inside the training loop: a saving listener that evaluates and exports new checkpoints.

Used by the ``local`` (and legacy ``master``) role. Order, as tf.estimator (SEMANTICS (k) 2):

    begin():       timer = SecondOrStepTimer(every_secs=eval_spec.throttle_secs)
    after_save(s): first save (the one at session start): skip
                   before_eval() False -> stop training
                   timer due at s -> evaluate & export; after_eval(result) False -> stop training
                   else log "Skip the current checkpoint eval due to throttle secs"
    end(s):        s not evaluated yet -> evaluate & export once more (the final checkpoint)

Evaluation reloads the just-saved checkpoint from disk (``Estimator.evaluate``), exactly as a
separate evaluator process would see it. Only the saving process (rank 0 under torchrun) has this
listener, so it evaluates inside ``local_evaluation()``: all the eval data, no collectives across
ranks. The other ranks wait at their next training collective (``RunConfig.collective_timeout_secs``
bounds the wait: keep it above the time an evaluation and its exports take).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from torch_estimator.engine.local_evaluation import local_evaluation
from torch_estimator.hooks import CheckpointSaverListener, SecondOrStepTimer
from torch_estimator.training.evaluator import ContinuousEvalListener, EvalResult, EvalStatus, Evaluator

__all__ = ["EvaluateOnSaveListener"]

logger = logging.getLogger("torch_estimator")


class EvaluateOnSaveListener(CheckpointSaverListener):
    """Evaluates and exports after each checkpoint save except the first, at most once per ``throttle_secs``.

    ``eval_result`` and ``export_results`` hold the last evaluation's outcome (None before any).

    Raises:
        RuntimeError: a save produced no new checkpoint to evaluate.
    """

    def __init__(
        self,
        evaluator: Evaluator,
        throttle_secs: float,
        continuous_eval_listener: ContinuousEvalListener | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.evaluator = evaluator
        self.throttle_secs = throttle_secs
        self.continuous_eval_listener = continuous_eval_listener or ContinuousEvalListener()
        self.clock = clock
        self.eval_result: EvalResult | None = None
        self.export_results: list[Any] | None = None
        self._timer = SecondOrStepTimer(every_secs=throttle_secs, clock=clock)
        self._is_first_run = True

    def begin(self) -> None:
        self._timer = SecondOrStepTimer(every_secs=self.throttle_secs, clock=self.clock)
        self._is_first_run = True

    def after_save(self, session: Any, global_step_value: int) -> bool | None:
        if self._is_first_run:
            # The save at session start holds an untrained (or already evaluated) model.
            self._is_first_run = False
            return None
        if not self.continuous_eval_listener.before_eval():
            logger.info(
                "Exiting training and evaluation loop, as requested by _ContinuousEvalListener.before_eval."
            )
            return True
        if self._timer.should_trigger_for_step(global_step_value):
            result = self._evaluate(global_step_value)
            if not self.continuous_eval_listener.after_eval(result):
                logger.info("Exiting evaluation, as requested by _ContinuousEvalListener.after_eval.")
                return True
        else:
            logger.info(
                "Skip the current checkpoint eval due to throttle secs (%s secs).", self.throttle_secs
            )
        return None

    def end(self, session: Any, global_step_value: int) -> None:
        if (
            global_step_value != self._timer.last_triggered_step()
            and self.continuous_eval_listener.before_eval()
        ):
            result = self._evaluate(global_step_value)
            self.continuous_eval_listener.after_eval(result)

    def _evaluate(self, global_step_value: int) -> EvalResult:
        self._timer.update_last_triggered_step(global_step_value)
        with local_evaluation():
            self.eval_result, self.export_results = self.evaluator.evaluate_and_export()
        if self.eval_result.status != EvalStatus.EVALUATED:
            # Training always ends with a new checkpoint, so this means the model_dir changed under us.
            raise RuntimeError(
                "There was no new checkpoint after the training. Eval status: "
                f"{self.eval_result.status}. Check that nothing else writes or deletes checkpoints in "
                f"{self.evaluator.estimator.model_dir}."
            )
        return self.eval_result
