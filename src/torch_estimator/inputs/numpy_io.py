"""``numpy_input_fn``: an input_fn over numpy arrays (tf.compat.v1.estimator.inputs.numpy_input_fn)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from torch_estimator.inputs.batches import to_tensors
from torch_estimator.inputs.epochs import batch_indices, check_batching, draw_seed

__all__ = ["array_batches", "check_queue", "check_shuffle", "numpy_input_fn"]

Arrays = np.ndarray | dict[Any, np.ndarray]


def numpy_input_fn(
    x: np.ndarray | Mapping[Any, Any],
    y: np.ndarray | Mapping[Any, Any] | None = None,
    batch_size: int = 128,
    num_epochs: int | None = 1,
    shuffle: bool | None = None,
    queue_capacity: int = 1000,
    num_threads: int = 1,
    *,
    seed: int | None = None,
) -> Callable[[], Iterator[Any]]:
    """An input_fn that yields batches of ``x`` (and ``y``) as tensors.

    Each batch is ``features`` (a dict with x's keys, or a bare tensor when x is an array) or, with
    ``y``, ``(features, target)`` (a tensor, or a dict with y's keys). Epochs are concatenated, so
    batches span epoch boundaries; the last batch of a finite run may be smaller; ``num_epochs=None``
    repeats forever. ``shuffle=True`` visits every row once per epoch in a fresh random order, drawn
    from ``seed`` or, when it is None, from numpy's global RNG as the input_fn is called (the
    Estimator seeds it from ``RunConfig(tf_random_seed=...)`` first). String arrays stay numpy arrays
    (torch has no strings) for feature columns. ``queue_capacity`` and ``num_threads`` are checked
    and otherwise unused: slicing arrays in memory has no reading to overlap with training.

    Args:
        x: a numpy array or a non-empty dict of them, all of one length.
        y: an array, a non-empty dict of arrays sharing no key with ``x``, or None.
        batch_size: rows per batch.
        num_epochs: passes over the data; None repeats forever, 0 yields nothing.
        shuffle: must be given as a bool (True for training, False to keep row order).
        queue_capacity: kept for TF compatibility (a positive int).
        num_threads: kept for TF compatibility (a positive int).
        seed: seeds the shuffle; None draws one from numpy's global RNG.

    Returns:
        ``input_fn()`` returning an iterator of batches.

    Raises:
        ValueError: 'shuffle must be provided and explicitly set as boolean' (at once); when the
            input_fn is called: empty x or y, duplicate keys, mismatched lengths, bad batch settings.
        TypeError: 'x must be a dict or array' (when the input_fn is called).

    >>> input_fn = numpy_input_fn({"x": np.arange(5)}, np.arange(5) * 10, batch_size=2, shuffle=False)
    >>> [(f["x"].tolist(), t.tolist()) for f, t in input_fn()]
    [([0, 1], [0, 10]), ([2, 3], [20, 30]), ([4], [40])]
    """
    check_shuffle(shuffle)

    def input_fn() -> Iterator[Any]:
        features = _features(x)
        target = _target(y, features)
        check_lengths(features, target)
        check_batching(batch_size, num_epochs)
        check_queue(queue_capacity, num_threads)
        rng = np.random.default_rng(draw_seed(seed)) if shuffle else None
        return array_batches(features, target, batch_size, num_epochs, bool(shuffle), rng)

    return input_fn


def array_batches(
    features: Arrays,
    target: Arrays | None,
    batch_size: int,
    num_epochs: int | None,
    shuffle: bool,
    rng: np.random.Generator | None = None,
) -> Iterator[Any]:
    """Batches of equal-length arrays: ``features``, or ``(features, target)`` when a target is given.

    One indexing operation per array and batch; numeric batches become tensors (copies, so the model
    never writes into the caller's arrays), others stay numpy arrays.

    >>> [b.tolist() for b in array_batches(np.arange(5), None, 2, 2, shuffle=False)]
    [[0, 1], [2, 3], [4, 0], [1, 2], [3, 4]]
    """
    num_rows = _num_rows(features)
    for selector in batch_indices(num_rows, batch_size, num_epochs, shuffle, rng):
        batch_features = _take(features, selector)
        if target is None:
            yield batch_features
        else:
            yield batch_features, _take(target, selector)


def check_shuffle(shuffle: object) -> None:
    """TF's rule: shuffle has no default and must be a bool.

    >>> check_shuffle(False)
    """
    if not isinstance(shuffle, bool):
        raise ValueError(
            "shuffle must be provided and explicitly set as boolean (it is recommended to set it as True "
            f"for training). Received: shuffle={shuffle!r}."
        )


def check_queue(queue_capacity: object, num_threads: object) -> None:
    """Both must be positive ints (they size TF's feeding queue; here they only keep signatures equal).

    >>> check_queue(1000, 1)
    """
    for name, value in (("queue_capacity", queue_capacity), ("num_threads", num_threads)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}.")


def check_lengths(features: Arrays, target: Arrays | None) -> None:
    """ValueError 'Length of tensors in x and y is mismatched' unless every array has one length.

    >>> check_lengths({"a": np.zeros(2)}, np.zeros(2))
    """
    lengths = {len(array) for array in _arrays(features) + _arrays(target)}
    if len(lengths) > 1:
        raise ValueError(
            "Length of tensors in x and y is mismatched. All elements in x and y must have the same "
            f"length.\nShapes in x: {_shapes(features)}\nShapes in y: {_shapes(target)}"
        )


def _features(x: object) -> Arrays:
    if isinstance(x, Mapping):
        if not x:
            raise ValueError("x cannot be an empty dict. Pass a dict of arrays or one array.")
        return {key: _array(value, f"x[{key!r}]") for key, value in x.items()}
    if isinstance(x, np.ndarray):
        if x.size == 0:
            raise ValueError(f"x cannot be an empty array. Received an array of shape {x.shape}.")
        return _array(x, "x")
    raise TypeError(f"x must be a dict or array; got {type(x).__name__}.")


def _target(y: object, features: Arrays) -> Arrays | None:
    if y is None:
        return None
    if isinstance(y, Mapping):
        if not y:
            raise ValueError("y cannot be empty dict, use None instead.")
        if isinstance(features, dict):
            duplicates = sorted(map(str, set(features).intersection(y)))
            if duplicates:
                raise ValueError(
                    f"{len(duplicates)} duplicate keys are found in both x and y: {duplicates}. "
                    "Rename them in x or in y."
                )
        return {key: _array(value, f"y[{key!r}]") for key, value in y.items()}
    return _array(y, "y")


def _array(value: object, name: str) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim == 0:
        raise ValueError(
            f"{name} must have a first (batch) dimension. Received a scalar: {value!r}. "
            "Pass one value per example, e.g. np.array([value])."
        )
    return array


def _arrays(structure: Arrays | None) -> list[np.ndarray]:
    if structure is None:
        return []
    return list(structure.values()) if isinstance(structure, dict) else [structure]


def _shapes(structure: Arrays | None) -> object:
    if isinstance(structure, dict):
        return {key: array.shape for key, array in structure.items()}
    return None if structure is None else structure.shape


def _num_rows(structure: Arrays) -> int:
    return len(_arrays(structure)[0])


def _take(structure: Arrays, selector: slice | np.ndarray) -> Any:
    if isinstance(structure, dict):
        return {key: _take_one(array, selector) for key, array in structure.items()}
    return _take_one(structure, selector)


def _take_one(array: np.ndarray, selector: slice | np.ndarray) -> Any:
    # A slice is a view of the caller's array; copy it so tensors never alias the caller's data.
    rows = array[selector].copy() if isinstance(selector, slice) else array[selector]
    return to_tensors(rows)
