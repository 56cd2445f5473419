"""numeric_column and bucketized_column: values, shapes, TF's validation messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torch_estimator import feature_column as fc
from torch_estimator.feature_column import TransformCache


def test_numeric_reshapes_and_normalizes():
    """x = [[1, 2], [3, 4]] with normalizer x - 1 gives [[0, 1], [2, 3]] as float32 [2, 2]."""
    column = fc.numeric_column("x", shape=2, normalizer_fn=lambda t: t - 1)
    out = column.transform(TransformCache({"x": np.array([[1, 2], [3, 4]])}))
    assert out.dtype == torch.float32
    assert out.tolist() == [[0.0, 1.0], [2.0, 3.0]]


def test_normalizer_sees_a_rank_one_feature_as_a_column():
    """TF gives a [B] feature the shape [B, 1] before normalizer_fn: a row-wise normalizer divides
    each value by itself, [1, 2, 3] -> [[1], [1], [1]] (not by the batch's sum 6)."""
    column = fc.numeric_column("x", normalizer_fn=lambda t: t / t.sum(dim=-1, keepdim=True))
    out = column.transform(TransformCache({"x": np.array([1.0, 2.0, 3.0])}))
    assert out.tolist() == [[1.0], [1.0], [1.0]]


def test_numeric_default_value_and_spec():
    column = fc.numeric_column("x", shape=(2,), default_value=3.0)
    assert column.default_value == (3.0, 3.0)
    assert column.parse_example_spec["x"].default_value == (3.0, 3.0)
    assert fc.numeric_column("m", shape=(2, 2), default_value=[[1, 2], [3, 4]]).default_value == (
        (1, 2),
        (3, 4),
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key": 1}, "key must be a string"),
        ({"key": "x", "shape": 0}, "shape dimensions must be greater than 0"),
        ({"key": "x", "shape": (1.5,)}, "dimensions of shape must be integers"),
        (
            {"key": "x", "shape": 2, "default_value": [1.0]},
            "The shape of default_value must be equal to given shape",
        ),
        ({"key": "x", "dtype": torch.int64, "default_value": 0.5}, "must be compatible with dtype"),
        ({"key": "x", "dtype": torch.bool}, "dtype must be convertible to float"),
    ],
)
def test_numeric_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fc.numeric_column(**kwargs)


def test_numeric_normalizer_must_be_callable():
    with pytest.raises(TypeError, match="normalizer_fn must be a callable"):
        fc.numeric_column("x", normalizer_fn=3)


def test_numeric_bad_feature_names_the_column():
    column = fc.numeric_column("price", shape=3)
    with pytest.raises(ValueError, match=r"price.*does not hold 3 values"):
        column.transform(TransformCache({"price": torch.ones(4, 2)}))
    with pytest.raises(ValueError, match="numeric column 'price' must be a tensor of numbers"):
        column.transform(TransformCache({"price": np.array(["a", "b"])}))
    with pytest.raises(ValueError, match="Feature price is not in features dictionary"):
        column.transform(TransformCache({"cost": torch.ones(1)}))


def test_bucketized_ids_and_one_hot():
    """Boundaries [0, 10]: -5 -> bucket 0, 0 -> 1 (a boundary goes up), 9.9 -> 1, 10 -> 2, 50 -> 2.

    Two source values per example: value i's ids are offset by 3 * i, so [0, 10] -> [1, 3 + 2 = 5].
    """
    column = fc.bucketized_column(fc.numeric_column("v"), [0, 10])
    cache = TransformCache({"v": torch.tensor([-5.0, 0.0, 9.9, 10.0, 50.0])})
    assert column.bucket_ids(cache).flatten().tolist() == [0, 1, 1, 2, 2]
    assert column.dense_tensor(cache, None)[:2].reshape(2, 3).tolist() == [[1, 0, 0], [0, 1, 0]]
    pair = fc.bucketized_column(fc.numeric_column("p", shape=2), [0, 10])
    assert pair.num_buckets == 6 and pair.name == "p_bucketized"
    assert pair.transform_ids(TransformCache({"p": torch.tensor([[0.0, 10.0]])})).ids.tolist() == [[1, 5]]


@pytest.mark.parametrize(
    ("source", "boundaries", "message"),
    [
        ("notnumeric", [1], "source_column must be a column generated with numeric_column"),
        (fc.numeric_column("m", shape=(2, 2)), [1], "must be one-dimensional column"),
        (fc.numeric_column("a"), [], "boundaries must not be empty"),
        (fc.numeric_column("a"), [2, 1], "boundaries must be a sorted list"),
        (fc.numeric_column("a"), [1, 1], "boundaries must be a sorted list"),
    ],
)
def test_bucketized_validation(source, boundaries, message):
    with pytest.raises(ValueError, match=message):
        fc.bucketized_column(source, boundaries)
