"""model_fn / input_fn binding (SEMANTICS (c)): names, keyword calls, labels rule, input_fn results."""

import functools
import logging

import pytest
import torch

from torch_estimator.contract import (
    EstimatorSpec,
    ModeKeys,
    call_input_fn,
    call_model_fn,
    fn_args,
    split_input_fn_result,
    verify_model_fn_args,
)


def model_fn(features, labels, mode, params, config):
    return EstimatorSpec(mode, predictions=features)


# -- fn_args ------------------------------------------------------------------------------------


def test_fn_args_of_a_function():
    assert fn_args(model_fn) == ("features", "labels", "mode", "params", "config")


def test_fn_args_skips_star_args():
    def fn(features, *args, mode=None, **kwargs):
        return None

    assert fn_args(fn) == ("features", "mode")


def test_fn_args_removes_partial_bound_arguments():
    assert fn_args(functools.partial(model_fn, {"x": 1})) == ("labels", "mode", "params", "config")
    assert fn_args(functools.partial(model_fn, params={}, config=None)) == ("features", "labels", "mode")
    both = functools.partial(model_fn, {"x": 1}, None, params={})
    assert fn_args(both) == ("mode", "config")
    assert fn_args(functools.partial(both, config=None)) == ("mode",)


class CallableModel:
    def __call__(self, features, mode):
        return EstimatorSpec(mode, predictions=features)

    def model_fn(self, features, labels, mode):
        return EstimatorSpec(mode, predictions=features)


def test_fn_args_of_callable_objects_and_bound_methods():
    model = CallableModel()
    assert fn_args(model) == ("features", "mode")
    assert fn_args(model.model_fn) == ("features", "labels", "mode")
    # The unbound function still reports self (tolerated by verify_model_fn_args).
    assert fn_args(CallableModel.model_fn) == ("self", "features", "labels", "mode")


class ModuleModel(torch.nn.Module):
    def forward(self, features, labels, mode):
        return EstimatorSpec(mode, predictions=features)


def test_fn_args_of_an_nn_module_are_forward_args():
    """nn.Module.__call__ is (*args, **kwargs); the names model_fn declares are forward's."""
    assert fn_args(ModuleModel()) == ("features", "labels", "mode")


def test_fn_args_of_a_builtin_without_signature():
    with pytest.raises(TypeError, match="Cannot read the signature"):
        fn_args(max)


# -- verify_model_fn_args -----------------------------------------------------------------------


def test_verify_accepts_every_allowed_name_and_self():
    def with_self(self, features, labels, mode, params, config):
        return None

    verify_model_fn_args(model_fn, params={"a": 1})
    verify_model_fn_args(with_self, params={})
    verify_model_fn_args(CallableModel().model_fn, params=None)
    verify_model_fn_args(ModuleModel(), params=None)


def test_verify_needs_features():
    def fn(labels, mode):
        return None

    with pytest.raises(ValueError, match="must include features argument"):
        verify_model_fn_args(fn, params=None)
    with pytest.raises(ValueError, match="must include features argument"):
        verify_model_fn_args(functools.partial(model_fn, features={}), params={})


def test_verify_params_passed_but_not_declared():
    def fn(features, labels, mode):
        return None

    with pytest.raises(ValueError, match="does not include params argument, but params") as info:
        verify_model_fn_args(fn, params={"lr": 0.1})
    assert "'lr': 0.1" in str(info.value)
    # An empty dict is still "passed", as in TF (params is not None).
    with pytest.raises(ValueError, match="does not include params argument"):
        verify_model_fn_args(fn, params={})


def test_verify_params_declared_but_not_passed_only_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="torch_estimator"):
        verify_model_fn_args(model_fn, params=None)
    assert [record.levelno for record in caplog.records] == [logging.WARNING]
    assert "includes params argument, but params are not passed" in caplog.records[0].getMessage()


def test_verify_no_warning_when_params_match(caplog):
    with caplog.at_level(logging.DEBUG, logger="torch_estimator"):
        verify_model_fn_args(model_fn, params={})
    assert caplog.records == []


def test_verify_rejects_unexpected_names():
    def fn(features, labels, mode, hparams, model_dir):
        return None

    with pytest.raises(ValueError, match="has following not expected args") as info:
        verify_model_fn_args(fn, params=None)
    assert "['hparams', 'model_dir']" in str(info.value)


# -- call_model_fn ------------------------------------------------------------------------------


class Recorder:
    """A model_fn that takes its arguments by keyword only and records them."""

    def __init__(self):
        self.calls = []

    def __call__(self, *, features, mode):
        self.calls.append({"features": features, "mode": mode})
        return EstimatorSpec(mode, predictions=features)


def test_call_model_fn_passes_only_declared_names_by_keyword():
    recorder = Recorder()
    features = torch.ones(1)
    spec = call_model_fn(recorder, features, None, ModeKeys.PREDICT, params={"p": 1}, config="config")
    assert recorder.calls == [{"features": features, "mode": ModeKeys.PREDICT}]
    assert spec.predictions is features


def test_call_model_fn_passes_params_and_config_when_declared():
    seen = {}

    def fn(config, params, labels, features):
        seen.update(config=config, params=params, labels=labels, features=features)
        return EstimatorSpec(None)

    params = {"units": 3}
    call_model_fn(fn, "f", "l", ModeKeys.EVAL, params, "cfg")
    assert seen == {"config": "cfg", "params": params, "labels": "l", "features": "f"}


def test_call_model_fn_uses_declared_names_when_given():
    def fn(features, **kwargs):
        return EstimatorSpec(kwargs.get("mode"), predictions=features)

    spec = call_model_fn(fn, torch.ones(1), None, ModeKeys.PREDICT, None, None, declared=("features", "mode"))
    assert spec.mode == ModeKeys.PREDICT


def test_call_model_fn_labels_rule():
    def fn(features, mode):
        return EstimatorSpec(mode, predictions=features)

    with pytest.raises(ValueError, match="model_fn does not take labels, but input_fn returns labels"):
        call_model_fn(fn, torch.ones(1), torch.zeros(1), ModeKeys.PREDICT, None, None)
    # Without labels from input_fn, a model_fn without labels is fine.
    assert call_model_fn(fn, torch.ones(1), None, ModeKeys.PREDICT, None, None).mode == ModeKeys.PREDICT


@pytest.mark.parametrize("result", [None, {"loss": 1.0}, (ModeKeys.EVAL, None)])
def test_call_model_fn_needs_an_estimator_spec(result):
    def fn(features):
        return result

    with pytest.raises(ValueError, match="model_fn should return an EstimatorSpec"):
        call_model_fn(fn, torch.ones(1), None, ModeKeys.EVAL, None, None)


def test_call_model_fn_with_partial_and_bound_method():
    spec = call_model_fn(CallableModel().model_fn, torch.ones(1), None, ModeKeys.PREDICT, None, None)
    assert spec.mode == ModeKeys.PREDICT
    bound = functools.partial(model_fn, params={"fixed": True})
    spec = call_model_fn(bound, torch.ones(1), None, ModeKeys.PREDICT, {"other": 1}, None)
    assert spec.mode == ModeKeys.PREDICT


def test_call_model_fn_with_an_nn_module():
    features, labels = torch.ones(1), torch.zeros(1)
    spec = call_model_fn(ModuleModel(), features, labels, ModeKeys.PREDICT, None, None)
    assert spec.predictions is features


# -- call_input_fn ------------------------------------------------------------------------------


def test_call_input_fn_without_arguments():
    assert call_input_fn(lambda: "batch", ModeKeys.TRAIN, params={"a": 1}, config="cfg") == "batch"


def test_call_input_fn_passes_declared_names_only():
    def input_fn(config, mode):
        return mode, config

    assert call_input_fn(input_fn, ModeKeys.EVAL, params={}, config="cfg") == (ModeKeys.EVAL, "cfg")


def test_call_input_fn_deep_copies_params():
    params = {"batch": {"size": 2}}

    def input_fn(params):
        params["batch"]["size"] = 99
        return params

    received = call_input_fn(input_fn, ModeKeys.TRAIN, params=params)
    assert received == {"batch": {"size": 99}}
    assert params == {"batch": {"size": 2}}
    assert call_input_fn(lambda params: params, ModeKeys.TRAIN) == {}


def test_call_input_fn_input_context_only_when_declared_and_given():
    context = object()

    def with_context(input_context=None):
        return input_context

    assert call_input_fn(with_context, ModeKeys.TRAIN, input_context=context) is context
    assert call_input_fn(with_context, ModeKeys.TRAIN) is None
    assert call_input_fn(lambda: "no context", ModeKeys.TRAIN, input_context=context) == "no context"


def test_call_input_fn_needs_a_callable():
    with pytest.raises(TypeError, match="input_fn must be callable"):
        call_input_fn([1, 2], ModeKeys.TRAIN)


# -- split_input_fn_result ----------------------------------------------------------------------


def test_split_pairs_and_features_only():
    features, labels = {"x": torch.ones(1)}, torch.zeros(1)
    assert split_input_fn_result((features, labels)) == (features, labels)
    assert split_input_fn_result([features, labels]) == (features, labels)
    assert split_input_fn_result(features) == (features, None)
    tensor = torch.ones(2)
    assert split_input_fn_result(tensor)[0] is tensor


@pytest.mark.parametrize("result", [(1, 2, 3), (1,), [], [1, 2, 3, 4]])
def test_split_other_lengths_fail(result):
    with pytest.raises(ValueError, match=r"input_fn should return \(features, labels\) as a len 2 tuple"):
        split_input_fn_result(result)
