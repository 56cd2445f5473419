"""What every feature column shares: the column kinds, the per-call transform cache, column variables.

A column is a frozen dataclass (hashable, compared by value, as TF's namedtuple columns). It is one
or both of:

* a ``CategoricalColumn``: ``num_buckets`` and ``transform_ids(cache) -> IdBatch``;
* a ``DenseColumn``: ``variable_shape`` and ``dense_tensor(cache, variables) -> [B, *variable_shape]``.

``input_layer`` / ``linear_model`` build one ``TransformCache`` per call, so a column used twice
(an embedding and an indicator of the same ids, the keys of a cross) is transformed once.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from torch_estimator.feature_column.ids import IdBatch
from torch_estimator.graph.graph import Graph
from torch_estimator.graph.regularization import regularize_variable
from torch_estimator.graph.variables import get_variable

__all__ = [
    "CategoricalColumn",
    "ColumnVariables",
    "DenseColumn",
    "FeatureColumn",
    "TransformCache",
    "check_key",
    "check_positive_int",
]


class FeatureColumn(abc.ABC):
    """A feature column: a named transform of raw features (TF's ``FeatureColumn``)."""

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The column's name: the variable scope of its variables and the key in ``cols_to_vars``."""

    @property
    @abc.abstractmethod
    def parse_example_spec(self) -> dict[str, Any]:
        """feature key -> ``FixedLenFeature`` / ``VarLenFeature`` this column reads."""

    def hashed_string_columns(self) -> tuple[CategoricalColumn, ...]:
        """The string hash-bucket columns this column reads (itself, or the one it wraps): a layer
        hashes all of theirs together (``string_hashes``)."""
        return ()


class CategoricalColumn(FeatureColumn):
    """A column of ids in ``[0, num_buckets)`` (TF's ``CategoricalColumn``)."""

    is_sequence = False
    """Sequence columns keep a time dimension: ids ``[B, T, K]``, for ``SequenceFeatures`` only."""

    @property
    @abc.abstractmethod
    def num_buckets(self) -> int:
        """The number of distinct ids."""

    @abc.abstractmethod
    def transform_ids(self, cache: TransformCache) -> IdBatch:
        """The batch's ids (and weights), from the raw features in ``cache``."""

    def cross_ids(self, cache: TransformCache) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ids, valid)``: the ids ``crossed_column`` combines, and which are values (not padding).

        The valid ids of ``transform_ids``; a vocabulary column overrides it to keep its unknown
        id -1, which TF crosses.
        """
        batch = cache.ids(self)
        return batch.ids, batch.valid()


class DenseColumn(FeatureColumn):
    """A column that gives a dense float tensor per example (TF's ``DenseColumn``)."""

    @property
    @abc.abstractmethod
    def variable_shape(self) -> tuple[int, ...]:
        """The shape of one example's dense value (flattened by ``input_layer``)."""

    @abc.abstractmethod
    def dense_tensor(self, cache: TransformCache, variables: ColumnVariables) -> torch.Tensor:
        """``[B, *variable_shape]`` float32, creating any variables through ``variables``."""


def check_key(key: Any) -> str:
    """TF's ``assert_key_is_string``.

    >>> check_key(3)
    Traceback (most recent call last):
    ...
    ValueError: key must be a string. Got: type <class 'int'>. Given key: 3.
    """
    if not isinstance(key, str):
        raise ValueError(f"key must be a string. Got: type {type(key)}. Given key: {key}.")
    return key


def check_positive_int(value: Any, message: str) -> int:
    """``value`` if it is an int >= 1 (bools rejected), else ValueError(``message``)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(message)
    return value


class TransformCache:
    """The raw features of one call, and each column's ids transformed at most once.

    With ``graph``, ids of single-feature columns are also shared by every layer of the same
    model_fn call that reads the same feature value (the linear and DNN parts of a wide-and-deep
    model hash each string once).

    >>> cache = TransformCache({"a": [1]})
    >>> cache.raw("b")
    Traceback (most recent call last):
    ...
    ValueError: Feature b is not in features dictionary. Received features: ['a']. ...
    """

    def __init__(
        self, features: Mapping[str, Any], device: torch.device | None = None, graph: Graph | None = None
    ) -> None:
        if not isinstance(features, Mapping):
            raise ValueError(
                f"features should be a dictionary of `Tensor`s. Given type: {type(features)}. Pass a dict "
                "of feature name -> tensor, array or list of strings."
            )
        self.features = features
        self.device = device
        # Raw string features hashed so far: key -> (strings [B, K], fingerprints [B, K]).
        self.string_fingerprints: dict[str, tuple[Any, Any]] = {}
        self._ids: dict[CategoricalColumn, IdBatch] = {}
        self._call_ids = None if graph is None else _call_memo(graph)

    def raw(self, key: str) -> Any:
        """The raw value of feature ``key``."""
        try:
            return self.features[key]
        except KeyError:
            raise ValueError(
                f"Feature {key} is not in features dictionary. Received features: "
                f"{sorted(map(str, self.features))}. Add it to the dict input_fn returns, or remove the "
                "column that reads it."
            ) from None

    def has_ids(self, column: CategoricalColumn) -> bool:
        """Whether ``column``'s ids were made already (by this cache, or for this call's features)."""
        return column in self._ids or self._call_entry(column)[1] is not None

    def ids(self, column: CategoricalColumn) -> IdBatch:
        """``column.transform_ids(self)``, computed once per cache (and per call, see above)."""
        found = self._ids.get(column)
        if found is not None:
            return found
        raw, found = self._call_entry(column)
        if found is None:
            found = column.transform_ids(self)
            if raw is not None:
                # The raw value is kept with the ids, so its id() cannot be reused while the entry lives.
                self._call_ids[(column, id(raw))] = (raw, found)  # type: ignore[index]
        self._ids[column] = found
        return found

    def _call_entry(self, column: CategoricalColumn) -> tuple[Any, IdBatch | None]:
        """``(raw value, ids)`` of a single-feature column in this call's memo: ``raw`` is None when
        the column is not memoised per call, ``ids`` None when not made yet."""
        key = getattr(column, "key", None)
        raw = self.features.get(key) if isinstance(key, str) and self._call_ids is not None else None
        if raw is None:
            return None, None
        entry = self._call_ids.get((column, id(raw)))  # type: ignore[union-attr]
        return raw, entry[1] if entry is not None and entry[0] is raw else None


_MEMO_KEY = "feature_column/transformed_ids"


def _call_memo(graph: Graph) -> dict[Any, tuple[Any, IdBatch]]:
    """Transformed ids of the Graph's current model_fn call; emptied when a new call starts."""
    return graph.call_memo.setdefault(_MEMO_KEY, {})


@dataclass
class ColumnVariables:
    """Creates and finds one column's variables at ``<scope>/<column_scope>/<name>`` in the Graph.

    The first model_fn call creates them with ``te.get_variable``; later calls find them by name.
    """

    graph: Graph
    scope: str
    """The layer's full scope, e.g. ``dnn/input_from_feature_columns/input_layer``."""
    column_scope: str
    """The column's name."""
    trainable: bool = True
    created: list[torch.Tensor] = field(default_factory=list)
    """Every variable handed out, in order (``cols_to_vars``)."""

    def get(
        self,
        name: str,
        shape: tuple[int, ...],
        initializer: Any,
        trainable: bool = True,
        column_scope: str | None = None,
    ) -> torch.Tensor:
        """The variable ``name`` of ``shape``; ``column_scope`` overrides the column's scope."""
        scope = self.column_scope if column_scope is None else column_scope
        parts = [part for part in (self.scope, scope, name) if part]
        full_name = "/".join(parts)
        found = self.graph.find_variable(full_name)
        if found is None:
            outer = self.graph.scope
            self.graph.scope = "/".join(part for part in (self.scope, scope) if part)
            try:
                found = get_variable(
                    name, shape, initializer=initializer, trainable=trainable and self.trainable
                )
            finally:
                self.graph.scope = outer
        else:
            if tuple(found.shape) != tuple(shape):
                raise ValueError(
                    f"Column {self.column_scope}: variable {full_name} exists with shape "
                    f"{tuple(found.shape)}, but the column now needs shape {tuple(shape)}. The column "
                    "changed (num_buckets, dimension or input shape) since the variable was created; use the "
                    "same columns on every call."
                )
            if self.graph.variable_regularizers:  # a variable_scope(regularizer=...) around the column
                regularize_variable(self.graph, full_name, found)
        self.created.append(found)
        return found

    def shared(
        self, collection: str, name: str, shape: tuple[int, ...], initializer: Any, trainable: bool = True
    ) -> torch.Tensor:
        """A variable shared by every column of ``collection`` in this Graph, whichever layer made it.

        It is created at ``<scope>/<collection>/<name>`` by the first layer that needs it, as TF's
        graph collections shared ``shared_embedding_columns`` tables.
        """
        key = f"feature_column/shared/{collection}/{name}"
        full_name = self.graph.objects.get(key)
        if full_name is None:
            variable = self.get(name, shape, initializer, trainable, column_scope=collection)
            self.graph.objects[key] = "/".join(part for part in (self.scope, collection, name) if part)
            return variable
        found = self.graph.find_variable(full_name)
        if found is None or tuple(found.shape) != tuple(shape):
            raise ValueError(
                f"Shared embedding collection {collection!r}: variable {full_name} is missing or has another "
                f"shape than {tuple(shape)}. Columns of one collection need the same num_buckets and "
                "dimension."
            )
        self.created.append(found)
        return found
