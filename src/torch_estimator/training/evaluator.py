"""One evaluate-and-export pass over the newest checkpoint, shared by every train_and_evaluate role.

Order, as tf.estimator (SEMANTICS (k) 3):

    latest = estimator.latest_checkpoint()           # none -> MISSING_CHECKPOINT
    latest == previous one                           # -> NO_NEW_CHECKPOINT
    metrics = estimator.evaluate(eval_spec.input_fn, steps, name, checkpoint_path=latest, hooks)
    is_the_final_export = metrics['global_step'] >= max_steps   (False without max_steps)
    for exporter in eval_spec.exporters:
        exporter.export(estimator, model_dir/export/<name>, latest, metrics, is_the_final_export)

Evaluation reads checkpoints only and never takes the model_dir's training lock, so a separate
evaluator process cannot stall the trainer. A checkpoint the trainer deletes (``keep_checkpoint_max``)
between listing and reading is skipped like a missing one; the next pass takes the newer checkpoint.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from torch_estimator.checkpoint import CheckpointNotFoundError, CorruptCheckpointError, checkpoint_exists
from torch_estimator.training.specs import EvalSpec

__all__ = ["ContinuousEvalListener", "EvalResult", "EvalStatus", "Evaluator", "metrics_global_step"]

logger = logging.getLogger("torch_estimator")

# A checkpoint that vanished while being read surfaces as one of these, depending on which file went first.
_VANISHED_CHECKPOINT_ERRORS = (CheckpointNotFoundError, CorruptCheckpointError, FileNotFoundError)

# Repeated "nothing to evaluate" warnings are logged at most this often.
_WARNING_INTERVAL_SECS = 600


class EvalStatus:
    """The outcome of one evaluate-and-export pass.

    >>> EvalStatus.EVALUATED, EvalStatus.NO_NEW_CHECKPOINT
    ('evaluated', 'no new checkpoint found')
    """

    UNKNOWN = "unknown"
    EVALUATED = "evaluated"
    MISSING_CHECKPOINT = "missing checkpoint"
    NO_NEW_CHECKPOINT = "no new checkpoint found"


@dataclasses.dataclass(frozen=True)
class EvalResult:
    """``status`` of one pass; with EVALUATED, the ``metrics`` (incl. ``global_step``) and the checkpoint.

    Raises:
        RuntimeError / TypeError: an EVALUATED result without metrics, global_step or checkpoint_path.

    >>> EvalResult(EvalStatus.EVALUATED, {"loss": 0.5, "global_step": 10}, "/m/model.ckpt-10").metrics
    {'loss': 0.5, 'global_step': 10}
    """

    status: str
    """One of `EvalStatus`."""
    metrics: dict[str, Any] | None = None
    """What ``Estimator.evaluate`` returned (EVALUATED only)."""
    checkpoint_path: str | None = None
    """The evaluated checkpoint (EVALUATED only)."""

    def __post_init__(self) -> None:
        if self.status != EvalStatus.EVALUATED:
            return
        if not self.metrics:
            raise RuntimeError(
                "Internal error: `Estimator.evaluate` should never return empty metrics. Received: "
                f"{self.metrics!r}."
            )
        if not isinstance(self.metrics, dict):
            raise TypeError(f"`Estimator.evaluate` should return dict. Given {type(self.metrics)}.")
        if "global_step" not in self.metrics:
            raise RuntimeError(
                "Internal error: `Estimator.evaluate` result should have `global_step` in result. Given "
                f"{self.metrics}."
            )
        if not self.checkpoint_path:
            raise RuntimeError(
                "Internal error: `checkpoint_path` should be non-empty for an EVALUATED result."
            )


class ContinuousEvalListener:
    """Asked around each evaluation of train_and_evaluate; a False answer stops training or the evaluator.

    >>> ContinuousEvalListener().before_eval()
    True
    """

    def before_eval(self) -> bool:
        """Called before each evaluation; False stops (and skips this evaluation)."""
        return True

    def after_eval(self, eval_result: EvalResult) -> bool:
        """Called after each evaluation attempt; False stops."""
        return True


class Evaluator:
    """Evaluates the newest checkpoint once and runs the exporters on the result (see the module doc).

    ``clock`` paces the repeated warnings only.
    """

    def __init__(
        self,
        estimator: Any,
        eval_spec: EvalSpec,
        max_training_steps: int | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.estimator = estimator
        self.eval_spec = eval_spec
        self.max_training_steps = max_training_steps
        self.clock = clock
        self.previous_checkpoint_path: str | None = None
        self.is_final_export_triggered = False
        self._last_warning_time: float | None = None

    def evaluate_and_export(self) -> tuple[EvalResult, list[Any]]:
        """One pass: ``(EvalResult, [each exporter's result])``; the list is empty unless EVALUATED."""
        latest = self.estimator.latest_checkpoint()
        if not latest:
            self._warn_now_and_then(
                "Estimator is not trained yet. Will start an evaluation when a checkpoint is ready."
            )
            return EvalResult(EvalStatus.MISSING_CHECKPOINT), []
        if latest == self.previous_checkpoint_path:
            self._warn_now_and_then(
                "No new checkpoint ready for evaluation. Skip the current evaluation pass as evaluation "
                "results are expected to be same for the same checkpoint."
            )
            return EvalResult(EvalStatus.NO_NEW_CHECKPOINT), []
        spec = self.eval_spec
        try:
            metrics = self.estimator.evaluate(
                spec.input_fn,
                steps=spec.steps,
                hooks=list(spec.hooks),
                checkpoint_path=latest,
                name=spec.name,
            )
        except _VANISHED_CHECKPOINT_ERRORS:
            if checkpoint_exists(latest):
                raise
            logger.warning(
                "Checkpoint %s was deleted before it could be evaluated (the trainer keeps only "
                "keep_checkpoint_max checkpoints); the next pass evaluates a newer one.",
                latest,
            )
            return EvalResult(EvalStatus.MISSING_CHECKPOINT), []
        result = EvalResult(EvalStatus.EVALUATED, metrics, latest)
        final = bool(self.max_training_steps) and metrics["global_step"] >= self.max_training_steps
        export_results = self._export(result, final)
        if final:
            logger.debug("Calling exporter with the `is_the_final_export=True`.")
            self.is_final_export_triggered = True
        self._last_warning_time = None
        self.previous_checkpoint_path = latest
        return result, export_results

    def _export(self, result: EvalResult, is_the_final_export: bool) -> list[Any]:
        export_dir_base = os.path.join(self.estimator.model_dir, "export")
        checkpoint_path = str(result.checkpoint_path)
        results = []
        for exporter in self.eval_spec.exporters:
            try:
                path = exporter.export(
                    estimator=self.estimator,
                    export_path=os.path.join(export_dir_base, exporter.name),
                    checkpoint_path=checkpoint_path,
                    eval_result=result.metrics,
                    is_the_final_export=is_the_final_export,
                )
            except (*_VANISHED_CHECKPOINT_ERRORS, ValueError):
                if checkpoint_exists(checkpoint_path):
                    raise
                logger.warning(
                    "Checkpoint %s was deleted before exporter %r could export it; skipped.",
                    checkpoint_path,
                    exporter.name,
                )
                path = None
            results.append(path)
        return results

    def _warn_now_and_then(self, message: str) -> None:
        now = self.clock()
        if self._last_warning_time is None or now - self._last_warning_time > _WARNING_INTERVAL_SECS:
            logger.warning(message)
            self._last_warning_time = now


def metrics_global_step(metrics: Mapping[str, Any] | None) -> int | None:
    """``metrics['global_step']`` as an int, or None.

    >>> metrics_global_step({"global_step": 7}), metrics_global_step(None)
    (7, None)
    """
    if not metrics or metrics.get("global_step") is None:
        return None
    return int(metrics["global_step"])
