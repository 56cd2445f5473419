"""``make_parse_example_spec``: the feature spec that parses examples for a list of columns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch_estimator.feature_column.base import FeatureColumn

__all__ = ["make_parse_example_spec"]


def make_parse_example_spec(feature_columns: Iterable[FeatureColumn]) -> dict[str, Any]:
    """feature key -> ``te.export.FixedLenFeature`` / ``VarLenFeature`` for every column's inputs.

    Numeric columns give ``FixedLenFeature(shape, dtype, default_value)``; categorical columns a
    ``VarLenFeature`` of their dtype (``"string"`` for strings, which an exported program cannot take:
    look them up before the program); weighted columns add their weight feature.

    Raises:
        ValueError: an item that is not a column, or two columns that parse one key differently.

    >>> from torch_estimator.feature_column import numeric_column, categorical_column_with_hash_bucket
    >>> spec = make_parse_example_spec([numeric_column("x"), categorical_column_with_hash_bucket("c", 5)])
    >>> spec["x"], spec["c"]
    (FixedLenFeature(shape=(1,), dtype=torch.float32, default_value=None), VarLenFeature(dtype='string'))
    """
    result: dict[str, Any] = {}
    for column in feature_columns:
        if not isinstance(column, FeatureColumn):
            raise ValueError(f"All feature_columns must be FeatureColumn instances. Given: {column}")
        for key, value in column.parse_example_spec.items():
            if key in result and value != result[key]:
                raise ValueError(
                    f"feature_columns contain different parse_spec for key {key}. "
                    f"Given {value} and {result[key]}"
                )
            result[key] = value
    return result
