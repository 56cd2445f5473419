"""make_parse_example_spec: the spec of every column's inputs, reusing te.export's feature classes."""

from __future__ import annotations

import pytest
import torch

from torch_estimator import export
from torch_estimator import feature_column as fc


def test_spec_of_mixed_columns():
    words = fc.categorical_column_with_vocabulary_list("w", ["a", "b"])
    spec = fc.make_parse_example_spec(
        [
            fc.numeric_column("x", shape=2, default_value=0.0),
            fc.embedding_column(words, 2),
            fc.bucketized_column(fc.numeric_column("age"), [10]),
            fc.weighted_categorical_column(fc.categorical_column_with_identity("i", 3), "iw"),
            fc.crossed_column(["c1", words], 5),
        ]
    )
    assert spec == {
        "x": export.FixedLenFeature((2,), torch.float32, (0.0, 0.0)),
        "w": export.VarLenFeature("string"),
        "age": export.FixedLenFeature((1,), torch.float32, None),
        "i": export.VarLenFeature(torch.int64),
        "iw": export.VarLenFeature(torch.float32),
        "c1": export.VarLenFeature("string"),
    }


def test_conflicting_specs_and_bad_items():
    with pytest.raises(ValueError, match="feature_columns contain different parse_spec for key x"):
        fc.make_parse_example_spec([fc.numeric_column("x"), fc.numeric_column("x", shape=2)])
    with pytest.raises(ValueError, match="All feature_columns must be FeatureColumn instances"):
        fc.make_parse_example_spec(["x"])
