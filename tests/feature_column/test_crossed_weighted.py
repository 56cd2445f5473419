"""crossed_column and weighted_categorical_column."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torch_estimator import feature_column as fc
from torch_estimator.feature_column import TransformCache


def test_cross_of_two_string_features():
    """TF 2.15's ids with 100 buckets: example 0 has a in {x, y} and b = z, so cross(x, z) 21 and
    cross(y, z) 31; example 1 has cross(w, z) 83 and padding."""
    column = fc.crossed_column(["a", "b"], 100)
    batch = column.transform_ids(TransformCache({"a": [["x", "y"], ["w"]], "b": ["z", "z"]}))
    assert batch.ids.tolist() == [[21, 31], [83, 0]]
    assert batch.weights.tolist() == [[1.0, 1.0], [1.0, 0.0]]
    assert column.num_buckets == 100


def test_cross_with_a_categorical_column_uses_its_ids():
    """TF 2.15: 'blue' has vocabulary id 1, crossed as the integer 1 with city 'paris', hash_key 7,
    50 buckets: 12."""
    colors = fc.categorical_column_with_vocabulary_list("color", ["red", "blue"])
    column = fc.crossed_column([colors, "city"], 50, hash_key=7)
    batch = column.transform_ids(TransformCache({"color": ["blue"], "city": ["paris"]}))
    assert batch.ids.tolist() == [[12]]
    assert column.name == "city_X_color"


def test_cross_keeps_a_vocabulary_columns_unknown_id():
    """TF 2.15 crosses an unknown term's id -1: vocabulary [x, z], a = {x, y} then {z}, b = p then q,
    2**62 + 11 buckets: (0, p), (-1, p) and (1, q), TF's values; the column alone drops y."""
    letters = fc.categorical_column_with_vocabulary_list("a", ["x", "z"])
    column = fc.crossed_column([letters, "b"], 2**62 + 11)
    cache = TransformCache({"a": [["x", "y"], ["z"]], "b": ["p", "q"]})
    batch = column.transform_ids(cache)
    assert batch.ids.tolist() == [[3613649634884366264, 1304222219156083534], [2553912703806250395, 0]]
    assert batch.weights.tolist() == [[1.0, 1.0], [1.0, 0.0]]
    assert cache.ids(letters).weights.tolist() == [[1.0, 0.0], [1.0, 0.0]]


def test_cross_takes_columns_before_raw_features_as_tf():
    """TF's cross takes its sparse inputs first: crossed_column(["b", letters]) with a dense b gives
    the ids of [letters, "b"] (TF 2.15: x with p, 3613649634884366264), not of b then x."""
    letters = fc.categorical_column_with_vocabulary_list("a", ["x", "z"])
    cache = TransformCache({"a": ["x"], "b": ["p"]})
    for keys in (["b", letters], [letters, "b"]):
        assert fc.crossed_column(keys, 2**62 + 11).transform_ids(cache).ids.tolist() == [
            [3613649634884366264]
        ]


def test_nested_cross_flattens_keys():
    inner = fc.crossed_column(["b", "a"], 10)
    outer = fc.crossed_column([inner, "c"], 10)
    assert outer.name == "a_X_b_X_c"
    flat = fc.crossed_column(["b", "a", "c"], 10)
    features = TransformCache({"a": ["1"], "b": ["2"], "c": ["3"]})
    assert outer.transform_ids(features).ids.tolist() == flat.transform_ids(features).ids.tolist()


def test_cross_of_integer_features():
    """TF 2.15 crosses integers as they are, not their strings: 3 and 4 in 1000 buckets, 786."""
    column = fc.crossed_column(["i", "j"], 1000)
    batch = column.transform_ids(TransformCache({"i": torch.tensor([3]), "j": np.array([4])}))
    assert batch.ids.tolist() == [[786]]


@pytest.mark.parametrize(
    ("keys", "size", "message"),
    [
        (["a"], 10, "keys must be a list with length > 1"),
        (["a", "b"], 0, "hash_bucket_size must be > 1"),
        (["a", 3], 10, "Unsupported key type"),
        (["a", fc.categorical_column_with_hash_bucket("h", 5)], 10, "is not supported for crossing"),
        (
            [fc.weighted_categorical_column(fc.categorical_column_with_identity("i", 10), "w"), "s"],
            23,
            "crossed_column does not support weight_tensor.*Given column: i_weighted_by_w",
        ),
    ],
)
def test_cross_validation(keys, size, message):
    with pytest.raises(ValueError, match=message):
        fc.crossed_column(keys, size)


def test_weighted_column_ids_and_weights():
    """Padding (-1) keeps weight 0 whatever the weight feature says."""
    column = fc.weighted_categorical_column(fc.categorical_column_with_identity("d", 5), "w")
    batch = column.transform_ids(
        TransformCache({"d": torch.tensor([[1, -1]]), "w": torch.tensor([[0.5, 9.0]])})
    )
    assert batch.ids.tolist() == [[1, 0]] and batch.weights.tolist() == [[0.5, 0.0]]
    assert column.num_buckets == 5 and column.name == "d_weighted_by_w"


def test_weighted_column_errors_name_the_column():
    column = fc.weighted_categorical_column(fc.categorical_column_with_identity("d", 5), "w")
    with pytest.raises(ValueError, match="Column d_weighted_by_w: weight feature 'w' has shape"):
        column.transform_ids(TransformCache({"d": torch.tensor([[1, 2]]), "w": torch.ones(1, 3)}))
    with pytest.raises(ValueError, match="Feature w is not in features dictionary"):
        column.transform_ids(TransformCache({"d": torch.tensor([1])}))
    with pytest.raises(ValueError, match="is not convertible to float"):
        fc.weighted_categorical_column(fc.categorical_column_with_identity("d", 5), "w", dtype=torch.bool)
