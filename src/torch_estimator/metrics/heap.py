"""Keeping glibc's heap mapped while metric batches wait to be folded.

Deferred metric inputs (``state.py``) are small tensors that live for about a hundred batches among
the model's large, short-lived activations. That interleaving grows glibc's heap during a cycle, and
a flush frees the whole cycle at once. glibc starts with a 128 KiB trim threshold and a 128 KiB mmap
threshold, and adapts them (trim = twice mmap) as blocks are freed: in many processes the freed top
of the heap, often 10 MB, goes back to the system after every flush, and the next batches fault it
in again page by page: 20-60 minor page faults per W1 batch of 256 rows, a tenth of its time (which
processes do depends on their heap's history).

glibc raises both thresholds by itself whenever a program frees a block it had to map on its own:
the mmap threshold becomes that block's size (at most 32 MiB on 64-bit systems) and the trim
threshold twice that. ``keep_heap_mapped`` mallocs and frees one such block of 30 MiB, once per
process, when the first metric states are made. The block is never touched, so it costs no page.
Afterwards, as after freeing any 30 MiB array, allocations under 30 MiB come from the heap rather
than from mappings of their own, and the process keeps up to 60 MiB of freed heap top mapped instead
of returning it (a heap fragmented by long-lived blocks can hold more). Thresholds set explicitly
(``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_THRESHOLD_``, ``GLIBC_TUNABLES``) turn glibc's adaptation
off and are left as they are; other C libraries are not touched.
"""

from __future__ import annotations

import ctypes
import functools
import os

__all__ = ["BLOCK_BYTES", "is_glibc", "keep_heap_mapped"]

BLOCK_BYTES = 30 << 20
"""The block freed: below glibc's 32 MiB cap on the adaptive mmap threshold, with room for its header."""


@functools.cache
def keep_heap_mapped() -> bool:
    """Raises glibc's adaptive trim threshold to 60 MiB, once per process (module docstring).

    Returns:
        Whether the C library is glibc, which the first call answers (later calls do nothing).

    >>> keep_heap_mapped() == keep_heap_mapped() == is_glibc()
    True
    """
    if not is_glibc():
        return False
    libc = ctypes.CDLL(None)  # the C library this process runs on
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    # A block this large is mapped on its own; freeing it unmaps it and moves glibc's thresholds.
    libc.free(libc.malloc(BLOCK_BYTES))
    return True


def is_glibc() -> bool:
    """Whether this process runs on glibc (False on macOS, Windows, musl).

    >>> isinstance(is_glibc(), bool)
    True
    """
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):  # no confstr, or no such name: not glibc
        return False
    return version is not None and version.startswith("glibc")
