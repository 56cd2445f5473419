"""The REST wire format without HTTP: JSON values <-> tensors, classify/regress results, tf.Example."""

from __future__ import annotations

import base64
import json
import types

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from torch_estimator.serving.errors import InvalidArgumentError
from torch_estimator.serving.example_codec import encode_classify, encode_regress, example_features
from torch_estimator.serving.predict_codec import PredictCall, decode_predict, encode_predict
from torch_estimator.serving.protos import example_class
from torch_estimator.serving.tensors import json_values, to_tensor


def spec(dtype, *shape):
    return types.SimpleNamespace(dtype=dtype, shape=shape)


def signature(inputs, outputs=None, method="tensorflow/serving/predict", class_names=None):
    return types.SimpleNamespace(
        name="sig", method_name=method, inputs=inputs, outputs=outputs or {}, class_names=class_names
    )


def wire(value):
    """Through JSON text and back, as a client sees it."""
    return json.loads(json.dumps(value))


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=3, max_side=5), elements=st.floats(width=32))
)
def test_float32_round_trip_is_bit_exact(array):
    """Shortest float32 text reads back to the same float32, infinities and -0.0 included (NaN stays NaN;
    its sign and payload are not kept, as JSON's NaN has none)."""
    tensor = torch.from_numpy(array)
    back = to_tensor(wire(json_values(tensor)), torch.float32, (None, *array.shape[1:]), "x")
    assert torch.equal(back.isnan(), tensor.isnan())
    assert torch.equal(back[~back.isnan()], tensor[~tensor.isnan()])
    finite = ~tensor.isnan()
    assert torch.equal(back[finite].signbit(), tensor[finite].signbit())


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=6)))
def test_int64_round_trip(array):
    tensor = torch.from_numpy(array)
    back = to_tensor(wire(json_values(tensor)), torch.int64, (None, *array.shape[1:]), "ids")
    assert torch.equal(back, tensor)


def test_float32_values_are_written_short():
    # 0.1 as float32 is 0.100000001490116...; its shortest float32 text is "0.1".
    assert json.dumps(json_values(torch.tensor([0.1, 1 / 3, float("nan"), -float("inf")]))) == (
        "[0.1, 0.33333334, NaN, -Infinity]"
    )


def test_dtype_rules_for_inputs():
    assert to_tensor([[True, False]], torch.bool, (None, 2), "mask").tolist() == [[True, False]]
    with pytest.raises(InvalidArgumentError, match=r"'mask' expects DT_BOOL .* received a number"):
        to_tensor([[1, 0]], torch.bool, (None, 2), "mask")
    with pytest.raises(InvalidArgumentError, match="out of range for DT_INT32"):
        to_tensor([2**31], torch.int32, (None,), "n")
    with pytest.raises(InvalidArgumentError, match="received null"):
        to_tensor([None], torch.float32, (None,), "x")
    assert to_tensor([1.5], torch.bfloat16, (None,), "x").dtype == torch.bfloat16
    assert to_tensor([[1, 2]], torch.float64, (None, 2), "x").dtype == torch.float64


def test_decode_and_encode_predict_forms():
    sig = signature({"x": spec(torch.float32, None, 2)})
    row = decode_predict({"instances": [[1, 2], [3, 4]]}, sig)
    assert row.row_format and row.rows == 2 and row.tensors["x"].tolist() == [[1, 2], [3, 4]]
    outputs = {"y": torch.tensor([3.0, 7.0]), "n": torch.tensor([1, 2])}
    assert encode_predict(outputs, sig, row) == {"predictions": [{"y": 3.0, "n": 1}, {"y": 7.0, "n": 2}]}
    columns = decode_predict({"inputs": [[1, 2]]}, sig)
    assert encode_predict({"y": torch.tensor([3.0])}, sig, columns) == {"outputs": [3.0]}
    with pytest.raises(InvalidArgumentError, match="inconsistent batch size: 1 expecting: 2"):
        encode_predict({"y": torch.tensor([3.0])}, sig, row)


def test_classify_results_pairing():
    names = ["a", "b", "c"]
    sig = signature({}, method="tensorflow/serving/classify", class_names=names)
    scores = torch.tensor([[0.25, 0.5, 0.25]])
    # scores alone (or with argmax ids): column j is class j.
    assert encode_classify({"scores": scores, "classes": torch.tensor([1])}, sig, 1) == {
        "results": [[["a", 0.25], ["b", 0.5], ["c", 0.25]]]
    }
    # top-k classes beside their scores: each score's own class.
    top = {"scores": torch.tensor([[0.5, 0.25]]), "classes": torch.tensor([[1, 2]])}
    assert encode_classify(top, sig, 1) == {"results": [[["b", 0.5], ["c", 0.25]]]}
    # classes alone: score 0, TF's proto default; without class_names, str(id).
    bare = signature({}, method="tensorflow/serving/classify")
    assert encode_classify({"classes": torch.tensor([2, 0])}, bare, 2) == {
        "results": [[["2", 0.0]], [["0", 0.0]]]
    }


def test_regress_results_shape_rule():
    sig = signature({}, method="tensorflow/serving/regress")
    assert encode_regress({"outputs": torch.tensor([[1.5], [2.0]])}, sig, 2) == {"results": [1.5, 2.0]}
    with pytest.raises(InvalidArgumentError, match=r"\[batch_size\] or \[batch_size, 1\]"):
        encode_regress({"outputs": torch.ones(2, 2)}, sig, 2)


def test_serialized_tf_example_features():
    example = example_class()()
    example.features.feature["ids"].int64_list.value.extend([3, 4])
    example.features.feature["word"].bytes_list.value.append(b"hi")
    example.features.feature["w"].float_list.value.append(0.5)
    features = example_features({"b64": base64.b64encode(example.SerializeToString()).decode()})
    assert features == {"ids": ("int64", [3, 4]), "word": ("bytes", [b"hi"]), "w": ("float", [0.5])}


def test_predict_call_is_what_the_batcher_merges():
    call = PredictCall({"x": torch.ones(2, 1)}, rows=2, row_format=False)
    assert call.rows == 2 and not call.row_format
