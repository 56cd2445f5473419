"""Column selection and column defaults of the CSV and Parquet readers (TF's make_csv_dataset rules)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["REQUIRED", "arrow_type_and_default", "check_label", "require_pyarrow", "select_names", "zero_of"]

REQUIRED = object()
"""A column default that is a type, not a value: a missing field is an error."""


def require_pyarrow(caller: str) -> None:
    """ImportError naming the extra to install when pyarrow is missing.

    >>> require_pyarrow("make_csv_dataset")
    """
    try:
        import pyarrow  # noqa: F401
    except ImportError as err:
        raise ImportError(f"{caller} needs pyarrow: pip install 'torch-estimator[data]'.") from err


def select_names(names: Sequence[str], select_columns: Sequence[str | int] | None) -> list[str]:
    """The selected column names, in file order; every column when ``select_columns`` is None.

    >>> select_names(["a", "b", "c"], ["c", 0])
    ['a', 'c']
    """
    if select_columns is None:
        return list(names)
    if isinstance(select_columns, (str, int)) or not select_columns:
        raise ValueError(
            "select_columns must be a non-empty list of column names or indices. "
            f"Received: {select_columns!r}."
        )
    wanted = set()
    for column in select_columns:
        if isinstance(column, (int, np.integer)) and not isinstance(column, bool):
            if not 0 <= column < len(names):
                raise ValueError(
                    f"select_columns index {column} is out of range for the {len(names)} columns "
                    f"{list(names)}."
                )
            wanted.add(names[column])
        elif isinstance(column, str):
            if column not in names:
                raise ValueError(
                    f"select_columns names {column!r}, which is not a column. Columns: {list(names)}."
                )
            wanted.add(column)
        else:
            raise TypeError(f"select_columns holds names (str) or indices (int). Received: {column!r}.")
    return [name for name in names if name in wanted]


def check_label(label_name: str | None, names: Sequence[str]) -> None:
    """ValueError unless ``label_name`` is None or one of ``names``.

    >>> check_label("y", ["x", "y"])
    """
    if label_name is not None and label_name not in names:
        raise ValueError(
            f"`label_name` provided must be one of the columns: {list(names)}. Received: {label_name!r}."
        )


def arrow_type_and_default(default: Any, column: str) -> tuple[Any, Any]:
    """``(pyarrow type, fill value or REQUIRED)`` for one entry of ``column_defaults``.

    A value (``0.0``, ``0``, ``""``, ``np.int32(0)``) makes the column optional with that default; a
    type (``float``, ``int``, ``str``, ``np.float64``, ``torch.int32``) makes it required. Python
    floats mean float32 and ints int64, the dtypes models use.

    >>> arrow_type_and_default(0.0, "x")
    (DataType(float), 0.0)
    """
    import pyarrow as pa

    simple = {bool: pa.bool_(), int: pa.int64(), float: pa.float32(), str: pa.string()}
    if isinstance(default, type) and default in simple:
        return simple[default], REQUIRED
    if isinstance(default, torch.dtype):
        return pa.from_numpy_dtype(torch.empty((), dtype=default).numpy().dtype), REQUIRED
    if isinstance(default, (type, np.dtype)):
        try:
            return pa.from_numpy_dtype(np.dtype(default)), REQUIRED
        except (TypeError, pa.ArrowNotImplementedError) as err:
            raise TypeError(_bad_default(default, column)) from err
    if isinstance(default, torch.Tensor) and default.dim() == 0:
        default = default.numpy()[()]
    if isinstance(default, np.generic):
        return pa.from_numpy_dtype(default.dtype), default.item()
    if type(default) in simple:
        return simple[type(default)], default
    raise TypeError(_bad_default(default, column))


def zero_of(arrow_type: Any) -> Any:
    """The default TF's make_csv_dataset gave an inferred column: 0, 0.0, False or ''.

    >>> import pyarrow as pa
    >>> zero_of(pa.int64()), zero_of(pa.string())
    (0, '')
    """
    import pyarrow as pa

    if pa.types.is_boolean(arrow_type):
        return False
    if pa.types.is_integer(arrow_type):
        return 0
    if pa.types.is_floating(arrow_type):
        return 0.0
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return ""
    return REQUIRED  # dates and other types have no neutral value: a missing one is an error


def _bad_default(default: Any, column: str) -> str:
    return (
        f"column_defaults entry for column {column!r} must be a default value (0.0, 0, '', a numpy or torch "
        f"scalar) or a type (float, int, str, np.float64, torch.int32). Received: {default!r}."
    )
