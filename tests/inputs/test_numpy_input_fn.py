"""numpy_input_fn: every rule of SEMANTICS.md (o), on batches small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_estimator as te


def as_lists(batches):
    """Each batch as plain lists: tensors via tolist, dicts key by key, tuples item by item."""

    def plain(value):
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, tuple):
            return tuple(plain(item) for item in value)
        return value.tolist()

    return [plain(batch) for batch in batches]


@pytest.mark.parametrize("shuffle", [None, 1, "True"])
def test_shuffle_must_be_an_explicit_bool_when_numpy_input_fn_is_called(shuffle):
    with pytest.raises(ValueError, match="shuffle must be provided and explicitly set as boolean"):
        te.inputs.numpy_input_fn({"a": np.arange(3)}, shuffle=shuffle)


def test_other_checks_wait_until_the_input_fn_is_called():
    input_fn = te.inputs.numpy_input_fn({}, shuffle=False)  # no error yet, as in TF
    with pytest.raises(ValueError, match="x cannot be an empty dict"):
        input_fn()


@pytest.mark.parametrize(
    ("x", "y", "error", "message"),
    [
        ({}, None, ValueError, "x cannot be an empty dict"),
        (np.array([]), None, ValueError, "x cannot be an empty array"),
        ([1, 2], None, TypeError, "x must be a dict or array; got list"),
        ({"a": np.arange(2)}, {}, ValueError, "y cannot be empty dict, use None instead."),
        (
            {"a": np.arange(2)},
            {"a": np.arange(2)},
            ValueError,
            r"1 duplicate keys are found in both x and y: \['a'\]",
        ),
        ({"a": np.arange(2)}, np.arange(3), ValueError, "Length of tensors in x and y is mismatched"),
        (
            {"a": np.arange(2), "b": np.arange(3)},
            None,
            ValueError,
            "Length of tensors in x and y is mismatched",
        ),
        ({"a": np.float32(1.0)}, None, ValueError, "first .batch. dimension"),
    ],
)
def test_bad_inputs(x, y, error, message):
    input_fn = te.inputs.numpy_input_fn(x, y, shuffle=False)
    with pytest.raises(error, match=message):
        input_fn()


@pytest.mark.parametrize(("name", "value"), [("queue_capacity", 0), ("num_threads", -1), ("batch_size", 0)])
def test_bad_settings_are_rejected_when_called(name, value):
    input_fn = te.inputs.numpy_input_fn(np.arange(3), shuffle=False, **{name: value})
    with pytest.raises(ValueError, match=name):
        input_fn()


def test_five_rows_batch_two_epochs_two():
    """10 rows 0..4 0..4 cut every 2: batches span the epoch boundary."""
    input_fn = te.inputs.numpy_input_fn(np.arange(5), batch_size=2, num_epochs=2, shuffle=False)
    assert as_lists(input_fn()) == [[0, 1], [2, 3], [4, 0], [1, 2], [3, 4]]


def test_dict_features_and_array_target():
    """x's keys in the features dict, y a bare tensor; 4 rows in 3 + 1."""
    x = {"age": np.arange(4) * 1.0, "height": np.arange(32, 36)}
    y = np.arange(-32, -28)
    input_fn = te.inputs.numpy_input_fn(x, y, batch_size=3, shuffle=False)
    assert as_lists(input_fn()) == [
        ({"age": [0.0, 1.0, 2.0], "height": [32, 33, 34]}, [-32, -31, -30]),
        ({"age": [3.0], "height": [35]}, [-29]),
    ]


def test_dict_target_keeps_y_keys():
    input_fn = te.inputs.numpy_input_fn(
        {"a": np.arange(3)}, {"y1": np.arange(3) * 2, "y2": np.arange(3) * 3}, batch_size=3, shuffle=False
    )
    assert as_lists(input_fn()) == [({"a": [0, 1, 2]}, {"y1": [0, 2, 4], "y2": [0, 3, 6]})]


def test_without_y_only_features_and_an_array_x_gives_a_bare_tensor():
    input_fn = te.inputs.numpy_input_fn(np.arange(6.0).reshape(3, 2), batch_size=2, shuffle=False)
    batches = list(input_fn())
    assert all(type(batch) is torch.Tensor for batch in batches)
    assert as_lists(batches) == [[[0.0, 1.0], [2.0, 3.0]], [[4.0, 5.0]]]


def test_dtypes_are_kept():
    x = {"f32": np.zeros(2, np.float32), "i64": np.zeros(2, np.int64), "b": np.zeros(2, bool)}
    features = next(te.inputs.numpy_input_fn(x, shuffle=False)())
    assert {key: value.dtype for key, value in features.items()} == {
        "f32": torch.float32,
        "i64": torch.int64,
        "b": torch.bool,
    }


def test_string_columns_stay_numpy_arrays():
    x = {"word": np.array(["a", "b", "c"]), "obj": np.array(["x", "y", "z"], dtype=object)}
    features = list(te.inputs.numpy_input_fn(x, batch_size=2, shuffle=False)())
    assert isinstance(features[0]["word"], np.ndarray)
    assert features[0]["word"].tolist() == ["a", "b"]
    assert features[1]["obj"].tolist() == ["z"]


def test_num_epochs_zero_is_exhausted_at_once():
    assert list(te.inputs.numpy_input_fn(np.arange(3), num_epochs=0, shuffle=False)()) == []


def test_num_epochs_none_repeats_forever_with_full_batches():
    batches = te.inputs.numpy_input_fn(np.arange(3), batch_size=2, num_epochs=None, shuffle=False)()
    assert [next(batches).tolist() for _ in range(5)] == [[0, 1], [2, 0], [1, 2], [0, 1], [2, 0]]


def test_shuffle_visits_every_row_once_per_epoch_keeping_x_and_y_aligned():
    x = {"a": np.arange(10)}
    input_fn = te.inputs.numpy_input_fn(
        x, np.arange(10) * 10, batch_size=4, num_epochs=2, shuffle=True, seed=0
    )
    batches = list(input_fn())
    a = torch.cat([features["a"] for features, _ in batches]).tolist()
    y = torch.cat([target for _, target in batches]).tolist()
    assert y == [10 * value for value in a]
    assert sorted(a[:10]) == sorted(a[10:]) == list(range(10))
    assert a[:10] != list(range(10))


def test_shuffle_is_reproducible_from_a_seed_or_from_numpys_global_rng():
    def order(**kwargs):
        input_fn = te.inputs.numpy_input_fn(np.arange(20), batch_size=20, shuffle=True, **kwargs)
        return next(input_fn()).tolist()

    assert order(seed=1) == order(seed=1)
    np.random.seed(4)
    first = order()
    np.random.seed(4)
    assert order() == first


def test_batches_never_alias_the_callers_arrays():
    x = np.zeros(4, np.float32)
    batch = next(te.inputs.numpy_input_fn(x, batch_size=4, shuffle=False)())
    batch += 1
    assert x.tolist() == [0.0, 0.0, 0.0, 0.0]


def test_each_call_starts_again():
    input_fn = te.inputs.numpy_input_fn(np.arange(3), batch_size=2, shuffle=False)
    assert as_lists(input_fn()) == as_lists(input_fn()) == [[0, 1], [2]]
