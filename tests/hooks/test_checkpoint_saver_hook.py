"""CheckpointSaverHook cadence, listeners and saver resolution, with a fake saver."""

from __future__ import annotations

import os
import re

import pytest

from torch_estimator.contract.scaffold import Scaffold
from torch_estimator.hooks import CheckpointSaverHook, CheckpointSaverListener, StopAtStepHook


class RecordingListener(CheckpointSaverListener):
    def __init__(self, stop_after_step=None):
        self.calls = []
        self.stop_after_step = stop_after_step

    def begin(self):
        self.calls.append(("begin",))

    def before_save(self, session, global_step_value):
        self.calls.append(("before_save", global_step_value))

    def after_save(self, session, global_step_value):
        self.calls.append(("after_save", global_step_value))
        return self.stop_after_step is not None and global_step_value >= self.stop_after_step

    def end(self, session, global_step_value):
        self.calls.append(("end", global_step_value))


def test_argument_errors(saver):
    with pytest.raises(ValueError, match=re.escape("You cannot provide both saver and scaffold.")):
        CheckpointSaverHook("/tmp/x", save_steps=1, saver=saver, scaffold=Scaffold())
    with pytest.raises(ValueError, match="Either every_secs or every_steps should be provided"):
        CheckpointSaverHook("/tmp/x")
    with pytest.raises(ValueError, match="Can not provide both every_secs and every_steps"):
        CheckpointSaverHook("/tmp/x", save_secs=1, save_steps=1)


def test_saves_at_start_every_n_steps_and_at_end(make_session, run_hooks, saver):
    """steps=26, save_steps=10 from scratch: saves at 0 (session start), 10, 20, and 26 (end)."""
    listener = RecordingListener()
    hook = CheckpointSaverHook("/tmp/model", save_steps=10, saver=saver, listeners=[listener])

    run_hooks([StopAtStepHook(num_steps=26), hook], make_session(), max_iterations=100)

    assert saver.saved_steps == [0, 10, 20, 26]
    assert saver.save_paths == [os.path.join("/tmp/model", "model.ckpt")] * 4
    saves = [call for call in listener.calls if call[0] in ("before_save", "after_save")]
    assert saves == [(name, step) for step in (0, 10, 20, 26) for name in ("before_save", "after_save")]
    assert listener.calls[0] == ("begin",)
    assert listener.calls[-1] == ("end", 26)


def test_no_extra_save_at_end_when_the_last_step_was_saved(make_session, run_hooks, saver):
    hook = CheckpointSaverHook("/tmp/model", save_steps=10, saver=saver, checkpoint_basename="x.ckpt")
    run_hooks([StopAtStepHook(num_steps=20), hook], make_session(), max_iterations=100)
    assert saver.saved_steps == [0, 10, 20]
    assert saver.save_paths[0] == os.path.join("/tmp/model", "x.ckpt")


def test_resumed_session_saves_at_the_restored_step(make_session, run_hooks, saver):
    hook = CheckpointSaverHook("/tmp/model", save_steps=10, saver=saver)
    run_hooks([StopAtStepHook(num_steps=12), hook], make_session(global_step=15), max_iterations=100)
    assert saver.saved_steps == [15, 25, 27]


def test_save_secs_with_a_fake_clock(make_session, run_hooks, saver, clock):
    """save_secs=10, 4 s per step: saves at start (t=100, step 0), step 3 (t=112), step 6 (t=124), end 7."""
    hook = CheckpointSaverHook("/tmp/model", save_secs=10, saver=saver, clock=clock)
    run_hooks(
        [StopAtStepHook(last_step=7), hook],
        make_session(),
        max_iterations=100,
        on_step=lambda session, iteration: clock.advance(4),
    )
    assert saver.saved_steps == [0, 3, 6, 7]


def test_a_listener_returning_true_stops_training(make_session, run_hooks, saver):
    listener = RecordingListener(stop_after_step=10)
    hook = CheckpointSaverHook("/tmp/model", save_steps=5, saver=saver, listeners=[listener])
    steps = run_hooks([hook], make_session(), max_iterations=100)
    assert steps == 10
    assert saver.saved_steps == [0, 5, 10]  # the end save is skipped: step 10 was just saved
    assert listener.calls[-1] == ("end", 10)


def test_a_stop_asked_at_session_start_applies_at_the_first_step(make_session, run_hooks, saver):
    listener = RecordingListener(stop_after_step=0)
    hook = CheckpointSaverHook("/tmp/model", save_steps=100, saver=saver, listeners=[listener])
    assert run_hooks([hook], make_session(), max_iterations=100) == 1
    assert saver.saved_steps == [0, 1]


def test_listeners_list_is_public_and_extendable(make_session, run_hooks, saver):
    hook = CheckpointSaverHook("/tmp/model", save_steps=100, saver=saver)
    listener = RecordingListener()
    hook.listeners.append(listener)
    run_hooks([hook], make_session(), max_iterations=1)
    assert ("after_save", 1) in listener.calls


def test_saver_comes_from_scaffold_then_session_default(make_session, run_hooks, saver):
    from_scaffold = CheckpointSaverHook("/tmp/model", save_steps=100, scaffold=Scaffold(saver=saver))
    run_hooks([from_scaffold], make_session(), max_iterations=1)
    assert saver.saved_steps == [0, 1]

    default = type(saver)()
    from_session = CheckpointSaverHook("/tmp/model", save_steps=100, scaffold=Scaffold())
    run_hooks([from_session], make_session(default_saver=default), max_iterations=1)
    assert default.saved_steps == [0, 1]


def test_no_saver_at_all_is_a_runtime_error(make_session, run_hooks):
    hook = CheckpointSaverHook("/tmp/model", save_steps=1)
    with pytest.raises(RuntimeError, match="Please add a saver or provide a saver or scaffold"):
        run_hooks([hook], make_session(), max_iterations=1)


def test_save_graph_def_writes_no_graph_file(make_session, run_hooks, saver, tmp_path):
    hook = CheckpointSaverHook(str(tmp_path), save_steps=1, saver=saver, save_graph_def=True)
    run_hooks([hook], make_session(), max_iterations=2)
    assert os.listdir(tmp_path) == []
