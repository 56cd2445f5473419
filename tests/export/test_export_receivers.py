"""Serving input receivers and the receiver fn builders: TF's wrapping and validation (SEMANTICS (l))."""

from __future__ import annotations

import pytest
import torch

import torch_estimator as te


def test_serving_receiver_wraps_bare_tensors_with_tf_default_names():
    x = torch.zeros(2, 3)
    receiver = te.export.ServingInputReceiver(x, x)
    assert list(receiver.features) == ["feature"]
    assert list(receiver.receiver_tensors) == ["input"]
    assert receiver.receiver_tensors_alternatives is None


def test_serving_receiver_allows_int_feature_keys_but_not_int_receiver_keys():
    x = torch.zeros(2, 3)
    assert list(te.export.ServingInputReceiver({1: x}, {"x": x}).features) == [1]
    with pytest.raises(ValueError, match="receiver_tensor keys must be strings: 1"):
        te.export.ServingInputReceiver({"x": x}, {1: x})
    with pytest.raises(ValueError, match="feature keys must be strings or ints"):
        te.export.ServingInputReceiver({1.5: x}, {"x": x})


@pytest.mark.parametrize(
    ("features", "receivers", "message"),
    [
        (None, {"x": torch.zeros(1)}, "features must be defined"),
        ({"x": torch.zeros(1)}, None, "receiver_tensors must be defined"),
        ({"x": [1.0]}, {"x": torch.zeros(1)}, "feature x must be a Tensor, SparseTensor, or RaggedTensor"),
        ({"x": torch.zeros(1)}, {"x": "text"}, "receiver_tensor x must be a Tensor"),
    ],
)
def test_serving_receiver_rejects_missing_and_non_tensor_values(features, receivers, message):
    with pytest.raises(ValueError, match=message):
        te.export.ServingInputReceiver(features, receivers)


def test_serving_receiver_alternatives_are_wrapped_and_checked():
    x = torch.zeros(2, 3)
    receiver = te.export.ServingInputReceiver({"x": x}, {"x": x}, {"raw": x, "named": {"y": x}})
    assert receiver.receiver_tensors_alternatives == {"raw": {"input": x}, "named": {"y": x}}
    with pytest.raises(ValueError, match="receiver_tensors_alternatives must be a dict"):
        te.export.ServingInputReceiver({"x": x}, {"x": x}, [x])
    with pytest.raises(ValueError, match="receiver_tensors_alternative input must be a Tensor"):
        te.export.ServingInputReceiver({"x": x}, {"x": x}, {"raw": 3})


def test_tensor_serving_receiver_keeps_the_feature_unwrapped():
    x = torch.zeros(2, 3)
    receiver = te.export.TensorServingInputReceiver(x, {"x": x})
    assert receiver.features is x
    with pytest.raises(ValueError, match="features must be defined"):
        te.export.TensorServingInputReceiver(None, {"x": x})
    with pytest.raises(ValueError, match="feature must be a Tensor"):
        te.export.TensorServingInputReceiver({"x": x}, {"x": x})


def test_supervised_receiver_checks_features_labels_and_receiver_tensors():
    x, y = torch.zeros(2, 3), torch.zeros(2)
    receiver = te.export.SupervisedInputReceiver(x, y, x)
    assert receiver.features is x and receiver.labels is y
    assert list(receiver.receiver_tensors) == ["input"]
    with pytest.raises(ValueError, match="labels must be defined"):
        te.export.SupervisedInputReceiver(x, None, x)
    with pytest.raises(ValueError, match="label y must be a Tensor"):
        te.export.SupervisedInputReceiver(x, {"y": 1}, x)


def test_unsupervised_receiver_is_tf_alias_of_serving_receiver():
    assert te.export.UnsupervisedInputReceiver is te.export.ServingInputReceiver


def test_raw_serving_receiver_fn_takes_example_tensors_and_specs():
    example = torch.tensor([[1.0, 2.0]])
    spec = te.saved_model.TensorSpec(torch.int64, (None, 3))
    receiver = te.export.build_raw_serving_input_receiver_fn({"x": example, "ids": spec}, 4)()
    assert receiver.features["x"] is receiver.receiver_tensors["x"]
    # A tensor is the example as given (a copy); a spec becomes zeros of default_batch_size rows.
    assert receiver.receiver_tensors["x"].tolist() == [[1.0, 2.0]]
    assert receiver.receiver_tensors["x"] is not example
    assert receiver.receiver_tensors["ids"].shape == (4, 3)
    assert receiver.receiver_tensors["ids"].dtype == torch.int64


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (torch.zeros(2, 3), "features must be a dict"),
        ({"x": torch.tensor(1.0)}, "needs a batch dimension"),
        ({"x": te.saved_model.TensorSpec(torch.float32, (None, None))}, "unknown dimension after the batch"),
        ({"x": [1, 2]}, "must be an example torch.Tensor or a spec"),
    ],
)
def test_raw_serving_receiver_fn_rejects_bad_features(features, message):
    with pytest.raises(ValueError, match=message):
        te.export.build_raw_serving_input_receiver_fn(features)()


def test_raw_supervised_receiver_fn_merges_features_and_labels():
    fn = te.export.build_raw_supervised_input_receiver_fn({"x": torch.zeros(2, 3)}, torch.zeros(2))
    receiver = fn()
    assert sorted(receiver.receiver_tensors) == ["label", "x"]
    assert receiver.labels is receiver.receiver_tensors["label"]
    assert receiver.features["x"] is receiver.receiver_tensors["x"]


def test_raw_supervised_receiver_fn_rejects_overlapping_keys_at_build_time():
    with pytest.raises(ValueError, match=r"Features and labels must have distinct keys.*'y'"):
        te.export.build_raw_supervised_input_receiver_fn({"y": torch.zeros(2)}, {"y": torch.zeros(2)})
    # A bare feature tensor is named 'input', a bare label 'label' (TF's overlap check names).
    with pytest.raises(ValueError, match="overlapping keys: \\['input'\\]"):
        te.export.build_raw_supervised_input_receiver_fn(torch.zeros(2), {"input": torch.zeros(2)})


def test_parsing_receiver_fn_inputs_are_the_parsed_features():
    spec = {
        "x": te.export.FixedLenFeature([4], torch.float32),
        "ids": te.export.VarLenFeature(torch.int64),
        "age": te.export.FixedLenFeature([], torch.int64, default_value=0),
    }
    fn = te.export.build_parsing_serving_input_receiver_fn(spec)
    receiver = fn()
    assert fn.feature_spec == spec
    assert {name: tuple(t.shape) for name, t in receiver.receiver_tensors.items()} == {
        "x": (2, 4),
        "ids": (2, 2),
        "age": (2,),
    }
    assert receiver.features["ids"].dtype == torch.int64


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "Missing: features was"),
        ({"x": ("fixed", [2])}, "Unsupported tuple"),
        (
            {"x": te.export.FixedLenFeature([None], torch.float32)},
            "First dimension of shape for feature x unknown",
        ),
        ({"x": te.export.FixedLenFeature([2], "string")}, "string features are not supported"),
        ({"x": te.export.VarLenFeature(torch.float64)}, "Unsupported dtype torch.float64"),
    ],
)
def test_parsing_receiver_fn_validates_the_spec(spec, message):
    with pytest.raises(ValueError, match=message):
        te.export.build_parsing_serving_input_receiver_fn(spec)
