"""Which rows each batch holds when epochs are concatenated (SEMANTICS.md (o))."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from torch_estimator.inputs.epochs import batch_indices, check_batching, draw_seed


def rows(num_rows, batch_size, num_epochs, shuffle=False, seed=0):
    rng = np.random.default_rng(seed)
    return [
        np.arange(num_rows)[s].tolist() for s in batch_indices(num_rows, batch_size, num_epochs, shuffle, rng)
    ]


def test_batches_span_epoch_boundaries():
    """5 rows, batch 2, 2 epochs: 10 rows in order 0..4 0..4, cut every 2."""
    assert rows(5, 2, 2) == [[0, 1], [2, 3], [4, 0], [1, 2], [3, 4]]


def test_the_last_batch_of_a_finite_run_is_smaller():
    """5 rows, batch 3, 1 epoch: 3 + 2."""
    assert rows(5, 3, 1) == [[0, 1, 2], [3, 4]]


def test_a_batch_larger_than_the_data_takes_several_epochs():
    """2 rows, batch 5, 3 epochs: 6 rows = 5 + 1."""
    assert rows(2, 5, 3) == [[0, 1, 0, 1, 0], [1]]


def test_zero_epochs_yield_nothing():
    assert rows(5, 2, 0) == []


def test_no_rows_yield_nothing_even_forever():
    assert rows(0, 2, None) == []


def test_none_repeats_forever_with_full_batches():
    batches = batch_indices(3, 2, None, shuffle=False)
    first = [np.arange(3)[next(batches)].tolist() for _ in range(4)]
    assert first == [[0, 1], [2, 0], [1, 2], [0, 1]]


def test_shuffle_is_a_fresh_permutation_per_epoch_and_reproducible():
    batches = rows(6, 4, 3, shuffle=True, seed=3)
    flat = [row for batch in batches for row in batch]
    epochs = [flat[0:6], flat[6:12], flat[12:18]]
    assert all(sorted(epoch) == list(range(6)) for epoch in epochs)
    assert epochs[0] != epochs[1] or epochs[1] != epochs[2]
    assert batches == rows(6, 4, 3, shuffle=True, seed=3)


def test_shuffle_needs_an_rng():
    with pytest.raises(ValueError, match="needs an rng"):
        next(batch_indices(3, 2, 1, shuffle=True))


@pytest.mark.parametrize(
    ("batch_size", "num_epochs", "message"),
    [
        (0, 1, "batch_size"),
        (2.0, 1, "batch_size"),
        (True, 1, "batch_size"),
        (2, -1, "num_epochs"),
        (2, 1.5, "num_epochs"),
    ],
)
def test_bad_batch_settings(batch_size, num_epochs, message):
    with pytest.raises(ValueError, match=message):
        check_batching(batch_size, num_epochs)


def test_seed_drawn_from_numpys_global_rng_is_reproducible():
    np.random.seed(11)
    first = draw_seed(None)
    np.random.seed(11)
    assert draw_seed(None) == first
    assert draw_seed(5) == 5


@given(
    num_rows=st.integers(1, 20),
    batch_size=st.integers(1, 25),
    num_epochs=st.integers(0, 4),
    shuffle=st.booleans(),
    seed=st.integers(0, 100),
)
def test_every_row_once_per_epoch_in_full_batches(num_rows, batch_size, num_epochs, shuffle, seed):
    batches = rows(num_rows, batch_size, num_epochs, shuffle, seed)
    flat = [row for batch in batches for row in batch]
    assert len(flat) == num_rows * num_epochs
    assert all(len(batch) == batch_size for batch in batches[:-1])
    for epoch in range(num_epochs):
        assert sorted(flat[epoch * num_rows : (epoch + 1) * num_rows]) == list(range(num_rows))
