"""Tensors to numpy and Python values, at the edges where users read them (hooks, evaluate, predict)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["to_numpy", "to_python"]


def to_numpy(value: Any) -> Any:
    """Tensors as numpy arrays on the CPU; dicts, lists and tuples mirrored, anything else as given.

    numpy has no bfloat16, so half-precision floats come back as float32.

    >>> to_numpy({"x": torch.tensor([1.5], dtype=torch.bfloat16)})["x"].dtype
    dtype('float32')
    """
    if isinstance(value, torch.Tensor):
        value = value.detach()
        if value.dtype in (torch.bfloat16, torch.float16):
            value = value.float()
        return value.cpu().numpy()
    if isinstance(value, Mapping):
        return {key: to_numpy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_numpy(item) for item in value)
    return value


def to_python(value: Any) -> Any:
    """Like ``to_numpy``, but scalars (0-d tensors, numpy scalars) become Python numbers.

    >>> to_python((torch.tensor(0.5), torch.tensor([1, 2])))
    (0.5, array([1, 2]))
    """
    if isinstance(value, torch.Tensor):
        array = to_numpy(value)
        return array.item() if value.dim() == 0 else array
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {key: to_python(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_python(item) for item in value)
    return value
