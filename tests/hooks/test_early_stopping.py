"""te.experimental early stopping (SEMANTICS (g), estimator-specific hooks).

The predicates read eval results written with the te.summary writer, as evaluate() writes them:
``loss`` at steps 10, 20, 30, 40, 50 = 5.0, 4.0, 4.5, 4.2, 4.0 and ``accuracy`` = 0.5, 0.8,
0.95, 0.9, 0.95 (the best loss 4.0 is first reached at step 20; a later equal value is no
improvement; the best accuracy 0.95 is first reached at step 30).
"""

from __future__ import annotations

import json

import pytest
import torch

import torch_estimator as te
from torch_estimator.hooks import StopAtCheckpointStepHook, StopAtStepHook, StopOnPredicateHook
from torch_estimator.hooks.early_stopping import no_metric_improvement_fn, threshold_crossed_fn
from torch_estimator.summary import writer_for

LOSS = {10: 5.0, 20: 4.0, 30: 4.5, 40: 4.2, 50: 4.0}
ACCURACY = {10: 0.5, 20: 0.8, 30: 0.95, 40: 0.9, 50: 0.95}


@pytest.fixture
def eval_dir(tmp_path):
    directory = str(tmp_path / "eval")
    writer = writer_for(directory)
    for step in LOSS:
        writer.write_scalars(step, {"loss": LOSS[step], "accuracy": ACCURACY[step]})
    writer.flush()
    return directory


@pytest.fixture
def estimator(tmp_path):
    return te.Estimator(lambda features, labels, mode: None, model_dir=str(tmp_path / "model"))


# -- the predicates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "min_steps", "expected"),
    [(0.9, 0, True), (0.95, 0, False), (0.9, 31, True), (0.9, 41, True), (0.95, 41, False), (0.0, 60, False)],
)
def test_stop_if_higher(eval_dir, threshold, min_steps, expected):
    """Strictly greater at any step >= min_steps: 0.95 > 0.9 at step 30 (and 50); nothing > 0.95;
    from step 41 on only step 50 (0.95) counts; beyond step 50 nothing does."""
    assert threshold_crossed_fn(eval_dir, "accuracy", threshold, True, min_steps)() is expected


@pytest.mark.parametrize(
    ("threshold", "min_steps", "expected"),
    [(4.0, 0, False), (4.1, 0, True), (4.1, 21, True), (4.1, 51, False)],
)
def test_stop_if_lower(eval_dir, threshold, min_steps, expected):
    """Strictly lower: nothing is < 4.0; 4.0 < 4.1 at steps 20 and 50 (50 counts from min_steps 21)."""
    assert threshold_crossed_fn(eval_dir, "loss", threshold, False, min_steps)() is expected


@pytest.mark.parametrize(
    ("max_steps", "min_steps", "expected"),
    [(30, 0, True), (31, 0, False), (20, 0, True), (10, 21, False), (10, 0, True)],
)
def test_stop_if_no_decrease(eval_dir, max_steps, min_steps, expected):
    """Best loss 4.0 at step 20 (the equal 4.0 at step 50 does not move it): step 50 is 30 steps
    later, step 40 is 20 later, step 30 is 10 later. With min_steps 21 the walk starts at step 30:
    4.5 (best@30), 4.2 (best@40), 4.0 (best@50): never 10 steps behind."""
    assert no_metric_improvement_fn(eval_dir, "loss", max_steps, False, min_steps)() is expected


@pytest.mark.parametrize(("max_steps", "expected"), [(20, True), (21, False)])
def test_stop_if_no_increase(eval_dir, max_steps, expected):
    """Best accuracy 0.95 at step 30 (step 50's equal value is no increase): 20 steps at step 50."""
    assert no_metric_improvement_fn(eval_dir, "accuracy", max_steps, True)() is expected


def test_missing_metric_and_missing_dir(eval_dir, tmp_path):
    with pytest.raises(KeyError, match="'auc' is not in the eval results of step 10"):
        threshold_crossed_fn(eval_dir, "auc", 0.5, True)()
    assert no_metric_improvement_fn(str(tmp_path / "none"), "loss", 1, False)() is False


def test_public_hooks_read_the_estimators_eval_dir(estimator, tmp_path):
    """Default eval_dir is estimator.eval_dir(): the hooks' predicates see the same results."""
    writer = writer_for(estimator.eval_dir())
    writer.write_scalars(10, {"loss": 1.0})
    writer.write_scalars(20, {"loss": 2.0})
    writer.flush()
    steps = {"run_every_secs": None, "run_every_steps": 1}
    assert te.experimental.stop_if_lower_hook(estimator, "loss", 1.5, **steps).should_stop_fn() is True
    assert te.experimental.stop_if_higher_hook(estimator, "loss", 2.0, **steps).should_stop_fn() is False
    hook = te.experimental.stop_if_no_decrease_hook(estimator, "loss", 10, **steps)
    assert hook.should_stop_fn() is True
    hook = te.experimental.stop_if_no_increase_hook(
        estimator, "loss", 10, eval_dir=str(tmp_path / "x"), **steps
    )
    assert hook.should_stop_fn() is False


# -- validation ------------------------------------------------------------------------------------


def test_validation(estimator):
    with pytest.raises(TypeError, match=r"`estimator` must have type `tf\.estimator\.Estimator`"):
        te.experimental.make_early_stopping_hook(object(), lambda: False)
    with pytest.raises(TypeError, match="`estimator` must have type"):
        te.experimental.stop_if_higher_hook("est", "auc", 0.9)
    with pytest.raises(ValueError, match="Only one of `run_every_secs` and `run_every_steps` must be set"):
        te.experimental.make_early_stopping_hook(estimator, lambda: False, run_every_steps=10)
    with pytest.raises(ValueError, match="Either every_secs or every_steps should be provided"):
        te.experimental.make_early_stopping_hook(estimator, lambda: False, run_every_secs=None)
    with pytest.raises(TypeError, match="`should_stop_fn` must be callable"):
        te.experimental.make_early_stopping_hook(estimator, True)


# -- the hook's schedule ------------------------------------------------------------------------


def predicate_true_on_call(n, calls):
    def should_stop():
        calls.append(len(calls) + 1)
        return len(calls) >= n

    return should_stop


def test_checks_every_n_steps_and_stops(make_session, run_hooks):
    """The fake session's global step after iteration k is k. Every 3 steps from the first: checks at
    steps 1, 4, 7; the third check says stop, so 7 iterations run."""
    calls: list[int] = []
    seen: list[int] = []
    hook = StopOnPredicateHook(predicate_true_on_call(3, calls), run_every_secs=None, run_every_steps=3)
    ran = run_hooks([hook], make_session(), 20, on_step=lambda session, i: seen.append(session.global_step))
    assert (ran, calls) == (7, [1, 2, 3])


def test_checks_every_n_seconds_with_a_fake_clock(make_session, run_hooks, clock):
    """Each step takes 25 s (clock 100 + 25k after step k). run_every_secs=60: a check at step 1
    (t=125), then at the first step with t >= 185 (step 4, t=200), then t >= 260 (step 7, t=275)."""
    calls: list[int] = []
    checked_at: list[float] = []

    def should_stop():
        checked_at.append(clock())
        return predicate_true_on_call(3, calls)()

    hook = StopOnPredicateHook(should_stop, run_every_secs=60, clock=clock)
    ran = run_hooks([hook], make_session(), 20, on_step=lambda session, i: clock.advance(25))
    assert (ran, checked_at) == (7, [125.0, 200.0, 275.0])


def test_stop_at_checkpoint_step_hook(make_session, run_hooks):
    """last_step 5: from the step whose global step + 1 reaches 5, the checkpointed step is read; it
    says 3 twice (sleep 30 s each time), then 5: stop."""
    checkpointed = iter([3, 3, 5])
    sleeps: list[float] = []
    hook = StopAtCheckpointStepHook(lambda: next(checkpointed), 5, sleep=sleeps.append)
    ran = run_hooks([hook], make_session(), 20)
    assert (ran, sleeps) == (6, [30, 30])


def test_make_stop_at_checkpoint_step_hook_chief_and_worker(tmp_path):
    chief = te.Estimator(lambda features, labels, mode: None, model_dir=str(tmp_path / "m"))
    hook = te.experimental.make_stop_at_checkpoint_step_hook(chief, 10)
    assert isinstance(hook, StopAtStepHook)
    tf_config = {"cluster": {"chief": ["h:0"], "worker": ["h:1"]}, "task": {"type": "worker", "index": 0}}
    config = te.RunConfig(cluster=te.distribute.parse_tf_config({"TF_CONFIG": json.dumps(tf_config)}))
    worker = te.Estimator(lambda features, labels, mode: None, model_dir=str(tmp_path / "m"), config=config)
    hook = te.experimental.make_stop_at_checkpoint_step_hook(worker, 10, wait_after_file_check_secs=1)
    assert isinstance(hook, StopAtCheckpointStepHook)
    assert (hook.read_checkpoint_step(), hook.wait_after_file_check_secs) == (0, 1)


# -- training really stops -----------------------------------------------------------------------


def linear_model_fn(features, labels, mode):
    """pred = x @ w, w = [[a], [a]] from 0; x = [1, 1], label 1, SGD 0.1. The error e = 2a - 1
    shrinks by 0.6 per step (e' = e - 0.4 e), so the loss after k steps is 0.36^k."""
    w = te.get_variable("w", [2, 1], initializer=0.0)
    loss = ((features @ w - labels) ** 2).mean()
    train_op = te.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


def test_training_stops_when_the_evaluated_loss_is_low_enough(tmp_path):
    """Evaluations every step (in memory): loss 1, 0.36, 0.1296, 0.0467 at steps 0..3. The stop hook
    runs after the evaluator in each step and sees loss < 0.05 at step 3: training ends at step 3 of
    100, and the final checkpoint is step 3."""
    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu")
    est = te.Estimator(linear_model_fn, model_dir=str(tmp_path / "model"), config=config)

    def data():
        return torch.ones(1, 2), torch.ones(1, 1)

    evaluator = te.experimental.InMemoryEvaluatorHook(est, data, steps=1, every_n_iter=1)
    stopper = te.experimental.stop_if_lower_hook(est, "loss", 0.05, run_every_secs=None, run_every_steps=1)
    est.train(data, hooks=[evaluator, stopper], max_steps=100)
    assert est.get_variable_value("global_step") == 3
    losses = {
        step: metrics["loss"] for step, metrics in te.experimental.read_eval_metrics(est.eval_dir()).items()
    }
    assert losses == pytest.approx({0: 1.0, 1: 0.36, 2: 0.1296, 3: 0.046656})
