"""Dense views of categorical columns: ``embedding_column``, ``shared_embeddings``, ``indicator_column``."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from torch_estimator.feature_column.base import (
    CategoricalColumn,
    ColumnVariables,
    DenseColumn,
    TransformCache,
)
from torch_estimator.feature_column.ids import COMBINERS, IdBatch, combine_embeddings, multi_hot
from torch_estimator.graph import initializers

__all__ = [
    "EMBEDDING_WEIGHTS",
    "EmbeddingColumn",
    "IndicatorColumn",
    "SharedEmbeddingColumn",
    "SharedEmbeddingConfig",
    "check_categorical",
    "embedding_column",
    "indicator_column",
    "sequence_lengths",
    "shared_embeddings",
]

EMBEDDING_WEIGHTS = "embedding_weights"
"""The name of an embedding column's table variable under its column scope."""


def check_categorical(column: Any, what: str) -> CategoricalColumn:
    """``column`` if it is a categorical column, else TF's ValueError."""
    if not isinstance(column, CategoricalColumn):
        raise ValueError(
            f"{what}: categorical_column must be of type CategoricalColumn. Given (type {type(column)}): "
            f"{column}. Wrap a categorical_column_with_* (or bucketized/crossed) column."
        )
    return column


def _reject_sequence(column: CategoricalColumn, what: str) -> None:
    if column.is_sequence:
        raise ValueError(
            f"In {what}: {column.name}. categorical_column must not be of type SequenceCategoricalColumn. "
            "Suggested fix A: If you wish to use DenseFeatures, use a non-sequence "
            "categorical_column_with_*. "
            "Suggested fix B: If you wish to create sequence input, use SequenceFeatures instead of "
            "DenseFeatures."
        )


def _require_sequence(column: CategoricalColumn, what: str) -> None:
    if not column.is_sequence:
        raise ValueError(
            f"In {what}: {column.name}. SequenceFeatures needs a sequence_categorical_column_with_* inside. "
            "Use DenseFeatures / input_layer for non-sequence columns."
        )


def sequence_lengths(batch: IdBatch) -> torch.Tensor:
    """int64 ``[B]``: per example, 1 + the last time step that holds an id (TF's sparse-index rule)."""
    present = batch.valid().any(dim=-1)
    steps = torch.arange(1, present.shape[1] + 1, device=present.device)
    return (present * steps).amax(dim=1) if present.shape[1] else present.new_zeros(present.shape[0]).long()


def _check_embedding_args(
    dimension: Any, combiner: Any, initializer: Any, ckpt: Any, tensor_name: Any, max_norm: Any, name: str
) -> None:
    if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
        raise ValueError(
            f"Invalid dimension {dimension}. Embedding of column_name: {name} needs a dimension >= 1."
        )
    if combiner not in COMBINERS:
        raise ValueError(
            f"combiner must be one of 'mean', 'sqrtn' or 'sum'. Given: {combiner!r}, column_name: {name}."
        )
    if initializer is not None and not callable(initializer):
        raise ValueError(f"initializer must be callable if specified. Embedding of column_name: {name}")
    if (ckpt is None) != (tensor_name is None):
        raise ValueError(
            "Must specify both `ckpt_to_load_from` and `tensor_name_in_ckpt` or none of them. "
            f"Received: ckpt_to_load_from={ckpt!r}, tensor_name_in_ckpt={tensor_name!r} (column {name})."
        )
    if max_norm is not None and not max_norm > 0:
        raise ValueError(f"max_norm must be positive. Given: {max_norm}, column_name: {name}.")


def _table_initializer(
    initializer: Any, dimension: int, ckpt: str | None, tensor_name: str | None, name: str
) -> Any:
    """The table's initializer: a checkpoint tensor, the given one, or TF's truncated normal."""
    if ckpt is not None:
        return _CheckpointInitializer(ckpt, str(tensor_name), name)
    if initializer is not None:
        return initializer
    return initializers.truncated_normal(0.0, 1.0 / math.sqrt(dimension))


@dataclass(frozen=True)
class _CheckpointInitializer:
    """Loads the table from a checkpoint when the variable is created (TF's ``init_from_checkpoint``)."""

    path: str
    tensor_name: str
    column_name: str

    def __call__(
        self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32, **unused: Any
    ) -> torch.Tensor:
        from torch_estimator.checkpoint.reader import load_variable

        value = load_variable(self.path, self.tensor_name)
        if tuple(value.shape) != tuple(shape):
            raise ValueError(
                f"Column {self.column_name}: tensor {self.tensor_name} in {self.path} has shape "
                f"{tuple(value.shape)}, but the embedding needs {tuple(shape)} (num_buckets, dimension)."
            )
        return value.to(dtype).clone()


@dataclass(frozen=True)
class EmbeddingColumn(DenseColumn):
    """A categorical column looked up in a trained ``[num_buckets, dimension]`` table."""

    categorical_column: CategoricalColumn
    dimension: int
    combiner: str = "mean"
    initializer: Callable[..., torch.Tensor] | None = None
    ckpt_to_load_from: str | None = None
    tensor_name_in_ckpt: str | None = None
    max_norm: float | None = None
    trainable: bool = True
    use_safe_embedding_lookup: bool = True

    def hashed_string_columns(self) -> tuple[CategoricalColumn, ...]:
        return self.categorical_column.hashed_string_columns()

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_embedding"

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return self.categorical_column.parse_example_spec

    @property
    def variable_shape(self) -> tuple[int, ...]:
        return (self.dimension,)

    def table(self, variables: ColumnVariables) -> torch.Tensor:
        """The ``embedding_weights`` variable, created on the first call."""
        shape = (self.categorical_column.num_buckets, self.dimension)
        initializer = _table_initializer(
            self.initializer, self.dimension, self.ckpt_to_load_from, self.tensor_name_in_ckpt, self.name
        )
        return variables.get(EMBEDDING_WEIGHTS, shape, initializer, self.trainable)

    def dense_tensor(self, cache: TransformCache, variables: ColumnVariables) -> torch.Tensor:
        _reject_sequence(self.categorical_column, "embedding_column")
        return _embed(self, cache, variables, self.combiner, self.max_norm)[0]

    def sequence_dense_tensor(
        self, cache: TransformCache, variables: ColumnVariables
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``([B, T, dimension], lengths [B])`` for a sequence categorical column."""
        _require_sequence(self.categorical_column, "embedding_column")
        embeddings, ids = _embed(self, cache, variables, self.combiner, self.max_norm)
        return embeddings, sequence_lengths(ids)


def embedding_column(
    categorical_column: CategoricalColumn,
    dimension: int,
    combiner: str | None = "mean",
    initializer: Callable[..., torch.Tensor] | None = None,
    ckpt_to_load_from: str | None = None,
    tensor_name_in_ckpt: str | None = None,
    max_norm: float | None = None,
    trainable: bool = True,
    use_safe_embedding_lookup: bool = True,
) -> EmbeddingColumn:
    """Dense embeddings of a categorical column (``tf.feature_column.embedding_column``).

    The table is ``<layer>/<categorical name>_embedding/embedding_weights`` of shape
    ``[num_buckets, dimension]``, initialised by ``initializer`` (default: truncated normal with
    stddev ``1/sqrt(dimension)``, as TF) or loaded from ``ckpt_to_load_from``'s
    ``tensor_name_in_ckpt`` when created. Multivalent ids combine by ``combiner`` (``mean``,
    ``sqrtn``, ``sum``; None is ``mean``, as TF); each row is clipped to ``max_norm`` first.
    Examples without ids give zeros (``use_safe_embedding_lookup`` is accepted; lookups are always
    safe).

    Raises:
        ValueError: not a categorical column, dimension < 1, unknown combiner, initializer not
            callable, only one of ckpt_to_load_from / tensor_name_in_ckpt.

    >>> from torch_estimator.feature_column import categorical_column_with_identity
    >>> embedding_column(categorical_column_with_identity("day", 7), 3).name
    'day_embedding'
    """
    check_categorical(categorical_column, "embedding_column")
    combiner = "mean" if combiner is None else combiner  # TF's embedding lookups read None as mean
    _check_embedding_args(
        dimension,
        combiner,
        initializer,
        ckpt_to_load_from,
        tensor_name_in_ckpt,
        max_norm,
        categorical_column.name,
    )
    return EmbeddingColumn(
        categorical_column,
        dimension,
        combiner,
        initializer,
        None if ckpt_to_load_from is None else str(ckpt_to_load_from),
        tensor_name_in_ckpt,
        max_norm,
        bool(trainable),
        bool(use_safe_embedding_lookup),
    )


@dataclass(frozen=True)
class SharedEmbeddingConfig:
    """What the columns of one ``shared_embeddings`` call share: one table and how to combine."""

    collection_name: str
    num_buckets: int
    dimension: int
    combiner: str = "mean"
    initializer: Callable[..., torch.Tensor] | None = None
    ckpt_to_load_from: str | None = None
    tensor_name_in_ckpt: str | None = None
    max_norm: float | None = None
    trainable: bool = True


@dataclass(frozen=True)
class SharedEmbeddingColumn(DenseColumn):
    """One categorical column of a ``shared_embeddings`` group."""

    categorical_column: CategoricalColumn
    shared: SharedEmbeddingConfig

    def hashed_string_columns(self) -> tuple[CategoricalColumn, ...]:
        return self.categorical_column.hashed_string_columns()

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_shared_embedding"

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return self.categorical_column.parse_example_spec

    @property
    def variable_shape(self) -> tuple[int, ...]:
        return (self.shared.dimension,)

    @property
    def dimension(self) -> int:
        return self.shared.dimension

    def table(self, variables: ColumnVariables) -> torch.Tensor:
        """The group's ``<collection_name>/embedding_weights``, made by the first column that needs it."""
        shared = self.shared
        initializer = _table_initializer(
            shared.initializer,
            shared.dimension,
            shared.ckpt_to_load_from,
            shared.tensor_name_in_ckpt,
            self.name,
        )
        shape = (shared.num_buckets, shared.dimension)
        return variables.shared(
            shared.collection_name, EMBEDDING_WEIGHTS, shape, initializer, shared.trainable
        )

    def dense_tensor(self, cache: TransformCache, variables: ColumnVariables) -> torch.Tensor:
        _reject_sequence(self.categorical_column, "shared_embeddings")
        return _embed(self, cache, variables, self.shared.combiner, self.shared.max_norm)[0]

    def sequence_dense_tensor(
        self, cache: TransformCache, variables: ColumnVariables
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``([B, T, dimension], lengths [B])`` for a sequence categorical column."""
        _require_sequence(self.categorical_column, "shared_embeddings")
        embeddings, ids = _embed(self, cache, variables, self.shared.combiner, self.shared.max_norm)
        return embeddings, sequence_lengths(ids)


def _embed(
    column: EmbeddingColumn | SharedEmbeddingColumn,
    cache: TransformCache,
    variables: ColumnVariables,
    combiner: str,
    max_norm: float | None,
) -> tuple[torch.Tensor, IdBatch]:
    # The ids first, then the table: a bad feature fails before the table variable is made.
    ids = cache.ids(column.categorical_column)
    return combine_embeddings(column.table(variables), ids, combiner, max_norm), ids


def shared_embeddings(
    categorical_columns: Sequence[CategoricalColumn],
    dimension: int,
    combiner: str | None = "mean",
    initializer: Callable[..., torch.Tensor] | None = None,
    shared_embedding_collection_name: str | None = None,
    ckpt_to_load_from: str | None = None,
    tensor_name_in_ckpt: str | None = None,
    max_norm: float | None = None,
    trainable: bool = True,
    use_safe_embedding_lookup: bool = True,
) -> list[SharedEmbeddingColumn]:
    """Embedding columns that share one table (``tf.feature_column.shared_embeddings``).

    The table is ``<layer>/<collection name>/embedding_weights``, the collection name defaulting to
    the sorted column names joined by ``_`` plus ``_shared_embedding`` (TF's default). It is made by
    the first layer that needs it and shared by every layer of the model (TF's graph collection).

    Raises:
        ValueError: no columns, a column that is not categorical, columns of different types (weighted
            and sequence columns compare by the column they wrap) or num_buckets or of mixed sequence
            / non-sequence kinds, and embedding_column's argument errors.

    >>> from torch_estimator.feature_column import categorical_column_with_identity
    >>> columns = shared_embeddings(
    ...     [categorical_column_with_identity("b", 5), categorical_column_with_identity("a", 5)], 2)
    >>> [column.name for column in columns], columns[0].shared.collection_name
    (['b_shared_embedding', 'a_shared_embedding'], 'a_b_shared_embedding')
    """
    del use_safe_embedding_lookup  # lookups are always safe
    columns = list(categorical_columns)
    if not columns:
        raise ValueError("shared_embeddings needs at least one categorical column. Received: [].")
    for column in columns:
        if not isinstance(column, CategoricalColumn):
            raise ValueError(
                f"All categorical_columns must be subclasses of CategoricalColumn. Given: {column}, of type: "
                f"{type(column)}."
            )
    first = columns[0]
    ordered = sorted(columns, key=lambda column: column.name)
    base = _unwrapped(ordered[0])
    for column in ordered[1:]:
        if type(_unwrapped(column)) is not type(base):
            raise ValueError(
                "To use shared_embedding_column, all categorical_columns must have the same type, or be "
                f"weighted_categorical_column or sequence column of the same type. Given column: {base.name} "
                f"of type: {type(base).__name__} does not match given column: {column.name} of type: "
                f"{type(_unwrapped(column)).__name__}."
            )
    for column in columns[1:]:
        if column.is_sequence != first.is_sequence:
            raise ValueError(
                "To use shared_embedding_column, all categorical_columns must have the same type, or be "
                f"weighted_categorical_column or sequence column of the same type. Given column: "
                f"{column.name} "
                f"does not match given column: {first.name}."
            )
        if column.num_buckets != first.num_buckets:
            raise ValueError(
                "To use shared_embedding_column, all categorical_columns must have the same number of "
                f"buckets. Given column: {first.name} with buckets: {first.num_buckets} does not match "
                "column: "
                f"{column.name} with buckets: {column.num_buckets}."
            )
    name = shared_embedding_collection_name
    if name is None:
        name = "_".join(column.name for column in ordered) + "_shared_embedding"
    combiner = "mean" if combiner is None else combiner  # TF's embedding lookups read None as mean
    _check_embedding_args(
        dimension, combiner, initializer, ckpt_to_load_from, tensor_name_in_ckpt, max_norm, name
    )
    config = SharedEmbeddingConfig(
        name,
        first.num_buckets,
        dimension,
        combiner,
        initializer,
        None if ckpt_to_load_from is None else str(ckpt_to_load_from),
        tensor_name_in_ckpt,
        max_norm,
        bool(trainable),
    )
    return [SharedEmbeddingColumn(column, config) for column in columns]


def _unwrapped(column: CategoricalColumn) -> CategoricalColumn:
    """The categorical column inside weighted and sequence columns (TF compares those types)."""
    while isinstance(getattr(column, "categorical_column", None), CategoricalColumn):
        column = column.categorical_column  # type: ignore[attr-defined]
    return column


@dataclass(frozen=True)
class IndicatorColumn(DenseColumn):
    """A multi-hot ``[B, num_buckets]`` view of a categorical column (``indicator_column``)."""

    categorical_column: CategoricalColumn

    def hashed_string_columns(self) -> tuple[CategoricalColumn, ...]:
        return self.categorical_column.hashed_string_columns()

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_indicator"

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return self.categorical_column.parse_example_spec

    @property
    def variable_shape(self) -> tuple[int, ...]:
        return (self.categorical_column.num_buckets,)

    def dense_tensor(self, cache: TransformCache, variables: ColumnVariables) -> torch.Tensor:
        del variables  # no variables
        _reject_sequence(self.categorical_column, "indicator_column")
        return multi_hot(cache.ids(self.categorical_column), self.categorical_column.num_buckets)

    def sequence_dense_tensor(
        self, cache: TransformCache, variables: ColumnVariables
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``([B, T, num_buckets], lengths [B])`` for a sequence categorical column."""
        del variables  # no variables
        _require_sequence(self.categorical_column, "indicator_column")
        ids = cache.ids(self.categorical_column)
        return multi_hot(ids, self.categorical_column.num_buckets), sequence_lengths(ids)


def indicator_column(categorical_column: CategoricalColumn) -> IndicatorColumn:
    """A categorical column as a multi-hot dense vector (``tf.feature_column.indicator_column``).

    Each example's vector holds, per id, how often it occurs (or the sum of its weights for a
    ``weighted_categorical_column``).

    >>> from torch_estimator.feature_column import TransformCache, categorical_column_with_identity
    >>> column = indicator_column(categorical_column_with_identity("day", 3))
    >>> column.dense_tensor(TransformCache({"day": [[2, 2], [0, -1]]}), None).tolist()
    [[0.0, 0.0, 2.0], [1.0, 0.0, 0.0]]
    """
    check_categorical(categorical_column, "indicator_column")
    return IndicatorColumn(categorical_column)
