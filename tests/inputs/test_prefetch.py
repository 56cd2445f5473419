"""The background reader: order, errors, bounded read-ahead, and no thread left behind."""

from __future__ import annotations

import gc
import threading

import pytest

from torch_estimator.inputs.prefetch import READER_THREAD_NAME, prefetch


def reader_threads():
    return [thread for thread in threading.enumerate() if thread.name == READER_THREAD_NAME]


class CountingSource:
    """An endless producer that counts what it made and records that it was closed."""

    def __init__(self) -> None:
        self.made = 0
        self.closed = False

    def __call__(self):
        try:
            while True:
                self.made += 1
                yield self.made
        finally:
            self.closed = True


def test_items_come_in_order():
    assert list(prefetch(lambda: iter(range(100)), capacity=3)) == list(range(100))


def test_no_thread_before_the_first_item():
    items = prefetch(lambda: iter(range(3)), capacity=1)
    assert reader_threads() == []
    assert next(items) == 0
    items.close()
    assert reader_threads() == []


def test_the_producers_error_reaches_the_consumer():
    def produce():
        yield 1
        raise KeyError("column 'z'")

    items = prefetch(produce, capacity=2)
    assert next(items) == 1
    with pytest.raises(KeyError, match="column 'z'"):
        next(items)
    assert reader_threads() == []


def test_closing_early_stops_the_producer_and_joins_the_thread():
    """After one item was taken, the producer made at most: that item, ``capacity`` queued, one in hand."""
    source = CountingSource()
    items = prefetch(source, capacity=2)
    assert next(items) == 1
    items.close()
    assert reader_threads() == []
    assert source.closed
    assert source.made <= 1 + 2 + 1


def test_dropping_the_iterator_stops_the_thread():
    source = CountingSource()
    items = prefetch(source, capacity=2)
    next(items)
    del items
    gc.collect()
    assert reader_threads() == []
    assert source.closed


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="capacity"):
        next(prefetch(lambda: iter(()), capacity=0))
