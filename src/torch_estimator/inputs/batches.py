"""What an input_fn may return, turned into a stream of ``(features, labels)`` batches."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from torch_estimator.contract.fn_args import split_input_fn_result

__all__ = ["is_single_batch", "iterate_batches", "to_device", "to_tensors"]


def iterate_batches(result: Any) -> Iterator[tuple[Any, Any]]:
    """``(features, labels)`` pairs from an input_fn result.

    * A tensor, a numpy array, a dict of them, or a ``(features, labels)`` tuple/list of those is
      **one batch repeated forever**, as TF re-ran the same tensors on every step: bound the loop
      with ``steps`` / ``max_steps`` (or return an iterable).
    * Any other iterable (DataLoader, generator, list of batches) yields one batch per element;
      each element is ``(features, labels)`` or features alone. Its end ends the loop, like TF's
      OutOfRange.

    Numpy arrays become tensors (string arrays stay numpy arrays for feature columns).

    >>> batches = iterate_batches([({"x": np.ones(2)}, np.zeros(2))])
    >>> features, labels = next(batches)
    >>> features["x"].dtype, labels.dtype
    (torch.float64, torch.float64)
    """
    if is_single_batch(result):
        features, labels = split_input_fn_result(result)
        features, labels = to_tensors(features), to_tensors(labels)
        while True:
            yield features, labels
    if not hasattr(result, "__iter__"):
        raise TypeError(
            "input_fn must return features, (features, labels), or an iterable of batches (a DataLoader, "
            f"a generator, a list). Received: {type(result).__name__}."
        )
    for element in result:
        if type(element) is tuple and len(element) == 2:
            features, labels = element
            if type(features) is torch.Tensor and (labels is None or type(labels) is torch.Tensor):
                yield element
                continue
        features, labels = split_input_fn_result(element)
        yield to_tensors(features), to_tensors(labels)


def is_single_batch(result: Any) -> bool:
    """True for one batch (repeated forever): tensors/arrays, dicts of them, or a tuple/list whose first
    item is one.

    >>> is_single_batch((torch.ones(2), torch.zeros(2))), is_single_batch([(torch.ones(2), torch.zeros(2))])
    (True, False)
    """
    if isinstance(result, (torch.Tensor, np.ndarray, Mapping)):
        return True
    if isinstance(result, (tuple, list)) and result:
        return isinstance(result[0], (torch.Tensor, np.ndarray, Mapping))
    return False


def to_tensors(value: Any) -> Any:
    """Numeric numpy arrays to tensors, recursively through dicts, tuples and lists."""
    if isinstance(value, torch.Tensor) or value is None:
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biufc":
            return torch.from_numpy(value)
        return value
    if isinstance(value, Mapping):
        return {key: to_tensors(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(to_tensors(item) for item in value)
    return value


def to_device(value: Any, device: torch.device) -> Any:
    """Moves every tensor in a structure to ``device`` (asynchronously where possible)."""
    if isinstance(value, torch.Tensor):
        if value.device == device:
            return value
        return value.to(device, non_blocking=True)
    if isinstance(value, Mapping):
        return {key: to_device(item, device) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(to_device(item, device) for item in value)
    return value
