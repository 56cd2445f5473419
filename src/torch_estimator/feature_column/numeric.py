"""``numeric_column`` and ``bucketized_column``."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from torch_estimator.feature_column.base import (
    CategoricalColumn,
    ColumnVariables,
    DenseColumn,
    TransformCache,
    check_key,
)
from torch_estimator.feature_column.ids import IdBatch
from torch_estimator.feature_column.raw_inputs import as_number_tensor

__all__ = ["BucketizedColumn", "NumericColumn", "bucketized_column", "numeric_column"]


@dataclass(frozen=True)
class NumericColumn(DenseColumn):
    """Real-valued features of a fixed shape per example (``numeric_column``)."""

    key: str
    shape: tuple[int, ...] = (1,)
    default_value: Any = None
    """A nested tuple of ``shape``, or None; used when parsing examples that lack the feature."""
    dtype: torch.dtype = torch.float32
    normalizer_fn: Callable[[torch.Tensor], torch.Tensor] | None = None

    @property
    def name(self) -> str:
        return self.key

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        from torch_estimator.export.parsing import FixedLenFeature

        return {self.key: FixedLenFeature(self.shape, self.dtype, self.default_value)}

    @property
    def variable_shape(self) -> tuple[int, ...]:
        return self.shape

    def transform(self, cache: TransformCache) -> torch.Tensor:
        """``[B, *shape]`` float32: the feature, normalized, reshaped from ``[B]`` or ``[B, ...]``."""
        tensor = as_number_tensor(cache.raw(self.key), self.key, cache.device)
        if tensor.dim() == 1:
            tensor = tensor.unsqueeze(-1)  # TF gave every rank-1 feature a trailing dimension first
        if self.normalizer_fn is not None:
            tensor = self.normalizer_fn(tensor)
        tensor = tensor.to(torch.float32)
        size = math.prod(self.shape)
        if tensor.dim() == 0 or math.prod(tensor.shape[1:]) != size:
            raise ValueError(
                f"Feature {self.key!r} of numeric_column {self.name} has shape {tuple(tensor.shape)}, which "
                f"does not hold {size} values per example (column shape {self.shape}). Feed "
                f"[batch_size, {', '.join(map(str, self.shape))}] values, or fix the column's shape."
            )
        return tensor.reshape(tensor.shape[0], *self.shape)

    def dense_tensor(self, cache: TransformCache, variables: ColumnVariables) -> torch.Tensor:
        del variables  # no variables
        return self.transform(cache)


def numeric_column(
    key: str,
    shape: int | Sequence[int] = (1,),
    default_value: Any = None,
    dtype: torch.dtype = torch.float32,
    normalizer_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> NumericColumn:
    """A column of real-valued features (``tf.feature_column.numeric_column``).

    Its dense value is the feature as float32 ``[B, *shape]``, after ``normalizer_fn`` (applied to
    the raw tensor, before the cast, as TF did; a ``[B]`` feature reaches it as ``[B, 1]``).

    Raises:
        ValueError: bad key, shape, default_value or dtype; normalizer_fn not callable (TypeError).

    >>> from torch_estimator.feature_column import TransformCache
    >>> column = numeric_column("price", normalizer_fn=lambda x: x / 2)
    >>> column.transform(TransformCache({"price": [2.0, 6.0]})).tolist()
    [[1.0], [3.0]]
    """
    check_key(key)
    shape = check_shape(shape, key)
    if not isinstance(dtype, torch.dtype) or dtype.is_complex or dtype == torch.bool:
        raise ValueError(
            f"dtype must be convertible to float. dtype: {dtype}, key: {key}. Pass a torch float or "
            "integer dtype."
        )
    default_value = check_default_value(shape, default_value, dtype, key)
    if normalizer_fn is not None and not callable(normalizer_fn):
        raise TypeError(f"normalizer_fn must be a callable. Given: {normalizer_fn}")
    return NumericColumn(key, shape, default_value, dtype, normalizer_fn)


def check_shape(shape: Any, key: str) -> tuple[int, ...]:
    """``shape`` as a tuple of positive ints (TF's ``_check_shape``)."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(
            f"shape must be an int or a sequence of ints. Given: {shape!r}, key: {key}."
        ) from None
    for dim in dims:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise ValueError(f"dimensions of shape must be integers. Given: {dims}, key: {key}.")
        if dim < 1:
            raise ValueError(f"shape dimensions must be greater than 0. Given: {dims}, key: {key}.")
    return tuple(int(dim) for dim in dims)


def check_default_value(shape: tuple[int, ...], default_value: Any, dtype: torch.dtype, key: str) -> Any:
    """``default_value`` as a nested tuple of ``shape`` (TF's ``_check_default_value``), or None."""
    if default_value is None:
        return None
    integer = not dtype.is_floating_point
    if isinstance(default_value, (int, float, np.number)) and not isinstance(default_value, bool):
        if integer and not float(default_value).is_integer():
            raise ValueError(
                f"The default_value must be compatible with dtype. default_value: {default_value}, "
                f"dtype: {dtype}, key: {key}."
            )
        value = int(default_value) if integer else float(default_value)
        return _nested_tuple(np.full(shape, value).tolist())
    array = np.asarray(default_value)
    if array.dtype.kind not in "iuf":
        raise ValueError(
            f"default_value must be compatible with dtype. default_value: {default_value}, dtype: {dtype}, "
            f"key: {key}."
        )
    if array.shape != shape:
        raise ValueError(
            f"The shape of default_value must be equal to given shape. default_value: {default_value}, "
            f"shape: {shape}, key: {key}."
        )
    return _nested_tuple(array.astype(np.int64 if integer else np.float64).tolist())


def _nested_tuple(value: Any) -> Any:
    return tuple(_nested_tuple(item) for item in value) if isinstance(value, list) else value


@dataclass(frozen=True)
class BucketizedColumn(DenseColumn, CategoricalColumn):
    """A numeric column's values as bucket ids (``bucketized_column``)."""

    source_column: NumericColumn
    boundaries: tuple[float, ...]

    @property
    def name(self) -> str:
        return f"{self.source_column.name}_bucketized"

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return self.source_column.parse_example_spec

    @property
    def variable_shape(self) -> tuple[int, ...]:
        return (*self.source_column.shape, len(self.boundaries) + 1)

    @property
    def num_buckets(self) -> int:
        return (len(self.boundaries) + 1) * self.source_column.shape[0]

    def bucket_ids(self, cache: TransformCache) -> torch.Tensor:
        """int64 ``[B, n]``: the bucket of each of the source's ``n`` values."""
        values = self.source_column.transform(cache)
        boundaries = torch.tensor(self.boundaries, dtype=values.dtype, device=values.device)
        # right=True puts a value equal to a boundary in the bucket above it: [b_i, b_i+1), as TF.
        return torch.bucketize(values, boundaries, right=True)

    def dense_tensor(self, cache: TransformCache, variables: ColumnVariables) -> torch.Tensor:
        del variables  # no variables
        return F.one_hot(self.bucket_ids(cache), len(self.boundaries) + 1).to(torch.float32)

    def transform_ids(self, cache: TransformCache) -> IdBatch:
        buckets = self.bucket_ids(cache)
        # Value i of the source gets its own range of ids, as TF offset them.
        offsets = torch.arange(buckets.shape[1], device=buckets.device) * (len(self.boundaries) + 1)
        return IdBatch(buckets + offsets, None)


def bucketized_column(source_column: NumericColumn, boundaries: Sequence[float]) -> BucketizedColumn:
    """Bucket ids of a one-dimensional numeric column (``tf.feature_column.bucketized_column``).

    Boundaries ``[b0, ..., bn]`` give ``n + 2`` buckets ``(-inf, b0), [b0, b1), ..., [bn, +inf)``.
    Densely (``input_layer``) the column is a one-hot ``[B, shape[0] * (n + 2)]``.

    Raises:
        ValueError: the source is not a one-dimensional numeric_column, or boundaries are not a
            non-empty strictly increasing list.

    >>> from torch_estimator.feature_column import TransformCache
    >>> column = bucketized_column(numeric_column("age"), [18, 65])
    >>> column.bucket_ids(TransformCache({"age": [3.0, 18.0, 70.0]})).tolist()
    [[0], [1], [2]]
    """
    if not isinstance(source_column, NumericColumn):
        raise ValueError(
            f"source_column must be a column generated with numeric_column(). Given: {source_column}"
        )
    if len(source_column.shape) > 1:
        raise ValueError(f"source_column must be one-dimensional column. Given: {source_column}")
    if not boundaries:
        raise ValueError(f"boundaries must not be empty. Given: {boundaries!r}, column {source_column.name}.")
    if not isinstance(boundaries, (list, tuple)):
        raise ValueError(
            f"boundaries must be a sorted list. Given: {boundaries!r}, column {source_column.name}."
        )
    try:
        values = tuple(float(boundary) for boundary in boundaries)
    except (TypeError, ValueError):
        raise ValueError(
            f"boundaries must be a sorted list of numbers. Given: {boundaries!r}, "
            f"column {source_column.name}."
        ) from None
    if any(left >= right for left, right in itertools.pairwise(values)):
        raise ValueError(
            f"boundaries must be a sorted list. Given: {list(boundaries)}, column {source_column.name}: each "
            "boundary must be strictly greater than the one before."
        )
    return BucketizedColumn(source_column, values)
