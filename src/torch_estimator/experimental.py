"""``te.experimental``: tf.estimator.experimental's names (early stopping, in-memory evaluation).

>>> import torch_estimator as te
>>> est = te.Estimator(lambda features, labels, mode: None, model_dir="/tmp/early-stopping-doc")
>>> hook = te.experimental.stop_if_no_decrease_hook(est, "loss", max_steps_without_decrease=1000)
>>> isinstance(hook, te.SessionRunHook)
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch_estimator.checkpoint import global_step_of
from torch_estimator.estimator import Estimator
from torch_estimator.hooks import SessionRunHook, StopAtStepHook
from torch_estimator.hooks.early_stopping import (
    StopAtCheckpointStepHook,
    StopOnPredicateHook,
    check_distributed_timer,
    no_metric_improvement_fn,
    threshold_crossed_fn,
)
from torch_estimator.hooks.in_memory_evaluator import InMemoryEvaluatorHook
from torch_estimator.summary.reader import read_eval_metrics

__all__ = [
    "InMemoryEvaluatorHook",
    "make_early_stopping_hook",
    "make_stop_at_checkpoint_step_hook",
    "read_eval_metrics",
    "stop_if_higher_hook",
    "stop_if_lower_hook",
    "stop_if_no_decrease_hook",
    "stop_if_no_increase_hook",
]


def _check_estimator(estimator: Any) -> None:
    if not isinstance(estimator, Estimator):
        raise TypeError(
            f"`estimator` must have type `tf.estimator.Estimator`. Got: {type(estimator)}. Pass a "
            "te.Estimator."
        )


def make_early_stopping_hook(
    estimator: Estimator,
    should_stop_fn: Callable[[], bool],
    run_every_secs: float | None = 60,
    run_every_steps: int | None = None,
) -> SessionRunHook:
    """A hook that stops training when ``should_stop_fn()`` returns True.

    ``should_stop_fn`` is called every ``run_every_secs`` seconds or ``run_every_steps`` global
    steps (exactly one must be set). Under torch.distributed, rank 0 calls it and every rank stops
    after the same step; a time-based check is then rejected (ranks would not agree on when).

    Raises:
        TypeError: ``estimator`` is not an Estimator, or ``should_stop_fn`` is not callable.
        ValueError: both (or neither) of ``run_every_secs`` and ``run_every_steps`` are set.

    >>> import torch_estimator as te
    >>> est = te.Estimator(lambda features, labels, mode: None, model_dir="/tmp/early-stopping-doc")
    >>> hook = te.experimental.make_early_stopping_hook(
    ...     est, lambda: False, run_every_secs=None, run_every_steps=5
    ... )
    >>> hook.timer.every_steps
    5
    """
    _check_estimator(estimator)
    if run_every_secs is not None and run_every_steps is not None:
        raise ValueError(
            "Only one of `run_every_secs` and `run_every_steps` must be set. Received "
            f"run_every_secs={run_every_secs!r}, run_every_steps={run_every_steps!r}; pass "
            "run_every_secs=None to check every N steps."
        )
    check_distributed_timer(run_every_secs)
    return StopOnPredicateHook(should_stop_fn, run_every_secs, run_every_steps)


def stop_if_higher_hook(
    estimator: Estimator,
    metric_name: str,
    threshold: float,
    eval_dir: str | None = None,
    min_steps: int = 0,
    run_every_secs: float | None = 60,
    run_every_steps: int | None = None,
) -> SessionRunHook:
    """Stops training once ``metric_name`` is strictly greater than ``threshold`` at any evaluated step
    (steps < ``min_steps`` ignored), read from ``eval_dir`` (default ``estimator.eval_dir()``)."""
    should_stop = _stop_fn(threshold_crossed_fn, estimator, eval_dir, metric_name, threshold, True, min_steps)
    return make_early_stopping_hook(estimator, should_stop, run_every_secs, run_every_steps)


def stop_if_lower_hook(
    estimator: Estimator,
    metric_name: str,
    threshold: float,
    eval_dir: str | None = None,
    min_steps: int = 0,
    run_every_secs: float | None = 60,
    run_every_steps: int | None = None,
) -> SessionRunHook:
    """Stops training once ``metric_name`` is strictly lower than ``threshold`` at any evaluated step
    (steps < ``min_steps`` ignored), read from ``eval_dir`` (default ``estimator.eval_dir()``)."""
    should_stop = _stop_fn(
        threshold_crossed_fn, estimator, eval_dir, metric_name, threshold, False, min_steps
    )
    return make_early_stopping_hook(estimator, should_stop, run_every_secs, run_every_steps)


def stop_if_no_increase_hook(
    estimator: Estimator,
    metric_name: str,
    max_steps_without_increase: int,
    eval_dir: str | None = None,
    min_steps: int = 0,
    run_every_secs: float | None = 60,
    run_every_steps: int | None = None,
) -> SessionRunHook:
    """Stops training once ``metric_name`` has not strictly increased for ``max_steps_without_increase``
    global steps: at the first evaluated step with ``step - best_step >= max_steps_without_increase``."""
    should_stop = _stop_fn(
        no_metric_improvement_fn,
        estimator,
        eval_dir,
        metric_name,
        max_steps_without_increase,
        True,
        min_steps,
    )
    return make_early_stopping_hook(estimator, should_stop, run_every_secs, run_every_steps)


def stop_if_no_decrease_hook(
    estimator: Estimator,
    metric_name: str,
    max_steps_without_decrease: int,
    eval_dir: str | None = None,
    min_steps: int = 0,
    run_every_secs: float | None = 60,
    run_every_steps: int | None = None,
) -> SessionRunHook:
    """Stops training once ``metric_name`` has not strictly decreased for ``max_steps_without_decrease``
    global steps: at the first evaluated step with ``step - best_step >= max_steps_without_decrease``."""
    should_stop = _stop_fn(
        no_metric_improvement_fn,
        estimator,
        eval_dir,
        metric_name,
        max_steps_without_decrease,
        False,
        min_steps,
    )
    return make_early_stopping_hook(estimator, should_stop, run_every_secs, run_every_steps)


def _stop_fn(
    should_stop_factory: Callable[..., Callable[[], bool]],
    estimator: Estimator,
    eval_dir: str | None,
    metric_name: str,
    limit: float,
    higher_is_better: bool,
    min_steps: int,
) -> Callable[[], bool]:
    # Both factories read (eval_dir, metric_name, limit, higher_is_better, min_steps).
    _check_estimator(estimator)
    return should_stop_factory(
        eval_dir or estimator.eval_dir(), metric_name, limit, higher_is_better, min_steps
    )


def make_stop_at_checkpoint_step_hook(
    estimator: Estimator, last_step: int, wait_after_file_check_secs: float = 30
) -> SessionRunHook:
    """The chief stops at ``last_step`` (StopAtStepHook); other workers stop once the *checkpointed*
    global step reaches ``last_step``, checking again every ``wait_after_file_check_secs`` seconds.

    >>> import torch_estimator as te
    >>> est = te.Estimator(lambda features, labels, mode: None, model_dir="/tmp/early-stopping-doc")
    >>> type(te.experimental.make_stop_at_checkpoint_step_hook(est, 100)).__name__
    'StopAtStepHook'
    """
    if estimator.config.is_chief:
        return StopAtStepHook(last_step=last_step)
    model_dir = estimator.model_dir
    return StopAtCheckpointStepHook(lambda: global_step_of(model_dir), last_step, wait_after_file_check_secs)
