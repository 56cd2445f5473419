"""pandas_input_fn: SEMANTICS.md (o) rules on DataFrames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import torch_estimator as te


def frame():
    return pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 5.0], "b": [10, 20, 30, 40, 50]})


def test_features_keyed_by_columns_and_a_series_target():
    """5 rows, batch 2, 2 epochs: a = 1..5 1..5 cut every 2, target follows its rows."""
    input_fn = te.inputs.pandas_input_fn(
        frame(), pd.Series([0, 1, 0, 1, 0]), batch_size=2, num_epochs=2, shuffle=False
    )
    batches = list(input_fn())
    assert [features["a"].tolist() for features, _ in batches] == [[1, 2], [3, 4], [5, 1], [2, 3], [4, 5]]
    assert [target.tolist() for _, target in batches] == [[0, 1], [0, 1], [0, 0], [1, 0], [1, 0]]
    assert batches[0][0]["b"].dtype == torch.int64


def test_without_y_only_features():
    batches = list(te.inputs.pandas_input_fn(frame(), batch_size=5, shuffle=False)())
    assert len(batches) == 1
    assert set(batches[0]) == {"a", "b"}


def test_dataframe_target_is_a_dict_keyed_by_its_columns():
    """y's columns may reuse x's names: the target is a separate dict."""
    y = pd.DataFrame({"a": [5, 4, 3, 2, 1], "t": [0, 0, 1, 1, 1]})
    features, target = next(te.inputs.pandas_input_fn(frame(), y, batch_size=5, shuffle=False)())
    assert features["a"].tolist() == [1, 2, 3, 4, 5]
    assert {key: value.tolist() for key, value in target.items()} == {
        "a": [5, 4, 3, 2, 1],
        "t": [0, 0, 1, 1, 1],
    }


def test_shuffle_must_be_an_explicit_bool():
    with pytest.raises(ValueError, match="shuffle must be provided and explicitly set as boolean"):
        te.inputs.pandas_input_fn(frame())


def test_target_column_must_be_a_string():
    with pytest.raises(TypeError, match="target_column must be a string type"):
        te.inputs.pandas_input_fn(frame(), pd.Series(range(5)), shuffle=False, target_column=1)


def test_target_column_must_not_be_a_column_of_x():
    with pytest.raises(ValueError, match="Cannot use name 'a' for target column"):
        te.inputs.pandas_input_fn(frame(), pd.Series(range(5)), shuffle=False, target_column="a")


def test_indexes_must_match():
    with pytest.raises(ValueError, match="Index for x and y are mismatched"):
        te.inputs.pandas_input_fn(frame(), pd.Series(range(5), index=range(1, 6)), shuffle=False)


@pytest.mark.parametrize(("x", "y"), [(np.zeros(3), None), (pd.DataFrame({"a": [1]}), np.zeros(1))])
def test_x_a_dataframe_and_y_a_series_or_dataframe(x, y):
    with pytest.raises(TypeError, match="must be a pandas"):
        te.inputs.pandas_input_fn(x, y, shuffle=False)


def test_string_and_categorical_columns_stay_numpy_arrays():
    x = pd.DataFrame({"s": ["u", "v", "w"], "c": pd.Categorical(["p", "q", "p"])})
    features = next(te.inputs.pandas_input_fn(x, batch_size=3, shuffle=False)())
    assert features["s"].tolist() == ["u", "v", "w"]
    assert features["c"].tolist() == ["p", "q", "p"]
    assert isinstance(features["s"], np.ndarray)


def test_nullable_columns():
    """Int64 without missing values becomes int64, Float64 NA becomes NaN, Int64 with NA is refused."""
    x = pd.DataFrame({"i": pd.array([1, 2], dtype="Int64"), "f": pd.array([1.5, None], dtype="Float64")})
    features = next(te.inputs.pandas_input_fn(x, batch_size=2, shuffle=False)())
    assert features["i"].dtype == torch.int64
    assert features["f"][0].item() == 1.5 and torch.isnan(features["f"][1])
    with pytest.raises(ValueError, match="has missing values"):
        te.inputs.pandas_input_fn(pd.DataFrame({"i": pd.array([1, None], dtype="Int64")}), shuffle=False)


def test_the_frame_is_copied_when_pandas_input_fn_is_called():
    x = frame()
    input_fn = te.inputs.pandas_input_fn(x, batch_size=5, shuffle=False)
    x.loc[0, "a"] = 100.0
    assert next(input_fn())["a"].tolist() == [1, 2, 3, 4, 5]


def test_queue_capacity_none_is_accepted():
    input_fn = te.inputs.pandas_input_fn(frame(), batch_size=5, shuffle=True, queue_capacity=None, seed=0)
    assert sorted(next(input_fn())["b"].tolist()) == [10, 20, 30, 40, 50]


def test_seeded_shuffle_keeps_rows_together():
    input_fn = te.inputs.pandas_input_fn(frame(), frame()["b"], batch_size=5, shuffle=True, seed=2)
    features, target = next(input_fn())
    assert features["b"].tolist() == target.tolist()
    assert (features["a"] * 10).long().tolist() == target.tolist()
