"""Estimator.train: argument checks, steps / max_steps, and when the loop stops (SEMANTICS.md (d))."""

from __future__ import annotations

import importlib
import json
import logging
import os

import pytest
import torch

import torch_estimator as te


def failing_input_fn():
    raise AssertionError("input_fn must not be called")


# -- argument checks --------------------------------------------------------------------------


def test_steps_and_max_steps_together_are_a_value_error(make_estimator):
    with pytest.raises(ValueError, match="Can not provide both steps and max_steps"):
        make_estimator().train(failing_input_fn, steps=1, max_steps=2)


@pytest.mark.parametrize("steps", [0, -3])
def test_steps_must_be_positive(make_estimator, steps):
    with pytest.raises(ValueError, match=f"Must specify steps > 0, given: {steps}"):
        make_estimator().train(failing_input_fn, steps=steps)


@pytest.mark.parametrize("max_steps", [0, -1])
def test_max_steps_must_be_positive(make_estimator, max_steps):
    with pytest.raises(ValueError, match=f"Must specify max_steps > 0, given: {max_steps}"):
        make_estimator().train(failing_input_fn, max_steps=max_steps)


def test_hooks_must_be_session_run_hooks(make_estimator):
    with pytest.raises(TypeError, match="All hooks must be SessionRunHook instances"):
        make_estimator().train(failing_input_fn, hooks=[object()], steps=1)


def test_saving_listeners_must_be_checkpoint_saver_listeners(make_estimator):
    with pytest.raises(TypeError, match="saving_listeners must be a list of CheckpointSaverListener"):
        make_estimator().train(failing_input_fn, steps=1, saving_listeners=[object()])


def test_saving_listeners_need_a_checkpoint_saver_hook(make_estimator, fakes):
    estimator = make_estimator(save_checkpoints_steps=None, save_checkpoints_secs=None)
    with pytest.raises(ValueError, match="There should be a CheckpointSaverHook to use saving_listeners"):
        estimator.train(fakes.ones_input_fn, steps=1, saving_listeners=[fakes.RecordingListener()])


def test_train_returns_the_estimator(make_estimator, fakes):
    estimator = make_estimator()
    assert estimator.train(fakes.ones_input_fn, steps=1) is estimator


# -- steps and max_steps ----------------------------------------------------------------------


def test_steps_is_incremental(make_estimator, fakes):
    estimator = make_estimator()
    estimator.train(fakes.ones_input_fn, steps=5)
    assert estimator.get_variable_value("global_step") == 5
    estimator.train(fakes.ones_input_fn, steps=5)
    assert estimator.get_variable_value("global_step") == 10


def test_max_steps_is_absolute(make_estimator, fakes):
    estimator = make_estimator()
    estimator.train(fakes.ones_input_fn, max_steps=4)
    assert estimator.get_variable_value("global_step") == 4
    estimator.train(fakes.ones_input_fn, max_steps=7)
    assert estimator.get_variable_value("global_step") == 7


def test_reached_max_steps_skips_training_without_calling_input_fn(make_estimator, caplog, fakes):
    estimator = make_estimator()
    estimator.train(fakes.ones_input_fn, max_steps=5)
    with caplog.at_level(logging.INFO, logger="torch_estimator"):
        # Neither input_fn nor the hooks are looked at: a non-hook passes unnoticed (TF).
        assert estimator.train(failing_input_fn, max_steps=5, hooks=["not a hook"]) is estimator
        estimator.train(failing_input_fn, max_steps=3)
    assert caplog.text.count("Skipping training since max_steps has already saved") == 2
    assert estimator.get_variable_value("global_step") == 5


def test_max_steps_skip_does_not_apply_to_steps(make_estimator, fakes):
    estimator = make_estimator()
    estimator.train(fakes.ones_input_fn, max_steps=5)
    with pytest.raises(AssertionError, match="input_fn must not be called"):
        estimator.train(failing_input_fn, steps=1)


def test_no_steps_trains_until_the_input_ends(make_estimator):
    batches = [(torch.ones(1, 2), torch.ones(1, 1))] * 4
    estimator = make_estimator()
    estimator.train(lambda: batches)
    assert estimator.get_variable_value("global_step") == 4


def test_input_exhaustion_stops_training_gracefully_with_a_final_checkpoint(make_estimator):
    def seven_batches():
        for _ in range(7):
            yield torch.ones(1, 2), torch.ones(1, 1)

    estimator = make_estimator()
    estimator.train(seven_batches, steps=100)
    assert estimator.get_variable_value("global_step") == 7
    assert estimator.latest_checkpoint().endswith("model.ckpt-7")


def test_train_op_that_does_not_advance_the_global_step_runs_until_the_input_ends(make_estimator):
    calls = []

    def model_fn(features, labels, mode):
        calls.append(mode)
        w = te.get_variable("w", [2, 1], initializer=0.0)
        loss = ((features @ w - labels) ** 2).mean()
        # No global_step: the step never advances, so steps=2 can never be reached (TF).
        return te.EstimatorSpec(
            mode, loss=loss, train_op=te.train.GradientDescentOptimizer(0.1).minimize(loss)
        )

    estimator = make_estimator(model_fn)
    estimator.train(lambda: [(torch.ones(1, 2), torch.ones(1, 1))] * 4, steps=2)
    assert len(calls) == 1 + 4  # the build pass, then every one of the 4 batches
    # Only the save at session start (step 0) exists: the final save is skipped because the step
    # did not move since then (TF's CheckpointSaverHook.end).
    assert estimator.get_variable_value("global_step") == 0
    assert estimator.latest_checkpoint().endswith("model.ckpt-0")


def test_the_first_batch_is_built_on_and_then_trained_on(make_estimator, fakes):
    seen: list[tuple[float, bool]] = []

    def model_fn(features, labels, mode):
        seen.append(float(features[0, 0]))
        return fakes.linear_model_fn(features, labels, mode, {})

    batches = [(torch.full((1, 2), float(i)), torch.ones(1, 1)) for i in (1, 2, 3)]
    estimator = make_estimator(model_fn)
    estimator.train(lambda: iter(batches))
    # Build pass on batch 1, then steps on batches 1, 2, 3: no batch dropped or skipped.
    assert seen == [1.0, 1.0, 2.0, 3.0]
    assert estimator.get_variable_value("global_step") == 3


def test_empty_input_makes_no_steps_and_warns(make_estimator, caplog):
    estimator = make_estimator()
    with caplog.at_level(logging.WARNING, logger="torch_estimator"):
        estimator.train(lambda: iter([]), steps=3)
    assert "Training with estimator made no steps" in caplog.text
    assert estimator.latest_checkpoint() is None


def test_one_sgd_step_matches_the_hand_derived_value(make_estimator, fakes):
    # linear_model_fn (conftest) with a = 0, r = 0.1: a' = 0 - 2 * 0.1 * (0 - 1) = 0.2; then
    # a'' = 0.2 - 0.2 * (0.4 - 1) = 0.32.
    estimator = make_estimator(params={"learning_rate": 0.1})
    estimator.train(fakes.ones_input_fn, steps=1)
    assert estimator.get_variable_value("linear/w").ravel() == pytest.approx([0.2, 0.2])
    estimator.train(fakes.ones_input_fn, steps=1)
    assert estimator.get_variable_value("linear/w").ravel() == pytest.approx([0.32, 0.32])


def test_nan_loss_raises_without_final_checkpoint_and_without_end(make_estimator, fakes):
    log: list[tuple[str, str]] = []
    hook = fakes.RecordingHook("user", log)

    def batches():
        # Batch k (1-based) trains step k; batch 8 has a NaN feature, so step 8 fails.
        for k in range(1, 20):
            value = float("nan") if k == 8 else 1.0
            yield torch.full((1, 2), value), torch.ones(1, 1)

    estimator = make_estimator(save_checkpoints_steps=5)
    with pytest.raises(te.NanLossDuringTrainingError, match="NaN loss during training"):
        estimator.train(batches, hooks=[hook])
    # Saves at 0 and 5 happened; no final save at 7 or 8, and no hook saw end().
    assert estimator.latest_checkpoint().endswith("model.ckpt-5")
    assert ("user", "end") not in log
    assert ("user", "begin") in log
    # The lock is released even though training failed: training again works.
    estimator.train(fakes.ones_input_fn, steps=1)
    assert estimator.get_variable_value("global_step") == 6


def test_listener_after_save_returning_true_stops_training(make_estimator, fakes):
    listener = fakes.RecordingListener(stop_after=4)
    estimator = make_estimator(save_checkpoints_steps=2)
    estimator.train(fakes.ones_input_fn, steps=100, saving_listeners=[listener])
    # Saves at 0, 2, 4: the save at 4 asks for a stop, so training ends at step 4.
    assert estimator.get_variable_value("global_step") == 4
    assert listener.steps("after_save") == [0, 2, 4]


def test_second_estimator_training_into_the_same_model_dir_gets_a_clear_error(
    make_estimator, model_dir, fakes
):
    errors = []

    class TrainAnother(te.SessionRunHook):
        def after_create_session(self, session, coord):
            rival = te.Estimator(
                fakes.linear_model_fn, model_dir=model_dir, config=fakes.quiet_config(), params={}
            )
            try:
                rival.train(fakes.ones_input_fn, steps=1)
            except te.ModelDirLockedError as err:
                errors.append(str(err))

    estimator = make_estimator()
    estimator.train(fakes.ones_input_fn, steps=2, hooks=[TrainAnother()])
    assert len(errors) == 1 and ".torch_estimator.lock" in errors[0]
    assert estimator.get_variable_value("global_step") == 2
    # Released after train: the next call trains.
    estimator.train(fakes.ones_input_fn, steps=1)
    assert estimator.get_variable_value("global_step") == 3


@pytest.mark.parametrize("task_type", ["evaluator", "ps"])
def test_train_on_an_evaluator_or_ps_task_is_a_value_error(make_estimator, monkeypatch, task_type):
    cluster = {"chief": ["host0:2222"], "ps": ["host1:2222"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": task_type, "index": 0}}))
    with pytest.raises(ValueError, match=r"Please use tf\.estimator\.train_and_evaluate"):
        make_estimator().train(failing_input_fn, steps=1)


def test_steps_are_checked_before_hooks(make_estimator):
    # TF's order: steps / max_steps first, hooks later.
    with pytest.raises(ValueError, match="Must specify steps > 0"):
        make_estimator().train(failing_input_fn, steps=0, hooks=[object()])


def test_hooks_may_be_any_iterable_and_are_not_mutated(make_estimator, fakes):
    hooks = [fakes.RecordingHook("a", [])]
    estimator = make_estimator()
    estimator.train(fakes.ones_input_fn, steps=1, hooks=hooks)
    estimator.train(fakes.ones_input_fn, steps=1, hooks=tuple(hooks))
    assert len(hooks) == 1  # the StopAtStepHook went into the Estimator's own list
    assert hooks[0].after_run_steps == [1, 2]


def test_model_fn_gets_a_copy_of_params_and_the_config(make_estimator, model_dir, fakes):
    seen = []

    def model_fn(features, labels, mode, params, config):
        seen.append((dict(params), config.model_dir))
        params["mutated"] = True
        w = te.get_variable("w", [2, 1], initializer=0.0)
        loss = ((features @ w - labels) ** 2).mean()
        train_op = te.train.GradientDescentOptimizer(0.1).minimize(
            loss, global_step=te.train.get_global_step()
        )
        return te.EstimatorSpec(mode, loss=loss, train_op=train_op)

    estimator = make_estimator(model_fn, params={"units": 3})
    estimator.train(lambda: (torch.ones(1, 2), torch.ones(1, 1)), steps=1)
    assert seen[0] == ({"units": 3}, model_dir)
    assert estimator.params == {"units": 3}


def test_a_non_chief_worker_runs_only_worker_hooks_and_writes_nothing(
    make_estimator, model_dir, fakes, monkeypatch
):
    # Non-chief (TF): no checkpoint saver, chief hooks, step counter or summary saver; no lock either.
    cluster = {"chief": ["host0:2222"], "worker": ["host1:2222"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    # This process plays the worker alone, standing in for rank 1 of a process group
    # (tests/distribute run real groups).
    non_chief = te.distribute.process_group.LocalReplica(is_chief=False)
    monkeypatch.setattr(
        importlib.import_module("torch_estimator.engine.train"),
        "join_training_group",
        lambda cluster, env, device, timeout: (non_chief, device),
    )
    log: list[tuple[str, str]] = []
    chief, worker = fakes.RecordingHook("chief", log), fakes.RecordingHook("worker", log)

    def model_fn(features, labels, mode):
        spec = fakes.linear_model_fn(features, labels, mode, {})
        return spec._replace(training_chief_hooks=[chief], training_hooks=[worker])

    estimator = make_estimator(
        model_fn, save_checkpoints_steps=1, save_summary_steps=1, log_step_count_steps=1
    )
    assert not estimator.config.is_chief
    estimator.train(fakes.ones_input_fn, steps=3)
    assert {name for name, _ in log} == {"worker"}
    assert worker.after_run_steps == [1, 2, 3]
    assert not os.path.exists(model_dir) or os.listdir(model_dir) == []
