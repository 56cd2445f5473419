"""Early stopping: hooks that stop training when a predicate over the eval results says so.

The predicates read what evaluation wrote to an eval dir (``read_eval_metrics``), so they work
with ``train_and_evaluate``, an evaluator process, or an ``InMemoryEvaluatorHook`` alike. Under
``torch.distributed`` (world size > 1) rank 0 alone calls the predicate and broadcasts its
decision, so every rank stops after the same step.
"""

from __future__ import annotations

import logging
import operator
import time
from collections.abc import Callable, Mapping

import torch.distributed as dist

from torch_estimator.contract.hook_types import (
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
)
from torch_estimator.hooks.timer import SecondOrStepTimer
from torch_estimator.metrics.sync import distributed_rank_and_size
from torch_estimator.summary.reader import read_eval_metrics

__all__ = [
    "StopAtCheckpointStepHook",
    "StopOnPredicateHook",
    "check_distributed_timer",
    "no_metric_improvement_fn",
    "threshold_crossed_fn",
]

logger = logging.getLogger("torch_estimator")

EvalResults = Mapping[int, Mapping[str, float]]


def check_distributed_timer(run_every_secs: float | None) -> None:
    """Rejects a time-based check under torch.distributed (TF's multi-worker rule).

    Ranks reach a time threshold at different steps, so they could not agree on when to exchange
    the decision; a step-based check triggers on every rank at the same global step.

    Raises:
        ValueError: world size > 1 and ``run_every_secs`` is set.
    """
    if run_every_secs is None:
        return
    _, world_size = distributed_rank_and_size()
    if world_size > 1:
        raise ValueError(
            "run_every_secs should not be set when using MultiWorkerMirroredStrategy. Received "
            f"run_every_secs={run_every_secs!r} while torch.distributed runs {world_size} processes; pass "
            "run_every_secs=None and run_every_steps=N so every rank checks at the same global step."
        )


class StopOnPredicateHook(SessionRunHook):
    """Requests a stop when ``should_stop_fn()`` returns True, checked every N seconds or steps.

    After each step, if the timer triggers for the global step of that step, the predicate runs
    (on rank 0 only when distributed; the decision is broadcast to every rank).

    Raises:
        TypeError: ``should_stop_fn`` is not callable.
        ValueError: both or neither of ``run_every_secs`` / ``run_every_steps``.

    >>> hook = StopOnPredicateHook(lambda: True, run_every_secs=None, run_every_steps=10)
    >>> hook.timer.every_steps
    10
    """

    def __init__(
        self,
        should_stop_fn: Callable[[], bool],
        run_every_secs: float | None = 60,
        run_every_steps: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not callable(should_stop_fn):
            raise TypeError(f"`should_stop_fn` must be callable. Received: {should_stop_fn!r}.")
        self.should_stop_fn = should_stop_fn
        self.timer = SecondOrStepTimer(every_secs=run_every_secs, every_steps=run_every_steps, clock=clock)

    def begin(self) -> None:
        check_distributed_timer(self.timer.every_secs)

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return SessionRunArgs("global_step")

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        global_step = int(run_values.results)
        if not self.timer.should_trigger_for_step(global_step):
            return
        self.timer.update_last_triggered_step(global_step)
        if self.decide():
            logger.info("Requesting early stopping at global step %d", global_step)
            run_context.request_stop()

    def decide(self) -> bool:
        """The predicate's answer; under torch.distributed, rank 0's answer on every rank."""
        rank, world_size = distributed_rank_and_size()
        if world_size == 1:
            return bool(self.should_stop_fn())
        decision = [bool(self.should_stop_fn()) if rank == 0 else None]
        # A collective: every rank reaches it at the same global step (step-based timer).
        dist.broadcast_object_list(decision, src=0)
        return bool(decision[0])


class StopAtCheckpointStepHook(SessionRunHook):
    """Stops once the *checkpointed* global step reaches ``last_step`` (TF's non-chief variant).

    When this worker's step reaches ``last_step`` it reads the step of the latest checkpoint with
    ``read_checkpoint_step()``; until that too reaches ``last_step`` it sleeps
    ``wait_after_file_check_secs`` after each check.

    >>> hook = StopAtCheckpointStepHook(lambda: 0, last_step=5, wait_after_file_check_secs=0)
    >>> hook.last_step
    5
    """

    def __init__(
        self,
        read_checkpoint_step: Callable[[], int],
        last_step: int,
        wait_after_file_check_secs: float = 30,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.read_checkpoint_step = read_checkpoint_step
        self.last_step = last_step
        self.wait_after_file_check_secs = wait_after_file_check_secs
        self.sleep = sleep

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return SessionRunArgs("global_step")

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        global_step = int(run_values.results) + 1
        if global_step < self.last_step:
            return
        # The targeted step must be on disk, not only reached in memory.
        if self.read_checkpoint_step() >= self.last_step:
            run_context.request_stop()
        else:
            self.sleep(self.wait_after_file_check_secs)


def _metric(metrics: Mapping[str, float], metric_name: str, step: int, eval_dir: str) -> float:
    try:
        return metrics[metric_name]
    except KeyError:
        raise KeyError(
            f"Metric {metric_name!r} is not in the eval results of step {step} in {eval_dir}. Found: "
            f"{sorted(metrics)}. Pass the name of a metric evaluate() writes."
        ) from None


def threshold_crossed_fn(
    eval_dir: str, metric_name: str, threshold: float, higher_is_better: bool, min_steps: int = 0
) -> Callable[[], bool]:
    """A predicate: True once the metric at any evaluated step >= ``min_steps`` is strictly better
    (greater with ``higher_is_better``, else lower) than ``threshold``.

    >>> threshold_crossed_fn("/nonexistent/eval", "loss", 0.1, higher_is_better=False)()
    False
    """
    is_better = operator.gt if higher_is_better else operator.lt
    comparison = "greater than" if higher_is_better else "less than"

    def stop_if_threshold_crossed() -> bool:
        for step, metrics in read_eval_metrics(eval_dir).items():
            if step < min_steps:
                continue
            value = _metric(metrics, metric_name, step, eval_dir)
            if is_better(value, threshold):
                logger.info(
                    'At step %s, metric "%s" has value %s which is %s the configured threshold (%s) for '
                    "early stopping.",
                    step,
                    metric_name,
                    value,
                    comparison,
                    threshold,
                )
                return True
        return False

    return stop_if_threshold_crossed


def no_metric_improvement_fn(
    eval_dir: str,
    metric_name: str,
    max_steps_without_improvement: int,
    higher_is_better: bool,
    min_steps: int = 0,
) -> Callable[[], bool]:
    """A predicate: True once ``max_steps_without_improvement`` global steps passed since the best value.

    Steps are walked in ascending order (steps < ``min_steps`` skipped), keeping the best value
    (a strict improvement moves it); it stops at the first step with ``step - best_step >= max``.

    >>> no_metric_improvement_fn("/nonexistent/eval", "loss", 100, higher_is_better=False)()
    False
    """
    is_better = operator.gt if higher_is_better else operator.lt
    direction = "increase" if higher_is_better else "decrease"

    def stop_if_no_metric_improvement() -> bool:
        best_value: float | None = None
        best_step = 0
        for step, metrics in read_eval_metrics(eval_dir).items():
            if step < min_steps:
                continue
            value = _metric(metrics, metric_name, step, eval_dir)
            if best_value is None or is_better(value, best_value):
                best_value, best_step = value, step
            if step - best_step >= max_steps_without_improvement:
                logger.info(
                    'No %s in metric "%s" for %s steps, which is greater than or equal to max steps (%s) '
                    "configured for early stopping.",
                    direction,
                    metric_name,
                    step - best_step,
                    max_steps_without_improvement,
                )
                return True
        return False

    return stop_if_no_metric_improvement
