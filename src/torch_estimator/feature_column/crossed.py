"""Categorical columns built from other features: ``crossed_column`` and ``weighted_categorical_column``."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from torch_estimator.feature_column.base import CategoricalColumn, TransformCache, check_key
from torch_estimator.feature_column.categorical import HashedCategoricalColumn, id_batch
from torch_estimator.feature_column.embedding import check_categorical
from torch_estimator.feature_column.hashing import tensor_combine_fingerprints, unsigned_remainder
from torch_estimator.feature_column.ids import IdBatch
from torch_estimator.feature_column.raw_inputs import (
    STRING,
    as_integer_ids,
    as_number_tensor,
    is_string_value,
)
from torch_estimator.feature_column.string_hashes import string_fingerprints

__all__ = ["CrossedColumn", "WeightedCategoricalColumn", "crossed_column", "weighted_categorical_column"]


def _leaf_keys(keys: Sequence[Any]) -> list[str | CategoricalColumn]:
    """The keys of nested crosses flattened in order (TF's ``_collect_leaf_level_keys``)."""
    leaves: list[str | CategoricalColumn] = []
    for key in keys:
        leaves.extend(_leaf_keys(key.keys) if isinstance(key, CrossedColumn) else [key])
    return leaves


DEFAULT_HASH_KEY = 0xDECAFCAFFE
"""TF's seed of a hashed cross when ``crossed_column`` is given no ``hash_key``."""


def _raw_values(cache: TransformCache, key: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values [B, K], valid bool [B, K])`` of raw feature ``key`` as TF's hashed cross takes it, on
    the cache's device: a string's fingerprint, an integer as it is (int64 tensors holding uint64
    bits; see ``hashing``). ``''`` and ``-1`` are padding, not valid."""
    if is_string_value(cache.raw(key)):
        strings, fingerprints = string_fingerprints(cache, key)
        hashed = torch.from_numpy(np.ascontiguousarray(fingerprints).view(np.int64))
        valid = torch.from_numpy(np.ascontiguousarray(strings != b""))
        if cache.device is not None:
            hashed, valid = hashed.to(cache.device), valid.to(cache.device)
        return hashed, valid
    values = as_integer_ids(cache.raw(key), key, cache.device)
    return values, values != -1


def _key_values(key: str | CategoricalColumn, cache: TransformCache) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values [B, K], valid [B, K])`` of one key of a cross, as TF's hashed cross combines them:
    a raw string's fingerprint, a raw integer or a column's id as it is."""
    if isinstance(key, str):
        return _raw_values(cache, key)
    return key.cross_ids(cache)


@dataclass(frozen=True)
class CrossedColumn(CategoricalColumn):
    """Hashed cartesian product of several features (``crossed_column``)."""

    keys: tuple[Any, ...]
    hash_bucket_size: int
    hash_key: int | None = None

    @property
    def name(self) -> str:
        names = [key if isinstance(key, str) else key.name for key in _leaf_keys(self.keys)]
        return "_X_".join(sorted(names))

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        from torch_estimator.export.parsing import VarLenFeature

        spec: dict[str, Any] = {}
        for key in self.keys:
            spec.update({key: VarLenFeature(STRING)} if isinstance(key, str) else key.parse_example_spec)
        return spec

    @property
    def num_buckets(self) -> int:
        return self.hash_bucket_size

    def transform_ids(self, cache: TransformCache) -> IdBatch:
        leaves = _leaf_keys(self.keys)
        # TF's cross takes its sparse inputs (every column's ids) before its dense ones (raw features).
        ordered = [key for key in leaves if not isinstance(key, str)] + [
            key for key in leaves if isinstance(key, str)
        ]
        parts = [_key_values(key, cache) for key in ordered]
        batch_sizes = {values.shape[0] for values, _ in parts}
        if len(batch_sizes) > 1:
            raise ValueError(
                f"crossed_column {self.name}: its features have different batch sizes {sorted(batch_sizes)}. "
                "Every feature of a cross needs the same first dimension."
            )
        count = len(parts)
        # Key i's values go on axis i + 1, so broadcasting forms every combination per example.
        columns, masks = [], []
        for index, (values, present) in enumerate(parts):
            shape = [values.shape[0]] + [1] * count
            shape[index + 1] = values.shape[1]
            columns.append(values.reshape(shape))
            masks.append(present.reshape(shape))
        seed = DEFAULT_HASH_KEY if self.hash_key is None else self.hash_key
        crossed = tensor_combine_fingerprints(columns, seed)
        batch = crossed.shape[0]
        ids = unsigned_remainder(crossed.reshape(batch, -1), self.hash_bucket_size)
        valid = functools.reduce(torch.logical_and, masks).expand(crossed.shape).reshape(batch, -1)
        return id_batch(ids, valid, cache.device)


def crossed_column(
    keys: Sequence[str | CategoricalColumn], hash_bucket_size: int, hash_key: int | None = None
) -> CrossedColumn:
    """Ids of feature combinations hashed into ``hash_bucket_size`` buckets (TF's ``crossed_column``).

    ``keys`` are raw feature names (strings or integers) and categorical columns (not hashed ones);
    each example's ids are every combination of its keys' values, combined as TF combined them
    (``hashing.tensor_combine_fingerprints``: FingerprintCat64 from ``hash_key``, default
    0xDECAFCAFFE, over a string's fingerprint, an integer or a column's id; the columns first, then
    the raw features, each in key order, as TF's cross takes sparse inputs before dense ones) modulo
    ``hash_bucket_size``: TF's ids, a vocabulary column's unknown id (-1) included. Unlike TF, raw
    ``''`` and ``-1`` values are padding here, and are not crossed; a raw feature crosses as TF
    crossed a dense one, even a ragged list.

    Raises:
        ValueError: fewer than 2 keys, hash_bucket_size < 1, a key of another type, a hashed or a
            weighted column (TF raised that one when the cross was used).

    >>> crossed_column(["b", "a"], 10).name
    'a_X_b'
    """
    if (
        hash_bucket_size is None
        or isinstance(hash_bucket_size, bool)
        or not isinstance(hash_bucket_size, int)
    ):
        raise ValueError(f"hash_bucket_size must be > 1. hash_bucket_size: {hash_bucket_size}")
    if hash_bucket_size < 1:
        raise ValueError(f"hash_bucket_size must be > 1. hash_bucket_size: {hash_bucket_size}")
    if not keys or isinstance(keys, str) or len(keys) < 2:
        raise ValueError(f"keys must be a list with length > 1. Given: {keys}")
    for key in keys:
        if not isinstance(key, (str, CategoricalColumn)):
            raise ValueError(
                "Unsupported key type. All keys must be either string, or categorical column except "
                f"HashedCategoricalColumn. Given: {key}"
            )
        if isinstance(key, HashedCategoricalColumn):
            raise ValueError(
                "categorical_column_with_hash_bucket is not supported for crossing. Hashing before crossing "
                "will increase probability of collision. Instead, use the feature name as a string. Given: "
                f"{key}"
            )
        if isinstance(key, CategoricalColumn) and key.is_sequence:
            raise ValueError(f"crossed_column does not take sequence columns. Given: {key}")
        if isinstance(key, WeightedCategoricalColumn):  # TF raised this when the cross was first used
            raise ValueError(
                "crossed_column does not support weight_tensor, but the given column populates "
                f"weight_tensor. Given column: {key.name}"
            )
    return CrossedColumn(tuple(keys), hash_bucket_size, hash_key)


@dataclass(frozen=True)
class WeightedCategoricalColumn(CategoricalColumn):
    """A categorical column whose ids carry weights from another feature."""

    categorical_column: CategoricalColumn
    weight_feature_key: str
    dtype: torch.dtype = torch.float32

    def hashed_string_columns(self) -> tuple[CategoricalColumn, ...]:
        return self.categorical_column.hashed_string_columns()

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_weighted_by_{self.weight_feature_key}"

    @property
    def is_sequence(self) -> bool:  # type: ignore[override]
        return self.categorical_column.is_sequence

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        from torch_estimator.export.parsing import VarLenFeature

        spec = dict(self.categorical_column.parse_example_spec)
        if self.weight_feature_key in spec:
            raise ValueError(
                f"Parse config {spec[self.weight_feature_key]} already exists for {self.weight_feature_key}."
            )
        spec[self.weight_feature_key] = VarLenFeature(self.dtype)
        return spec

    @property
    def num_buckets(self) -> int:
        return self.categorical_column.num_buckets

    def transform_ids(self, cache: TransformCache) -> IdBatch:
        batch = cache.ids(self.categorical_column)
        raw = cache.raw(self.weight_feature_key)
        weights = as_number_tensor(raw, self.weight_feature_key, batch.ids.device).to(torch.float32)
        if weights.dim() == 1 or weights.dim() > batch.ids.dim():
            weights = weights.reshape(*batch.ids.shape[:-1], -1)
        if tuple(weights.shape) != tuple(batch.ids.shape):
            raise ValueError(
                f"Column {self.name}: weight feature {self.weight_feature_key!r} has shape "
                f"{tuple(weights.shape)}, but the ids of {self.categorical_column.name} have shape "
                f"{tuple(batch.ids.shape)}. Feed one weight per id, padded like the ids."
            )
        if batch.weights is not None:
            weights = weights * batch.weights
        return IdBatch(batch.ids, weights)


def weighted_categorical_column(
    categorical_column: CategoricalColumn, weight_feature_key: str, dtype: torch.dtype = torch.float32
) -> WeightedCategoricalColumn:
    """Per-id weights from feature ``weight_feature_key`` (TF's ``weighted_categorical_column``).

    The weight feature has the shape of the ids (``[B]`` or ``[B, K]``, padded like them). Linear
    models and embeddings multiply each id's row by its weight (weights <= 0 drop the id);
    ``indicator_column`` sums the weights.

    Raises:
        ValueError: not a categorical column, a bad key, a dtype not convertible to float.

    >>> from torch_estimator.feature_column import categorical_column_with_identity
    >>> weighted_categorical_column(categorical_column_with_identity("word", 10), "freq").name
    'word_weighted_by_freq'
    """
    check_categorical(categorical_column, "weighted_categorical_column")
    check_key(weight_feature_key)
    if not isinstance(dtype, torch.dtype) or dtype.is_complex or dtype == torch.bool:
        raise ValueError(f"dtype {dtype} is not convertible to float.")
    return WeightedCategoricalColumn(categorical_column, weight_feature_key, dtype)
