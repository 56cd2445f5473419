"""TF's variable initializers: ``initializer(shape, dtype=...) -> Tensor``.

Fans follow TF's rule for kernels in TF layout (``[..., in, out]``): for a 2-D shape
``fan_in = shape[0]`` and ``fan_out = shape[1]``; for more dimensions the leading ones are the
receptive field, ``fan_in = shape[-2] * receptive`` and ``fan_out = shape[-1] * receptive``.
Randomness comes from torch's global generator, which ``RunConfig(tf_random_seed=...)`` seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

__all__ = [
    "Initializer",
    "compute_fans",
    "constant",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "ones",
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "variance_scaling",
    "zeros",
]

Shape = Sequence[int]

# Standard deviation of a unit normal truncated to [-2, 2]; TF divides by it so the truncated
# distribution keeps the requested variance.
_TRUNCATED_STDDEV_CORRECTION = 0.87962566103423978


class Initializer:
    """Base class: subclasses implement ``__call__(shape, dtype=torch.float32)``."""

    def __call__(self, shape: Shape, dtype: torch.dtype = torch.float32, **unused: Any) -> torch.Tensor:
        raise NotImplementedError


def compute_fans(shape: Shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` for a variable of ``shape`` in TF layout.

    >>> compute_fans((3, 3, 16, 32))
    (144, 288)
    """
    shape = tuple(shape)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class _Constant(Initializer):
    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self, shape: Shape, dtype: torch.dtype = torch.float32, **unused: Any) -> torch.Tensor:
        value = torch.as_tensor(self.value, dtype=dtype)
        if value.numel() == 1:
            return torch.full(tuple(shape), value.item(), dtype=dtype)
        if tuple(value.shape) != tuple(shape):
            value = value.reshape(tuple(shape))
        return value.clone()

    def __repr__(self) -> str:
        return f"constant({self.value!r})"


def zeros() -> Initializer:
    """All zeros (TF's default for biases and integer variables)."""
    return _Constant(0)


def ones() -> Initializer:
    """All ones."""
    return _Constant(1)


def constant(value: Any = 0) -> Initializer:
    """A constant: a number fills the shape, an array must have the shape's element count."""
    return _Constant(value)


class _RandomUniform(Initializer):
    def __init__(self, minval: float, maxval: float) -> None:
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape: Shape, dtype: torch.dtype = torch.float32, **unused: Any) -> torch.Tensor:
        return torch.empty(tuple(shape), dtype=dtype).uniform_(self.minval, self.maxval)


class _RandomNormal(Initializer):
    def __init__(self, mean: float, stddev: float, truncated: bool) -> None:
        self.mean, self.stddev, self.truncated = mean, stddev, truncated

    def __call__(self, shape: Shape, dtype: torch.dtype = torch.float32, **unused: Any) -> torch.Tensor:
        tensor = torch.empty(tuple(shape), dtype=dtype)
        if self.truncated:
            # TF's truncated normal redraws values beyond two standard deviations.
            return torch.nn.init.trunc_normal_(
                tensor, self.mean, self.stddev, self.mean - 2 * self.stddev, self.mean + 2 * self.stddev
            )
        return tensor.normal_(self.mean, self.stddev)


def random_uniform(minval: float = 0.0, maxval: float = 1.0) -> Initializer:
    """Uniform on ``[minval, maxval)``."""
    return _RandomUniform(minval, maxval)


def random_normal(mean: float = 0.0, stddev: float = 1.0) -> Initializer:
    """Normal with the given mean and standard deviation."""
    return _RandomNormal(mean, stddev, truncated=False)


def truncated_normal(mean: float = 0.0, stddev: float = 1.0) -> Initializer:
    """Normal, with values beyond two standard deviations redrawn (TF's truncated_normal)."""
    return _RandomNormal(mean, stddev, truncated=True)


class _VarianceScaling(Initializer):
    def __init__(self, scale: float, mode: str, distribution: str) -> None:
        if scale <= 0.0:
            raise ValueError(f"variance_scaling needs scale > 0. Received: scale={scale}.")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"variance_scaling mode must be fan_in, fan_out or fan_avg. Received: {mode!r}.")
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(
                "variance_scaling distribution must be truncated_normal, untruncated_normal or uniform. "
                f"Received: {distribution!r}."
            )
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape: Shape, dtype: torch.dtype = torch.float32, **unused: Any) -> torch.Tensor:
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return _RandomUniform(-limit, limit)(shape, dtype)
        if self.distribution == "truncated_normal":
            return _RandomNormal(0.0, math.sqrt(variance) / _TRUNCATED_STDDEV_CORRECTION, True)(shape, dtype)
        return _RandomNormal(0.0, math.sqrt(variance), False)(shape, dtype)

    def __repr__(self) -> str:
        return f"variance_scaling(scale={self.scale}, mode={self.mode!r}, distribution={self.distribution!r})"


def variance_scaling(
    scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal"
) -> Initializer:
    """Samples with variance ``scale / fan`` (TF's VarianceScaling)."""
    return _VarianceScaling(scale, mode, distribution)


def glorot_uniform() -> Initializer:
    """Uniform on ``±sqrt(6 / (fan_in + fan_out))``: TF's default for kernels and get_variable."""
    return _VarianceScaling(1.0, "fan_avg", "uniform")


def glorot_normal() -> Initializer:
    """Truncated normal with variance ``2 / (fan_in + fan_out)``."""
    return _VarianceScaling(1.0, "fan_avg", "truncated_normal")


def he_normal() -> Initializer:
    """Truncated normal with variance ``2 / fan_in``."""
    return _VarianceScaling(2.0, "fan_in", "truncated_normal")


def he_uniform() -> Initializer:
    """Uniform with variance ``2 / fan_in``."""
    return _VarianceScaling(2.0, "fan_in", "uniform")


def lecun_normal() -> Initializer:
    """Truncated normal with variance ``1 / fan_in``."""
    return _VarianceScaling(1.0, "fan_in", "truncated_normal")


def lecun_uniform() -> Initializer:
    """Uniform with variance ``1 / fan_in``."""
    return _VarianceScaling(1.0, "fan_in", "uniform")
