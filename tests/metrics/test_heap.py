"""glibc keeps its freed heap mapped once metric states exist (heap.py)."""

from __future__ import annotations

import ctypes
import os

import pytest
import torch

from torch_estimator.metrics import state
from torch_estimator.metrics.heap import is_glibc, keep_heap_mapped


class MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2``: ``arena`` is the heap's size, ``hblkhd`` the blocks mapped apart."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            *("arena", "ordblks", "smblks", "hblks", "hblkhd"),
            *("usmblks", "fsmblks", "uordblks", "fordblks", "keepcost"),
        )
    ]


def mallinfo2() -> MallInfo2:
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    return libc.mallinfo2()


def adaptive_glibc() -> bool:
    """glibc with mallinfo2 (2.33+) and no thresholds set in the environment."""
    if not is_glibc() or not hasattr(ctypes.CDLL(None), "mallinfo2"):
        return False
    return not any(name.startswith("MALLOC_") or name == "GLIBC_TUNABLES" for name in os.environ)


@pytest.mark.skipif(not adaptive_glibc(), reason="glibc's adaptive thresholds")
def test_a_16_mib_block_comes_from_the_heap_and_stays_there_when_freed():
    assert keep_heap_mapped()
    before = mallinfo2()
    # Under glibc's defaults a block this large is mapped apart and unmapped when freed.
    block = torch.ones(16 << 20, dtype=torch.uint8)
    during = mallinfo2()
    del block
    after = mallinfo2()
    assert during.hblkhd == before.hblkhd
    assert after.arena == during.arena  # not trimmed: the next batches reuse the pages


def test_the_first_group_of_metric_states_keeps_the_heap_mapped(monkeypatch):
    calls = []
    monkeypatch.setattr(state, "keep_heap_mapped", lambda: calls.append(True))
    state.PendingFolds()
    assert calls == [True]


def test_the_block_is_freed_once_per_process():
    keep_heap_mapped.cache_clear()
    first, second = keep_heap_mapped(), keep_heap_mapped()
    assert first == second == is_glibc()
    assert (keep_heap_mapped.cache_info().misses, keep_heap_mapped.cache_info().hits) == (1, 1)
