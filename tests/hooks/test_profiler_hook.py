"""ProfilerHook: Chrome traces of the steps its timer triggers on, never the first step."""

from __future__ import annotations

import json
import os

import pytest
import torch

from torch_estimator.contract.hook_types import SessionRunArgs, SessionRunContext
from torch_estimator.hooks import HookList, ProfilerHook


def test_profiler_hook_needs_exactly_one_cadence():
    with pytest.raises(ValueError, match="Either every_secs or every_steps should be provided"):
        ProfilerHook()
    with pytest.raises(ValueError, match="Can not provide both"):
        ProfilerHook(save_steps=1, save_secs=1)


def test_profiler_hook_writes_timelines_of_triggered_steps(make_session, run_hooks, tmp_path):
    """save_steps=2 over 5 steps: the first step (0 -> 1) only starts the timer at step 0; the steps
    ending at global steps 2 and 4 are profiled."""
    output_dir = tmp_path / "profile"
    hook = ProfilerHook(save_steps=2, output_dir=str(output_dir))

    def matmul_step(session, iteration):
        torch.ones(8, 8) @ torch.ones(8, 8)

    run_hooks([hook], make_session(), max_iterations=5, on_step=matmul_step)

    assert sorted(os.listdir(output_dir)) == ["timeline-2.json", "timeline-4.json"]
    with open(output_dir / "timeline-2.json") as trace_file:
        trace = json.load(trace_file)
    assert any("mm" in event.get("name", "") for event in trace["traceEvents"])


def test_end_stops_a_profile_whose_step_never_finished(make_session, tmp_path):
    """Input ending inside a profiled step skips that after_run; end() must still stop the profiler."""
    session = make_session()
    hook_list = HookList([ProfilerHook(save_steps=1, output_dir=str(tmp_path))])
    hook_list.begin()
    hook_list.after_create_session(session, None)
    context = SessionRunContext(SessionRunArgs(None), session)
    hook_list.before_run(context)
    session.global_step += 1
    hook_list.after_run(context, session.run)
    hook_list.before_run(SessionRunContext(SessionRunArgs(None), session))  # starts profiling step 2
    assert torch.autograd.profiler._is_profiler_enabled  # torch has no public way to ask
    hook_list.end(session)

    assert not torch.autograd.profiler._is_profiler_enabled
    assert os.listdir(tmp_path) == []
