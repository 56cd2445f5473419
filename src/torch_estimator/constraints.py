"""``te.constraints``: ``tf.keras.constraints``, for the ``*_constraint=`` arguments of te's layers
and ``te.get_variable``; the optimizers apply a variable's constraint after each update of it.

Maths: Keras 2.15's (its ``epsilon`` of 1e-7 included). ``axis`` counts in TF's variable layouts,
which te's layers keep: a dense kernel is ``[in, units]`` and a conv2d kernel ``[h, w, in, out]``, so
the default ``axis=0`` constrains each unit's incoming weights. The layers also take Keras' names
(``kernel_constraint="non_neg"``), through ``get``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from torch_estimator.contract.keras_objects import config_repr, from_identifier, serialize

__all__ = [
    "Constraint",
    "MaxNorm",
    "MinMaxNorm",
    "NonNeg",
    "RadialConstraint",
    "UnitNorm",
    "get",
    "max_norm",
    "min_max_norm",
    "non_neg",
    "radial_constraint",
    "serialize",
    "unit_norm",
]

_EPSILON = 1e-7  # Keras' backend.epsilon()

Axis = int | Sequence[int]


class Constraint:
    """A callable ``variable -> projected value`` with Keras' config methods; the identity."""

    def __call__(self, weights: torch.Tensor) -> torch.Tensor:
        return weights

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, as Keras' ``get_config``."""
        return {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Constraint:
        """The constraint ``get_config`` describes."""
        return cls(**config)

    __repr__ = config_repr


def _norms(weights: torch.Tensor, axis: Axis) -> torch.Tensor:
    dims = (axis,) if isinstance(axis, int) else tuple(axis)
    return weights.square().sum(dim=dims, keepdim=True).sqrt()


class MaxNorm(Constraint):
    """Rescales each slice along ``axis`` whose L2 norm exceeds ``max_value`` down to it.

    >>> MaxNorm(1.0)(torch.tensor([[3.0], [4.0]]))
    tensor([[0.6000],
            [0.8000]])
    """

    def __init__(self, max_value: float = 2, axis: Axis = 0) -> None:
        self.max_value = max_value
        self.axis = axis

    def __call__(self, weights: torch.Tensor) -> torch.Tensor:
        norms = _norms(weights, self.axis)
        desired = norms.clamp(0, self.max_value)
        return weights * (desired / (_EPSILON + norms))

    def get_config(self) -> dict[str, Any]:
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Sets negative weights to 0 (as ``-0.0``, like Keras' multiplication by the mask).

    >>> NonNeg()(torch.tensor([1.0, -2.0]))
    tensor([1., -0.])
    """

    def __call__(self, weights: torch.Tensor) -> torch.Tensor:
        return weights * (weights >= 0).to(weights.dtype)


class UnitNorm(Constraint):
    """Divides each slice along ``axis`` by its L2 norm.

    >>> UnitNorm()(torch.tensor([[3.0], [4.0]]))
    tensor([[0.6000],
            [0.8000]])
    """

    def __init__(self, axis: Axis = 0) -> None:
        self.axis = axis

    def __call__(self, weights: torch.Tensor) -> torch.Tensor:
        return weights / (_EPSILON + _norms(weights, self.axis))

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Moves each slice's L2 norm into ``[min_value, max_value]``, by ``rate`` of the way.

    >>> MinMaxNorm(2.0, 3.0)(torch.tensor([[0.3], [0.4]]))
    tensor([[1.2000],
            [1.6000]])
    """

    def __init__(
        self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: Axis = 0
    ) -> None:
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, weights: torch.Tensor) -> torch.Tensor:
        norms = _norms(weights, self.axis)
        desired = self.rate * norms.clamp(self.min_value, self.max_value) + (1 - self.rate) * norms
        return weights * (desired / (_EPSILON + norms))

    def get_config(self) -> dict[str, Any]:
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


class RadialConstraint(Constraint):
    """Makes each ``[h, w]`` slice of a rank-4 conv kernel constant on square rings around its
    centre, as Keras 2.15 does: ring ``i`` takes the value at ``[start + i, start + i]`` (``start =
    h // 2``), and the innermost cell (odd sizes) or 2x2 block (even sizes) the value at ``[start -
    1, start - 1]``.

    >>> kernel = torch.arange(9.0).reshape(3, 3, 1, 1)
    >>> RadialConstraint()(kernel)[:, :, 0, 0]
    tensor([[4., 4., 4.],
            [4., 0., 4.],
            [4., 4., 4.]])
    """

    def __call__(self, weights: torch.Tensor) -> torch.Tensor:
        if weights.dim() != 4:
            raise ValueError(
                "The weight tensor must have rank 4. Received weight tensor with shape: "
                f"{tuple(weights.shape)}. RadialConstraint is for conv2d kernels [h, w, in, out]."
            )
        size, width = weights.shape[:2]
        if size != width or size < 2:
            raise ValueError(
                f"RadialConstraint needs square kernels of at least 2x2; received [h, w] = [{size}, {width}]."
            )
        start = size // 2
        positions = torch.arange(size, device=weights.device)
        # Each cell's ring (Chebyshev distance to the centre cell, or to the central 2x2 block for even
        # sizes), and the diagonal cell whose value each ring takes, in the order Keras pads them.
        if size % 2:
            distance = (positions - start).abs()
            diagonal = [start - 1] + [start + ring - 1 for ring in range(1, start + 1)]
        else:
            distance = torch.where(positions < start, start - 1 - positions, positions - start)
            diagonal = [start - 1] + [start + ring for ring in range(1, start)]
        ring = torch.maximum(distance[:, None], distance[None, :])
        return weights[diagonal, diagonal][ring]


max_norm = MaxNorm
min_max_norm = MinMaxNorm
non_neg = NonNeg
radial_constraint = RadialConstraint
unit_norm = UnitNorm

_BY_NAME: dict[str, Callable[..., Constraint]] = {
    "MaxNorm": MaxNorm,
    "max_norm": MaxNorm,
    "MinMaxNorm": MinMaxNorm,
    "min_max_norm": MinMaxNorm,
    "NonNeg": NonNeg,
    "non_neg": NonNeg,
    "RadialConstraint": RadialConstraint,
    "radial_constraint": RadialConstraint,
    "UnitNorm": UnitNorm,
    "unit_norm": UnitNorm,
}


def get(identifier: Any) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The constraint ``identifier`` names (``tf.keras.constraints.get``): None, a Keras name
    or a ``serialize`` dict, or any callable, returned as it is.

    Raises:
        ValueError: anything else, or an unknown name.

    >>> get('non_neg')
    NonNeg()
    """
    return from_identifier(identifier, _BY_NAME, "constraint function", "te.constraints.max_norm(2.0)")
