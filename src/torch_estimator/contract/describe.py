"""Short descriptions of received values for error messages."""

from __future__ import annotations

import torch

__all__ = ["describe"]


def describe(value: object) -> str:
    """``Tensor(dtype=torch.float32, shape=(2, 3))`` for tensors, ``type repr`` for anything else.

    >>> describe(3.0)
    'float 3.0'
    """
    if isinstance(value, torch.Tensor):
        return f"Tensor(dtype={value.dtype}, shape={tuple(value.shape)})"
    text = repr(value)
    if len(text) > 120:
        text = text[:117] + "..."
    return f"{type(value).__name__} {text}"
