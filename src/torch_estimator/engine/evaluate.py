"""Estimator.evaluate: metrics over the eval input, from a checkpoint.

Order, as tf.estimator (SEMANTICS (e)):

    graph = fresh Graph; features, labels = first batch of input_fn()
    spec = model_fn(features, labels, EVAL)            # build pass
    reject metrics named 'loss' / 'global_step'
    hooks = user hooks + [stop after `steps`] + spec.evaluation_hooks
    hooks.begin(); restore the checkpoint (or keep the fresh variables, with a warning)
    hooks.after_create_session(session)
    for each batch (starting with the first):
        hooks.before_run; spec = model_fn(batch); run every update_op (sorted by name); hooks.after_run
    distributed: sum metric states, loss sum and batch count over ranks   (world size > 1 only)
    hooks.end(session); compute metric values once
    rank 0 writes them to eval_dir at the global step; return them with 'loss' and 'global_step'

Under torch.distributed each rank evaluates its own batches; every rank returns the metrics of all
ranks' batches, and 'loss' is the mean of the per-batch losses over all ranks' batches. Inside
``local_evaluation()`` (train_and_evaluate's evaluation on the saving rank) the process evaluates
alone: input_fn gets one input pipeline, and nothing is synced across ranks (torchmetrics included).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch

from torch_estimator.checkpoint import latest_checkpoint
from torch_estimator.contract.convert import to_python
from torch_estimator.contract.hook_types import (
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
)
from torch_estimator.contract.metric_types import MetricValue, is_metric_object
from torch_estimator.contract.mode_keys import ModeKeys
from torch_estimator.contract.spec import EstimatorSpec
from torch_estimator.engine.local_evaluation import evaluation_rank_and_size, is_local_evaluation
from torch_estimator.engine.progress import ProgressBarHook
from torch_estimator.engine.session import Session
from torch_estimator.engine.setup import (
    EstimatorSetup,
    default_saver,
    restore_or_initialize,
    start_call,
)
from torch_estimator.graph.graph import Graph
from torch_estimator.hooks import HookList
from torch_estimator.metrics.state import UpdateOps
from torch_estimator.metrics.sync import reduce_metric_states, unsynced_compute, unsynced_metric_names
from torch_estimator.summary import writer_for

__all__ = [
    "MetricValues",
    "StopAfterNEvalsHook",
    "check_reserved_names",
    "eval_step",
    "evaluate",
    "metric_result",
    "reset_metric_objects",
    "write_summaries",
]

logger = logging.getLogger("torch_estimator")

_STEP_FETCHES = SessionRunArgs(fetches=["update_ops", "loss"])


class StopAfterNEvalsHook(SessionRunHook):
    """Requests a stop after ``num_evals`` evaluation batches."""

    def __init__(self, num_evals: int) -> None:
        self.num_evals = num_evals
        self.evals_done = 0

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        self.evals_done += 1
        if self.evals_done >= self.num_evals:
            run_context.request_stop()


def evaluate(
    setup: EstimatorSetup,
    input_fn: Callable[..., Any],
    steps: int | None,
    hooks: Sequence[SessionRunHook],
    checkpoint_path: str | None,
    eval_dir: str,
) -> dict[str, Any]:
    """Runs the evaluation loop; arguments are already checked by the Estimator."""
    config = setup.config
    checkpoint_path = checkpoint_path or latest_checkpoint(setup.model_dir)
    if checkpoint_path is None:
        logger.warning(
            "Could not find trained model in model_dir: %s, running initialization to evaluate.",
            setup.model_dir,
        )
    start = start_call(setup, input_fn, ModeKeys.EVAL)
    if start is None:
        raise ValueError("evaluate: input_fn produced no batch. Return at least one batch of eval data.")
    graph, run, batches = start.graph, start.run, start.batches
    features, labels, spec = start.features, start.labels, start.spec
    check_reserved_names(spec.eval_metric_ops)

    all_hooks = list(hooks)
    if steps is not None:
        all_hooks.append(StopAfterNEvalsHook(steps))
    all_hooks.extend(spec.evaluation_hooks)
    if sys.stderr.isatty():
        all_hooks.append(ProgressBarHook("evaluate", total=steps))
    hook_list = HookList(all_hooks)
    hook_list.begin()

    saver = default_saver(config, spec.scaffold)
    session = Session(graph, setup.model_dir, saver)
    restore_or_initialize(
        graph, spec.scaffold, saver, checkpoint_path, session, warm_start_settings=setup.warm_start
    )
    reset_metric_objects(graph, spec.eval_metric_ops)
    hook_list.after_create_session(session, None)

    loss_sum = torch.zeros((), dtype=torch.float64, device=graph.device)
    batches_done = 0
    update_ops = UpdateOps()
    with torch.no_grad():
        while True:
            run_context = SessionRunContext(_STEP_FETCHES, session)
            hook_list.before_run(run_context)
            spec = eval_step(run, features, labels, start.inference, loss_sum, update_ops)
            batches_done += 1
            session.record_step(spec, MetricValues(spec.eval_metric_ops))
            hook_list.after_run(run_context, session.run)
            if run_context.stop_requested:
                break
            batch = next(batches, None)
            if batch is None:
                break
            features, labels = batch
        rank, world_size = evaluation_rank_and_size()
        if world_size > 1:
            loss = _reduce_across_ranks(graph, spec.eval_metric_ops, loss_sum, batches_done)
        else:
            loss = float(loss_sum / batches_done)
        hook_list.end(session)
        with unsynced_compute(spec.eval_metric_ops) if is_local_evaluation() else contextlib.nullcontext():
            results = {name: metric_result(metric) for name, metric in spec.eval_metric_ops.items()}
    results["loss"] = loss
    results["global_step"] = session.global_step
    if rank == 0:
        write_summaries(eval_dir, results, checkpoint_path)
    return results


def eval_step(
    run: Callable[..., EstimatorSpec],
    features: Any,
    labels: Any,
    inference: bool,
    loss_sum: torch.Tensor,
    update_ops: UpdateOps,
) -> EstimatorSpec:
    """One evaluation batch: model_fn, every update op (``update_ops``, in name order), and the loss
    added to ``loss_sum``; returns the spec.

    With ``inference`` (see ``start_call``) it runs in inference mode, where each small op costs
    less. input_fn and the hooks run outside it, so input_fn's tensors keep their version
    counters: a refilled buffer still raises at the metrics' fold.
    """
    with torch.inference_mode(inference):
        spec = run(features, labels, ModeKeys.EVAL)
        update_ops(spec.eval_metric_ops)
        loss_sum += spec.loss.detach()
    return spec


def _reduce_across_ranks(
    graph: Graph, metrics: Mapping[str, Any], loss_sum: torch.Tensor, batches_done: int
) -> float:
    """Sums metric states, loss sum and batch count over ranks; returns the global mean batch loss."""
    # Before hooks.end: FinalOpsHook-style hooks reading metric values there see the global ones.
    totals = torch.stack([loss_sum, torch.full_like(loss_sum, batches_done)])
    reduce_metric_states(graph, extra=[totals])
    unsynced = unsynced_metric_names(metrics)
    if unsynced:
        logger.warning(
            "Metric objects %s are not torchmetrics Metrics, so they cannot be synced across ranks: "
            "their values cover only this rank's batches. Use a torchmetrics.Metric or a te.metrics "
            "function to get the value over every rank's data.",
            unsynced,
        )
    return float(totals[0] / totals[1])


class MetricValues(Mapping[str, Any]):
    """Metric values by name for hook fetches, computed from the state only when a hook asks."""

    def __init__(self, metrics: Mapping[str, Any]) -> None:
        self.metrics = metrics

    def __getitem__(self, name: str) -> Any:
        return metric_result(self.metrics[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self.metrics)

    def __len__(self) -> int:
        return len(self.metrics)


def check_reserved_names(metrics: Mapping[str, Any]) -> None:
    """Rejects eval_metric_ops named 'loss' or 'global_step' (the Estimator adds both)."""
    # TF's two phrases differ: "loss" in double quotes, `global_step` in backticks.
    for reserved, quoted in (("loss", '"loss"'), ("global_step", "`global_step`")):
        if reserved in metrics:
            raise ValueError(
                f"Metric with name {quoted} is not allowed, because Estimator already defines a default "
                f"metric with the same name. Rename eval_metric_ops[{reserved!r}]."
            )


def reset_metric_objects(graph: Graph, metrics: Mapping[str, Any]) -> None:
    """Resets every Metric object of ``metrics`` before an evaluation."""
    # Each evaluate call starts every metric from zero, even one the model_fn keeps across calls.
    for metric in metrics.values():
        if is_metric_object(metric):
            metric.reset()
            graph.note_metric_reset(metric)


def metric_result(metric: Any) -> Any:
    """The final value of one eval_metric_ops entry, as Python numbers / numpy arrays."""
    if is_metric_object(metric):
        return to_python(metric.compute())
    return to_python(_value(metric[0]))


def _value(value: Any) -> Any:
    if isinstance(value, MetricValue):
        return value.compute()
    if isinstance(value, tuple):
        return tuple(_value(item) for item in value)
    if callable(value) and not isinstance(value, torch.Tensor):
        return value()
    return value


def write_summaries(eval_dir: str, results: Mapping[str, Any], checkpoint_path: str | None) -> None:
    """Scalars of the results at the evaluated global step, plus the checkpoint path as text."""
    step = int(results["global_step"])
    scalars: dict[str, float] = {}
    for name, value in results.items():
        if name == "global_step" or value is None:
            continue
        if isinstance(value, (bool, int, float)):
            scalars[name] = float(value)
        else:
            logger.warning(
                "Skipping summary for %s, must be a float or a number. Received: %s.",
                name,
                type(value).__name__,
            )
    writer = writer_for(eval_dir)
    writer.write_scalars(step, scalars)
    if checkpoint_path is not None:
        writer.write_text(step, "checkpoint_path", str(checkpoint_path))
    writer.flush()
