"""Keeping glibc's heap mapped while metric batches wait to be folded.

Deferred metric inputs (``state.py``) are small tensors that live for about a hundred batches among
the model's large, short-lived activations. That interleaving grows glibc's heap during a cycle, and
a flush frees the whole cycle at once. With glibc's adaptive defaults (trim threshold twice the mmap
threshold, 128 KiB to start) the freed top of the heap, often 10 MB, goes back to the system after
every flush, and the next batches fault it in again page by page: 20-60 minor page faults per W1
batch of 256 rows, a tenth of its time, in some processes and not others (it depends on the heap's
history).

glibc raises both thresholds by itself whenever a program frees a block it had to map on its own:
the mmap threshold becomes that block's size (at most 32 MiB on 64-bit systems) and the trim
threshold twice that. ``keep_heap_mapped`` frees one such block of 30 MiB, once per process, when
the first metric state is made. The block is never touched, so it costs no page. Afterwards the
process keeps up to 60 MiB of freed heap mapped instead of returning it, as after freeing any 30 MiB
array. Thresholds set explicitly (``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_THRESHOLD_``, ...) turn
glibc's adaptation off, and are left as they are; other C libraries are not touched.
"""

from __future__ import annotations

import functools
import os

import torch

__all__ = ["keep_heap_mapped"]

BLOCK_BYTES = 30 << 20
"""The block freed: below glibc's 32 MiB cap on the adaptive mmap threshold, with room for its header."""


@functools.cache
def keep_heap_mapped() -> bool:
    """Raises glibc's adaptive trim threshold to 60 MiB, once per process (module docstring).

    Returns:
        Whether the C library is glibc, which the first call answers (later calls do nothing).

    >>> keep_heap_mapped() == keep_heap_mapped()
    True
    """
    if not _is_glibc():
        return False
    # torch's CPU allocator takes this from malloc, which maps a block this large on its own; freeing
    # it unmaps it and moves glibc's thresholds.
    block = torch.empty(BLOCK_BYTES, dtype=torch.uint8, device="cpu")  # whatever the default device
    del block
    return True


def _is_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # no confstr, or no such name: not glibc
        return False
