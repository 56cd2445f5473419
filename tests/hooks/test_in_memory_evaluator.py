"""te.experimental.InMemoryEvaluatorHook (SEMANTICS (g)): evaluates the live training variables.

The model: pred = x @ w with w = [[a], [a]] from 0, x = [1, 1], label 1, SGD 0.1. The error
e = 2a - 1 = -1 shrinks by 0.6 per step (e' = e - 2 * 0.1 * 2e), so after k steps
pred = 1 - 0.6^k and the loss is 0.36^k. The eval metric ``pred`` is the mean prediction.
"""

from __future__ import annotations

import json

import pytest
import torch

import torch_estimator as te


def model_fn(features, labels, mode, params):
    w = te.get_variable("w", [2, 1], initializer=0.0)
    if params.get("noise"):
        # Random draws in training only: the evaluations must not shift this stream.
        features = features + (0.01 * torch.randn_like(features) if mode == te.ModeKeys.TRAIN else 0.0)
    pred = features @ w
    loss = ((pred - labels) ** 2).mean()
    if mode == te.ModeKeys.EVAL:
        spec_kwargs = {"eval_metric_ops": {"pred": te.metrics.mean(pred)}}
        if params.get("eval_scaffold"):
            spec_kwargs["scaffold"] = params["eval_scaffold"]
        return te.EstimatorSpec(mode, loss=loss, **spec_kwargs)
    train_op = te.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


def data():
    return torch.ones(1, 2), torch.ones(1, 1)


def make_estimator(model_dir, params=None, **config):
    settings = {"log_step_count_steps": None, "save_summary_steps": 0, "device": "cpu", **config}
    return te.Estimator(model_fn, model_dir=str(model_dir), config=te.RunConfig(**settings), params=params)


def eval_results(est, name=None):
    return te.experimental.read_eval_metrics(est.eval_dir(name))


def test_evaluates_before_training_every_n_iterations_and_at_end(tmp_path):
    """every_n_iter=2, 5 steps: evaluations at step 0 (before the first step), after iterations 2
    and 4, and at the end (step 5). No checkpoint is ever written: the values are the live ones."""
    est = make_estimator(tmp_path / "model", save_checkpoints_secs=None)
    hook = te.experimental.InMemoryEvaluatorHook(est, data, steps=1, every_n_iter=2)
    est.train(data, hooks=[hook], steps=5)
    assert est.latest_checkpoint() is None
    results = eval_results(est)
    assert list(results) == [0, 2, 4, 5]
    for step, metrics in results.items():
        assert metrics["loss"] == pytest.approx(0.36**step)
        assert metrics["pred"] == pytest.approx(1 - 0.6**step)
    assert hook.last_results["global_step"] == 5
    assert hook.last_results["loss"] == pytest.approx(0.36**5)


def test_named_eval_dir_and_steps_limit(tmp_path):
    """name='live' writes to eval_live; steps=2 of a 3-batch input evaluates 2 batches each time:
    the mean prediction of two batches of x = 1 and x = 2 (pred = 2a x): a(1) = 0.2 -> (0.4 + 0.8) / 2."""
    est = make_estimator(tmp_path / "model")

    def eval_data():
        return iter([(torch.full((1, 2), x), torch.ones(1, 1)) for x in (1.0, 2.0, 3.0)])

    hook = te.experimental.InMemoryEvaluatorHook(est, eval_data, steps=2, name="live", every_n_iter=1)
    est.train(data, hooks=[hook], steps=1)
    results = eval_results(est, "live")
    assert list(results) == [0, 1]
    assert results[1]["pred"] == pytest.approx(0.6)
    assert eval_results(est) == {}


def test_training_is_unchanged_by_the_evaluations(tmp_path):
    """Training draws random noise each step (seeded); with or without the hook the weights match."""
    plain = make_estimator(tmp_path / "plain", {"noise": True}, tf_random_seed=3)
    plain.train(data, steps=4)
    evaluated = make_estimator(tmp_path / "evaluated", {"noise": True}, tf_random_seed=3)
    hook = te.experimental.InMemoryEvaluatorHook(evaluated, data, steps=1, every_n_iter=1)
    evaluated.train(data, hooks=[hook], steps=4)
    assert evaluated.get_variable_value("w").tolist() == plain.get_variable_value("w").tolist()


class CountingHook(te.SessionRunHook):
    def __init__(self):
        self.calls = {"begin": 0, "after_run": 0, "end": 0}

    def begin(self):
        self.calls["begin"] += 1

    def after_run(self, run_context, run_values):
        self.calls["after_run"] += 1

    def end(self, session):
        self.calls["end"] += 1


def test_user_hooks_run_once_per_evaluation(tmp_path):
    """3 evaluations (step 0, after iteration 2, at the end) of 1 batch each."""
    est = make_estimator(tmp_path / "model")
    counting = CountingHook()
    hook = te.experimental.InMemoryEvaluatorHook(est, data, steps=1, hooks=[counting], every_n_iter=2)
    est.train(data, hooks=[hook], steps=2)
    assert counting.calls == {"begin": 3, "after_run": 3, "end": 3}


@pytest.mark.parametrize("every_n_iter", [0, -1, None])
def test_invalid_every_n_iter(tmp_path, every_n_iter):
    with pytest.raises(ValueError, match="invalid every_n_iter"):
        te.experimental.InMemoryEvaluatorHook(make_estimator(tmp_path), data, every_n_iter=every_n_iter)


def test_argument_validation(tmp_path):
    est = make_estimator(tmp_path)
    with pytest.raises(ValueError, match="Must specify steps > 0"):
        te.experimental.InMemoryEvaluatorHook(est, data, steps=0)
    with pytest.raises(TypeError, match="All hooks must be SessionRunHook instances"):
        te.experimental.InMemoryEvaluatorHook(est, data, hooks=[object()])
    tf_config = {"cluster": {"chief": ["h:0"], "worker": ["h:1"]}, "task": {"type": "chief", "index": 0}}
    config = te.RunConfig(cluster=te.distribute.parse_tf_config({"TF_CONFIG": json.dumps(tf_config)}))
    distributed = te.Estimator(model_fn, model_dir=str(tmp_path), config=config)
    with pytest.raises(ValueError, match=r"supports only single machine \(aka Local\) setting"):
        te.experimental.InMemoryEvaluatorHook(distributed, data)


@pytest.mark.parametrize(
    ("scaffold", "message"),
    [
        (te.train.Scaffold(saver=te.train.Saver()), "does not support custom saver"),
        (te.train.Scaffold(init_fn=lambda scaffold, session: None), "does not support custom init_fn"),
    ],
)
def test_eval_scaffold_with_saver_or_init_fn_is_rejected(tmp_path, scaffold, message):
    est = make_estimator(tmp_path / "model", {"eval_scaffold": scaffold})
    hook = te.experimental.InMemoryEvaluatorHook(est, data, steps=1)
    with pytest.raises(ValueError, match=message):
        est.train(data, hooks=[hook], steps=1)
