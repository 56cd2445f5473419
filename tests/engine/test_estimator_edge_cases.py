"""Edge cases found in review: each test pins a rule of SEMANTICS.md / DESIGN.md that once broke."""

from __future__ import annotations

import importlib
import json

import pytest
import torch

import torch_estimator as te
from torch_estimator.distribute import parse_tf_config


def test_keep_checkpoint_every_n_hours_none_means_unset(fakes, tmp_path):
    config = fakes.quiet_config(keep_checkpoint_every_n_hours=None)
    estimator = te.Estimator(fakes.linear_model_fn, model_dir=tmp_path, config=config, params={})
    estimator.train(fakes.ones_input_fn, steps=2)
    assert estimator.get_variable_value("global_step") == 2


def test_non_chief_worker_accepts_saving_listeners_and_writes_no_checkpoint(fakes, tmp_path, monkeypatch):
    # TF builds the checkpoint saver hook on every task (listeners attach to it) but runs it on the chief.
    # This process plays the worker alone, standing in for rank 1 of a process group
    # (tests/distribute run real groups).
    non_chief = te.distribute.process_group.LocalReplica(is_chief=False)
    monkeypatch.setattr(
        importlib.import_module("torch_estimator.engine.train"),
        "join_training_group",
        lambda cluster, env, device, timeout: (non_chief, device),
    )
    tf_config = {"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {"type": "worker", "index": 0}}
    cluster = parse_tf_config({"TF_CONFIG": json.dumps(tf_config)})
    config = fakes.quiet_config(cluster=cluster, save_checkpoints_steps=10)
    listener = (
        fakes.RecordingListener() if hasattr(fakes, "RecordingListener") else te.CheckpointSaverListener()
    )
    estimator = te.Estimator(fakes.linear_model_fn, model_dir=tmp_path, config=config, params={})
    estimator.train(fakes.ones_input_fn, steps=2, saving_listeners=[listener])
    assert estimator.latest_checkpoint() is None


def test_build_pass_leaves_module_state_alone(fakes, tmp_path):
    """One training step updates BatchNorm statistics once: momentum 0.1 from 0 gives 0.1 * batch mean."""

    def model_fn(features, labels, mode):
        norm = te.get_module("bn", lambda: torch.nn.BatchNorm1d(2))
        pred = te.layers.dense(norm(features), 1)
        loss = ((pred - labels) ** 2).mean()
        train_op = te.train.GradientDescentOptimizer(0.1).minimize(
            loss, global_step=te.train.get_global_step()
        )
        return te.EstimatorSpec(mode, loss=loss, train_op=train_op)

    x = torch.tensor([[0.0, 10.0], [2.0, 30.0]])  # batch mean [1, 20]
    estimator = te.Estimator(model_fn, model_dir=tmp_path, config=fakes.quiet_config())
    estimator.train(lambda: [(x, torch.ones(2, 1))], steps=1)
    assert estimator.get_variable_value("bn.num_batches_tracked") == 1
    torch.testing.assert_close(
        torch.from_numpy(estimator.get_variable_value("bn.running_mean")), torch.tensor([0.1, 2.0])
    )


def test_global_step_fetched_in_end_is_the_final_step(fakes, tmp_path):
    hook = te.FinalOpsHook({"step": "global_step"})
    estimator = te.Estimator(
        fakes.linear_model_fn, model_dir=tmp_path, config=fakes.quiet_config(), params={}
    )
    estimator.train(fakes.ones_input_fn, steps=3, hooks=[hook])
    assert hook.final_ops_values == {"step": 3}


def test_hooks_fetch_metric_values_by_name_during_evaluate(fakes, tmp_path):
    """mean of labels over two batches [1, 3] and [5]: (1 + 3 + 5) / 3 = 3."""

    def model_fn(features, labels, mode):
        loss = (features.sum() * 0.0) + 1.0
        return te.EstimatorSpec(mode, loss=loss, eval_metric_ops={"label_mean": te.metrics.mean(labels)})

    hook = te.FinalOpsHook("label_mean")
    batches = [(torch.ones(2, 1), torch.tensor([1.0, 3.0])), (torch.ones(1, 1), torch.tensor([5.0]))]
    estimator = te.Estimator(model_fn, model_dir=tmp_path, config=fakes.quiet_config())
    results = estimator.evaluate(lambda: batches, hooks=[hook])
    assert results["label_mean"] == pytest.approx(3.0)
    assert hook.final_ops_values == pytest.approx(3.0)


def test_update_op_that_cannot_be_called_is_named():
    loss = torch.tensor(1.0)
    with pytest.raises(TypeError, match=r"eval_metric_ops\['m'\] update_op must be"):
        te.EstimatorSpec(te.ModeKeys.EVAL, loss=loss, eval_metric_ops={"m": (loss, loss)})


def test_subclass_adding_methods_is_allowed(fakes, tmp_path):
    class MyEstimator(te.Estimator):
        def describe(self):
            return "mine"

    estimator = MyEstimator(fakes.linear_model_fn, model_dir=tmp_path, config=fakes.quiet_config(), params={})
    assert estimator.describe() == "mine"
