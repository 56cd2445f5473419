"""Evaluating the live training variables: an eval Graph built once, refreshed from training in memory.

What ``InMemoryEvaluatorHook`` runs (TF built the eval graph once and fed it the training variables
through placeholders on every evaluation). Each evaluation, as ``Estimator.evaluate`` (SEMANTICS (e))
but with no checkpoint::

    copy every variable both Graphs have from the training Graph into the eval Graph
    hooks = user hooks + [stop after `steps`] + spec.evaluation_hooks
    hooks.begin(); scaffold init_op / local_init_op; reset metrics; hooks.after_create_session
    for each batch of a fresh input_fn(): hooks.before_run; model_fn(EVAL); update ops; hooks.after_run
    hooks.end(session); metric values; write them to eval_dir at the training global step

Random number generator state is saved and restored around building and evaluating, so training
draws the same random numbers with or without the evaluations.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from torch_estimator.checkpoint import capture_rng_state, restore_rng_state
from torch_estimator.contract.hook_types import SessionRunArgs, SessionRunContext, SessionRunHook
from torch_estimator.contract.mode_keys import ModeKeys
from torch_estimator.contract.scaffold import Scaffold
from torch_estimator.engine.evaluate import (
    MetricValues,
    StopAfterNEvalsHook,
    check_reserved_names,
    eval_step,
    metric_result,
    reset_metric_objects,
    write_summaries,
)
from torch_estimator.engine.session import Session
from torch_estimator.engine.setup import CallStart, EstimatorSetup, open_input, start_call
from torch_estimator.hooks import HookList
from torch_estimator.metrics.state import UpdateOps, metric_states

__all__ = ["LiveEvaluator"]

_STEP_FETCHES = SessionRunArgs(fetches=["update_ops", "loss"])


@contextlib.contextmanager
def _rng_kept() -> Iterator[None]:
    state = capture_rng_state()
    try:
        yield
    finally:
        restore_rng_state(state)


class LiveEvaluator:
    """Evaluates another Graph's current variable values with ``input_fn`` and writes to ``eval_dir``.

    ``build()`` makes the eval Graph (one model_fn build pass on the first eval batch); each
    ``evaluate(train_graph)`` copies the training values in and runs a whole evaluation.

    Raises (from ``build``):
        ValueError: input_fn gives no batch, a reserved metric name, or the spec's scaffold has a
            custom saver or init_fn (an in-memory evaluation neither restores nor initialises).
    """

    def __init__(
        self,
        setup: EstimatorSetup,
        input_fn: Callable[..., Any],
        steps: int | None,
        hooks: Sequence[SessionRunHook],
        eval_dir: str,
    ) -> None:
        self.setup = setup
        self.input_fn = input_fn
        self.steps = steps
        self.hooks = list(hooks)
        self.eval_dir = eval_dir
        self.start: CallStart | None = None

    def build(self) -> None:
        """Builds the eval Graph once (fresh variables; filled from training before each evaluation)."""
        with _rng_kept():
            start = start_call(self.setup, self.input_fn, ModeKeys.EVAL)
        if start is None:
            raise ValueError(
                "InMemoryEvaluator: input_fn produced no batch. Return at least one batch of eval data."
            )
        check_reserved_names(start.spec.eval_metric_ops)
        scaffold = start.spec.scaffold
        if scaffold is not None and scaffold.saver is not None:
            raise ValueError(
                "InMemoryEvaluator does not support custom saver. Received a Scaffold with saver="
                f"{scaffold.saver!r} from model_fn(mode='eval'); drop it in EVAL mode."
            )
        if scaffold is not None and scaffold.init_fn is not None:
            raise ValueError(
                "InMemoryEvaluator does not support custom init_fn. The evaluation takes every variable from "
                "training; drop Scaffold(init_fn=...) in EVAL mode."
            )
        self.start = start

    def evaluate(self, train_graph: torch.nn.Module) -> dict[str, Any]:
        """One evaluation of ``train_graph``'s current values; returns metrics, 'loss', 'global_step'."""
        if self.start is None:
            raise RuntimeError("LiveEvaluator.evaluate called before build(). Call build() first.")
        with _rng_kept():
            return self._run(self.start, train_graph)

    def _run(self, start: CallStart, train_graph: torch.nn.Module) -> dict[str, Any]:
        graph = start.graph
        hooks = list(self.hooks)
        if self.steps is not None:
            hooks.append(StopAfterNEvalsHook(self.steps))
        hooks.extend(start.spec.evaluation_hooks)
        hook_list = HookList(hooks)
        hook_list.begin()
        session = Session(graph, self.setup.model_dir)
        # TF's session creation with init_fn = "feed the training values": init_op, copy, local init.
        scaffold = start.spec.scaffold or Scaffold()
        if scaffold.init_op is not None:
            scaffold.init_op()
        _copy_variables(train_graph, graph)
        if scaffold.local_init_op is not None:
            scaffold.local_init_op()
        # evaluate() starts from a fresh Graph; this one is reused, so its metric sums start over.
        for state in metric_states(graph):
            state.reset()
        reset_metric_objects(graph, start.spec.eval_metric_ops)
        session.refresh()
        hook_list.after_create_session(session, None)

        batches = open_input(self.setup, self.input_fn, ModeKeys.EVAL)
        loss_sum = torch.zeros((), dtype=torch.float64, device=graph.device)
        batches_done = 0
        update_ops = UpdateOps()
        spec = start.spec
        with torch.no_grad():
            for features, labels in batches:
                run_context = SessionRunContext(_STEP_FETCHES, session)
                hook_list.before_run(run_context)
                spec = eval_step(start.run, features, labels, start.inference, loss_sum, update_ops)
                batches_done += 1
                session.record_step(spec, MetricValues(spec.eval_metric_ops))
                hook_list.after_run(run_context, session.run)
                if run_context.stop_requested:
                    break
            if batches_done == 0:
                raise ValueError("InMemoryEvaluator: input_fn produced no batch for this evaluation.")
            hook_list.end(session)
            results = {name: metric_result(metric) for name, metric in spec.eval_metric_ops.items()}
        results["loss"] = float(loss_sum / batches_done)
        results["global_step"] = session.refresh()
        write_summaries(self.eval_dir, results, None)
        return results


def _copy_variables(source: torch.nn.Module, target: torch.nn.Module) -> None:
    """Copies every variable ``target`` shares (by name) with ``source``, global_step included."""
    source_values = source.state_dict()
    with torch.no_grad():
        for name, value in target.state_dict(keep_vars=True).items():
            found = source_values.get(name)
            if found is not None:
                value.copy_(found)
