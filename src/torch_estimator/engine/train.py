"""Estimator.train: the training loop and the hooks TF assembled around it.

Order, as tf.estimator (SEMANTICS (d)):

    graph = fresh Graph (seeded); features, labels = first batch of input_fn()
    spec = model_fn(features, labels, TRAIN)          # build pass: creates variables
    hooks = [checkpoint saver] + chief hooks + [step counter] + [summary saver]    (chief only)
            + user hooks + [StopAtStepHook] + [NanTensorHook] + [LoggingTensorHook] + spec.training_hooks
    hooks.begin()
    restore the latest checkpoint, else scaffold init_op / init_fn
    hooks.after_create_session(session)
    for each batch (starting with the first one again):
        hooks.before_run; spec = model_fn(batch); spec.train_op(); hooks.after_run
        stop when a hook asks or the input ends
    hooks.end(session)                                 # final checkpoint; skipped if anything raised
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from torch_estimator.checkpoint import (
    CheckpointNotFoundError,
    ModelDirLock,
    checkpoint_exists,
    latest_checkpoint,
)
from torch_estimator.checkpoint.distributed import ShardedSaver
from torch_estimator.contract.hook_types import SessionRunArgs, SessionRunContext, SessionRunHook
from torch_estimator.contract.mode_keys import ModeKeys
from torch_estimator.distribute.process_group import Replicas, join_training_group
from torch_estimator.distribute.strategy import Strategy, checkpoint_format_of, resolve_strategy
from torch_estimator.engine.progress import ProgressBarHook
from torch_estimator.engine.session import Session
from torch_estimator.engine.setup import (
    EstimatorSetup,
    default_saver,
    restore_or_initialize,
    start_call,
    step_runner,
)
from torch_estimator.hooks import (
    CheckpointSaverHook,
    CheckpointSaverListener,
    HookList,
    LoggingTensorHook,
    NanTensorHook,
    StepCounterHook,
    StopAtStepHook,
    SummarySaverHook,
)

__all__ = ["train"]

logger = logging.getLogger("torch_estimator")

_STEP_FETCHES = SessionRunArgs(fetches=["train_op", "loss"])


def train(
    setup: EstimatorSetup,
    input_fn: Callable[..., Any],
    hooks: Sequence[SessionRunHook],
    steps: int | None,
    max_steps: int | None,
    saving_listeners: Sequence[CheckpointSaverListener],
) -> None:
    """Runs the training loop; arguments are already checked by the Estimator.

    With several processes (torchrun or a TF_CONFIG cluster) every rank runs this loop on its own
    share of the data; rank 0 is the chief (lock, checkpoints, summaries, chief-only hooks).
    """
    config = setup.config
    # The environment is read here, once per call: the launch decides the process group.
    replicas, device = join_training_group(
        config.cluster, os.environ, config.resolved_device, config.collective_timeout_secs
    )
    if device != config.resolved_device:
        setup = dataclasses.replace(setup, config=config.replace(device=str(device)))
    strategy = resolve_strategy(config.train_distribute, replicas.world_size)
    lock = ModelDirLock(setup.model_dir) if replicas.is_chief else contextlib.nullcontext()
    with lock, replicas.collective_errors():
        _train_loop(setup, replicas, strategy, input_fn, hooks, steps, max_steps, saving_listeners)


def _train_loop(
    setup: EstimatorSetup,
    replicas: Replicas,
    strategy: Strategy,
    input_fn: Callable[..., Any],
    hooks: Sequence[SessionRunHook],
    steps: int | None,
    max_steps: int | None,
    saving_listeners: Sequence[CheckpointSaverListener],
) -> None:
    config = setup.config
    start = start_call(setup, input_fn, ModeKeys.TRAIN)
    # Every rank must take the same steps: if one rank has no data, none trains. The vote is a
    # collective, so every rank casts it, with or without data.
    if replicas.any(start is None):
        logger.warning("Training with estimator made no steps: input_fn produced no batch.")
        return
    assert start is not None  # this rank's own vote would have stopped it above
    graph, run, batches = start.graph, start.run, start.batches
    features, labels, spec = start.features, start.labels, start.spec

    saver, clock = _saver_and_clock(config, spec, strategy, replicas)
    vote = replicas.any if clock is None else clock.voter(replicas)
    all_hooks = _assemble_hooks(
        setup, replicas.is_chief, spec, list(hooks), steps, max_steps, saver, list(saving_listeners), clock
    )
    hook_list = HookList(all_hooks)
    hook_list.begin()

    session = Session(graph, setup.model_dir, saver, add_loss_summary=True)
    checkpoint_path = _chief_checkpoint(setup.model_dir, replicas)
    restore_or_initialize(
        graph,
        spec.scaffold,
        saver,
        checkpoint_path,
        session,
        restore_rng=True,
        warm_start_settings=setup.warm_start,
    )
    # Wrapped after the restore: DDP broadcasts rank 0's (restored or fresh) state to every rank.
    module = strategy.wrap(graph, graph.device)
    if config.compile:
        module = torch.compile(module)
    if module is not graph:
        run = step_runner(module, config)
    session.refresh()
    hook_list.after_create_session(session, None)

    while True:
        run_context = SessionRunContext(_STEP_FETCHES, session)
        hook_list.before_run(run_context)
        session.start_step()
        spec = run(features, labels, ModeKeys.TRAIN)
        spec.train_op()
        session.refresh()
        session.record_step(spec)
        hook_list.after_run(run_context, session.run)
        stop = run_context.stop_requested
        batch = None if stop else next(batches, None)
        # All ranks stop at the same step: one asking (a hook, the end of its input) stops all.
        if vote(stop or batch is None):
            break
        features, labels = batch  # type: ignore[misc]
    session.finish_steps()
    hook_list.end(session)
    # When train returns on any rank, the chief's final checkpoint is on disk.
    replicas.barrier()
    logger.info("Loss for final step: %s.", float(spec.loss.detach()))


def _chief_checkpoint(model_dir: str, replicas: Replicas) -> str | None:
    """The latest checkpoint as the chief sees it, so every rank restores the same one."""
    path = replicas.chief_value(latest_checkpoint(model_dir) if replicas.is_chief else None)
    if path is not None and not checkpoint_exists(path):
        raise CheckpointNotFoundError(
            f"Rank {replicas.rank} cannot read the chief's checkpoint {path}: every training process must "
            "see the same model_dir (a shared file system), since each restores the chief's checkpoints. "
            "Point model_dir at shared storage."
        )
    return path


class ChiefClock:
    """Rank 0's monotonic time, the same on every rank: each step's stop vote
    (`Replicas.any_with_chief_time`) carries it along.

    Collective saves time-based (``save_checkpoints_secs``) read it, so all ranks decide alike.
    """

    def __init__(self, start: float) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def voter(self, replicas: Replicas) -> Callable[[bool], bool]:
        """The per-step stop vote that also brings rank 0's time here."""

        def vote(flag: bool) -> bool:
            stop, self.value = replicas.any_with_chief_time(flag)
            return stop

        return vote


def _saver_and_clock(
    config: Any, spec: Any, strategy: Strategy, replicas: Replicas
) -> tuple[Any, ChiefClock | None]:
    """The checkpoint saver, and rank 0's shared clock when every rank saves (sharded checkpoints)."""
    saver: Any = default_saver(config, spec.scaffold)
    if checkpoint_format_of(strategy) != "dcp":
        return saver, None
    # Every rank writes its shards, so every rank saves at the same steps: the save hook runs on
    # all of them, timed by rank 0's clock (shared each step), never by their own.
    saver = ShardedSaver(saver, replicas.is_chief, barrier=replicas.barrier)
    return saver, ChiefClock(replicas.chief_value(time.monotonic()))


def _assemble_hooks(
    setup: EstimatorSetup,
    is_chief: bool,
    spec: Any,
    user_hooks: list[SessionRunHook],
    steps: int | None,
    max_steps: int | None,
    saver: Any,
    saving_listeners: list[CheckpointSaverListener],
    clock: ChiefClock | None = None,
) -> list[SessionRunHook]:
    """TF's hook list: chief-only hooks first, then the worker hooks (SEMANTICS (d) 7g-8).

    With collective (sharded) saving, ``clock`` is set and every rank runs a checkpoint saver hook.
    """
    config = setup.config
    if steps is not None or max_steps is not None:
        user_hooks.append(StopAtStepHook(num_steps=steps, last_step=max_steps))
    worker_hooks = [*user_hooks, NanTensorHook("loss")]
    if config.log_step_count_steps is not None:
        worker_hooks.append(
            LoggingTensorHook(
                {"loss": "loss", "step": "global_step"}, every_n_iter=config.log_step_count_steps
            )
        )
    worker_hooks.extend(spec.training_hooks)

    chief_hooks: list[SessionRunHook] = []
    estimator_saver_hook = None
    save_secs, save_steps = config.save_checkpoints_secs, config.save_checkpoints_steps
    existing = [h for h in [*worker_hooks, *spec.training_chief_hooks] if isinstance(h, CheckpointSaverHook)]
    if clock is not None and existing:
        raise ValueError(
            "A sharded checkpoint (FSDPStrategy, or checkpoint_format='dcp') is written by every rank "
            f"at once, so model_fn's own CheckpointSaverHook cannot save it. Received: {existing}. Remove "
            "it and set RunConfig(save_checkpoints_steps=...) or save_checkpoints_secs instead."
        )
    timing: dict[str, Any] = {} if clock is None else {"clock": clock}
    if (save_secs or save_steps) and not existing:
        # Made on every task, as TF did, so saving_listeners attach; only the chief's list runs it.
        estimator_saver_hook = CheckpointSaverHook(
            setup.model_dir, save_secs=save_secs, save_steps=save_steps, saver=saver, **timing
        )
    _attach_listeners(worker_hooks, spec.training_chief_hooks, estimator_saver_hook, saving_listeners)
    if not is_chief:
        if clock is not None and estimator_saver_hook is not None:
            # The same saves as the chief's hook, without its listeners (they run on the chief).
            follower = CheckpointSaverHook(
                setup.model_dir, save_secs=save_secs, save_steps=save_steps, saver=saver, clock=clock
            )
            return [follower, *worker_hooks]
        return worker_hooks
    if estimator_saver_hook is not None:
        chief_hooks.append(estimator_saver_hook)
    chief_hooks.extend(spec.training_chief_hooks)
    if config.log_step_count_steps:
        chief_hooks.append(
            StepCounterHook(every_n_steps=config.log_step_count_steps, output_dir=setup.model_dir)
        )
    if config.save_summary_steps:
        chief_hooks.append(
            SummarySaverHook(
                save_steps=config.save_summary_steps, output_dir=setup.model_dir, scaffold=spec.scaffold
            )
        )
    hooks = chief_hooks + worker_hooks
    if sys.stderr.isatty():
        total = steps if steps is not None else max_steps
        hooks.append(ProgressBarHook("train", total=total, absolute_total=steps is None))
    return hooks


def _attach_listeners(
    worker_hooks: list[SessionRunHook],
    chief_hooks: Sequence[SessionRunHook],
    estimator_hook: Any,
    listeners: list[CheckpointSaverListener],
) -> None:
    if not listeners:
        return
    candidates = [*worker_hooks, *chief_hooks]
    if estimator_hook is not None:
        candidates.append(estimator_hook)
    saver_hooks = [hook for hook in candidates if isinstance(hook, CheckpointSaverHook)]
    if not saver_hooks:
        raise ValueError(
            "There should be a CheckpointSaverHook to use saving_listeners. Please set one of the "
            "RunConfig.save_checkpoints_steps or RunConfig.save_checkpoints_secs. Received: "
            f"{len(listeners)} saving_listeners and checkpointing disabled."
        )
    target = saver_hooks[0]
    for listener in listeners:
        if listener not in target.listeners:
            target.listeners.append(listener)
