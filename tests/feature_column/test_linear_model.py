"""linear_model and LinearModel: hand-derived logits, variable names and shapes, errors."""

from __future__ import annotations

import math

import pytest
import torch

from torch_estimator import feature_column as fc

X = fc.numeric_column("x")
D = fc.categorical_column_with_identity("d", 4)
FEATURES = {"x": torch.tensor([1.0, 3.0]), "d": torch.tensor([[1, 3], [2, -1]])}


def logits(run, combiner):
    runner = run(lambda f: fc.linear_model(f, [X, D], sparse_combiner=combiner))
    first = runner(FEATURES)
    assert first.tolist() == [[0.0], [0.0]]  # zero-initialised, as TF
    runner.set("linear_model/x/weights", [[2.0]])
    runner.set("linear_model/d/weights", [[0.0], [1.0], [2.0], [3.0]])
    runner.set("linear_model/bias_weights", [0.5])
    return runner(FEATURES).flatten().tolist()


def test_variables(run):
    runner = run(lambda f: fc.linear_model(f, [X, D], units=3))
    assert runner(FEATURES).shape == (2, 3)
    shapes = {name: tuple(value.shape) for name, value in runner.variables().items()}
    assert shapes == {
        "linear_model/d/weights": (4, 3),
        "linear_model/x/weights": (1, 3),
        "linear_model/bias_weights": (3,),
    }


@pytest.mark.parametrize(
    ("combiner", "expected"),
    [
        # w_x = 2, w_d[i] = i, bias 0.5. Example 0: x=1, ids {1, 3}; example 1: x=3, ids {2}.
        ("sum", [2 + (1 + 3) + 0.5, 6 + 2 + 0.5]),
        ("mean", [2 + (1 + 3) / 2 + 0.5, 6 + 2 + 0.5]),
        ("sqrtn", [2 + (1 + 3) / math.sqrt(2) + 0.5, 6 + 2 + 0.5]),
    ],
)
def test_hand_derived_logits(run, combiner, expected):
    assert logits(run, combiner) == pytest.approx(expected)


def test_bucketized_and_crossed_columns_are_categorical(run):
    """A bucketized column gets one weight per bucket: [b0, b1] -> v=5 falls in [0, 10) = bucket 1."""
    bucketized = fc.bucketized_column(fc.numeric_column("v"), [0, 10])
    crossed = fc.crossed_column(["a", "b"], 7)
    runner = run(lambda f: fc.linear_model(f, [bucketized, crossed]))
    features = {"v": torch.tensor([5.0]), "a": ["x"], "b": ["y"]}
    runner(features)
    assert runner.variables()["linear_model/v_bucketized/weights"].shape == (3, 1)
    assert runner.variables()["linear_model/a_X_b/weights"].shape == (7, 1)
    runner.set("linear_model/v_bucketized/weights", [[1.0], [10.0], [100.0]])
    assert runner(features).tolist() == [[10.0]]


def test_cols_to_vars_has_bias(run):
    cols_to_vars = {}
    run(lambda f: fc.linear_model(f, [X], cols_to_vars=cols_to_vars))(FEATURES)
    assert set(cols_to_vars) == {X, "bias"}
    assert cols_to_vars["bias"][0].shape == (1,)


def test_bad_arguments(run):
    with pytest.raises(ValueError, match="sparse_combiner must be one of"):
        run(lambda f: fc.linear_model(f, [X], sparse_combiner="max"))(FEATURES)
    with pytest.raises(ValueError, match="linear_model does not take sequence columns"):
        run(lambda f: fc.linear_model(f, [fc.sequence_categorical_column_with_identity("d", 4)]))(FEATURES)


def test_linear_model_layer(run):
    model = fc.LinearModel([X, D], units=2)
    runner = run(lambda f: model(f))
    assert runner(FEATURES).shape == (2, 2)
    assert sorted(runner.variables()) == [
        "linear_model/bias_weights",
        "linear_model/d/weights",
        "linear_model/x/weights",
    ]


def test_gradients_train_the_weights(run):
    """d(sum of logits)/d w_d[i] counts id i: ids {1, 3} and {2} give [0, 1, 1, 1]; d/d bias = 2.

    The table's gradient is row-sparse (TF's IndexedSlices): only the looked-up rows are held."""
    runner = run(lambda f: fc.linear_model(f, [D]))
    runner(FEATURES).sum().backward()
    variables = runner.graph.state_dict(keep_vars=True)
    grad = variables["linear_model/d/weights"].grad
    assert grad.is_sparse
    assert grad.to_dense().flatten().tolist() == [0.0, 1.0, 1.0, 1.0]
    assert variables["linear_model/bias_weights"].grad.tolist() == [2.0]
