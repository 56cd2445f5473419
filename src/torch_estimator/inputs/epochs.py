"""Which rows go into each batch when epochs are concatenated: the index stream of the input helpers."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["batch_indices", "check_batching", "draw_seed"]


def check_batching(batch_size: object, num_epochs: object) -> None:
    """Raises ValueError unless ``batch_size`` is a positive int and ``num_epochs`` None or an int >= 0.

    >>> check_batching(2, None)
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size!r}.")
    if num_epochs is None:
        return
    if isinstance(num_epochs, bool) or not isinstance(num_epochs, (int, np.integer)) or num_epochs < 0:
        raise ValueError(
            "num_epochs must be None (repeat forever) or an integer >= 0. "
            f"Received: num_epochs={num_epochs!r}."
        )


def draw_seed(seed: int | None) -> int:
    """``seed`` itself, or one drawn from numpy's global RNG (which ``RunConfig(tf_random_seed=...)``
    seeds before the Estimator calls an input_fn), so shuffling is reproducible either way.

    >>> draw_seed(7)
    7
    """
    if seed is not None:
        return int(seed)
    return int(np.random.randint(0, 2**31 - 1))


def batch_indices(
    num_rows: int,
    batch_size: int,
    num_epochs: int | None,
    shuffle: bool,
    rng: np.random.Generator | None = None,
) -> Iterator[slice | np.ndarray]:
    """Row selectors (a slice or an int64 index array) of each batch over ``num_epochs`` concatenated epochs.

    Batches span epoch boundaries; with finite ``num_epochs`` the last batch holds what is left, and
    ``num_epochs=None`` repeats forever with full batches. ``shuffle`` draws a fresh permutation of
    the rows for every epoch from ``rng``; otherwise row order is kept.

    >>> [np.arange(5)[s].tolist() for s in batch_indices(5, 2, 2, shuffle=False)]
    [[0, 1], [2, 3], [4, 0], [1, 2], [3, 4]]
    """
    if shuffle and rng is None:
        raise ValueError("batch_indices(shuffle=True) needs an rng: pass rng=np.random.default_rng(seed).")
    permute = rng if shuffle else None
    if num_rows == 0:
        return
    epoch, position = 0, 0
    order = _epoch_order(num_rows, permute)
    while num_epochs is None or epoch < num_epochs:
        end = position + batch_size
        if end <= num_rows:
            yield order[position:end] if order is not None else slice(position, end)
            position = end
            if position == num_rows:
                epoch, position = epoch + 1, 0
                if num_epochs is None or epoch < num_epochs:
                    order = _epoch_order(num_rows, permute)
            continue
        # The batch crosses one or more epoch boundaries: gather the pieces into one index array.
        pieces = []
        needed = batch_size
        while needed and (num_epochs is None or epoch < num_epochs):
            take = min(needed, num_rows - position)
            indices = order if order is not None else np.arange(num_rows, dtype=np.int64)
            pieces.append(indices[position : position + take])
            needed -= take
            position += take
            if position == num_rows:
                epoch, position = epoch + 1, 0
                if num_epochs is None or epoch < num_epochs:
                    order = _epoch_order(num_rows, permute)
        yield np.concatenate(pieces)


def _epoch_order(num_rows: int, permute: np.random.Generator | None) -> np.ndarray | None:
    """A permutation of the rows for one epoch, or None for the natural order."""
    return None if permute is None else permute.permutation(num_rows)
