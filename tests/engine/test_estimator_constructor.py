"""Estimator construction and its model_dir queries (SEMANTICS.md, "Estimator constructor")."""

from __future__ import annotations

import inspect
import logging
import os
import pathlib

import pytest
import torch

import torch_estimator as te


def linear_model_fn(features, labels, mode, params):
    """Only constructed here, except in the last test (which trains it: see conftest's twin)."""
    w = te.get_variable("linear/w", [2, 1], initializer=float(params.get("w0", 0.0)))
    loss = ((features @ w - labels) ** 2).mean()
    train_op = te.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


def model_fn_no_params(features, labels, mode):
    return linear_model_fn(features, labels, mode, {})


# -- checks, in TF's order --------------------------------------------------------------------


def test_config_of_wrong_type_is_a_value_error():
    with pytest.raises(ValueError, match="config must be an instance of `RunConfig`"):
        te.Estimator(linear_model_fn, config={"model_dir": "/tmp/x"})


def test_config_is_checked_before_model_fn():
    # TF's order: config, then model_dir, then model_fn.
    with pytest.raises(ValueError, match="config must be an instance of `RunConfig`"):
        te.Estimator(None, config="not a config")


def test_model_dir_set_twice_with_different_values_is_a_value_error(tmp_path):
    config = te.RunConfig(model_dir=str(tmp_path / "a"))
    with pytest.raises(ValueError, match="`model_dir` are set both in constructor and `RunConfig`"):
        te.Estimator(linear_model_fn, model_dir=str(tmp_path / "b"), config=config)


def test_model_dir_conflict_is_checked_before_model_fn(tmp_path):
    config = te.RunConfig(model_dir=str(tmp_path / "a"))
    with pytest.raises(ValueError, match="are set both in constructor"):
        te.Estimator(None, model_dir=str(tmp_path / "b"), config=config)


def test_model_dir_set_twice_with_the_same_value_is_fine(tmp_path):
    config = te.RunConfig(model_dir=str(tmp_path / "a"))
    estimator = te.Estimator(linear_model_fn, model_dir=str(tmp_path / "a"), config=config)
    assert estimator.model_dir == str(tmp_path / "a")


def test_model_dir_argument_wins_and_is_copied_into_config(tmp_path):
    estimator = te.Estimator(linear_model_fn, model_dir=str(tmp_path), config=te.RunConfig())
    assert estimator.model_dir == str(tmp_path)
    assert estimator.config.model_dir == str(tmp_path)


def test_model_dir_from_config_is_used(tmp_path):
    estimator = te.Estimator(linear_model_fn, config=te.RunConfig(model_dir=str(tmp_path)))
    assert estimator.model_dir == str(tmp_path)


def test_pathlike_model_dir_becomes_a_string(tmp_path):
    estimator = te.Estimator(linear_model_fn, model_dir=pathlib.Path(tmp_path))
    assert estimator.model_dir == str(tmp_path)
    assert isinstance(estimator.config.model_dir, str)


@pytest.mark.parametrize("model_dir", [None, ""])
def test_unset_model_dir_makes_a_temp_dir_with_a_warning(model_dir, caplog):
    # An empty string counts as unset (TF).
    with caplog.at_level(logging.WARNING, logger="torch_estimator"):
        estimator = te.Estimator(linear_model_fn, model_dir=model_dir)
    try:
        assert os.path.isdir(estimator.model_dir)
        assert estimator.config.model_dir == estimator.model_dir
        assert "Using temporary folder as model directory" in caplog.text
        assert estimator.model_dir in caplog.text
    finally:
        os.rmdir(estimator.model_dir)


def test_model_fn_none_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="model_fn must be provided to Estimator"):
        te.Estimator(None, model_dir=str(tmp_path))


def test_model_fn_without_features_is_a_value_error(tmp_path):
    def model_fn(labels, mode):
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="must include features argument"):
        te.Estimator(model_fn, model_dir=str(tmp_path))


def test_model_fn_with_an_unexpected_argument_is_a_value_error(tmp_path):
    def model_fn(features, labels, mode, extra):
        raise AssertionError("never called")

    with pytest.raises(ValueError, match=r"has following not expected args: \['extra'\]"):
        te.Estimator(model_fn, model_dir=str(tmp_path))


def test_params_for_a_model_fn_without_params_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="does not include params argument, but params"):
        te.Estimator(model_fn_no_params, model_dir=str(tmp_path), params={"learning_rate": 0.1})


# -- properties ---------------------------------------------------------------------------------


def test_params_are_deep_copied_at_construction(tmp_path):
    params = {"learning_rate": 0.1, "nested": {"units": [4]}}
    estimator = te.Estimator(linear_model_fn, model_dir=str(tmp_path), params=params)
    params["learning_rate"] = 99.0
    params["nested"]["units"].append(8)
    assert estimator.params == {"learning_rate": 0.1, "nested": {"units": [4]}}


def test_params_property_returns_a_copy(tmp_path):
    estimator = te.Estimator(linear_model_fn, model_dir=str(tmp_path), params={"nested": {"units": [4]}})
    estimator.params["nested"]["units"].append(8)
    assert estimator.params == {"nested": {"units": [4]}}


def test_params_default_to_an_empty_dict(tmp_path):
    assert te.Estimator(linear_model_fn, model_dir=str(tmp_path)).params == {}


def test_config_property_returns_an_equal_copy(tmp_path, fakes):
    config = fakes.quiet_config(tf_random_seed=7)
    estimator = te.Estimator(linear_model_fn, model_dir=str(tmp_path), config=config)
    first, second = estimator.config, estimator.config
    assert first is not second
    assert first.tf_random_seed == 7
    assert first.log_step_count_steps is None
    assert first.model_dir == str(tmp_path)


def test_model_fn_property_has_tf_fixed_signature(tmp_path):
    estimator = te.Estimator(linear_model_fn, model_dir=str(tmp_path), params={"w0": 1.0})
    assert list(inspect.signature(estimator.model_fn).parameters) == ["features", "labels", "mode", "config"]


def test_eval_dir_names(tmp_path):
    estimator = te.Estimator(linear_model_fn, model_dir=str(tmp_path))
    assert estimator.eval_dir() == os.path.join(str(tmp_path), "eval")
    assert estimator.eval_dir("holdout") == os.path.join(str(tmp_path), "eval_holdout")


# -- subclasses and removed names -------------------------------------------------------------


def test_subclass_overriding_a_member_is_a_value_error(tmp_path):
    class MyEstimator(te.Estimator):
        def train(self, input_fn, hooks=None, steps=None, max_steps=None, saving_listeners=None):
            return self

    with pytest.raises(
        ValueError, match="Subclasses of Estimator cannot override members of Estimator"
    ) as info:
        MyEstimator(linear_model_fn, model_dir=str(tmp_path))
    assert "train" in str(info.value)


def test_subclass_adding_methods_and_overriding_allowed_members_is_fine(tmp_path):
    class MyEstimator(te.Estimator):
        def latest_checkpoint(self):
            return None

        def describe(self):
            return "mine"

    estimator = MyEstimator(linear_model_fn, model_dir=str(tmp_path))
    assert estimator.describe() == "mine"


def test_export_savedmodel_points_at_export_saved_model(tmp_path):
    estimator = te.Estimator(linear_model_fn, model_dir=str(tmp_path))
    with pytest.raises(AttributeError, match="Please use `export_saved_model`"):
        estimator.export_savedmodel  # noqa: B018


def test_unknown_attribute_is_a_plain_attribute_error(tmp_path):
    estimator = te.Estimator(linear_model_fn, model_dir=str(tmp_path))
    with pytest.raises(AttributeError, match="no attribute 'no_such_thing'"):
        estimator.no_such_thing  # noqa: B018


# -- variables of the latest checkpoint -------------------------------------------------------


def test_variable_queries_before_training_are_value_errors(tmp_path):
    estimator = te.Estimator(linear_model_fn, model_dir=str(tmp_path))
    assert estimator.latest_checkpoint() is None
    with pytest.raises(ValueError, match="Could not find trained model in model_dir"):
        estimator.get_variable_names()
    with pytest.raises(ValueError, match="Could not find trained model in model_dir"):
        estimator.get_variable_value("global_step")


def test_variable_queries_after_training(tmp_path, fakes):
    config = fakes.quiet_config()
    estimator = te.Estimator(linear_model_fn, model_dir=str(tmp_path), config=config, params={"w0": 0.5})
    estimator.train(fakes.ones_input_fn, steps=1)
    assert estimator.latest_checkpoint() == os.path.join(str(tmp_path), "model.ckpt-1")
    assert estimator.get_variable_names() == ["global_step", "linear/w"]
    step = estimator.get_variable_value("global_step")
    assert step == 1 and isinstance(step, int)
    # w = [[0.5], [0.5]] gives pred 1 = label: zero gradient, w unchanged.
    assert estimator.get_variable_value("linear/w").tolist() == [[0.5], [0.5]]


def test_model_fn_property_calls_model_fn_with_params_bound(tmp_path):
    def model_fn(features, labels, mode, params):
        return te.EstimatorSpec(mode, predictions={"scaled": features * params["k"]})

    estimator = te.Estimator(model_fn, model_dir=str(tmp_path), params={"k": 3.0})
    spec = estimator.model_fn(torch.ones(2), None, te.ModeKeys.PREDICT, estimator.config)
    assert spec.predictions["scaled"].tolist() == [3.0, 3.0]


def test_variable_names_are_tf_style_with_optimizer_slots(tmp_path, fakes):
    def model_fn(features, labels, mode):
        with te.variable_scope("dnn"):
            hidden = te.layers.dense(features, 3, activation=torch.relu, name="hiddenlayer_0")
            logits = te.layers.dense(hidden, 1, name="logits")
        loss = ((logits - labels) ** 2).mean()
        train_op = te.train.AdamOptimizer(0.1).minimize(loss, global_step=te.train.get_global_step())
        return te.EstimatorSpec(mode, loss=loss, train_op=train_op)

    estimator = te.Estimator(model_fn, model_dir=str(tmp_path), config=fakes.quiet_config())
    estimator.train(lambda: (torch.ones(1, 2), torch.ones(1, 1)), steps=3)
    layers = [f"dnn/{layer}/{kind}" for layer in ("hiddenlayer_0", "logits") for kind in ("bias", "kernel")]
    slots = [f"{name}/{slot}" for name in layers for slot in ("Adam", "Adam_1")]
    assert estimator.get_variable_names() == sorted(
        ["beta1_power", "beta2_power", "global_step", *layers, *slots]
    )
    # TF's beta1_power starts at beta1 and is multiplied by it after each step: 0.9^4 after 3 steps.
    assert float(estimator.get_variable_value("beta1_power")) == pytest.approx(0.9**4)
    assert estimator.get_variable_value("dnn/hiddenlayer_0/kernel").shape == (2, 3)
