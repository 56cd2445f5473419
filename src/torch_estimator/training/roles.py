"""The train_and_evaluate roles: one function per task type, each taking a `TrainingExecutor`.

    local      train(max_steps, hooks, listeners + [evaluate on each new checkpoint]); returns
               (metrics of the last evaluation, export results)
    chief      train(max_steps, hooks, listeners)
    worker     sleep min(max_delay, 5 * (task_id + 1)); train(max_steps, hooks)
    master     chief + evaluate on each new checkpoint (TF's legacy cluster)
    evaluator  sleep start_delay_secs; loop { stop once the checkpoint at max_steps is evaluated;
               evaluate & export the newest checkpoint if new; sleep the rest of throttle_secs }
    ps         rejected: PyTorch training has no parameter servers

In a cluster, ``Estimator.train`` runs the chief and the workers as one data-parallel job.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from torch_estimator.estimator import Estimator
from torch_estimator.training.evaluator import (
    ContinuousEvalListener,
    EvalResult,
    EvalStatus,
    Evaluator,
    metrics_global_step,
)
from torch_estimator.training.listener import EvaluateOnSaveListener
from torch_estimator.training.specs import EvalSpec, TrainSpec

__all__ = [
    "DELAY_SECS_PER_WORKER",
    "MAX_WORKER_DELAY_SECS",
    "ROLES",
    "TrainingExecutor",
    "run_chief",
    "run_evaluator",
    "run_local",
    "run_master",
    "run_ps",
    "run_worker",
    "worker_start_delay_secs",
]

logger = logging.getLogger("torch_estimator")

DELAY_SECS_PER_WORKER = 5
MAX_WORKER_DELAY_SECS = 60


@dataclasses.dataclass(frozen=True)
class TrainingExecutor:
    """What every role needs: the Estimator, both specs, and the time source (injectable for tests).

    Raises:
        TypeError: ``estimator`` not an Estimator, ``train_spec`` not a TrainSpec, ``eval_spec`` not an
            EvalSpec, ``continuous_eval_listener`` not a ContinuousEvalListener.
    """

    estimator: Estimator
    """Trains, evaluates and exports."""
    train_spec: TrainSpec
    """What to train on, until which step."""
    eval_spec: EvalSpec
    """How to evaluate and export."""
    continuous_eval_listener: ContinuousEvalListener = dataclasses.field(
        default_factory=ContinuousEvalListener
    )
    """Asked before and after each evaluation whether to go on."""
    clock: Callable[[], float] = time.monotonic
    """Seconds, for throttling."""
    sleep: Callable[[float], None] = time.sleep
    """Waits (the worker and evaluator delays, the evaluator's throttle)."""

    def __post_init__(self) -> None:
        if not isinstance(self.estimator, Estimator):
            raise TypeError(
                "`estimator` must have type `tf.estimator.Estimator`. Got: "
                f"{type(self.estimator)}. Pass a te.Estimator (or a canned estimator)."
            )
        if not isinstance(self.train_spec, TrainSpec):
            raise TypeError(
                f"`train_spec` must have type `tf.estimator.TrainSpec`. Got: {type(self.train_spec)}. "
                "Pass te.TrainSpec(input_fn, max_steps=...)."
            )
        check_eval_spec(self.eval_spec)
        if not isinstance(self.continuous_eval_listener, ContinuousEvalListener):
            raise TypeError(
                "`continuous_eval_listener` must have type `_ContinuousEvalListener`. Got: "
                f"{type(self.continuous_eval_listener)}."
            )

    def evaluator(self) -> Evaluator:
        """A fresh Evaluator for one run of a role."""
        return Evaluator(self.estimator, self.eval_spec, self.train_spec.max_steps, clock=self.clock)

    def train(self, saving_listeners: tuple[Any, ...] = ()) -> None:
        """``estimator.train`` with the train spec's input_fn, max_steps and hooks."""
        spec = self.train_spec
        self.estimator.train(
            spec.input_fn,
            hooks=list(spec.hooks),
            max_steps=spec.max_steps,
            saving_listeners=list(saving_listeners),
        )


def check_eval_spec(eval_spec: Any) -> None:
    """Raises TypeError unless ``eval_spec`` is an EvalSpec."""
    if not isinstance(eval_spec, EvalSpec):
        raise TypeError(
            f"`eval_spec` must have type `tf.estimator.EvalSpec`. Got: {type(eval_spec)}. "
            "Pass te.EvalSpec(input_fn, ...)."
        )


def run_local(executor: TrainingExecutor) -> tuple[dict[str, Any] | None, list[Any] | None]:
    """Trains, evaluating and exporting each new checkpoint in this process.

    Returns the last evaluation's metrics and its export results; ``(None, None)`` when nothing was
    evaluated (training skipped because ``max_steps`` was already reached).
    """
    config = executor.estimator.config
    logger.info(
        "Start train and evaluate loop. The evaluate will happen after every checkpoint. Checkpoint "
        "frequency is determined based on RunConfig arguments: save_checkpoints_steps %s or "
        "save_checkpoints_secs %s.",
        config.save_checkpoints_steps,
        config.save_checkpoints_secs,
    )
    listener = _evaluate_on_save(executor)
    executor.train((*executor.train_spec.saving_listeners, listener))
    result = listener.eval_result or EvalResult(EvalStatus.MISSING_CHECKPOINT)
    return result.metrics, listener.export_results


def run_chief(executor: TrainingExecutor) -> None:
    """Trains at once, with the train spec's saving listeners."""
    executor.train(executor.train_spec.saving_listeners)


def run_worker(executor: TrainingExecutor) -> None:
    """Waits the worker start delay, then trains (no saving listeners: the chief saves)."""
    delay = worker_start_delay_secs(executor.estimator.config)
    if delay > 0:
        logger.info("Waiting %d secs before starting training.", delay)
        executor.sleep(delay)
    executor.train()


def run_master(executor: TrainingExecutor) -> None:
    """TF's legacy ``master``: trains like the chief and evaluates each new checkpoint like ``local``."""
    listener = _evaluate_on_save(executor)
    executor.train((*executor.train_spec.saving_listeners, listener))


def run_ps(executor: TrainingExecutor) -> None:
    """Rejects the ``ps`` task: there are no parameter servers in PyTorch data-parallel training."""
    raise ValueError(
        "Task type ps is not supported: torch-estimator has no parameter servers; the chief and the workers "
        "train as one data-parallel (DDP) job and every process holds the whole model. Remove the 'ps' job "
        "from TF_CONFIG's cluster and do not start ps tasks."
    )


def run_evaluator(executor: TrainingExecutor) -> None:
    """Follows the trainer's checkpoints: evaluates and exports each new one until ``max_steps``.

    Without ``train_spec.max_steps`` it runs until the ContinuousEvalListener stops it (or forever).
    """
    eval_spec = executor.eval_spec
    if eval_spec.start_delay_secs:
        logger.info("Waiting %f secs before starting eval.", eval_spec.start_delay_secs)
        executor.sleep(eval_spec.start_delay_secs)
    evaluator = executor.evaluator()
    max_steps = executor.train_spec.max_steps
    latest: EvalResult | None = None
    while True:
        if latest is not None and latest.status == EvalStatus.EVALUATED:
            global_step = metrics_global_step(latest.metrics)
            if global_step and max_steps and global_step >= max_steps:
                logger.info(
                    "Exiting evaluation, global_step=%s >= train max_steps=%s", global_step, max_steps
                )
                return
        latest = _evaluate_once(executor, evaluator)
        if latest is None:
            return


def _evaluate_once(executor: TrainingExecutor, evaluator: Evaluator) -> EvalResult | None:
    """One throttled pass of the evaluator loop; None when the ContinuousEvalListener says stop."""
    listener = executor.continuous_eval_listener
    throttle_secs = executor.eval_spec.throttle_secs
    start = executor.clock()
    if not listener.before_eval():
        logger.info("Exiting evaluation, as requested by _ContinuousEvalListener.before_eval.")
        return None
    result, _ = evaluator.evaluate_and_export()
    if not listener.after_eval(result):
        logger.info("Exiting evaluation, as requested by _ContinuousEvalListener.after_eval.")
        return None
    remaining = throttle_secs - (executor.clock() - start)
    if remaining > 0:
        logger.info("Waiting %f secs before starting next eval run.", remaining)
        executor.sleep(remaining)
    elif throttle_secs == 0 and result.status != EvalStatus.EVALUATED:
        logger.warning(
            "EvalSpec.throttle_secs is set as 0. This might overload the job before finding (next) new "
            "checkpoint. Please consider to increase it."
        )
    return result


def worker_start_delay_secs(config: Any) -> int:
    """TF's worker stagger: ``min(max_delay, 5 * (task_id + 1))`` for a ``worker``, else 0.

    ``max_delay`` is ``config.experimental_max_worker_delay_secs``, else 60.

    >>> import torch_estimator as te
    >>> import json
    >>> cluster = {"chief": ["h:1"], "worker": ["h:2", "h:3"]}
    >>> tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}})
    >>> info = te.distribute.parse_tf_config({"TF_CONFIG": tf_config})
    >>> worker_start_delay_secs(te.RunConfig(cluster=info))
    10
    """
    if config.task_type != "worker":
        return 0
    max_delay = MAX_WORKER_DELAY_SECS
    if config.experimental_max_worker_delay_secs is not None:
        max_delay = int(config.experimental_max_worker_delay_secs)
    return min(max_delay, (config.task_id + 1) * DELAY_SECS_PER_WORKER)


def _evaluate_on_save(executor: TrainingExecutor) -> EvaluateOnSaveListener:
    return EvaluateOnSaveListener(
        executor.evaluator(),
        executor.eval_spec.throttle_secs,
        executor.continuous_eval_listener,
        clock=executor.clock,
    )


ROLES: dict[str, Callable[[TrainingExecutor], Any]] = {
    "chief": run_chief,
    "evaluator": run_evaluator,
    "master": run_master,
    "ps": run_ps,
    "worker": run_worker,
}
"""The distributed roles by task type (``local`` is chosen when there is no cluster)."""
