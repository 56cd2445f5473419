"""Argument checks and TF's padding rules shared by the convolution and pooling layers.

Data layout: TF's default ``channels_last`` is ``[batch, *spatial, channels]`` (NWC, NHWC); torch
computes in ``[batch, channels, *spatial]``. The layers move the channel axis with views
(``movedim``), so no copy is made for the layout change itself.

``padding="same"`` follows TF exactly: the output has ``ceil(size / stride)`` positions and the
total padding ``max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)`` is split with the
extra element at the end (bottom / right), where torch's symmetric padding cannot put it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = [
    "from_channels_first",
    "normalize_data_format",
    "normalize_padding",
    "normalize_tuple",
    "same_padding",
    "to_channels_first",
    "torch_pad",
]


def normalize_tuple(value: int | Sequence[int], rank: int, what: str, arg_name: str) -> tuple[int, ...]:
    """``value`` (an int or ``rank`` ints) as a tuple of ``rank`` positive ints.

    >>> normalize_tuple(3, 2, "conv2d", "kernel_size"), normalize_tuple((1, 2), 2, "conv2d", "strides")
    ((3, 3), (1, 2))
    """
    items = (value,) * rank if isinstance(value, int) else tuple(value)
    if len(items) != rank or not all(isinstance(item, int) and item > 0 for item in items):
        raise ValueError(
            f"{what}: the `{arg_name}` argument must be an int or a tuple of {rank} positive ints. "
            f"Received: {arg_name}={value!r}."
        )
    return items


def normalize_padding(padding: str, what: str, allow_causal: bool = False) -> str:
    """``"valid"``, ``"same"`` (or ``"causal"`` for 1-D convolutions), any case.

    >>> normalize_padding("SAME", "conv2d")
    'same'
    """
    choices = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    normalized = padding.lower() if isinstance(padding, str) else padding
    if normalized not in choices:
        raise ValueError(
            f"{what}: the `padding` argument must be one of {', '.join(map(repr, choices))}. "
            f"Received: padding={padding!r}."
        )
    return normalized


def normalize_data_format(data_format: str, what: str) -> str:
    """``"channels_last"`` or ``"channels_first"``, any case.

    >>> normalize_data_format("channels_first", "conv2d")
    'channels_first'
    """
    normalized = data_format.lower() if isinstance(data_format, str) else data_format
    if normalized not in ("channels_last", "channels_first"):
        raise ValueError(
            f"{what}: the `data_format` argument must be 'channels_last' or 'channels_first'. "
            f"Received: data_format={data_format!r}."
        )
    return normalized


def same_padding(
    sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dilation: Sequence[int]
) -> tuple[tuple[int, int], ...]:
    """TF's ``"same"`` padding: ``(before, after)`` per spatial axis, the odd element after.

    >>> same_padding((5, 4), (2, 3), (1, 2), (1, 1))
    ((0, 1), (0, 1))
    """
    pads = []
    for size, k, s, d in zip(sizes, kernel, strides, dilation, strict=True):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def torch_pad(pads: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """``(before, after)`` per spatial axis as ``F.pad``'s flat tuple (last axis first).

    >>> torch_pad(((0, 1), (2, 3)))
    (2, 3, 0, 1)
    """
    flat: list[int] = []
    for before, after in reversed(pads):
        flat += [before, after]
    return tuple(flat)


def to_channels_first(inputs: torch.Tensor, data_format: str) -> torch.Tensor:
    """A ``[batch, channels, *spatial]`` view of ``inputs``."""
    return inputs.movedim(-1, 1) if data_format == "channels_last" else inputs


def from_channels_first(outputs: torch.Tensor, data_format: str) -> torch.Tensor:
    """``outputs`` (``[batch, channels, *spatial]``) back in ``data_format``, as a view."""
    return outputs.movedim(1, -1) if data_format == "channels_last" else outputs
