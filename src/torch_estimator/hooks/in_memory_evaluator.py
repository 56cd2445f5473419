"""InMemoryEvaluatorHook: evaluates the live training variables during training, with no checkpoint.

This hook drives the engine (``engine.in_memory_evaluate``), so ``hooks/__init__`` does not import
it (the engine imports the hooks package); ``te.experimental`` exports it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import torch.distributed as dist

from torch_estimator.contract.hook_types import SessionRunContext, SessionRunHook, SessionRunValues
from torch_estimator.contract.spec import check_hooks
from torch_estimator.engine.in_memory_evaluate import LiveEvaluator
from torch_estimator.engine.setup import EstimatorSetup
from torch_estimator.hooks.timer import SecondOrStepTimer

__all__ = ["InMemoryEvaluatorHook"]

logger = logging.getLogger("torch_estimator")


class InMemoryEvaluatorHook(SessionRunHook):
    """Runs ``estimator.evaluate``-like evaluations on the training variables every N iterations.

    It evaluates once right after the training session is created (before the first step), then
    every ``every_n_iter`` local iterations, and once more at the end of training. Results are
    written to ``estimator.eval_dir(name)`` like ``evaluate()`` writes them, so early-stopping hooks
    (``te.experimental.stop_if_*``) read them. Single process only, as in TF.

    Raises:
        ValueError: ``every_n_iter`` None or <= 0, ``steps`` <= 0, or a distributed configuration;
            in ``begin()``, model_fn's EVAL scaffold has a custom saver or init_fn.
        TypeError: an element of ``hooks`` is not a SessionRunHook.

    >>> import torch, torch_estimator as te
    >>> def model_fn(features, labels, mode):
    ...     loss = ((te.layers.dense(features, 1) - labels) ** 2).mean()
    ...     op = te.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=te.train.get_global_step())
    ...     return te.EstimatorSpec(mode, loss=loss, train_op=op)
    >>> config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, save_checkpoints_secs=None)
    >>> est = te.Estimator(model_fn, config=config)
    >>> data = lambda: (torch.ones(4, 2), torch.ones(4, 1))
    >>> hook = te.experimental.InMemoryEvaluatorHook(est, data, steps=1, every_n_iter=2)
    >>> _ = est.train(data, hooks=[hook], steps=4)
    >>> sorted(te.experimental.read_eval_metrics(est.eval_dir()))  # before step 1, after 2 and 4, at end
    [0, 2, 4]
    """

    def __init__(
        self,
        estimator: Any,
        input_fn: Callable[..., Any],
        steps: int | None = None,
        hooks: Iterable[SessionRunHook] | None = None,
        name: str | None = None,
        every_n_iter: int = 100,
    ) -> None:
        if every_n_iter is None or every_n_iter <= 0:
            raise ValueError(
                f"invalid every_n_iter={every_n_iter!r}: expected a positive number of training iterations "
                "between evaluations. Pass e.g. every_n_iter=100."
            )
        config = estimator.config
        if config.num_ps_replicas > 0 or config.num_worker_replicas > 1:
            raise ValueError(
                "InMemoryEvaluator supports only single machine (aka Local) setting. Received a config with "
                f"{config.num_ps_replicas} ps and {config.num_worker_replicas} workers; evaluate in a "
                "separate evaluator task (train_and_evaluate) instead."
            )
        if steps is not None and steps <= 0:
            raise ValueError(
                f"Must specify steps > 0, given: {steps}. Pass None to evaluate until the input ends."
            )
        checked = list(check_hooks(hooks, "hooks"))
        # The public model_fn binds params; the engine needs nothing private of the Estimator.
        setup = EstimatorSetup(estimator.model_fn, estimator.model_dir, config, None)
        self.eval_dir = estimator.eval_dir(name)
        self.evaluator = LiveEvaluator(setup, input_fn, steps, checked, self.eval_dir)
        self.timer = SecondOrStepTimer(every_steps=every_n_iter)
        self.iter_count = 0
        self.last_results: dict[str, Any] | None = None

    def begin(self) -> None:
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            raise ValueError(
                "InMemoryEvaluator supports only single machine (aka Local) setting. Received a torch."
                f"distributed run of {dist.get_world_size()} processes; evaluate with train_and_evaluate."
            )
        self.timer.reset()
        self.iter_count = 0
        self.evaluator.build()

    def after_create_session(self, session: Any, coord: Any) -> None:
        """Evaluates before the first training step."""
        self._evaluate(session)

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        self.iter_count += 1
        if self.timer.should_trigger_for_step(self.iter_count):
            self._evaluate(run_context.session)

    def end(self, session: Any) -> None:
        self._evaluate(session)

    def _evaluate(self, session: Any) -> None:
        self.last_results = self.evaluator.evaluate(session.graph)
        logger.info(
            "In-memory evaluation at global step %s: %s", self.last_results["global_step"], self.last_results
        )
        self.timer.update_last_triggered_step(self.iter_count)
