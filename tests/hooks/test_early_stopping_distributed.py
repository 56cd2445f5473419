"""Early stopping under torch.distributed: rank 0 decides, every rank stops after the same step.

Two gloo ranks drive a StopOnPredicateHook (run_every_steps=2) through the engine's hook order with
a fake session whose global step before step k is k - 1, so checks run at global steps 0, 2, 4.
Rank 0's predicate says stop on its third call (global step 4): both ranks run 5 steps. Rank 1's
predicate would stop at once, but it is never called. A time-based check is rejected on every
rank (ranks would reach a time threshold at different steps).
"""

import datetime
import os
import pickle

import pytest
import torch.distributed as dist

from torch_estimator.contract.hook_types import SessionRunArgs, SessionRunContext
from torch_estimator.hooks import HookList, StopOnPredicateHook

pytestmark = pytest.mark.distributed

WORLD_SIZE = 2
TIMEOUT_S = 120


class StepSession:
    """``run("global_step")`` gives the global step before the current step, as the engine does."""

    def __init__(self):
        self.global_step = 0

    def run(self, fetches):
        return self.global_step


def drive(hook, max_steps):
    session = StepSession()
    hook_list = HookList([hook])
    hook_list.begin()
    hook_list.after_create_session(session, None)
    steps = 0
    while steps < max_steps:
        context = SessionRunContext(SessionRunArgs(["train_op"]), session)
        hook_list.before_run(context)
        hook_list.after_run(context, session.run)
        session.global_step += 1
        steps += 1
        if context.stop_requested:
            break
    hook_list.end(session)
    return steps


def run_rank(rank, port, out_dir):
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=WORLD_SIZE,
        timeout=datetime.timedelta(seconds=60),
    )
    calls = []

    def should_stop():
        calls.append(len(calls))
        return rank == 1 or len(calls) >= 3

    try:
        report = {
            "steps": drive(StopOnPredicateHook(should_stop, run_every_secs=None, run_every_steps=2), 20)
        }
        report["calls"] = len(calls)
        try:
            StopOnPredicateHook(should_stop, run_every_secs=60).begin()
        except ValueError as err:
            report["secs_error"] = str(err)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    with open(os.path.join(out_dir, f"rank{rank}.pkl"), "wb") as file:
        pickle.dump(report, file)


def test_rank_0_decides_and_every_rank_stops(tmp_path, monkeypatch, run_gloo_ranks):
    # tests/hooks is a package: spawned children import this module as hooks.<name> from tests/.
    monkeypatch.syspath_prepend(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    reports = run_gloo_ranks(run_rank, (str(tmp_path),), tmp_path, nprocs=WORLD_SIZE, timeout_s=TIMEOUT_S)
    assert [report["steps"] for report in reports] == [5, 5]
    assert [report["calls"] for report in reports] == [3, 0]
    for report in reports:
        assert "run_every_secs should not be set" in report["secs_error"]
