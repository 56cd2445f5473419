"""``pandas_input_fn``: an input_fn over a DataFrame (tf.compat.v1.estimator.inputs.pandas_input_fn)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from torch_estimator.inputs.epochs import check_batching, draw_seed
from torch_estimator.inputs.numpy_io import array_batches, check_queue, check_shuffle

__all__ = ["column_array", "pandas_input_fn"]


def pandas_input_fn(
    x: Any,
    y: Any = None,
    batch_size: int = 128,
    num_epochs: int | None = 1,
    shuffle: bool | None = None,
    queue_capacity: int | None = 1000,
    num_threads: int = 1,
    target_column: str = "target",
    *,
    seed: int | None = None,
) -> Callable[[], Iterator[Any]]:
    """An input_fn that yields batches of a DataFrame's columns (and a target) as tensors.

    Features are a dict keyed by x's columns; the target is a tensor (``y`` a Series) or a dict keyed
    by y's columns (``y`` a DataFrame). The columns are copied to numpy when this is called, as TF
    copied ``x``; batching, epochs, shuffling and seeding are those of ``numpy_input_fn``. String,
    categorical and other non-numeric columns stay numpy arrays for feature columns; nullable
    integer columns must have no missing values.

    Args:
        x: a pandas DataFrame.
        y: a Series or DataFrame with the same index as ``x``, or None.
        batch_size: rows per batch.
        num_epochs: passes over the data; None repeats forever, 0 yields nothing.
        shuffle: must be given as a bool.
        queue_capacity: kept for TF compatibility; None means ``len(x)`` (4x when shuffling).
        num_threads: kept for TF compatibility (a positive int).
        target_column: a name for the target that x must not already use.
        seed: seeds the shuffle; None draws one from numpy's global RNG when the input_fn is called.

    Returns:
        ``input_fn()`` returning an iterator of ``features`` or ``(features, target)`` batches.

    Raises:
        ValueError: shuffle not a bool, target_column taken, 'Index for x and y are mismatched'.
        TypeError: target_column not a str, x not a DataFrame, y not a Series/DataFrame.

    >>> import pandas as pd
    >>> frame = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    >>> input_fn = pandas_input_fn(frame, pd.Series([0, 1, 0]), batch_size=2, shuffle=False)
    >>> [(f["a"].tolist(), t.tolist()) for f, t in input_fn()]
    [([1.0, 2.0], [0, 1]), ([3.0], [0])]
    """
    pd = _pandas()
    check_shuffle(shuffle)
    if not isinstance(target_column, str):
        raise TypeError(f"target_column must be a string type. Received: {target_column!r}.")
    if not isinstance(x, pd.DataFrame):
        raise TypeError(f"x must be a pandas DataFrame. Received: {type(x).__name__}.")
    _check_target(pd, x, y, target_column)
    if queue_capacity is None:
        queue_capacity = max(1, len(x) * (4 if shuffle else 1))
    features = {name: column_array(x[name]) for name in x.columns}
    target: np.ndarray | dict[Any, np.ndarray] | None = None
    if isinstance(y, pd.DataFrame):
        target = {name: column_array(y[name]) for name in y.columns}
    elif y is not None:
        target = column_array(y)

    def input_fn() -> Iterator[Any]:
        check_batching(batch_size, num_epochs)
        check_queue(queue_capacity, num_threads)
        rng = np.random.default_rng(draw_seed(seed)) if shuffle else None
        return array_batches(features, target, batch_size, num_epochs, bool(shuffle), rng)

    return input_fn


def column_array(series: Any) -> np.ndarray:
    """A Series as a numpy array: numeric (nullable ones too) as numbers, anything else as objects.

    >>> import pandas as pd
    >>> column_array(pd.Series([1, 2], dtype="Int64")).dtype
    dtype('int64')
    """
    dtype = series.dtype
    if isinstance(dtype, np.dtype):
        return series.to_numpy(copy=True)
    # Nullable extension dtypes (Int64, Float32, boolean) carry the numpy dtype they mask.
    numpy_dtype = getattr(dtype, "numpy_dtype", None)
    if isinstance(numpy_dtype, np.dtype) and numpy_dtype.kind in "biuf":
        if series.hasnans:
            if numpy_dtype.kind == "f":
                return series.to_numpy(dtype=numpy_dtype, na_value=np.nan, copy=True)
            raise ValueError(
                f"Column {series.name!r} ({dtype}) has missing values, which a {numpy_dtype} tensor cannot "
                f"hold. Fill them (x[{series.name!r}].fillna(...)) or cast the column to a float dtype."
            )
        return series.to_numpy(dtype=numpy_dtype, copy=True)
    return series.to_numpy(copy=True)


def _check_target(pd: Any, x: Any, y: Any, target_column: str) -> None:
    if y is None:
        return
    if not isinstance(y, (pd.Series, pd.DataFrame)):
        raise TypeError(f"y must be a pandas Series, DataFrame or None. Received: {type(y).__name__}.")
    if target_column in x.columns:
        raise ValueError(
            f"Cannot use name {target_column!r} for target column: DataFrame already has a column with "
            f"that name: {list(x.columns)}. Pass another target_column=."
        )
    if not np.array_equal(x.index, y.index):
        raise ValueError(
            f"Index for x and y are mismatched.\nIndex for x: {x.index}\nIndex for y: {y.index}\n"
            "Align them, e.g. y = y.reindex(x.index) or reset_index(drop=True) on both."
        )


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as err:
        raise ImportError("pandas_input_fn needs pandas: pip install 'torch-estimator[data]'.") from err
    return pandas
