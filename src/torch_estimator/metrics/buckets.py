"""``torch.bucketize`` of float32 values among fixed boundaries, by table lookup instead of search.

``torch.bucketize`` binary-searches every value: on CPU about 15-40 ns a value, branch
mispredictions mostly, the larger part of an AUC update. The threshold metrics bucket every batch
among the same boundaries, so this module precomputes, for each of the 65536 values of a float32's
top 16 bits (sign, exponent and 7 mantissa bits: a contiguous range of floats), how many boundaries
lie below the whole range and which boundaries (at most two) lie inside it. A value's bucket is then
two or three table reads and compares, a few vectorised kernels whatever the number of thresholds.

Boundaries packed more densely than two per range (thresholds closer than about 1/256 of their
magnitude) make ``prefix_table`` return None, and callers keep ``torch.bucketize``. The one value
the table may place differently is a NaN with the sign bit set sharing its range with ``-inf``
(bucket 0 instead of past the end); both are outside ``[0, 1]``, which is all the threshold metrics
ask of a NaN.
"""

from __future__ import annotations

import functools

import torch

__all__ = ["PrefixTable", "bucketize", "prefix_table"]

PrefixTable = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""``(below, first, second)``, each indexed by a float32's top 16 bits: the number of boundaries below
the range (int32), and the (up to two) boundaries inside it (``inf`` where there are fewer)."""

_PREFIXES = 1 << 16


def prefix_table(boundaries: torch.Tensor) -> PrefixTable | None:
    """The lookup table for sorted float32 ``boundaries``, or None when a range holds more than two.

    Tables are cached by boundary values and device (an evaluate makes its metrics afresh).

    >>> below, first, second = prefix_table(torch.tensor([0.25, 0.5]))
    >>> int(below[0x3F40]), float(first[0x3E80]), float(second[0x3E80])  # 0.75..., 0.25...
    (2, 0.25, inf)
    """
    return _cached_table(tuple(boundaries.tolist()), boundaries.device)


@functools.lru_cache(maxsize=16)
def _cached_table(values: tuple[float, ...], device: torch.device) -> PrefixTable | None:
    boundaries = torch.tensor(values, dtype=torch.float32, device=device)
    starts = torch.arange(_PREFIXES, dtype=torch.int64, device=device) << 16
    # Each prefix is the contiguous range of floats between its two extreme bit patterns.
    ends = (starts | 0xFFFF).to(torch.int32).view(torch.float32)
    starts = starts.to(torch.int32).view(torch.float32)
    start_count = torch.bucketize(starts, boundaries)
    end_count = torch.bucketize(ends, boundaries)
    below = torch.minimum(start_count, end_count).to(torch.int32)  # int32 buckets: half the bytes to move
    inside = (start_count - end_count).abs()
    has_nan = starts.isnan() | ends.isnan()  # NaN buckets past the end: see the module docstring
    if bool((inside[~has_nan] > 2).any()):
        return None
    last = len(values) - 1
    inf = torch.tensor(float("inf"), device=device)
    first = torch.where(inside >= 1, boundaries[below.clamp(max=last)], inf)
    second = torch.where(inside >= 2, boundaries[(below + 1).clamp(max=last)], inf)
    return below, first, second


def bucketize(values: torch.Tensor, table: PrefixTable) -> torch.Tensor:
    """``torch.bucketize(values, boundaries, out_int32=True)`` (the number of boundaries below each
    value) for float32 ``values``, by the boundaries' ``prefix_table``.

    >>> values = torch.tensor([0.1, 0.25, 0.3, 0.75])
    >>> bucketize(values, prefix_table(torch.tensor([0.25, 0.5])))
    tensor([0, 0, 1, 2], dtype=torch.int32)
    """
    below, first, second = table
    prefix = (values.view(torch.int32) >> 16).bitwise_and_(0xFFFF)  # int32 indices: no int64 copy
    buckets = below.index_select(0, prefix)
    buckets += values > first.index_select(0, prefix)
    buckets += values > second.index_select(0, prefix)
    return buckets
