"""Categorical columns from raw values: vocabulary list / file, hash bucket and identity.

Every transform is vectorised over the batch: strings are hashed with ``fingerprint64`` (see
``hashing``: TF's FarmHash, so the ids are TF's) and looked up in a vocabulary with one
``searchsorted`` on the sorted terms. Integers are hashed in torch (``tensor_integer_fingerprint64``,
the same ids), on their device, so integer columns trace under ``torch.export``. Padding (``''`` /
``-1``) and unknown terms without OOV buckets or default become padding positions of the ``IdBatch``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from torch_estimator.feature_column.base import CategoricalColumn, TransformCache, check_key
from torch_estimator.feature_column.hashing import (
    fingerprint64,
    tensor_integer_fingerprint64,
    unsigned_remainder,
)
from torch_estimator.feature_column.ids import IdBatch, is_tracing
from torch_estimator.feature_column.raw_inputs import STRING, as_integer_ids, as_string_matrix
from torch_estimator.feature_column.string_hashes import string_fingerprints

__all__ = [
    "HashedCategoricalColumn",
    "IdentityCategoricalColumn",
    "VocabularyFileCategoricalColumn",
    "VocabularyListCategoricalColumn",
    "VocabularyLookup",
    "categorical_column_with_hash_bucket",
    "categorical_column_with_identity",
    "categorical_column_with_vocabulary_file",
    "categorical_column_with_vocabulary_list",
    "check_string_or_int",
    "id_batch",
]


def check_string_or_int(dtype: Any, prefix: str) -> Any:
    """``STRING`` or a torch integer dtype (TF's ``_assert_string_or_int``)."""
    if dtype in (STRING, str, bytes, "str", "bytes"):
        return STRING
    if dtype is int:
        return torch.int64
    integer = isinstance(dtype, torch.dtype) and not (dtype.is_floating_point or dtype.is_complex)
    if integer and dtype != torch.bool:
        return dtype
    raise ValueError(
        f"{prefix} dtype must be string or integer. dtype: {dtype}. Use 'string' (or str) or a torch "
        "integer dtype such as torch.int64."
    )


def id_batch(ids: Any, valid: Any, device: torch.device | None) -> IdBatch:
    """An ``IdBatch`` on ``device`` from ids and a validity mask (numpy arrays or tensors).

    Without weights when every position is valid (checked on numpy / CPU tensors, not while tracing).
    """
    if isinstance(ids, np.ndarray):
        all_valid = bool(valid.all())
        ids = torch.from_numpy(ids)
        valid = None if all_valid else torch.from_numpy(np.ascontiguousarray(valid))
    elif not is_tracing() and valid.device.type == "cpu" and bool(valid.all()):
        valid = None
    if device is not None and ids.device != device:
        ids = ids.to(device, non_blocking=True)
        valid = None if valid is None else valid.to(device, non_blocking=True)
    return IdBatch.from_mask(ids, valid)


@dataclass(frozen=True)
class VocabularyLookup:
    """A vocabulary's terms sorted once, for vectorised lookups (``searchsorted`` + equality)."""

    sorted_terms: np.ndarray
    order: np.ndarray

    @staticmethod
    def build(terms: Any, dtype: Any, column_name: str) -> VocabularyLookup:
        """The lookup of ``terms`` (strings, encoded as UTF-8, or integers)."""
        if dtype == STRING:
            array = np.array([t if isinstance(t, bytes) else str(t).encode("utf-8") for t in terms])
            if array.dtype.kind != "S":
                array = array.astype("S")
        else:
            array = np.asarray(terms, dtype=np.int64)
        order = np.argsort(array, kind="stable")
        sorted_terms = array[order]
        duplicated = sorted_terms[1:] == sorted_terms[:-1]
        if duplicated.any():
            raise ValueError(
                f"Duplicate keys in vocabulary {sorted(set(sorted_terms[1:][duplicated].tolist()))[:10]}, "
                f"column_name: {column_name}. Each term must appear once."
            )
        return VocabularyLookup(sorted_terms, order.astype(np.int64))

    @property
    def size(self) -> int:
        return len(self.sorted_terms)

    def lookup_strings(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(index in the vocabulary, found)`` for a UTF-8 ``S`` array."""
        position = np.minimum(np.searchsorted(self.sorted_terms, values), self.size - 1)
        return self.order[position], self.sorted_terms[position] == values

    def lookup_integers(self, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(index in the vocabulary, found)`` for an int64 tensor (stays on its device)."""
        terms = torch.from_numpy(self.sorted_terms).to(values.device)
        order = torch.from_numpy(self.order).to(values.device)
        position = torch.searchsorted(terms, values).clamp(max=self.size - 1)
        return order[position], terms[position] == values


def _vocabulary_cross_ids(column: Any, cache: TransformCache) -> tuple[torch.Tensor, torch.Tensor]:
    """A vocabulary column's ids for a cross: its unknown id -1 stays valid (TF crosses it)."""
    if column.num_oov_buckets or column.default_value >= 0:  # no unknown id: the column's own ids
        batch = cache.ids(column)
    else:
        batch = _vocabulary_ids(
            cache, column.key, column.dtype, column.lookup, 0, column.default_value, unknown=True
        )
    return batch.ids, batch.valid()


def _vocabulary_ids(
    cache: TransformCache,
    key: str,
    dtype: Any,
    lookup: VocabularyLookup,
    oov: int,
    default: int,
    unknown: bool = False,
) -> IdBatch:
    """Ids of a vocabulary column: index in the vocabulary, else an OOV bucket, else ``default``.

    A negative ``default`` marks an unknown term: dropped (padding), or with ``unknown`` kept as a
    valid id, as TF's crosses take it.
    """
    raw = cache.raw(key)
    if dtype == STRING:
        strings = as_string_matrix(raw, key)
        present = strings != b""
        index, found = lookup.lookup_strings(strings)
        if oov:
            ids = index.astype(np.int64)
            unseen = present & ~found  # only these are hashed
            if unseen.any():
                ids[unseen] = (fingerprint64(strings[unseen]) % np.uint64(oov)).astype(np.int64) + lookup.size
        else:
            ids = np.where(found, index, np.int64(default))
        valid = present
    else:
        values = as_integer_ids(raw, key, cache.device)
        present = values != -1
        index, found = lookup.lookup_integers(values)
        if oov:
            fallback = unsigned_remainder(tensor_integer_fingerprint64(values), oov) + lookup.size
        else:
            fallback = torch.full_like(values, default)
        ids = torch.where(found, index, fallback)
        valid = present
    if not oov and default < 0 and not unknown:
        valid = valid & (ids >= 0)
    return id_batch(ids, valid, cache.device)


def _check_default(default: int, vocabulary_size: int, key: str) -> int:
    """A vocabulary column's id for unknown values: -1 (or below: dropped) or a vocabulary id.

    TF took any integer, and an id past the vocabulary failed in the embedding and linear lookups at
    run time (its indicator columns gave zero rows): here it fails when the column is made.
    """
    if default >= vocabulary_size:
        raise ValueError(
            f"default_value {default} is not an id of vocabulary column {key}: its ids are "
            f"[0, {vocabulary_size}). Pass -1 to drop unknown values, an id below {vocabulary_size} to map "
            "them to that term, or num_oov_buckets to hash them into buckets of their own."
        )
    return default


def _check_oov(num_oov_buckets: Any, default_value: Any, no_default: Any, key: str) -> int:
    if num_oov_buckets:
        if default_value != no_default:
            raise ValueError(f"Can't specify both num_oov_buckets and default_value in {key}.")
        if isinstance(num_oov_buckets, bool) or not isinstance(num_oov_buckets, int) or num_oov_buckets < 0:
            raise ValueError(f"Invalid num_oov_buckets {num_oov_buckets} in {key}.")
    return int(num_oov_buckets or 0)


def _var_len_spec(key: str, dtype: Any) -> dict[str, Any]:
    # Imported here: importing torch_estimator.export loads the feature columns.
    from torch_estimator.export.parsing import VarLenFeature

    return {key: VarLenFeature(dtype)}


@dataclass(frozen=True)
class VocabularyListCategoricalColumn(CategoricalColumn):
    """Ids from an in-memory vocabulary (``categorical_column_with_vocabulary_list``)."""

    key: str
    vocabulary_list: tuple[Any, ...]
    dtype: Any
    default_value: int = -1
    num_oov_buckets: int = 0
    lookup: VocabularyLookup = field(compare=False, hash=False, repr=False, default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.lookup is None:
            lookup = VocabularyLookup.build(self.vocabulary_list, self.dtype, self.key)
            object.__setattr__(self, "lookup", lookup)

    @property
    def name(self) -> str:
        return self.key

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return _var_len_spec(self.key, self.dtype)

    @property
    def num_buckets(self) -> int:
        return len(self.vocabulary_list) + self.num_oov_buckets

    def transform_ids(self, cache: TransformCache) -> IdBatch:
        return _vocabulary_ids(
            cache, self.key, self.dtype, self.lookup, self.num_oov_buckets, self.default_value
        )

    def cross_ids(self, cache: TransformCache) -> tuple[torch.Tensor, torch.Tensor]:
        return _vocabulary_cross_ids(self, cache)


def categorical_column_with_vocabulary_list(
    key: str,
    vocabulary_list: Any,
    dtype: Any = None,
    default_value: int = -1,
    num_oov_buckets: int = 0,
) -> VocabularyListCategoricalColumn:
    """Ids by position in ``vocabulary_list`` (``tf.feature_column.categorical_column_with_vocabulary_list``).

    An unknown value gets ``default_value`` (-1: dropped, as TF), or with ``num_oov_buckets`` an id in
    ``[len(vocabulary_list), len + num_oov_buckets)`` by its fingerprint.

    Raises:
        ValueError: empty or duplicated vocabulary, a dtype that is not string or integer or does not
            match the vocabulary, both ``num_oov_buckets`` and ``default_value``, a ``default_value``
            past the vocabulary.

    >>> from torch_estimator.feature_column import TransformCache
    >>> column = categorical_column_with_vocabulary_list("color", ["red", "green"])
    >>> column.transform_ids(TransformCache({"color": ["green", "blue", "red"]}))
    IdBatch(ids=tensor([[1],
            [0],
            [0]]), weights=tensor([[1.],
            [0.],
            [1.]]))
    """
    check_key(key)
    if vocabulary_list is None or len(vocabulary_list) < 1:
        raise ValueError(f"vocabulary_list {vocabulary_list} must be non-empty, column_name: {key}")
    terms = tuple(vocabulary_list.tolist() if isinstance(vocabulary_list, np.ndarray) else vocabulary_list)
    if len(set(terms)) != len(terms):
        raise ValueError(f"Duplicate keys in vocabulary_list {list(terms)}, column_name: {key}")
    vocabulary_kind = np.asarray(terms).dtype.kind
    if vocabulary_kind not in "iuUS":
        raise ValueError(
            f"column_name: {key} vocabulary dtype must be string or integer. "
            f"dtype: {np.asarray(terms).dtype}."
        )
    vocabulary_dtype = STRING if vocabulary_kind in "US" else torch.int64
    num_oov_buckets = _check_oov(num_oov_buckets, default_value, -1, key)
    if dtype is None:
        dtype = vocabulary_dtype
    else:
        dtype = check_string_or_int(dtype, f"column_name: {key}")
        if (dtype == STRING) != (vocabulary_dtype == STRING):
            raise ValueError(
                f"dtype {dtype} and vocabulary dtype {vocabulary_dtype} do not match, column_name: {key}"
            )
    default = _check_default(int(default_value), len(terms), key)
    return VocabularyListCategoricalColumn(key, terms, dtype, default, num_oov_buckets)


@dataclass(frozen=True)
class VocabularyFileCategoricalColumn(CategoricalColumn):
    """Ids from a vocabulary file, one term per line (``categorical_column_with_vocabulary_file``)."""

    key: str
    vocabulary_file: str
    vocabulary_size: int
    num_oov_buckets: int = 0
    default_value: int = -1
    dtype: Any = STRING
    lookup: VocabularyLookup = field(compare=False, hash=False, repr=False, default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.lookup is None:
            terms = read_vocabulary_file(self.vocabulary_file, self.vocabulary_size, self.key)
            if self.dtype != STRING:
                try:
                    terms = [int(term) for term in terms]
                except ValueError as err:
                    raise ValueError(
                        f"Vocabulary file {self.vocabulary_file} of integer column {self.key} holds a "
                        f"term that is not an integer: {err}."
                    ) from None
            object.__setattr__(self, "lookup", VocabularyLookup.build(terms, self.dtype, self.key))

    @property
    def name(self) -> str:
        return self.key

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return _var_len_spec(self.key, self.dtype)

    @property
    def num_buckets(self) -> int:
        return self.vocabulary_size + self.num_oov_buckets

    def transform_ids(self, cache: TransformCache) -> IdBatch:
        return _vocabulary_ids(
            cache, self.key, self.dtype, self.lookup, self.num_oov_buckets, self.default_value
        )

    def cross_ids(self, cache: TransformCache) -> tuple[torch.Tensor, torch.Tensor]:
        return _vocabulary_cross_ids(self, cache)


def read_vocabulary_file(path: str, size: int | None, key: str) -> list[str]:
    """The first ``size`` lines (all when None) of a UTF-8 vocabulary file, without line ends.

    Lines end at ``\n`` (or ``\r\n``) only, as TF read them: other characters ``str.splitlines``
    breaks at (``\u2028``, ``\x0c``, a lone ``\r``, ...) stay inside the term.

    Raises:
        ValueError: fewer than ``size`` lines; an empty line among those read (TF's message, with
            the byte position just past that line).
    """
    with open(path, encoding="utf-8", newline="") as handle:
        text = handle.read()
    raw_lines = text.split("\n")
    if raw_lines[-1] == "":  # the last line's end, not an empty term
        raw_lines.pop()
    lines = [line.removesuffix("\r") for line in raw_lines]
    if size is not None:
        if size > len(lines):
            raise ValueError(
                f"Invalid vocab_size in {key}: vocabulary_size={size}, but {path} has only "
                f"{len(lines)} lines."
            )
        lines = lines[:size]
    if "" in lines:
        index = lines.index("")
        position = len("\n".join(raw_lines[: index + 1]).encode("utf-8")) + 1
        raise ValueError(
            f"Invalid content in {path}: empty line found at position {position}. Each line of the "
            f"vocabulary file of {key} must hold one term (line {index + 1} is empty)."
        )
    return lines


def categorical_column_with_vocabulary_file(
    key: str,
    vocabulary_file: str | os.PathLike[str],
    vocabulary_size: int | None = None,
    num_oov_buckets: int = 0,
    default_value: int | None = None,
    dtype: Any = STRING,
) -> VocabularyFileCategoricalColumn:
    """Ids by line number in a vocabulary file (TF's ``categorical_column_with_vocabulary_file``).

    The file is read once, here (UTF-8, one term per line). Unknown values as in
    ``categorical_column_with_vocabulary_list`` (``default_value=None`` means -1: dropped).

    Raises:
        ValueError: missing file, bad vocabulary_size or num_oov_buckets, both num_oov_buckets and
            default_value, a default_value past the vocabulary, a dtype that is not string or
            integer, duplicate terms.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
    ...     _ = f.write("red\\ngreen\\n")
    >>> categorical_column_with_vocabulary_file("color", f.name).num_buckets
    2
    """
    check_key(key)
    if not vocabulary_file:
        raise ValueError(f"Missing vocabulary_file in {key}.")
    vocabulary_file = os.fspath(vocabulary_file)
    if vocabulary_size is None:
        if not os.path.exists(vocabulary_file):
            raise ValueError(f"vocabulary_file in {key} does not exist: {vocabulary_file}.")
        vocabulary_size = len(read_vocabulary_file(vocabulary_file, None, key))
    elif isinstance(vocabulary_size, bool) or not isinstance(vocabulary_size, int) or vocabulary_size <= 0:
        raise ValueError(f"Invalid vocabulary_size in {key}.")
    num_oov_buckets = _check_oov(num_oov_buckets, default_value, None, key)
    dtype = check_string_or_int(dtype, f"column_name: {key}")
    default = -1 if default_value is None else _check_default(int(default_value), vocabulary_size, key)
    return VocabularyFileCategoricalColumn(
        key, vocabulary_file, vocabulary_size, num_oov_buckets, default, dtype
    )


@dataclass(frozen=True)
class HashedCategoricalColumn(CategoricalColumn):
    """Ids by fingerprint modulo ``hash_bucket_size`` (``categorical_column_with_hash_bucket``)."""

    key: str
    hash_bucket_size: int
    dtype: Any = STRING

    @property
    def name(self) -> str:
        return self.key

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return _var_len_spec(self.key, self.dtype)

    @property
    def num_buckets(self) -> int:
        return self.hash_bucket_size

    def hashed_string_columns(self) -> tuple[CategoricalColumn, ...]:
        return (self,) if self.dtype == STRING else ()

    def transform_ids(self, cache: TransformCache) -> IdBatch:
        raw = cache.raw(self.key)
        if self.dtype == STRING:
            strings, fingerprints = string_fingerprints(cache, self.key)
            ids = (fingerprints % np.uint64(self.hash_bucket_size)).astype(np.int64)
            return id_batch(ids, strings != b"", cache.device)
        values = as_integer_ids(raw, self.key, cache.device)
        ids = unsigned_remainder(tensor_integer_fingerprint64(values), self.hash_bucket_size)
        return id_batch(ids, values != -1, cache.device)


def categorical_column_with_hash_bucket(
    key: str, hash_bucket_size: int, dtype: Any = STRING
) -> HashedCategoricalColumn:
    """Ids ``fingerprint64(value) % hash_bucket_size`` (TF's ``categorical_column_with_hash_bucket``).

    The fingerprint is TF's (FarmHash ``Fingerprint64``, see ``hashing``), and so are the ids;
    integers are hashed as their decimal strings, as TF did.

    Raises:
        ValueError: hash_bucket_size missing or < 1, dtype not string or integer.

    >>> from torch_estimator.feature_column import TransformCache
    >>> column = categorical_column_with_hash_bucket("city", 10)
    >>> column.transform_ids(TransformCache({"city": ["paris", "paris"]})).ids.tolist()
    [[7], [7]]
    """
    check_key(key)
    if hash_bucket_size is None:
        raise ValueError(f"hash_bucket_size must be set. key: {key}")
    if isinstance(hash_bucket_size, bool) or not isinstance(hash_bucket_size, int) or hash_bucket_size < 1:
        raise ValueError(
            f"hash_bucket_size must be at least 1. hash_bucket_size: {hash_bucket_size}, key: {key}"
        )
    return HashedCategoricalColumn(key, hash_bucket_size, check_string_or_int(dtype, f"column_name: {key}"))


@dataclass(frozen=True)
class IdentityCategoricalColumn(CategoricalColumn):
    """Integer features used as ids directly (``categorical_column_with_identity``)."""

    key: str
    number_buckets: int
    default_value: int | None = None

    @property
    def name(self) -> str:
        return self.key

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return _var_len_spec(self.key, torch.int64)

    @property
    def num_buckets(self) -> int:
        return self.number_buckets

    def transform_ids(self, cache: TransformCache) -> IdBatch:
        values = as_integer_ids(cache.raw(self.key), self.key, cache.device)
        present = values != -1
        out_of_range = (values < 0) | (values >= self.number_buckets)
        if self.default_value is not None:
            values = torch.where(out_of_range, self.default_value, values)
        elif not is_tracing() and bool((out_of_range & present).any()):
            bad = values[out_of_range & present]
            phrase = "Negative bucket index" if bool((bad < 0).any()) else "Bucket index"
            raise ValueError(
                f"{phrase} for categorical column {self.name} "
                f"{'exceeds number of buckets' if phrase == 'Bucket index' else ''}: found ids "
                f"{bad[:10].tolist()} outside [0, {self.number_buckets}). Pass default_value= to map them, "
                "or fix num_buckets (-1 marks padding)."
            )
        return id_batch(values, present, None)


def categorical_column_with_identity(
    key: str, num_buckets: int, default_value: int | None = None
) -> IdentityCategoricalColumn:
    """Integer values as ids in ``[0, num_buckets)`` (``tf.feature_column.categorical_column_with_identity``).

    Values outside the range become ``default_value``, or raise when it is None. ``-1`` is padding.

    Raises:
        ValueError: num_buckets < 1, default_value outside ``[0, num_buckets)``.

    >>> from torch_estimator.feature_column import TransformCache
    >>> column = categorical_column_with_identity("day", 7)
    >>> column.transform_ids(TransformCache({"day": torch.tensor([[3, -1]])}))
    IdBatch(ids=tensor([[3, 0]]), weights=tensor([[1., 0.]]))
    """
    check_key(key)
    if isinstance(num_buckets, bool) or not isinstance(num_buckets, int) or num_buckets < 1:
        raise ValueError(f"num_buckets {num_buckets} < 1, column_name {key}")
    if default_value is not None and not 0 <= default_value < num_buckets:
        raise ValueError(f"default_value {default_value} not in range [0, {num_buckets}), column_name {key}")
    return IdentityCategoricalColumn(key, num_buckets, default_value)
