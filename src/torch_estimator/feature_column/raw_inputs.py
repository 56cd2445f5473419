"""Raw feature values as arrays of one fixed form: what every column transform starts from.

Accepted forms (TF's dense and sparse inputs, without string tensors):

* dense numbers: a torch tensor or numpy array ``[B]`` or ``[B, *shape]`` (or a nested list);
* strings: a numpy array of ``str``/``bytes`` (or ``object`` holding them) ``[B]`` or ``[B, K]``,
  or a list of strings;
* integers for categorical columns: an int tensor or array ``[B]`` or ``[B, K]``;
* multivalent (where TF took a SparseTensor): a ``[B, K]`` array padded with ``''`` (strings) or
  ``-1`` (integers), or a ragged list of lists, one list of values per example.

Inputs of rank above 2 are flattened to ``[B, K]`` for categorical columns, as TF reshaped sparse
ids to two dimensions before a lookup.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch

from torch_estimator.feature_column.hashing import as_utf8

__all__ = [
    "STRING",
    "as_integer_ids",
    "as_number_tensor",
    "as_string_matrix",
    "is_string_value",
    "pad_ragged",
    "value_description",
]

STRING = "string"
"""The dtype of string columns (TF's ``tf.string``); integer columns use torch integer dtypes."""


def value_description(value: Any) -> str:
    """``type`` plus dtype and shape, for error messages."""
    dtype = getattr(value, "dtype", None)
    shape = getattr(value, "shape", None)
    if dtype is None and isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of {len(value)} items"
    return f"{type(value).__name__} of dtype {dtype} and shape {tuple(shape) if shape is not None else '?'}"


def is_string_value(value: Any) -> bool:
    """Whether ``value`` holds strings (numpy ``U``/``S``/object-of-str, or lists of them).

    >>> is_string_value(np.array(["a"])), is_string_value([["a"], []]), is_string_value(torch.ones(1))
    (True, True, False)
    """
    if isinstance(value, torch.Tensor):
        return False
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "US":
            return True
        return value.dtype.kind == "O" and value.size > 0 and isinstance(value.flat[0], (str, bytes))
    if isinstance(value, (list, tuple)):
        first = _first_leaf(value)
        return isinstance(first, (str, bytes))
    return isinstance(value, (str, bytes))


def _first_leaf(value: Any) -> Any:
    while isinstance(value, (list, tuple, np.ndarray)):
        if len(value) == 0:
            return None
        # Skip empty rows of a ragged batch.
        value = next((item for item in value if not _is_empty(item)), value[0])
        if isinstance(value, np.ndarray):
            return value.flat[0] if value.size else None
    return value


def _is_empty(item: Any) -> bool:
    return isinstance(item, (list, tuple, np.ndarray)) and len(item) == 0


def pad_ragged(rows: Any, pad: Any, dtype: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """A ragged list of rows as a padded ``[B, longest]`` array and the row lengths.

    >>> padded, lengths = pad_ragged([["a", "b"], [], ["c"]], "")
    >>> padded.tolist(), lengths.tolist()
    ([['a', 'b'], ['', ''], ['c', '']], [2, 0, 1])
    """
    lengths = np.fromiter((len(row) for row in rows), dtype=np.int64, count=len(rows))
    flat = np.asarray(list(itertools.chain.from_iterable(rows)), dtype=dtype)
    if flat.dtype.kind == "O":
        flat = flat.astype(str if isinstance(pad, str) else bytes)
    longest = int(lengths.max()) if len(rows) else 0
    out_dtype = flat.dtype if flat.size else (np.asarray(pad).dtype if dtype is None else dtype)
    padded = np.full((len(rows), longest), pad, dtype=out_dtype)
    padded[np.arange(longest) < lengths[:, None]] = flat
    return padded, lengths


def _is_ragged(value: Any) -> bool:
    if not isinstance(value, (list, tuple)) or not value:
        return False
    lengths = {len(row) if isinstance(row, (list, tuple, np.ndarray)) else -1 for row in value}
    return -1 not in lengths and len(lengths) > 1


def as_string_matrix(value: Any, column_name: str) -> np.ndarray:
    """Strings as a ``[B, K]`` UTF-8 ``S`` array; ``b''`` marks padding (TF's ignored value).

    Raises:
        ValueError: ``value`` holds no strings (the column's dtype is string).

    >>> as_string_matrix(["a", "bc"], "c").tolist()
    [[b'a'], [b'bc']]
    """
    if _is_ragged(value):
        array, _ = pad_ragged(value, "" if isinstance(_first_leaf(value), str) else b"")
    else:
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
    if array.dtype.kind == "O" and array.size:
        array = array.astype(bytes if isinstance(array.flat[0], bytes) else str)
    if array.size == 0 and not isinstance(value, torch.Tensor):
        array = array.astype("S1")  # empty lists carry no dtype
    if array.dtype.kind not in "US":
        raise ValueError(
            f"Column dtype and SparseTensors dtype must be compatible. key: {column_name}, column dtype: "
            f"string, tensor dtype: {value_description(value)}. Feed the feature as a numpy array or list "
            "of str/bytes, or declare the column with an integer dtype."
        )
    return as_utf8(_as_matrix(array, column_name))


def as_integer_ids(value: Any, column_name: str, device: torch.device | None = None) -> torch.Tensor:
    """Integers as an int64 ``[B, K]`` tensor; ``-1`` marks padding (TF's ignored value).

    Raises:
        ValueError: ``value`` holds strings or floats (TF: "Invalid input, not integer").

    >>> as_integer_ids([[1, 2], [3]], "c").tolist()
    [[1, 2], [3, -1]]
    """
    if isinstance(value, torch.Tensor):
        tensor = value
    elif _is_ragged(value):
        tensor = torch.from_numpy(pad_ragged(value, -1, np.int64)[0])
    else:
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
        if array.size == 0 and array.dtype.kind == "f" and not isinstance(value, np.ndarray):
            array = array.astype(np.int64)  # empty lists carry no dtype
        if array.dtype.kind not in "iub":
            tensor = None
        else:
            array = np.ascontiguousarray(array, dtype=np.int64)
            # torch.from_numpy warns on read-only arrays (e.g. slices of memory-mapped data).
            tensor = torch.from_numpy(array if array.flags.writeable else array.copy())
    if tensor is None or tensor.is_floating_point() or tensor.is_complex():
        raise ValueError(
            f"Invalid input, not integer. key: {column_name} dtype: {value_description(value)}. This column "
            "takes integer ids (padding -1); cast the feature to an integer tensor."
        )
    if tensor.dtype != torch.int64:
        tensor = tensor.to(torch.int64)
    if device is not None and tensor.device != device:
        tensor = tensor.to(device)
    return _as_matrix(tensor, column_name)


def as_number_tensor(value: Any, column_name: str, device: torch.device | None = None) -> torch.Tensor:
    """Dense numbers as a tensor of their own dtype (same shape), on ``device``.

    Raises:
        ValueError: ``value`` holds strings or is not numeric.

    >>> as_number_tensor(np.array([1, 2]), "x")
    tensor([1, 2])
    """
    if isinstance(value, torch.Tensor):
        tensor = value
    elif is_string_value(value):
        tensor = None
    else:
        try:
            array = value if isinstance(value, np.ndarray) else np.asarray(value)
            tensor = torch.as_tensor(array if array.flags.writeable else array.copy())
        except (TypeError, ValueError, RuntimeError):
            tensor = None
    if tensor is None or tensor.is_complex():
        raise ValueError(
            f"The feature of numeric column {column_name!r} must be a tensor of numbers. Received: "
            f"{value_description(value)}. Feed a float tensor or numpy array of shape [batch_size, ...]."
        )
    if device is not None and tensor.device != device:
        tensor = tensor.to(device)
    return tensor


def _as_matrix(array: Any, column_name: str) -> Any:
    """``[B]`` -> ``[B, 1]``; ``[B, K]`` kept; higher rank flattened to ``[B, rest]``."""
    if array.ndim == 0:
        raise ValueError(
            f"Feature {column_name!r} is a scalar; feature values need a batch dimension. "
            f"Received shape (). Feed a [batch_size] or [batch_size, k] array."
        )
    if array.ndim == 1:
        return array.reshape(-1, 1)
    if array.ndim > 2:
        return array.reshape(array.shape[0], -1)
    return array
