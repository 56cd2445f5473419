"""Sequence columns and SequenceFeatures: per-step values, lengths, variable names, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torch_estimator import feature_column as fc


def test_sequence_embedding_and_lengths(run):
    """Words [[1, 2, -1], [0, -1, -1]] with table r_i = [i, 10 i]: steps r1, r2, 0 and r0, 0, 0.

    Lengths are 1 + the last step holding an id: 2 and 1.
    """
    column = fc.embedding_column(fc.sequence_categorical_column_with_identity("w", 3), 2)
    layer = fc.SequenceFeatures([column])
    runner = run(lambda f: layer(f))
    features = {"w": torch.tensor([[1, 2, -1], [0, -1, -1]])}
    runner(features)
    assert list(runner.variables()) == ["sequence_features/w_embedding/embedding_weights"]
    runner.set("sequence_features/w_embedding/embedding_weights", [[0.0, 0.0], [1.0, 10.0], [2.0, 20.0]])
    inputs, lengths = runner(features)
    assert inputs.tolist() == [[[1, 10], [2, 20], [0, 0]], [[0, 0], [0, 0], [0, 0]]]
    assert lengths.tolist() == [2, 1]


def test_sequence_strings_indicator_and_numeric(run):
    """Tokens ragged [[a, b], [b]] -> one-hot per step; numeric [[1, 2], [3]] padded with 0."""
    tokens = fc.indicator_column(fc.sequence_categorical_column_with_vocabulary_list("t", ["a", "b"]))
    numbers = fc.sequence_numeric_column("n")
    inputs, lengths = run(lambda f: fc.SequenceFeatures([tokens, numbers])(f))(
        {"t": [["a", "b"], ["b"]], "n": [[1.0, 2.0], [3.0]]}
    )
    # columns sorted by name: n (1 value) then t_indicator (2 buckets)
    assert inputs.tolist() == [[[1.0, 1.0, 0.0], [2.0, 0.0, 1.0]], [[3.0, 0.0, 1.0], [0.0, 0.0, 0.0]]]
    assert lengths.tolist() == [2, 1]


def test_sequence_numeric_dense_and_shape(run):
    column = fc.sequence_numeric_column("n", shape=2)
    inputs, lengths = run(lambda f: fc.SequenceFeatures([column])(f))(
        {"n": torch.arange(8.0).reshape(2, 2, 2)}
    )
    assert inputs.shape == (2, 2, 2) and lengths.tolist() == [2, 2]


def test_sequence_hash_bucket_with_ids_per_step():
    column = fc.sequence_categorical_column_with_hash_bucket("h", 10)
    batch = fc.TransformCache({"h": np.array([[["a", "b"], ["c", ""]]])}).ids(column)
    assert batch.ids.shape == (1, 2, 2) and batch.weights.tolist() == [[[1, 1], [1, 0]]]


def test_sequence_errors(run):
    with pytest.raises(ValueError, match="must be a SequenceDenseColumn"):
        fc.SequenceFeatures([fc.numeric_column("x")])
    a = fc.sequence_numeric_column("a")
    b = fc.sequence_numeric_column("b")
    with pytest.raises(ValueError, match="sequence lengths of b"):
        run(lambda f: fc.SequenceFeatures([a, b])(f))({"a": [[1.0, 2.0], [1.0]], "b": [[1.0], [1.0, 2.0]]})
    with pytest.raises(TypeError, match="normalizer_fn must be a callable"):
        fc.sequence_numeric_column("a", normalizer_fn=1)


def test_vocabulary_file_sequence(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("x\ny\n", encoding="utf-8")
    column = fc.sequence_categorical_column_with_vocabulary_file("s", path)
    assert fc.TransformCache({"s": [["y", "x"]]}).ids(column).ids.tolist() == [[[1], [0]]]
