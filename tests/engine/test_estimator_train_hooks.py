"""The hooks Estimator.train runs: lifecycle, TF's order, fetches, stop requests (SEMANTICS (d), (g))."""

from __future__ import annotations

import logging
import math
import re

import pytest
import torch

import torch_estimator as te

LOGGER = logging.getLogger("torch_estimator")


def test_hook_lifecycle_as_a_recorded_list(make_estimator, fakes):
    log: list[tuple[str, str]] = []
    make_estimator().train(fakes.ones_input_fn, steps=3, hooks=[fakes.RecordingHook("h", log)])
    assert [method for _, method in log] == [
        "begin",
        "after_create_session",
        "before_run",
        "after_run",
        "before_run",
        "after_run",
        "before_run",
        "after_run",
        "end",
    ]


def test_after_run_sees_the_global_step_after_the_step(make_estimator, fakes):
    hook = fakes.RecordingHook("h", [])
    estimator = make_estimator()
    estimator.train(fakes.ones_input_fn, steps=3, hooks=[hook])
    estimator.train(fakes.ones_input_fn, steps=2, hooks=[hook])
    assert hook.after_run_steps == [1, 2, 3, 4, 5]


def test_input_exhaustion_still_ends_every_hook(make_estimator, fakes):
    log: list[tuple[str, str]] = []
    batches = [(torch.ones(1, 2), torch.ones(1, 1))] * 3
    make_estimator().train(lambda: batches, steps=10, hooks=[fakes.RecordingHook("h", log)])
    assert log.count(("h", "after_run")) == 3
    assert log[-1] == ("h", "end")


def _spec_with_hooks(fakes, log, summary_op=None):
    """linear_model_fn's spec plus a recording chief hook and training hook (one pair per model_fn call)."""
    hooks: dict[str, te.SessionRunHook] = {}

    def model_fn(features, labels, mode):
        spec = fakes.linear_model_fn(features, labels, mode, {})
        # The spec of the build pass is the one whose hooks run: keep one object per role.
        hooks.setdefault("chief", fakes.RecordingHook("chief", log, announce=True))
        hooks.setdefault("spec", fakes.RecordingHook("spec", log, announce=True))
        scaffold = te.train.Scaffold(summary_op=summary_op) if summary_op is not None else None
        return spec._replace(
            training_chief_hooks=[hooks["chief"]], training_hooks=[hooks["spec"]], scaffold=scaffold
        )

    return model_fn, hooks


def test_chief_hooks_then_user_hooks_then_spec_training_hooks(make_estimator, fakes):
    log: list[tuple[str, str]] = []
    model_fn, _ = _spec_with_hooks(fakes, log)
    user = fakes.RecordingHook("user", log)
    make_estimator(model_fn).train(fakes.ones_input_fn, steps=1, hooks=[user])
    for method in ("begin", "after_create_session", "before_run", "after_run", "end"):
        assert [name for name, called in log if called == method] == ["chief", "user", "spec"]


def test_assembled_hook_order_matches_tf(make_estimator, fakes, caplog):
    """TF's chief order: [CheckpointSaverHook] + training_chief_hooks + [StepCounterHook] +
    [SummarySaverHook] + user hooks + [StopAtStepHook] + [NanTensorHook] + [LoggingTensorHook] +
    training_hooks. Each built-in hook shows itself in the log at step 2 (every cadence is 1 step):
    the saver logs "Saving checkpoints", the step counter "global_step/sec", the summary saver calls
    the scaffold's summary_op (which logs "summary_op"), the logging hook "loss = ...".
    """
    log: list[tuple[str, str]] = []

    def summary_op():
        LOGGER.info("summary_op")
        return {}

    model_fn, _ = _spec_with_hooks(fakes, log, summary_op=summary_op)
    user = fakes.RecordingHook("user", log, announce=True)
    estimator = make_estimator(
        model_fn, save_checkpoints_steps=1, log_step_count_steps=1, save_summary_steps=1
    )
    with caplog.at_level(logging.INFO, logger="torch_estimator"):
        estimator.train(fakes.ones_input_fn, steps=3, hooks=[user])

    markers = {
        "saver": re.compile(r"^Saving checkpoints for 2 "),
        "chief": re.compile(r"^chief after_run$"),
        "step_counter": re.compile(r"^global_step/sec: "),
        "summary_saver": re.compile(r"^summary_op$"),
        "user": re.compile(r"^user after_run$"),
        "logging": re.compile(r"^loss = .*, step = 1 \("),
        "spec": re.compile(r"^spec after_run$"),
    }
    messages = [record.getMessage() for record in caplog.records]
    # The step that ends at global step 2 spans from the save at 2 to the next "spec after_run".
    start = next(i for i, message in enumerate(messages) if markers["saver"].match(message))
    stop = next(i for i in range(start, len(messages)) if markers["spec"].match(messages[i]))
    seen = [
        name for message in messages[start : stop + 1] for name, rx in markers.items() if rx.match(message)
    ]
    assert seen == ["saver", "chief", "step_counter", "summary_saver", "user", "logging", "spec"]


def test_stop_at_step_hook_comes_after_user_hooks_and_before_training_hooks(make_estimator, fakes):
    log: list[tuple[str, str]] = []
    model_fn, hooks = _spec_with_hooks(fakes, log)
    user = fakes.RecordingHook("user", log)
    make_estimator(model_fn).train(fakes.ones_input_fn, steps=2, hooks=[user])
    # The StopAtStepHook requests the stop in its after_run of step 2: hooks after it see it.
    assert hooks["chief"].stop_requested_seen == [False, False]
    assert user.stop_requested_seen == [False, False]
    assert hooks["spec"].stop_requested_seen == [False, True]


def test_nan_tensor_hook_comes_after_user_hooks_and_before_training_hooks(make_estimator, fakes):
    log: list[tuple[str, str]] = []
    model_fn, _ = _spec_with_hooks(fakes, log)
    user = fakes.RecordingHook("user", log)
    nan_batch = [(torch.full((1, 2), math.nan), torch.ones(1, 1))]
    with pytest.raises(te.NanLossDuringTrainingError):
        make_estimator(model_fn).train(lambda: nan_batch, hooks=[user])
    # The NaN hook raises in after_run: hooks before it got after_run, those after it did not.
    assert [name for name, method in log if method == "after_run"] == ["chief", "user"]
    assert not any(method == "end" for _, method in log)


def test_user_hook_fetches_by_name(make_estimator, fakes):
    """Fetches resolve after the step; "global_step" is the value before the step (TF's read in the
    same run as the train op). linear_model_fn from a = 0, rate 0.1: loss (2a - 1)^2 = 1 at step 0,
    then a = 0.2 and loss 0.36 at step 1."""

    class Fetcher(te.SessionRunHook):
        def __init__(self):
            self.results = []

        def before_run(self, run_context):
            return te.SessionRunArgs({"loss": "loss", "step": "global_step", "w": "linear/w"})

        def after_run(self, run_context, run_values):
            results = run_values.results
            self.results.append(
                (float(results["loss"]), int(results["step"]), results["w"].flatten().tolist())
            )

    hook = Fetcher()
    make_estimator().train(fakes.ones_input_fn, steps=2, hooks=[hook])
    assert [step for _, step, _ in hook.results] == [0, 1]
    assert [loss for loss, _, _ in hook.results] == pytest.approx([1.0, 0.36])
    # Variables are read after the step: a = 0.2 after step 1, 0.32 after step 2.
    assert [w for _, _, w in hook.results] == [pytest.approx([0.2, 0.2]), pytest.approx([0.32, 0.32])]


def test_hook_request_stop_ends_training_after_that_step(make_estimator, fakes):
    class StopAtThree(te.SessionRunHook):
        def after_run(self, run_context, run_values):
            if run_context.session.global_step >= 3:
                run_context.request_stop()

    estimator = make_estimator()
    estimator.train(fakes.ones_input_fn, steps=100, hooks=[StopAtThree()])
    assert estimator.get_variable_value("global_step") == 3
    assert estimator.latest_checkpoint().endswith("model.ckpt-3")


def test_user_stop_at_step_hook_with_last_step(make_estimator, fakes):
    estimator = make_estimator()
    estimator.train(fakes.ones_input_fn, hooks=[te.StopAtStepHook(last_step=4)])
    assert estimator.get_variable_value("global_step") == 4


def test_deferred_checks_run_before_each_checkpoint_save(tmp_path, fakes):
    """A hook's deferred check (as the NaN check of a GPU loss) fails once step 2 has run: the save of
    step 2 runs the check first, so the newest checkpoint is step 1's."""

    class FailsAfterStep2(te.SessionRunHook):
        def after_create_session(self, session, coord):
            session.deferred_checks.append(lambda: self.check(session))

        def check(self, session):
            if session.global_step >= 2:
                raise RuntimeError("deferred check failed")

    model_dir = str(tmp_path / "model")
    estimator = te.Estimator(
        fakes.linear_model_fn,
        model_dir=model_dir,
        config=fakes.quiet_config(save_checkpoints_steps=1),
        params={},
    )
    with pytest.raises(RuntimeError, match="deferred check failed"):
        estimator.train(fakes.ones_input_fn, steps=5, hooks=[FailsAfterStep2()])
    assert te.train.latest_checkpoint(model_dir).endswith("model.ckpt-1")
