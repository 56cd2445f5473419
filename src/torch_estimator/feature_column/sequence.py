"""Sequence columns (``tf.feature_column.sequence_*``) and ``SequenceFeatures``.

A sequence feature has a time dimension: ``[B, T]`` (or ``[B, T, K]`` ids per step, or
``[B, T, *shape]`` numbers) padded with ``''`` / ``-1``, or a ragged list of per-example lists.
A categorical sequence's length is 1 + its last step that holds an id (TF's rule for sparse input);
a numeric sequence's is its list's length (ragged input) or ``T`` (a dense tensor).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from torch_estimator.feature_column.base import (
    CategoricalColumn,
    ColumnVariables,
    FeatureColumn,
    TransformCache,
    check_key,
)
from torch_estimator.feature_column.categorical import (
    categorical_column_with_hash_bucket,
    categorical_column_with_identity,
    categorical_column_with_vocabulary_file,
    categorical_column_with_vocabulary_list,
)
from torch_estimator.feature_column.embedding import EmbeddingColumn, IndicatorColumn, SharedEmbeddingColumn
from torch_estimator.feature_column.ids import IdBatch, is_tracing
from torch_estimator.feature_column.input_layer import normalize_feature_columns
from torch_estimator.feature_column.numeric import check_shape
from torch_estimator.feature_column.raw_inputs import STRING, as_number_tensor, pad_ragged
from torch_estimator.graph.graph import require_graph
from torch_estimator.layers.base import layer_name

__all__ = [
    "SequenceCategoricalColumn",
    "SequenceFeatures",
    "SequenceNumericColumn",
    "sequence_categorical_column_with_hash_bucket",
    "sequence_categorical_column_with_identity",
    "sequence_categorical_column_with_vocabulary_file",
    "sequence_categorical_column_with_vocabulary_list",
    "sequence_numeric_column",
]


def _ids_per_step(raw: Any) -> int:
    """How many ids each time step of a raw sequence feature holds: ``K`` of ``[B, T, K]``, else 1."""
    if isinstance(raw, (list, tuple)):
        try:
            raw = np.asarray(raw)
        except ValueError:  # a ragged list of lists: one id per step
            return 1
    shape = getattr(raw, "shape", ())
    return math.prod(shape[2:]) if len(shape) >= 3 else 1


@dataclass(frozen=True)
class SequenceCategoricalColumn(CategoricalColumn):
    """A categorical column read per time step: ids ``[B, T, K]``."""

    categorical_column: CategoricalColumn
    is_sequence = True

    @property
    def name(self) -> str:
        return self.categorical_column.name

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return self.categorical_column.parse_example_spec

    @property
    def num_buckets(self) -> int:
        return self.categorical_column.num_buckets

    def transform_ids(self, cache: TransformCache) -> IdBatch:
        batch = cache.ids(self.categorical_column)
        key = getattr(self.categorical_column, "key", None)
        steps_per_id = 1 if key is None else _ids_per_step(cache.raw(key))
        shape = (batch.ids.shape[0], -1, steps_per_id)
        weights = None if batch.weights is None else batch.weights.reshape(shape)
        return IdBatch(batch.ids.reshape(shape), weights)


def sequence_categorical_column_with_identity(
    key: str, num_buckets: int, default_value: int | None = None
) -> SequenceCategoricalColumn:
    """Identity ids per time step (``tf.feature_column.sequence_categorical_column_with_identity``).

    >>> sequence_categorical_column_with_identity("words", 10).num_buckets
    10
    """
    return SequenceCategoricalColumn(categorical_column_with_identity(key, num_buckets, default_value))


def sequence_categorical_column_with_hash_bucket(
    key: str, hash_bucket_size: int, dtype: Any = STRING
) -> SequenceCategoricalColumn:
    """Hashed ids per time step (``tf.feature_column.sequence_categorical_column_with_hash_bucket``).

    >>> sequence_categorical_column_with_hash_bucket("words", 10).name
    'words'
    """
    return SequenceCategoricalColumn(categorical_column_with_hash_bucket(key, hash_bucket_size, dtype))


def sequence_categorical_column_with_vocabulary_list(
    key: str, vocabulary_list: Any, dtype: Any = None, default_value: int = -1, num_oov_buckets: int = 0
) -> SequenceCategoricalColumn:
    """Vocabulary ids per time step (``tf.feature_column.sequence_categorical_column_with_vocabulary_list``).

    >>> sequence_categorical_column_with_vocabulary_list("words", ["a", "b"], num_oov_buckets=1).num_buckets
    3
    """
    column = categorical_column_with_vocabulary_list(
        key, vocabulary_list, dtype, default_value, num_oov_buckets
    )
    return SequenceCategoricalColumn(column)


def sequence_categorical_column_with_vocabulary_file(
    key: str,
    vocabulary_file: Any,
    vocabulary_size: int | None = None,
    num_oov_buckets: int = 0,
    default_value: int | None = None,
    dtype: Any = STRING,
) -> SequenceCategoricalColumn:
    """Vocabulary-file ids per time step (TF's ``sequence_categorical_column_with_vocabulary_file``)."""
    column = categorical_column_with_vocabulary_file(
        key, vocabulary_file, vocabulary_size, num_oov_buckets, default_value, dtype
    )
    return SequenceCategoricalColumn(column)


@dataclass(frozen=True)
class SequenceNumericColumn(FeatureColumn):
    """Real values per time step (``sequence_numeric_column``): ``[B, T, prod(shape)]``."""

    key: str
    shape: tuple[int, ...] = (1,)
    default_value: float = 0.0
    dtype: torch.dtype = torch.float32
    normalizer_fn: Callable[[torch.Tensor], torch.Tensor] | None = None

    @property
    def name(self) -> str:
        return self.key

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        from torch_estimator.export.parsing import VarLenFeature

        return {self.key: VarLenFeature(self.dtype)}

    @property
    def variable_shape(self) -> tuple[int, ...]:
        return self.shape

    def sequence_dense_tensor(
        self, cache: TransformCache, variables: ColumnVariables | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``([B, T, prod(shape)], lengths [B])``; padding steps hold ``default_value``."""
        del variables  # no variables
        raw = cache.raw(self.key)
        size = math.prod(self.shape)
        if isinstance(raw, (list, tuple)) and raw and isinstance(raw[0], (list, tuple, np.ndarray)):
            rows = [np.asarray(row, dtype=np.float64).reshape(-1) for row in raw]
            padded, lengths_np = pad_ragged(rows, float(self.default_value), np.float64)
            values = as_number_tensor(padded, self.key, cache.device)
            lengths = torch.from_numpy(lengths_np).to(values.device)
        else:
            values = as_number_tensor(raw, self.key, cache.device)
            if values.dim() < 2:
                raise ValueError(
                    f"sequence_numeric_column {self.key} needs a [batch_size, max_length, ...] feature or a "
                    f"ragged list of lists. Received shape {tuple(values.shape)}."
                )
            lengths = None
        if self.normalizer_fn is not None:
            values = self.normalizer_fn(values)
        values = values.to(torch.float32)
        flat = values.reshape(values.shape[0], -1)
        if flat.shape[1] % size:
            raise ValueError(
                f"sequence_numeric_column {self.key}: each example holds {flat.shape[1]} values, not a "
                "multiple "
                f"of the column's {size} values per step (shape {self.shape})."
            )
        if lengths is None:
            lengths = torch.full(
                (flat.shape[0],), flat.shape[1] // size, dtype=torch.int64, device=flat.device
            )
        else:
            lengths = torch.div(lengths, size, rounding_mode="floor")
        return flat.reshape(flat.shape[0], -1, size), lengths


def sequence_numeric_column(
    key: str,
    shape: int | Sequence[int] = (1,),
    default_value: float = 0.0,
    dtype: torch.dtype = torch.float32,
    normalizer_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> SequenceNumericColumn:
    """Real-valued sequences (``tf.feature_column.sequence_numeric_column``).

    Raises:
        ValueError: bad key, shape or dtype; TypeError: normalizer_fn not callable.

    >>> sequence_numeric_column("temps").shape
    (1,)
    """
    check_key(key)
    shape = check_shape(shape, key)
    if not isinstance(dtype, torch.dtype) or dtype.is_complex or dtype == torch.bool:
        raise ValueError(f"dtype must be convertible to float. dtype: {dtype}, key: {key}")
    if normalizer_fn is not None and not callable(normalizer_fn):
        raise TypeError(f"normalizer_fn must be a callable. Given: {normalizer_fn}")
    return SequenceNumericColumn(key, shape, float(default_value), dtype, normalizer_fn)


def _is_sequence_dense(column: Any) -> bool:
    if isinstance(column, SequenceNumericColumn):
        return True
    if isinstance(column, (EmbeddingColumn, SharedEmbeddingColumn, IndicatorColumn)):
        return (
            isinstance(column.categorical_column, CategoricalColumn) and column.categorical_column.is_sequence
        )
    return False


@dataclass(frozen=True, init=False)
class SequenceFeatures:
    """Sequence columns as one ``[B, T, sum of dims]`` tensor plus lengths (TF2's ``SequenceFeatures``).

    Variables live at ``sequence_features/<column name>/...``.

    >>> import torch_estimator as te
    >>> layer = SequenceFeatures([sequence_numeric_column("x")])
    >>> def model_fn(features, mode):
    ...     inputs, lengths = layer(features)
    ...     return te.EstimatorSpec(mode, predictions={"inputs": inputs, "lengths": lengths})
    >>> spec = te.Graph(model_fn)({"x": [[1.0, 2.0], [3.0]]}, None, "infer")
    >>> spec.predictions["inputs"].tolist(), spec.predictions["lengths"].tolist()
    ([[[1.0], [2.0]], [[3.0], [0.0]]], [2, 1])
    """

    feature_columns: tuple[Any, ...]
    trainable: bool
    name: str | None

    def __init__(self, feature_columns: Any, trainable: bool = True, name: str | None = None) -> None:
        columns = normalize_feature_columns(feature_columns)
        for column in columns:
            if not _is_sequence_dense(column):
                raise ValueError(
                    "Items of feature_columns must be a SequenceDenseColumn. You can wrap a "
                    "sequence_categorical_column with an embedding_column or indicator_column. Given: "
                    f"{column}"
                )
        object.__setattr__(self, "feature_columns", tuple(columns))
        object.__setattr__(self, "trainable", bool(trainable))
        object.__setattr__(self, "name", name)

    def __call__(
        self, features: Mapping[str, Any], training: Any = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(sequence_input [B, T, D], sequence_length [B])``, inside model_fn."""
        del training  # no training-dependent behaviour
        graph = require_graph("te.feature_column.SequenceFeatures")
        layer = layer_name(graph, "sequence_features", self.name)
        cache = TransformCache(features, graph.device, graph)
        outputs, lengths = [], []
        with graph.name_scope(layer) as scope:
            for column in self.feature_columns:
                variables = ColumnVariables(graph, scope, column.name, self.trainable)
                dense, length = column.sequence_dense_tensor(cache, variables)
                outputs.append(dense.reshape(dense.shape[0], dense.shape[1], -1))
                lengths.append(length)
        _check_sequences(self.feature_columns, outputs, lengths)
        return torch.cat(outputs, dim=-1), lengths[0]


def _check_sequences(
    columns: Sequence[Any], outputs: list[torch.Tensor], lengths: list[torch.Tensor]
) -> None:
    steps = {tuple(output.shape[:2]) for output in outputs}
    if len(steps) > 1:
        described = ", ".join(
            f"{c.name}: {tuple(o.shape[:2])}" for c, o in zip(columns, outputs, strict=True)
        )
        raise ValueError(
            f"SequenceFeatures: the columns' [batch_size, max_length] differ ({described}). Pad every "
            "sequence feature to the same length."
        )
    if not is_tracing():
        for column, length in zip(columns[1:], lengths[1:], strict=True):
            if not torch.equal(length, lengths[0]):
                raise ValueError(
                    f"SequenceFeatures: sequence lengths of {column.name} ({length.tolist()}) differ from "
                    "those "
                    f"of {columns[0].name} ({lengths[0].tolist()}). Every sequence feature of an example "
                    "needs "
                    "the same length."
                )
