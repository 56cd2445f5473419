"""input_layer and DenseFeatures: order, variable names, outputs, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torch_estimator import feature_column as fc
from torch_estimator.graph import variable_scope


def test_columns_sorted_by_name_and_concatenated(run):
    """Columns b (2 values), a (1 value), c_bucketized (one-hot of 3) in order a, b, c_bucketized."""
    columns = [
        fc.numeric_column("b", shape=2),
        fc.numeric_column("a"),
        fc.bucketized_column(fc.numeric_column("c"), [0, 1]),
    ]
    out = run(lambda f: fc.input_layer(f, columns))(
        {"a": torch.tensor([7.0]), "b": torch.tensor([[1.0, 2.0]]), "c": np.array([0.5])}
    )
    assert out.tolist() == [[7.0, 1.0, 2.0, 0.0, 1.0, 0.0]]


def test_variable_names_under_scopes(run):
    embedding = fc.embedding_column(fc.categorical_column_with_hash_bucket("C1", 10), 4)

    def body(features):
        with variable_scope("dnn"), variable_scope("input_from_feature_columns"):
            return fc.input_layer(features, [embedding, fc.numeric_column("x")])

    runner = run(body)
    assert runner({"C1": np.array(["a", "b"]), "x": torch.ones(2)}).shape == (2, 5)
    assert list(runner.variables()) == [
        "dnn/input_from_feature_columns/input_layer/C1_embedding/embedding_weights"
    ]
    runner({"C1": np.array(["a"]), "x": torch.ones(1)})  # reuses the variable on later calls
    assert len(runner.variables()) == 1


def test_second_input_layer_in_one_scope_is_uniqued(run):
    column = fc.embedding_column(fc.categorical_column_with_identity("d", 3), 2)
    runner = run(lambda f: (fc.input_layer(f, [column]), fc.input_layer(f, [column])))
    runner({"d": torch.tensor([1])})
    assert sorted(runner.variables()) == [
        "input_layer/d_embedding/embedding_weights",
        "input_layer_1/d_embedding/embedding_weights",
    ]


def test_cols_to_vars_and_output_tensors(run):
    embedding = fc.embedding_column(fc.categorical_column_with_identity("d", 3), 2)
    numeric = fc.numeric_column("x")
    cols_to_vars, cols_to_outputs = {}, {}
    runner = run(
        lambda f: fc.input_layer(
            f, [numeric, embedding], cols_to_vars=cols_to_vars, cols_to_output_tensors=cols_to_outputs
        )
    )
    runner({"d": torch.tensor([1]), "x": torch.ones(1)})
    assert cols_to_vars[numeric] == []
    assert len(cols_to_vars[embedding]) == 1 and cols_to_vars[embedding][0].shape == (3, 2)
    assert cols_to_outputs[numeric].shape == (1, 1) and cols_to_outputs[embedding].shape == (1, 2)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ([], "feature_columns must not be empty"),
        ({"a": 1}, "Expected feature_columns to be iterable, found dict"),
        (
            [fc.categorical_column_with_identity("d", 3)],
            "must be a DenseColumn. You can wrap a categorical column",
        ),
        (["x"], "Items of feature_columns must be a FeatureColumn"),
        ([fc.numeric_column("x"), fc.numeric_column("x", shape=2)], "Duplicate feature column name found"),
    ],
)
def test_bad_feature_columns(run, columns, message):
    with pytest.raises(ValueError, match=message):
        run(lambda f: fc.input_layer(f, columns))({"x": torch.ones(1)})


def test_bad_features(run):
    columns = [fc.numeric_column("x"), fc.numeric_column("y")]
    with pytest.raises(ValueError, match="features should be a dictionary"):
        run(lambda f: fc.input_layer(f, columns))(torch.ones(2))
    with pytest.raises(ValueError, match="Feature y is not in features dictionary"):
        run(lambda f: fc.input_layer(f, columns))({"x": torch.ones(1)})
    with pytest.raises(
        ValueError, match=r"Batch size \(first dimension\) of each feature must be same.*x: 2, y: 3"
    ):
        run(lambda f: fc.input_layer(f, columns))({"x": torch.ones(2), "y": torch.ones(3)})


def test_outside_model_fn():
    with pytest.raises(RuntimeError, match="must be called inside model_fn"):
        fc.input_layer({"x": torch.ones(1)}, [fc.numeric_column("x")])


def test_sequence_column_in_input_layer_is_rejected(run):
    column = fc.embedding_column(fc.sequence_categorical_column_with_identity("s", 3), 2)
    with pytest.raises(ValueError, match="must not be of type SequenceCategoricalColumn"):
        run(lambda f: fc.input_layer(f, [column]))({"s": torch.tensor([[1, 2]])})


def test_dense_features_layer(run):
    layer = fc.DenseFeatures([fc.embedding_column(fc.categorical_column_with_identity("d", 3), 2)])
    named = fc.DenseFeatures([fc.numeric_column("x")], name="mine")
    runner = run(lambda f: (layer(f), layer(f), named(f)))
    first, _, third = runner({"d": torch.tensor([0, 2]), "x": torch.ones(2)})
    assert first.shape == (2, 2) and third.tolist() == [[1.0], [1.0]]
    assert sorted(runner.variables()) == [
        "dense_features/d_embedding/embedding_weights",
        "dense_features_1/d_embedding/embedding_weights",
    ]
    with pytest.raises(ValueError, match="must be a DenseColumn"):
        fc.DenseFeatures([fc.categorical_column_with_identity("d", 3)])
