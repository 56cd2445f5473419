"""How long a kind of work typically takes, to decide whether it may run on the event loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["DEFAULT_INLINE_MAX_MICROS", "CallTimer"]

T = TypeVar("T")

DEFAULT_INLINE_MAX_MICROS = 500
"""Work that typically takes less CPU time than this runs on the event loop: two thread switches cost
about 0.1 ms, and a third of the throughput of a small MLP on 2 cores."""


class CallTimer:
    """A moving average of the CPU time of one kind of call (infinite until measured).

    CPU time of the calling thread, not wall time: a call timed in a worker thread that waited for the
    GIL or was preempted would otherwise look slow for good, and never be moved back onto the event loop.

    >>> timer = CallTimer()
    >>> timer.time(sum, [1, 2])
    3
    >>> timer.typical_seconds < 1.0
    True
    """

    def __init__(self) -> None:
        self.typical_seconds = float("inf")

    def time(self, function: Callable[..., T], *args: Any) -> T:
        start = time.thread_time()
        try:
            return function(*args)
        finally:
            elapsed = time.thread_time() - start
            typical = self.typical_seconds
            self.typical_seconds = elapsed if typical == float("inf") else 0.9 * typical + 0.1 * elapsed

    def close(self) -> None:
        """Nothing to release (resources of a served version are closed when it is unloaded)."""
