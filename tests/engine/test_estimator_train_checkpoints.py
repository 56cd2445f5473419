"""Checkpoints written by Estimator.train: cadence, listeners, retention, files (SEMANTICS.md (d), (j))."""

from __future__ import annotations

import logging
import os

import pytest

import torch_estimator as te
from torch_estimator.checkpoint import get_checkpoint_state


def saved_steps(model_dir: str) -> list[int]:
    """Global steps of the checkpoints listed in the state file, oldest first."""
    state = get_checkpoint_state(model_dir)
    return [] if state is None else [int(path.rsplit("-", 1)[1]) for path in state.all_model_checkpoint_paths]


def checkpoint_files(model_dir: str) -> list[str]:
    return sorted(name for name in os.listdir(model_dir) if name.startswith("model.ckpt-"))


def test_steps_26_saving_every_10_saves_at_0_10_20_26(make_estimator, model_dir, fakes):
    listener = fakes.RecordingListener()
    estimator = make_estimator(save_checkpoints_steps=10)
    estimator.train(fakes.ones_input_fn, steps=26, saving_listeners=[listener])
    # Session start (0), every 10 steps (10, 20), and the final step (26).
    assert listener.steps("before_save") == [0, 10, 20, 26]
    assert listener.steps("after_save") == [0, 10, 20, 26]
    assert listener.calls[0] == ("begin", None)
    assert listener.calls[-1] == ("end", 26)
    # Each save is before_save then after_save.
    saves = [call for call in listener.calls if call[0] in ("before_save", "after_save")]
    assert saves == [(method, step) for step in (0, 10, 20, 26) for method in ("before_save", "after_save")]
    assert saved_steps(model_dir) == [0, 10, 20, 26]
    assert checkpoint_files(model_dir) == sorted(
        f"model.ckpt-{step}.{suffix}" for step in (0, 10, 20, 26) for suffix in ("json", "safetensors")
    )


def test_state_file_lists_relative_names_newest_last(make_estimator, model_dir, fakes):
    make_estimator(save_checkpoints_steps=10).train(fakes.ones_input_fn, steps=26)
    with open(os.path.join(model_dir, "checkpoint"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines[0] == 'model_checkpoint_path: "model.ckpt-26"'
    assert [line for line in lines if line.startswith("all_model_checkpoint_paths")] == [
        f'all_model_checkpoint_paths: "model.ckpt-{step}"' for step in (0, 10, 20, 26)
    ]


def test_default_config_saves_at_start_and_end(model_dir, fakes):
    # save_checkpoints_secs=600 by default: nothing in between for a short run.
    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu")
    estimator = te.Estimator(
        lambda features, labels, mode: _linear(features, labels, mode), model_dir=model_dir, config=config
    )
    estimator.train(fakes.ones_input_fn, steps=5)
    assert saved_steps(model_dir) == [0, 5]
    assert checkpoint_files(model_dir) == [
        "model.ckpt-0.json",
        "model.ckpt-0.safetensors",
        "model.ckpt-5.json",
        "model.ckpt-5.safetensors",
    ]


def _linear(features, labels, mode):
    w = te.get_variable("w", [2, 1], initializer=0.0)
    loss = ((features @ w - labels) ** 2).mean()
    train_op = te.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


def test_both_save_settings_none_write_no_checkpoint(make_estimator, model_dir, fakes):
    estimator = make_estimator(save_checkpoints_steps=None, save_checkpoints_secs=None)
    estimator.train(fakes.ones_input_fn, steps=5)
    assert estimator.latest_checkpoint() is None
    assert checkpoint_files(model_dir) == []
    with pytest.raises(ValueError, match="Could not find trained model"):
        estimator.get_variable_value("global_step")


def test_keep_checkpoint_max_keeps_the_newest(make_estimator, model_dir, fakes):
    # Saves at 0, 2, 4, 6, 8, 10; only the newest 2 survive.
    make_estimator(save_checkpoints_steps=2, keep_checkpoint_max=2).train(fakes.ones_input_fn, steps=10)
    assert saved_steps(model_dir) == [8, 10]
    assert checkpoint_files(model_dir) == [
        "model.ckpt-10.json",
        "model.ckpt-10.safetensors",
        "model.ckpt-8.json",
        "model.ckpt-8.safetensors",
    ]


def test_retention_continues_across_train_calls(make_estimator, model_dir, fakes):
    # Call 1 saves 0, 5; call 2 re-saves 5 at session start (same file) and saves 10; call 3: 10, 15.
    estimator = make_estimator(keep_checkpoint_max=3)
    estimator.train(fakes.ones_input_fn, steps=5)
    estimator.train(fakes.ones_input_fn, steps=5)
    assert saved_steps(model_dir) == [0, 5, 10]
    estimator.train(fakes.ones_input_fn, steps=5)
    assert saved_steps(model_dir) == [5, 10, 15]
    assert "model.ckpt-0.safetensors" not in checkpoint_files(model_dir)


def test_resumed_training_saves_at_the_restored_step_first(make_estimator, fakes):
    listener = fakes.RecordingListener()
    estimator = make_estimator(save_checkpoints_steps=4)
    estimator.train(fakes.ones_input_fn, steps=5)
    estimator.train(fakes.ones_input_fn, steps=5, saving_listeners=[listener])
    # Restored at 5: save at 5, then at the first step >= 5 + 4, then the final step 10.
    assert listener.steps("after_save") == [5, 9, 10]


def test_listeners_go_to_a_user_checkpoint_saver_hook(make_estimator, model_dir, fakes):
    listener = fakes.RecordingListener()
    user_saver = te.CheckpointSaverHook(model_dir, save_steps=3)
    estimator = make_estimator(save_checkpoints_steps=100)
    estimator.train(fakes.ones_input_fn, steps=10, hooks=[user_saver], saving_listeners=[listener])
    # Only the user's hook saves (the Estimator adds none when one exists): 0, 3, 6, 9, final 10.
    assert listener.steps("after_save") == [0, 3, 6, 9, 10]
    assert user_saver.listeners == [listener]
    assert saved_steps(model_dir) == [0, 3, 6, 9, 10]


def test_listeners_go_to_a_chief_hook_checkpoint_saver(make_estimator, model_dir, fakes):
    listener = fakes.RecordingListener()

    def model_fn(features, labels, mode):
        spec = _linear(features, labels, mode)
        saver_hook = te.CheckpointSaverHook(model_dir, save_steps=2)
        return spec._replace(training_chief_hooks=[saver_hook])

    estimator = make_estimator(model_fn, save_checkpoints_steps=None, save_checkpoints_secs=None)
    estimator.train(fakes.ones_input_fn, steps=5, saving_listeners=[listener])
    assert listener.steps("after_save") == [0, 2, 4, 5]


def test_truncated_newest_checkpoint_falls_back_to_the_previous_one(make_estimator, model_dir, fakes, caplog):
    estimator = make_estimator(save_checkpoints_steps=5)
    estimator.train(fakes.ones_input_fn, steps=10)
    newest = os.path.join(model_dir, "model.ckpt-10.safetensors")
    with open(newest, "r+b") as f:
        f.truncate(os.path.getsize(newest) // 2)
    with caplog.at_level(logging.WARNING, logger="torch_estimator"):
        assert estimator.latest_checkpoint() == os.path.join(model_dir, "model.ckpt-5")
    assert "model.ckpt-10" in caplog.text and "falling back to the previous checkpoint" in caplog.text
    assert estimator.get_variable_value("global_step") == 5
    # Training resumes from step 5: two more steps end at 7.
    estimator.train(fakes.ones_input_fn, steps=2)
    assert estimator.get_variable_value("global_step") == 7
    assert estimator.latest_checkpoint() == os.path.join(model_dir, "model.ckpt-7")


def test_a_listener_given_twice_is_attached_once(make_estimator, fakes):
    listener = fakes.RecordingListener()
    make_estimator(save_checkpoints_steps=3).train(
        fakes.ones_input_fn, steps=3, saving_listeners=[listener, listener]
    )
    assert listener.steps("after_save") == [0, 3]
