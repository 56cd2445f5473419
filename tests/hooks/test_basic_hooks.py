"""LoggingTensorHook, StopAtStepHook, NanTensorHook, GlobalStepWaiterHook, FinalOpsHook, FeedFnHook."""

from __future__ import annotations

import logging
import re

import pytest
import torch

from torch_estimator.hooks import (
    FeedFnHook,
    FinalOpsHook,
    GlobalStepWaiterHook,
    HookList,
    LoggingTensorHook,
    NanLossDuringTrainingError,
    NanTensorHook,
    StopAtStepHook,
)


def _messages(caplog):
    return [record.getMessage() for record in caplog.records if record.name == "torch_estimator"]


def _rising_loss(clock=None):
    """Step i (1-based) has loss 0.25 * i; the clock, if any, moves 1.5 s per step."""

    def on_step(session, iteration):
        session.values["loss"] = torch.tensor(0.25 * (iteration + 1))
        if clock is not None:
            clock.advance(1.5)

    return on_step


# -- LoggingTensorHook -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "either at_end and/or exactly one of every_n_iter and every_n_secs must be provided"),
        ({"every_n_iter": 1, "every_n_secs": 1}, "either at_end and/or exactly one"),
        ({"every_n_iter": 1, "every_n_secs": 1, "at_end": True}, "either at_end and/or exactly one"),
        ({"every_n_iter": 0}, "invalid every_n_iter=0"),
        ({"every_n_iter": -3, "at_end": True}, "invalid every_n_iter=-3"),
    ],
)
def test_logging_tensor_hook_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LoggingTensorHook({"loss": "loss"}, **kwargs)


def test_logging_tensor_hook_logs_first_iteration_then_every_n_with_elapsed_time(
    make_session, run_hooks, clock, caplog
):
    """every_n_iter=2 over 5 steps logs local iterations 0, 2, 4 (global steps 1, 3, 5).

    The clock moves 1.5 s per step, so two steps take 3.000 s. Tags are sorted: loss, step.
    """
    caplog.set_level(logging.INFO, logger="torch_estimator")
    hook = LoggingTensorHook({"step": "global_step", "loss": "loss"}, every_n_iter=2, clock=clock)

    run_hooks([hook], make_session(), max_iterations=5, on_step=_rising_loss(clock))

    assert _messages(caplog) == [
        "loss = 0.25, step = 1",
        "loss = 0.75, step = 3 (3.000 sec)",
        "loss = 1.25, step = 5 (3.000 sec)",
    ]


def test_logging_tensor_hook_counts_local_iterations_not_the_global_step(make_session, run_hooks, caplog):
    """Restored at global step 100: the first log is still the first local iteration."""
    caplog.set_level(logging.INFO, logger="torch_estimator")
    hook = LoggingTensorHook(["global_step"], every_n_iter=3)
    run_hooks([hook], make_session(global_step=100), max_iterations=4, on_step=_rising_loss())
    assert [message.split(" (")[0] for message in _messages(caplog)] == [
        "global_step = 101",
        "global_step = 104",
    ]


def test_logging_tensor_hook_iterable_keeps_order_and_formatter_overrides(make_session, run_hooks, caplog):
    caplog.set_level(logging.INFO, logger="torch_estimator")
    in_order = LoggingTensorHook(["global_step", "loss"], every_n_iter=10)
    formatted = LoggingTensorHook(
        {"loss": "loss"}, every_n_iter=10, formatter=lambda values: f"loss is {values['loss']}"
    )
    run_hooks([in_order, formatted], make_session(), max_iterations=1, on_step=_rising_loss())
    assert _messages(caplog) == ["global_step = 1, loss = 0.25", "loss is 0.25"]


def test_logging_tensor_hook_at_end_only(make_session, run_hooks, caplog):
    caplog.set_level(logging.INFO, logger="torch_estimator")
    hook = LoggingTensorHook({"loss": "loss"}, at_end=True)
    run_hooks([hook], make_session(), max_iterations=3, on_step=_rising_loss())
    assert _messages(caplog) == ["loss = 0.75"]


def test_logging_tensor_hook_every_n_secs(make_session, run_hooks, clock, caplog):
    """every_n_secs=4, the clock starts at 100 and moves 1.5 s during each step.

    Triggers are checked in before_run, logs (and the timer update) happen in after_run:
    step 1 logs at t=101.5; before_run of steps 2-4 runs at t=101.5, 103.0, 104.5 (< 105.5);
    before_run of step 5 runs at t=106.0 -> logs at t=107.5, 6.000 s after the first log.
    """
    caplog.set_level(logging.INFO, logger="torch_estimator")
    hook = LoggingTensorHook({"loss": "loss"}, every_n_secs=4, clock=clock)
    run_hooks([hook], make_session(), max_iterations=5, on_step=_rising_loss(clock))
    assert _messages(caplog) == ["loss = 0.25", "loss = 1.25 (6.000 sec)"]


# -- StopAtStepHook ----------------------------------------------------------------------------


def test_stop_at_step_hook_argument_errors():
    with pytest.raises(ValueError, match=re.escape("One of num_steps or last_step must be specified.")):
        StopAtStepHook()
    with pytest.raises(ValueError, match=re.escape("Only one of num_steps or last_step can be specified.")):
        StopAtStepHook(num_steps=1, last_step=1)


def test_num_steps_counts_from_the_step_at_session_creation(make_session, run_hooks):
    """Restored at 5, num_steps=3: last step 8, reached after 3 steps."""
    hook = StopAtStepHook(num_steps=3)
    session = make_session(global_step=5)
    assert run_hooks([hook], session, max_iterations=100) == 3
    assert hook.last_step == 8
    assert session.global_step == 8


def test_last_step_is_absolute(make_session, run_hooks):
    assert run_hooks([StopAtStepHook(last_step=3)], make_session(global_step=0), max_iterations=100) == 3
    # Already past the last step: the hook stops after the first step.
    assert run_hooks([StopAtStepHook(last_step=3)], make_session(global_step=5), max_iterations=100) == 1


def test_stop_at_step_uses_tf_rule_with_the_step_before_the_run(make_session, run_hooks):
    """The train op adds 2 per step, last_step=5. TF checks (step before run + 1) >= 5 first:
    steps 0->2 (1 < 5), 2->4 (3 < 5), 4->6 (5 >= 5 and 6 >= 5): stop after 3 steps at 6."""
    session = make_session()
    assert run_hooks([StopAtStepHook(last_step=5)], session, max_iterations=100, increment=2) == 3
    assert session.global_step == 6


def test_stop_at_step_never_stops_if_the_global_step_does_not_move(make_session, run_hooks):
    assert run_hooks([StopAtStepHook(num_steps=2)], make_session(), max_iterations=5, increment=0) == 5


# -- NanTensorHook -----------------------------------------------------------------------------


def _nan_at_second_step(session, iteration):
    session.values["loss"] = torch.tensor(float("nan") if iteration == 1 else 1.0)


def test_nan_tensor_hook_raises(make_session, run_hooks, caplog):
    with pytest.raises(NanLossDuringTrainingError) as raised:
        run_hooks([NanTensorHook("loss")], make_session(), max_iterations=5, on_step=_nan_at_second_step)
    assert str(raised.value) == "NaN loss during training."
    assert isinstance(raised.value, RuntimeError)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "Model diverged with loss = NaN.")
    ]


def test_nan_tensor_hook_without_failing_warns_and_stops(make_session, run_hooks, caplog):
    hook = NanTensorHook("loss", fail_on_nan_loss=False)
    steps = run_hooks([hook], make_session(), max_iterations=5, on_step=_nan_at_second_step)
    assert steps == 2
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "Model diverged with loss = NaN.")
    ]


@pytest.mark.parametrize(
    "loss", [torch.tensor(float("inf")), torch.tensor(1.0, dtype=torch.bfloat16), 0.5, torch.ones(3)]
)
def test_nan_tensor_hook_lets_non_nan_values_pass(make_session, run_hooks, loss):
    session = make_session(values={"loss": loss})
    assert run_hooks([NanTensorHook("loss")], session, max_iterations=3) == 3


def test_nan_tensor_hook_accepts_a_callable_and_non_scalar_values(make_session, run_hooks):
    with pytest.raises(NanLossDuringTrainingError):
        run_hooks(
            [NanTensorHook(lambda: torch.tensor([1.0, float("nan")]))], make_session(), max_iterations=1
        )
    with pytest.raises(NanLossDuringTrainingError):
        run_hooks([NanTensorHook("loss")], make_session(values={"loss": float("nan")}), max_iterations=1)


# -- GlobalStepWaiterHook, FinalOpsHook, FeedFnHook ----------------------------------------------


def test_global_step_waiter_polls_every_half_second_until_the_step(make_session, run_hooks):
    session = make_session()
    sleeps = []

    def fake_sleep(seconds):
        # Another worker advances the shared global step while we wait.
        sleeps.append(seconds)
        session.global_step += 1

    hook = GlobalStepWaiterHook(3, sleep=fake_sleep)
    run_hooks([hook], session, max_iterations=2)
    assert sleeps == [0.5, 0.5, 0.5]  # read 0, 1, 2 -> sleep; read 3 -> start; no wait on step 2


def test_global_step_waiter_with_non_positive_step_never_waits(make_session, run_hooks):
    hook = GlobalStepWaiterHook(0, sleep=lambda seconds: pytest.fail("must not sleep"))
    assert run_hooks([hook], make_session(), max_iterations=2) == 2


def test_final_ops_hook_runs_its_ops_at_end(make_session, run_hooks):
    hook = FinalOpsHook({"loss": "loss", "step": "global_step", "computed": lambda: 7})
    assert hook.final_ops_values is None
    run_hooks([hook], make_session(), max_iterations=2, on_step=_rising_loss())
    assert hook.final_ops_values == {"loss": torch.tensor(0.5), "step": 2, "computed": 7}


def test_final_ops_hook_reraises_stop_iteration_with_an_explanation(make_session, caplog):
    def reads_input():
        raise StopIteration

    hook = FinalOpsHook(reads_input)
    with pytest.raises(StopIteration):
        HookList([hook]).end(make_session())
    assert "FinalOpsHook" in caplog.records[0].getMessage()


def test_feed_fn_hook_calls_feed_fn_every_step(make_session, run_hooks):
    calls = []
    hook = FeedFnHook(lambda: calls.append(1) or {"x": len(calls)})
    run_hooks([hook], make_session(), max_iterations=3)
    assert len(calls) == 3


def test_logging_tensor_hook_prints_values_as_numpy_does(make_session, run_hooks, caplog):
    """A float32 third prints as numpy prints float32 (0.33333334), not at float64 precision."""
    caplog.set_level(logging.INFO, logger="torch_estimator")
    session = make_session(values={"loss": torch.tensor(1.0) / 3, "pair": torch.tensor([0.5, 2.0])})
    hook = LoggingTensorHook({"loss": "loss", "pair": "pair"}, every_n_iter=1)
    run_hooks([hook], session, max_iterations=1)
    assert _messages(caplog) == ["loss = 0.33333334, pair = [0.5 2. ]"]
