"""JSON values <-> tensors, with TF Serving's dtype names and its rules for what a value may be.

TF Serving's REST API reads nested JSON lists into tensors of the signature's dtype: numbers only for
numeric inputs (no strings, no ``true``), integers only for integer inputs, ``true``/``false`` only for
bool inputs, ``{"b64": ...}`` only for string inputs. Outputs go back as nested lists; float32
values are written in their shortest form that reads back to the same float32.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from torch_estimator.serving.errors import InvalidArgumentError

__all__ = ["TF_DTYPE_NAMES", "decode_b64", "json_values", "shape_text", "tf_dtype_name", "to_tensor"]

TF_DTYPE_NAMES: dict[torch.dtype, str] = {
    torch.float32: "DT_FLOAT",
    torch.float64: "DT_DOUBLE",
    torch.float16: "DT_HALF",
    torch.bfloat16: "DT_BFLOAT16",
    torch.int8: "DT_INT8",
    torch.int16: "DT_INT16",
    torch.int32: "DT_INT32",
    torch.int64: "DT_INT64",
    torch.uint8: "DT_UINT8",
    torch.uint16: "DT_UINT16",
    torch.uint32: "DT_UINT32",
    torch.uint64: "DT_UINT64",
    torch.bool: "DT_BOOL",
    torch.complex64: "DT_COMPLEX64",
    torch.complex128: "DT_COMPLEX128",
}


def tf_dtype_name(dtype: torch.dtype) -> str:
    """TF's ``DataType`` name of a torch dtype.

    >>> tf_dtype_name(torch.float32)
    'DT_FLOAT'
    """
    return TF_DTYPE_NAMES.get(dtype, "DT_INVALID")


def shape_text(shape: Sequence[int | None]) -> str:
    """``[-1, 4]`` for ``(None, 4)``: the dynamic batch dimension written as TF writes it."""
    return "[" + ", ".join("-1" if dim is None or dim < 0 else str(dim) for dim in shape) + "]"


def decode_b64(value: Any, where: str) -> bytes:
    """The bytes of a ``{"b64": "..."}`` value (standard or URL-safe base64)."""
    text = value.get("b64") if isinstance(value, dict) else None
    if not isinstance(text, str) or len(value) != 1:
        raise InvalidArgumentError(
            f'{where}: expected a {{"b64": <base64 string>}} object. Received: {value!r:.80}.'
        )
    try:
        return base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError) as err:
        raise InvalidArgumentError(f'{where}: invalid base64 in {{"b64": ...}}: {err}.') from err


def _first_bad(value: Any) -> Any:
    """The first leaf of a nested list that is not a number or bool (for error messages)."""
    if isinstance(value, list):
        for item in value:
            bad = _first_bad(item)
            if bad is not None:
                return bad
        return None
    return None if isinstance(value, (int, float)) else value


def _describe_bad(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {"b64"}:
        return 'a {"b64": ...} binary value (binary values are only accepted for DT_STRING inputs)'
    if isinstance(value, str):
        return f"a string ({value!r:.40})"
    if value is None:
        return "null"
    return f"{type(value).__name__} {value!r:.40}"


def _holds_bool(value: Any) -> bool:
    if isinstance(value, list):
        return any(_holds_bool(item) for item in value)
    return isinstance(value, bool)


def to_tensor(
    value: Any, dtype: torch.dtype, shape: Sequence[int | None], name: str, *, may_hold_bools: bool = True
) -> torch.Tensor:
    """A JSON value (number, bool or nested lists) as a tensor of ``dtype`` whose shape matches
    ``shape`` (``None``/-1 dims match anything).

    numpy turns ``[true, 2]`` into ``[1, 2]``; to refuse such bools in numeric inputs, nested lists are
    scanned unless ``may_hold_bools`` is False (the caller saw no ``true``/``false`` in the body).

    Raises:
        InvalidArgumentError: a value of the wrong kind (string, b64, bool for a number, a fraction for
            an integer), ragged lists, or the wrong shape; the message names the input.

    >>> to_tensor([[1, 2.5]], torch.float32, (None, 2), "x")
    tensor([[1.0000, 2.5000]])
    """
    try:
        array = np.asarray(value)
    except ValueError as err:  # ragged nested lists
        raise InvalidArgumentError(
            f"Input '{name}' expects a rectangular array of {_expected(dtype, shape)}; received nested "
            f"lists of different lengths ({err})."
        ) from err
    kind = array.dtype.kind
    if kind not in "biuf":
        raise InvalidArgumentError(
            f"Input '{name}' expects {_expected(dtype, shape)} values; received "
            f"{_describe_bad(_first_bad(value))}."
        )
    if (
        kind != "b"
        and dtype != torch.bool
        and may_hold_bools
        and isinstance(value, list)
        and _holds_bool(value)
    ):
        kind = "b"
    wanted = (
        "b" if dtype == torch.bool else "iu" if not (dtype.is_floating_point or dtype.is_complex) else "iuf"
    )
    if kind not in wanted:
        received = {"b": "true/false", "f": "a non-integer number"}.get(kind, "a number")
        raise InvalidArgumentError(
            f"Input '{name}' expects {_expected(dtype, shape)} values; received {received}."
        )
    if array.ndim != len(shape) or any(
        want is not None and want >= 0 and got != want for got, want in zip(array.shape, shape, strict=True)
    ):
        raise InvalidArgumentError(
            f"Input '{name}' expects shape {shape_text(shape)} ({tf_dtype_name(dtype)}); received shape "
            f"{list(array.shape)}."
        )
    if (
        kind in "iu"
        and not (dtype.is_floating_point or dtype.is_complex)
        and dtype != torch.bool
        and array.size
    ):
        info = torch.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise InvalidArgumentError(
                f"Input '{name}' has a value out of range for {tf_dtype_name(dtype)} "
                f"[{info.min}, {info.max}]."
            )
    if dtype == torch.bfloat16:
        return torch.from_numpy(array.astype(np.float32)).to(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(array, dtype=_numpy_dtype(dtype)))


def _expected(dtype: torch.dtype, shape: Sequence[int | None]) -> str:
    return f"{tf_dtype_name(dtype)} {shape_text(shape)}"


@functools.cache
def _numpy_dtype(dtype: torch.dtype) -> np.dtype:
    return torch.empty(0, dtype=dtype).numpy().dtype


def json_values(
    tensor: torch.Tensor, class_names: Sequence[str] | None = None, *, arrays: bool = False
) -> Any:
    """A tensor as nested JSON lists; with ``class_names`` (or ``()`` for ``str(id)``), integer class ids
    become their names. With ``arrays``, numbers stay a C-contiguous numpy array (float32 for the
    float types written as float32) for ``jsonio.dump_answer``, which writes the same values.

    >>> json_values(torch.tensor([0.1, 2.0]))
    [0.1, 2.0]
    >>> json_values(torch.tensor([1, 0]), ["a", "b"])
    ['b', 'a']
    """
    if tensor.requires_grad:
        tensor = tensor.detach()
    if not tensor.is_cpu:
        tensor = tensor.cpu()
    if class_names is not None:
        names = list(class_names)
        return np.vectorize(
            lambda index: names[index] if 0 <= index < len(names) else str(index), otypes=[object]
        )(tensor.numpy()).tolist()
    if arrays and not tensor.is_complex():
        if tensor.dtype in (torch.float16, torch.bfloat16):
            tensor = tensor.float()
        return np.ascontiguousarray(tensor.numpy())
    if tensor.dtype in (torch.float32, torch.float16, torch.bfloat16):
        # numpy's float32 str is the shortest text that reads back to the same float32 ("0.1", not the
        # float64 expansion "0.10000000149011612"), so clients get TF Serving's short numbers exactly.
        return tensor.float().numpy().astype(str).astype(np.float64).tolist()
    if tensor.is_complex():
        raise InvalidArgumentError(f"Complex outputs ({tensor.dtype}) cannot be written as JSON.")
    return tensor.numpy().tolist()
