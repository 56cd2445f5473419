"""train_and_evaluate: checks its arguments, chooses this process's role once from the task type, runs it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from torch_estimator.estimator import Estimator
from torch_estimator.training.roles import ROLES, TrainingExecutor, check_eval_spec, run_local
from torch_estimator.training.specs import EvalSpec, TrainSpec

__all__ = ["choose_role", "train_and_evaluate"]

logger = logging.getLogger("torch_estimator")


def train_and_evaluate(
    estimator: Estimator,
    train_spec: TrainSpec,
    eval_spec: EvalSpec,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[dict[str, Any] | None, list[Any] | None] | None:
    """Trains, evaluates and exports as the task type in ``estimator.config`` (``TF_CONFIG``) asks.

    Without a cluster it trains here and evaluates (then runs ``eval_spec.exporters``) after each
    new checkpoint except the first, at most once per ``throttle_secs``, and always after the last;
    it returns ``(metrics of the last evaluation, [results of its exporters])``. In a cluster the
    ``chief`` and ``worker`` tasks train, the ``evaluator`` follows their checkpoints, and it returns
    None. ``clock`` and ``sleep`` are the time source (injectable for tests).

        local:     train(max_steps, hooks, saving_listeners + [evaluate & export on save])
        chief:     train(max_steps, hooks, saving_listeners)
        worker:    sleep(min(60, 5 * (task_id + 1))); train(max_steps, hooks)
        evaluator: sleep(start_delay_secs); until the checkpoint at max_steps is evaluated:
                   evaluate & export the newest checkpoint if new; sleep the rest of throttle_secs

    Raises:
        TypeError: ``eval_spec`` (checked first), ``estimator`` or ``train_spec`` of the wrong type.
        ValueError: an unsupported task type (``ps``, ``local``, unknown), or an evaluator index > 0.

    >>> import tempfile, torch, torch_estimator as te
    >>> def model_fn(features, labels, mode):
    ...     loss = ((te.layers.dense(features, 1) - labels) ** 2).mean()
    ...     op = te.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=te.train.get_global_step())
    ...     return te.EstimatorSpec(mode, loss=loss, train_op=op)
    >>> input_fn = lambda: (torch.ones(4, 2), torch.ones(4, 1))
    >>> config = te.RunConfig(save_checkpoints_steps=5, log_step_count_steps=None, save_summary_steps=0)
    >>> with tempfile.TemporaryDirectory() as model_dir:
    ...     estimator = te.Estimator(model_fn, model_dir=model_dir, config=config)
    ...     train_spec = te.TrainSpec(input_fn, max_steps=10)
    ...     eval_spec = te.EvalSpec(input_fn, steps=1, throttle_secs=0)
    ...     metrics, exports = te.train_and_evaluate(estimator, train_spec, eval_spec)
    >>> metrics["global_step"], exports
    (10, [])
    """
    check_eval_spec(eval_spec)
    executor = TrainingExecutor(estimator, train_spec, eval_spec, clock=clock, sleep=sleep)
    config = estimator.config
    if config.task_type == "evaluator" and config.task_id > 0:
        raise ValueError(
            "For distributed training, there can only be one `evaluator` task (with task id 0). Given task "
            f"id {config.task_id}. Start a single evaluator with TF_CONFIG task index 0."
        )
    return choose_role(config)(executor)


def choose_role(config: Any) -> Callable[[TrainingExecutor], Any]:
    """The role function for ``config``: ``run_local`` without a cluster, else by ``config.task_type``.

    Raises:
        ValueError: no task type, task type ``local``, or one without a role.

    >>> import torch_estimator as te
    >>> choose_role(te.RunConfig()).__name__
    'run_local'
    """
    task_type = config.task_type
    if not config.cluster_spec and task_type != "evaluator":
        logger.info("Running training and evaluation locally (non-distributed).")
        return run_local
    if not task_type:
        raise ValueError(
            "`estimator.config` must have task_type set. This usually means TF_CONFIG environment is not set "
            'correctly. Set TF_CONFIG\'s "task": {"type": ..., "index": ...}.'
        )
    if task_type == "local":
        raise ValueError(
            "`task.type` in TF_CONFIG cannot be `local`. Leaving `cluster` and `task` properties in "
            "TF_CONFIG absent triggers train and evaluate `Estimator` locally (non-distributed)."
        )
    role = ROLES.get(task_type)
    if role is None:
        raise ValueError(
            f"Task type {task_type} is not supported. Supported task types are {sorted(ROLES)}. Fix "
            "TF_CONFIG's task type."
        )
    return role
