"""glibc keeps its freed heap mapped once metric states exist (heap.py)."""

from __future__ import annotations

import ctypes
import os

import pytest
import torch

from torch_estimator.metrics import heap, state
from torch_estimator.metrics.heap import keep_heap_mapped

IS_GLIBC = (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")


class MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2``: ``arena`` is the heap's size, ``hblkhd`` the blocks mapped apart."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def mallinfo2() -> MallInfo2:
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    return libc.mallinfo2()


@pytest.mark.skipif(not IS_GLIBC, reason="glibc's adaptive thresholds")
def test_a_16_mib_block_comes_from_the_heap_and_stays_there_when_freed():
    assert keep_heap_mapped()
    before = mallinfo2()
    block = torch.ones(
        16 << 20, dtype=torch.uint8
    )  # under glibc's defaults: mapped apart, unmapped when freed
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


def test_the_block_is_freed_once_per_process(monkeypatch):
    made = []
    real_empty = torch.empty

    def recording_empty(*args, **kwargs):
        made.append((args, kwargs))
        return real_empty(*args, **kwargs)

    keep_heap_mapped.cache_clear()
    monkeypatch.setattr(heap.torch, "empty", recording_empty)
    first, second = keep_heap_mapped(), keep_heap_mapped()
    assert first == second == IS_GLIBC
    assert [args[0] for args, _ in made] == ([heap.BLOCK_BYTES] if IS_GLIBC else [])
