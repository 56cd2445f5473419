"""Runs a producer in a background thread behind a bounded queue, so training never waits on parsing."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["READER_THREAD_NAME", "prefetch"]

T = TypeVar("T")

READER_THREAD_NAME = "torch_estimator-input-reader"

# How often a blocked producer looks whether the consumer has gone (seconds): bounds shutdown latency.
_POLL_SECONDS = 0.05


class _End:
    """Put on the queue after the producer's last item."""


class _Failure:
    """Carries the producer's exception to the consumer, which re-raises it."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(produce: Callable[[], Iterator[T]], capacity: int) -> Iterator[T]:
    """Items of ``produce()``, made up to ``capacity`` items ahead in a background thread.

    The thread starts on the first ``next``. The producer's exceptions are re-raised in the consumer.
    Closing the returned generator (``close()``, or dropping it early) stops the producer, closes its
    iterator (so it closes its files) and joins the thread: no thread outlives its consumer.

    >>> list(prefetch(lambda: iter(range(5)), capacity=2))
    [0, 1, 2, 3, 4]
    """
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"prefetch capacity must be a positive integer. Received: {capacity!r}.")
    items: queue.Queue[Any] = queue.Queue(maxsize=capacity)
    stop = threading.Event()
    thread = threading.Thread(
        target=_produce, args=(produce, items, stop), name=READER_THREAD_NAME, daemon=True
    )
    thread.start()
    try:
        while True:
            item = items.get()
            if isinstance(item, _End):
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


def _produce(produce: Callable[[], Iterator[Any]], items: queue.Queue[Any], stop: threading.Event) -> None:
    try:
        source = produce()
        with contextlib.closing(source) if hasattr(source, "close") else contextlib.nullcontext():
            for item in source:
                if not _put(items, item, stop):
                    return
        _put(items, _End(), stop)
    except BaseException as error:  # every failure must reach the consumer, not stderr
        _put(items, _Failure(error), stop)


def _put(items: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Puts ``item`` unless the consumer has stopped; returns whether it was put."""
    while not stop.is_set():
        try:
            items.put(item, timeout=_POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False
