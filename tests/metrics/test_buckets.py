"""The bucketing table lookup equals torch.bucketize, value for value."""

from __future__ import annotations

import pytest
import torch

from torch_estimator.metrics.buckets import bucketize, prefix_table
from torch_estimator.metrics.curves import auc_thresholds

JUST_BELOW_ZERO = -torch.finfo(torch.float32).tiny


def auc_boundaries(num_thresholds: int) -> torch.Tensor:
    """What an AUC state buckets by: TF's thresholds and the two range boundaries, sorted."""
    return torch.tensor(sorted([*auc_thresholds(num_thresholds), JUST_BELOW_ZERO, 1.0]), dtype=torch.float32)


def probes(boundaries: torch.Tensor) -> torch.Tensor:
    """Random float32 bit patterns (NaN excepted), each boundary and its two float neighbours, and
    the special values."""
    generator = torch.Generator().manual_seed(0)
    bits = torch.randint(-(2**31), 2**31 - 1, (200_000,), dtype=torch.int32, generator=generator)
    random = bits.view(torch.float32)
    specials = torch.tensor([0.0, -0.0, 1.0, -1.0, float("inf"), -float("inf"), 1e-45, -1e-45, 0.5])
    return torch.cat(
        [
            random[~random.isnan()],
            torch.rand(50_000, generator=generator),
            boundaries,
            torch.nextafter(boundaries, torch.tensor(float("inf"))),
            torch.nextafter(boundaries, torch.tensor(-float("inf"))),
            specials,
        ]
    )


@pytest.mark.parametrize(
    "boundaries",
    [
        auc_boundaries(200),
        auc_boundaries(3),
        auc_boundaries(129),
        torch.tensor([0.1, 0.25, 0.5, 0.75]),
        torch.tensor([-3.0, 0.0, 1e-30, 7.5e10]),
    ],
    ids=["auc200", "auc3", "auc129", "quarters", "wide"],
)
def test_table_lookup_equals_bucketize(boundaries):
    table = prefix_table(boundaries)
    assert table is not None
    values = probes(boundaries)
    assert torch.equal(bucketize(values, table), torch.bucketize(values, boundaries, out_int32=True))


def test_nan_lands_outside_zero_to_one():
    """torch.bucketize puts NaN past the last boundary; a negative NaN next to -inf lands in bucket 0
    here. Either way it is outside [0, 1], all the threshold metrics ask of it."""
    boundaries = auc_boundaries(200)
    nan_bits = torch.tensor([0x7FC00000, 0x7F800001, -0x400000, -0x7FFFFF], dtype=torch.int32)
    buckets = bucketize(nan_bits.view(torch.float32), prefix_table(boundaries))
    assert all(int(bucket) in (0, len(boundaries)) for bucket in buckets)


def test_boundaries_packed_too_densely_keep_torch_bucketize():
    """Three boundaries within one 2**-7 relative step of a float's top 16 bits: no table."""
    assert prefix_table(torch.tensor([0.5, 0.5001, 0.5002])) is None
