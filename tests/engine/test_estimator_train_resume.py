"""Resuming from checkpoints, Scaffold initialisation, seeds, moved model_dirs (SEMANTICS (d), (h), (j))."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch

import torch_estimator as te

# A fixed batch for the small MLPs below (made once, outside any seeded call).
X = torch.linspace(-1.0, 1.0, 24).reshape(8, 3)
Y = (X.sum(dim=1, keepdim=True) > 0).float()


def fixed_input_fn():
    return X, Y


def make_mlp_model_fn(make_optimizer, dropout: float = 0.0):
    """Two dense layers (glorot init, so the seed matters), optional dropout, the given optimizer."""

    def model_fn(features, labels, mode):
        hidden = te.layers.dense(features, 4, activation=torch.tanh)
        if dropout:
            hidden = te.layers.dropout(hidden, rate=dropout, training=mode == te.ModeKeys.TRAIN)
        logits = te.layers.dense(hidden, 1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        train_op = make_optimizer().minimize(loss, global_step=te.train.get_global_step())
        return te.EstimatorSpec(mode, loss=loss, train_op=train_op)

    return model_fn


def all_variables(estimator: te.Estimator) -> dict[str, np.ndarray]:
    return {name: np.asarray(estimator.get_variable_value(name)) for name in estimator.get_variable_names()}


# -- resume -----------------------------------------------------------------------------------


def test_second_train_call_starts_from_the_checkpoint(make_estimator, fakes):
    """After call 1 (from a = 0, rate 0.1: a = 0.2, 0.32, 0.392), call 2 sees a = 0.392 and its first
    step's loss is (2 * 0.392 - 1)^2 = 0.046656."""

    class Probe(te.SessionRunHook):
        def after_create_session(self, session, coord):
            self.restored = (session.global_step, session.run("linear/w").flatten().tolist())

        def before_run(self, run_context):
            return te.SessionRunArgs("loss")

        def after_run(self, run_context, run_values):
            self.losses.append(float(run_values.results))

        losses: list[float]

    probe = Probe()
    probe.losses = []
    estimator = make_estimator()
    estimator.train(fakes.ones_input_fn, steps=3)
    saved = estimator.get_variable_value("linear/w").flatten().tolist()
    assert saved == pytest.approx([0.392, 0.392])
    estimator.train(fakes.ones_input_fn, steps=1, hooks=[probe])
    assert probe.restored == (3, saved)
    assert probe.losses == pytest.approx([0.046656])


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda: te.train.AdamOptimizer(0.05),
        lambda: te.train.Optimizer(torch.optim.Adam, lr=0.05),
        lambda: te.train.MomentumOptimizer(0.05, momentum=0.9),
    ],
    ids=["AdamOptimizer", "torch-Adam", "MomentumOptimizer"],
)
def test_ten_steps_equal_five_plus_five(tmp_path, fakes, make_optimizer):
    # Optimizer slots (Adam's moments and step, momentum accumulators) must be restored, or the
    # second half would restart them from zero and diverge.
    config = fakes.quiet_config(tf_random_seed=11)
    model_fn = make_mlp_model_fn(make_optimizer)
    one_call = te.Estimator(model_fn, model_dir=str(tmp_path / "one"), config=config)
    one_call.train(fixed_input_fn, steps=10)
    two_calls = te.Estimator(model_fn, model_dir=str(tmp_path / "two"), config=config)
    two_calls.train(fixed_input_fn, steps=5)
    two_calls.train(fixed_input_fn, steps=5)
    expected, got = all_variables(one_call), all_variables(two_calls)
    assert sorted(got) == sorted(expected)
    assert len(expected) > 5  # variables, global_step and slots
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-6, atol=1e-7, err_msg=name)


def test_dropout_resumes_with_the_checkpointed_random_state(tmp_path, fakes):
    # The RNG state travels in the checkpoint: 4 + 4 steps draw the same dropout masks as 8 steps.
    config = fakes.quiet_config(tf_random_seed=5)
    model_fn = make_mlp_model_fn(lambda: te.train.GradientDescentOptimizer(0.5), dropout=0.5)
    one_call = te.Estimator(model_fn, model_dir=str(tmp_path / "one"), config=config)
    one_call.train(fixed_input_fn, steps=8)
    two_calls = te.Estimator(model_fn, model_dir=str(tmp_path / "two"), config=config)
    two_calls.train(fixed_input_fn, steps=4)
    two_calls.train(fixed_input_fn, steps=4)
    expected, got = all_variables(one_call), all_variables(two_calls)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-6, atol=1e-7, err_msg=name)


def test_tf_random_seed_makes_fresh_trainings_identical(tmp_path, fakes):
    model_fn = make_mlp_model_fn(lambda: te.train.GradientDescentOptimizer(0.5), dropout=0.3)

    def train(name: str, seed: int) -> dict[str, np.ndarray]:
        estimator = te.Estimator(
            model_fn, model_dir=str(tmp_path / name), config=fakes.quiet_config(tf_random_seed=seed)
        )
        estimator.train(fixed_input_fn, steps=3)
        return all_variables(estimator)

    first, second, other = train("a", 3), train("b", 3), train("c", 4)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
    assert not np.array_equal(first["dense/kernel"], other["dense/kernel"])


def test_moved_model_dir_resumes(tmp_path, fakes):
    original, moved = str(tmp_path / "original"), str(tmp_path / "moved")
    config = fakes.quiet_config()
    te.Estimator(fakes.linear_model_fn, model_dir=original, config=config, params={}).train(
        fakes.ones_input_fn, steps=5
    )
    shutil.copytree(original, moved)
    shutil.rmtree(original)
    estimator = te.Estimator(fakes.linear_model_fn, model_dir=moved, config=config, params={})
    assert estimator.latest_checkpoint() == os.path.join(moved, "model.ckpt-5")
    assert estimator.evaluate(lambda: [fakes.ones_input_fn()])["global_step"] == 5
    estimator.train(fakes.ones_input_fn, steps=2)
    assert estimator.get_variable_value("global_step") == 7
    assert not os.path.exists(original)


# -- Scaffold ---------------------------------------------------------------------------------


def scaffold_model_fn(calls: list[str], **scaffold_args):
    """linear model whose Scaffold records init_op / init_fn / local_init_op calls into ``calls``."""

    def init_op():
        calls.append("init_op")

    def init_fn(scaffold, session):
        calls.append("init_fn")
        # Pretrained weights: w = 3 (training below uses rate 0, so it stays).
        with torch.no_grad():
            session.graph.find_variable("linear/w").fill_(3.0)

    def local_init_op():
        calls.append("local_init_op")

    def model_fn(features, labels, mode):
        w = te.get_variable("linear/w", [2, 1], initializer=0.0)
        scaffold = te.train.Scaffold(
            init_op=init_op, init_fn=init_fn, local_init_op=local_init_op, **scaffold_args
        )
        if mode == te.ModeKeys.PREDICT:
            return te.EstimatorSpec(mode, predictions={"y": features @ w}, scaffold=scaffold)
        loss = ((features @ w - labels) ** 2).mean()
        train_op = te.train.GradientDescentOptimizer(0.0).minimize(
            loss, global_step=te.train.get_global_step()
        )
        return te.EstimatorSpec(mode, loss=loss, train_op=train_op, scaffold=scaffold)

    return model_fn


def test_scaffold_init_fn_and_init_op_run_only_when_not_restored(make_estimator, fakes):
    calls: list[str] = []
    estimator = make_estimator(scaffold_model_fn(calls))
    estimator.train(fakes.ones_input_fn, steps=1)
    assert calls == ["init_op", "init_fn", "local_init_op"]
    assert estimator.get_variable_value("linear/w").flatten().tolist() == [3.0, 3.0]
    calls.clear()
    estimator.train(fakes.ones_input_fn, steps=1)
    # Restored: only the local init runs; the weights come from the checkpoint.
    assert calls == ["local_init_op"]
    assert estimator.get_variable_value("linear/w").flatten().tolist() == [3.0, 3.0]


def test_scaffold_local_init_op_runs_in_evaluate_and_predict_too(make_estimator, fakes):
    calls: list[str] = []
    estimator = make_estimator(scaffold_model_fn(calls))
    estimator.train(fakes.ones_input_fn, steps=1)
    calls.clear()
    estimator.evaluate(lambda: [fakes.ones_input_fn()])
    assert calls == ["local_init_op"]
    calls.clear()
    assert [row["y"].tolist() for row in estimator.predict(lambda: iter([torch.ones(1, 2)]))] == [[6.0]]
    assert calls == ["local_init_op"]


def test_scaffold_ready_op_reporting_names_is_a_runtime_error(make_estimator, fakes):
    estimator = make_estimator(scaffold_model_fn([], ready_op=lambda: ["linear/w"]))
    with pytest.raises(RuntimeError, match="Init operations did not make model ready"):
        estimator.train(fakes.ones_input_fn, steps=1)


def test_scaffold_ready_op_reporting_nothing_is_ready(make_estimator, fakes):
    estimator = make_estimator(scaffold_model_fn([], ready_op=lambda: []))
    estimator.train(fakes.ones_input_fn, steps=1)
    assert estimator.get_variable_value("global_step") == 1
