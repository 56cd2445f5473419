"""Feature specs for parsing serving inputs: ``FixedLenFeature`` and ``VarLenFeature`` (TF's tf.io names).

Torch has no string tensors, so the export cannot parse serialized examples inside a program. A
parsing signature's program takes the *parsed* features; the spec goes into the signature file and
the server parses JSON examples or serialized ``tf.Example`` protos with it before calling.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Any

import torch

from torch_estimator.saved_model.format import dtype_name

__all__ = ["FixedLenFeature", "VarLenFeature", "check_feature_spec", "example_tensor", "feature_spec_entry"]

# tf.Example holds float lists, int64 lists and byte lists; the parsed tensors are these dtypes.
_PARSED_DTYPES = {"float32": torch.float32, "int64": torch.int64}
_STRING_NAMES = frozenset({"string", "str", "bytes"})


class FixedLenFeature(collections.namedtuple("FixedLenFeature", ["shape", "dtype", "default_value"])):
    """A feature with a fixed shape per example; ``default_value`` fills it when an example lacks it.

    >>> FixedLenFeature([4], torch.float32)
    FixedLenFeature(shape=[4], dtype=torch.float32, default_value=None)
    """

    __slots__ = ()

    def __new__(cls, shape: Any, dtype: Any, default_value: Any = None) -> FixedLenFeature:
        return super().__new__(cls, shape, dtype, default_value)


class VarLenFeature(collections.namedtuple("VarLenFeature", ["dtype"])):
    """A feature with any number of values per example; parsed into a dense ``(batch, longest)``
    tensor padded with 0 (TF returned a SparseTensor).

    >>> VarLenFeature(torch.int64)
    VarLenFeature(dtype=torch.int64)
    """

    __slots__ = ()


def check_feature_spec(feature_spec: Any) -> dict[str, FixedLenFeature | VarLenFeature]:
    """The spec as a dict, checked as TF's parse_example checked it.

    Raises:
        ValueError: the spec is empty or not a dict, a key is not a string, a value is not a
            FixedLenFeature / VarLenFeature, a shape is unknown, or a dtype is not float32 / int64
            (string features cannot be program inputs).

    >>> check_feature_spec({"x": FixedLenFeature([2], torch.float32)})["x"].shape
    [2]
    """
    if not feature_spec:
        raise ValueError(f"Missing: features was {feature_spec!r}. Pass {{name: FixedLenFeature(...)}}.")
    if not isinstance(feature_spec, Mapping):
        raise ValueError(
            f"feature_spec must be a dict of feature names to FixedLenFeature / VarLenFeature. "
            f"Received: {type(feature_spec).__name__}."
        )
    for name, feature in feature_spec.items():
        if not isinstance(name, str):
            raise ValueError(f"feature_spec keys must be strings: {name!r}.")
        if not isinstance(feature, (FixedLenFeature, VarLenFeature)):
            raise ValueError(
                f"Unsupported {type(feature).__name__} {feature!r} for feature {name!r}. Use "
                "te.export.FixedLenFeature or te.export.VarLenFeature."
            )
        _parsed_dtype(name, feature.dtype)
        if isinstance(feature, FixedLenFeature):
            shape = _shape(feature.shape)
            if any(size is None or size < 0 for size in shape):
                raise ValueError(
                    f"First dimension of shape for feature {name} unknown. Consider using "
                    f"FixedLenSequenceFeature. Received shape: {feature.shape!r}; FixedLenFeature needs a "
                    "fully known shape (use VarLenFeature for a variable length)."
                )
    return dict(feature_spec)


def example_tensor(feature: FixedLenFeature | VarLenFeature, batch_size: int) -> torch.Tensor:
    """A tensor of zeros shaped as ``batch_size`` parsed examples (a var-len feature: 2 values each).

    >>> example_tensor(FixedLenFeature([3], torch.float32), 2).shape
    torch.Size([2, 3])
    """
    dtype = _parsed_dtype("", feature.dtype)
    if isinstance(feature, VarLenFeature):
        return torch.zeros((batch_size, 2), dtype=dtype)
    return torch.zeros((batch_size, *_shape(feature.shape)), dtype=dtype)


def feature_spec_entry(feature: FixedLenFeature | VarLenFeature) -> dict[str, Any]:
    """The signature file's description of one feature (what the server parses examples with).

    >>> feature_spec_entry(VarLenFeature(torch.int64))
    {'kind': 'var_len', 'dtype': 'int64'}
    """
    dtype = dtype_name(_parsed_dtype("", feature.dtype))
    if isinstance(feature, VarLenFeature):
        return {"kind": "var_len", "dtype": dtype}
    default = feature.default_value
    if isinstance(default, torch.Tensor):
        default = default.tolist()
    return {
        "kind": "fixed_len",
        "dtype": dtype,
        "shape": list(_shape(feature.shape)),
        "default_value": default,
    }


def _parsed_dtype(name: str, dtype: Any) -> torch.dtype:
    key = dtype_name(dtype) if isinstance(dtype, torch.dtype) else dtype
    if key in _PARSED_DTYPES:
        return _PARSED_DTYPES[key]
    if isinstance(key, str) and key in _STRING_NAMES:
        raise ValueError(
            f"Feature {name!r} has dtype {dtype!r}: string features are not supported in an exported program "
            "(torch has no string tensors). Parse them into int64 ids (a vocabulary lookup) instead."
        )
    raise ValueError(
        f"Unsupported dtype {dtype!r} for feature {name!r}. tf.Example features are float32 or int64 "
        "(torch.float32 / torch.int64)."
    )


def _shape(shape: Any) -> tuple[int | None, ...]:
    if isinstance(shape, int):
        return (shape,)
    return tuple(None if size is None else int(size) for size in shape)
