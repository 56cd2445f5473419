"""Pooling layers (``tf.layers.max_pooling1d/2d``, ``average_pooling1d/2d``); they own no variables.

Inputs are ``channels_last`` (TF's default) or ``channels_first``. ``padding="same"`` follows TF: the
padded positions never win a max and are left out of an average (each output averages only the
inputs its window covers), with the odd padding element at the bottom / right.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from torch_estimator.layers.base import check_inputs
from torch_estimator.layers.spatial import (
    from_channels_first,
    normalize_data_format,
    normalize_padding,
    normalize_tuple,
    same_padding,
    to_channels_first,
    torch_pad,
)

__all__ = ["average_pooling1d", "average_pooling2d", "max_pooling1d", "max_pooling2d"]

IntOrTuple = int | Sequence[int]

_MAX: dict[int, Callable[..., torch.Tensor]] = {1: F.max_pool1d, 2: F.max_pool2d}
_AVERAGE: dict[int, Callable[..., torch.Tensor]] = {1: F.avg_pool1d, 2: F.avg_pool2d}


def max_pooling1d(
    inputs: torch.Tensor,
    pool_size: IntOrTuple,
    strides: IntOrTuple,
    padding: str = "valid",
    data_format: str = "channels_last",
    name: str | None = None,
) -> torch.Tensor:
    """Max over windows of ``[batch, width, channels]`` inputs (TF's ``tf.layers.max_pooling1d``).

    >>> max_pooling1d(torch.tensor([[[1.0], [3.0], [2.0]]]), 2, 2, padding="same").flatten().tolist()
    [3.0, 2.0]
    """
    del name  # no variables
    return _pool(inputs, 1, "max_pooling1d", True, pool_size, strides, padding, data_format)


def max_pooling2d(
    inputs: torch.Tensor,
    pool_size: IntOrTuple,
    strides: IntOrTuple,
    padding: str = "valid",
    data_format: str = "channels_last",
    name: str | None = None,
) -> torch.Tensor:
    """Max over windows of ``[batch, height, width, channels]`` inputs (``tf.layers.max_pooling2d``).

    >>> max_pooling2d(torch.zeros(2, 5, 5, 3), 2, 2, padding="same").shape
    torch.Size([2, 3, 3, 3])
    """
    del name  # no variables
    return _pool(inputs, 2, "max_pooling2d", True, pool_size, strides, padding, data_format)


def average_pooling1d(
    inputs: torch.Tensor,
    pool_size: IntOrTuple,
    strides: IntOrTuple,
    padding: str = "valid",
    data_format: str = "channels_last",
    name: str | None = None,
) -> torch.Tensor:
    """Mean over windows of ``[batch, width, channels]`` inputs (TF's ``tf.layers.average_pooling1d``).

    >>> average_pooling1d(torch.tensor([[[1.0], [3.0], [2.0]]]), 2, 2, padding="same").flatten().tolist()
    [2.0, 2.0]
    """
    del name  # no variables
    return _pool(inputs, 1, "average_pooling1d", False, pool_size, strides, padding, data_format)


def average_pooling2d(
    inputs: torch.Tensor,
    pool_size: IntOrTuple,
    strides: IntOrTuple,
    padding: str = "valid",
    data_format: str = "channels_last",
    name: str | None = None,
) -> torch.Tensor:
    """Mean over windows of ``[batch, height, width, channels]`` inputs (``tf.layers.average_pooling2d``).

    >>> average_pooling2d(torch.ones(1, 4, 4, 1), 2, 2).shape
    torch.Size([1, 2, 2, 1])
    """
    del name  # no variables
    return _pool(inputs, 2, "average_pooling2d", False, pool_size, strides, padding, data_format)


def _pool(
    inputs: torch.Tensor,
    rank: int,
    what: str,
    is_max: bool,
    pool_size: IntOrTuple,
    strides: IntOrTuple,
    padding: str,
    data_format: str,
) -> torch.Tensor:
    window = normalize_tuple(pool_size, rank, what, "pool_size")
    steps = normalize_tuple(strides, rank, what, "strides")
    padding = normalize_padding(padding, what)
    data_format = normalize_data_format(data_format, what)
    check_inputs(inputs, what, rank=rank + 2)
    x = to_channels_first(inputs, data_format)
    pool = _MAX[rank] if is_max else _AVERAGE[rank]
    if padding == "valid":
        return from_channels_first(pool(x, window, steps), data_format)
    pads = same_padding(x.shape[2:], window, steps, (1,) * rank)
    if all(before == after for before, after in pads):
        # torch's own padding: ignored by max, and left out of the mean by count_include_pad=False.
        before = tuple(before for before, _ in pads)
        if is_max:
            outputs = pool(x, window, steps, before)
        else:
            outputs = pool(x, window, steps, before, count_include_pad=False)
        return from_channels_first(outputs, data_format)
    flat = torch_pad(pads)
    if is_max:
        outputs = pool(F.pad(x, flat, value=float("-inf")), window, steps)
    else:
        # Mean over the real inputs only: the zero-padded mean divided by the covered fraction.
        covered = pool(F.pad(x.new_ones((1, 1, *x.shape[2:])), flat), window, steps)
        outputs = pool(F.pad(x, flat), window, steps) / covered
    return from_channels_first(outputs, data_format)
