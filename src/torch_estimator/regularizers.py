"""``te.regularizers``: ``tf.keras.regularizers``, for the ``*_regularizer=`` arguments of te's
layers, ``te.get_variable`` and ``te.variable_scope``.

Maths: Keras 2.15's, in the variable's dtype with the penalties rounded to float32 as Keras stored
them. The layers also take Keras' names (``kernel_regularizer="l2"``), through ``get``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from torch_estimator.contract.keras_objects import config_repr, from_identifier, serialize

__all__ = [
    "L1",
    "L1L2",
    "L2",
    "OrthogonalRegularizer",
    "Regularizer",
    "get",
    "l1",
    "l1_l2",
    "l2",
    "orthogonal_regularizer",
    "serialize",
]


def _penalty(value: Any, argument: str) -> float:
    """A penalty as Keras keeps it: an int or float, finite, rounded to float32."""
    if isinstance(value, bool) or not isinstance(value, (float, int)):
        raise ValueError(
            f"Value {value} is not a valid regularization penalty number, expected an int or float value "
            f"(for {argument})."
        )
    if math.isinf(value) or math.isnan(value):
        raise ValueError(
            f"Value {value} is not a valid regularization penalty number, an infinite number or NaN are not "
            f"valid values (for {argument})."
        )
    return float(torch.tensor(value, dtype=torch.float32))


class Regularizer:
    """A callable ``weights -> scalar penalty`` with Keras' config methods."""

    def __call__(self, weights: torch.Tensor) -> torch.Tensor:
        return torch.zeros((), dtype=weights.dtype, device=weights.device)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, as Keras' ``get_config``."""
        return {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Regularizer:
        """The regularizer ``get_config`` describes."""
        return cls(**config)

    __repr__ = config_repr


class L1(Regularizer):
    """``l1 * sum(|w|)``.

    >>> L1(0.5)(torch.tensor([1.0, -2.0]))
    tensor(1.5000)
    """

    def __init__(self, l1: float | None = 0.01, **kwargs: Any) -> None:
        l1 = kwargs.pop("l", l1)
        if kwargs:
            raise TypeError(f"Argument(s) not recognized: {kwargs}. L1 takes l1 (or l).")
        self.l1 = _penalty(0.01 if l1 is None else l1, "l1")

    def __call__(self, weights: torch.Tensor) -> torch.Tensor:
        return self.l1 * weights.abs().sum()

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(w²)`` (Keras: ``2 * l2 * tf.nn.l2_loss(w)``).

    >>> L2(0.5)(torch.tensor([1.0, -2.0]))
    tensor(2.5000)
    """

    def __init__(self, l2: float | None = 0.01, **kwargs: Any) -> None:
        l2 = kwargs.pop("l", l2)
        if kwargs:
            raise TypeError(f"Argument(s) not recognized: {kwargs}. L2 takes l2 (or l).")
        self.l2 = _penalty(0.01 if l2 is None else l2, "l2")

    def __call__(self, weights: torch.Tensor) -> torch.Tensor:
        return 2.0 * self.l2 * (weights.square().sum() / 2)

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w²)``; both penalties default to 0 (``l1_l2()``'s to 0.01).

    >>> L1L2(l1=0.5, l2=0.5)(torch.tensor([1.0, -2.0]))
    tensor(4.)
    """

    def __init__(self, l1: float | None = 0.0, l2: float | None = 0.0) -> None:
        self.l1 = _penalty(0.0 if l1 is None else l1, "l1")
        self.l2 = _penalty(0.0 if l2 is None else l2, "l2")

    def __call__(self, weights: torch.Tensor) -> torch.Tensor:
        total = torch.zeros((), dtype=weights.dtype, device=weights.device)
        if self.l1:
            total = total + self.l1 * weights.abs().sum()
        if self.l2:
            total = total + 2.0 * self.l2 * (weights.square().sum() / 2)
        return total

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """``factor / 2`` times the mean ``|cosine|`` between distinct rows (``mode="rows"``) or columns
    of a rank-2 weight.

    >>> OrthogonalRegularizer(1.0)(torch.tensor([[1.0, 0.0], [1.0, 1.0]]))  # 0.5 * 2 * cos(45°)
    tensor(0.7071)
    """

    def __init__(self, factor: float = 0.01, mode: str = "rows") -> None:
        self.factor = _penalty(factor, "factor")
        if mode not in ("rows", "columns"):
            raise ValueError(
                'Invalid value for argument `mode`. Expected one of {"rows", "columns"}. '
                f"Received: mode={mode}"
            )
        self.mode = mode

    def __call__(self, weights: torch.Tensor) -> torch.Tensor:
        if weights.dim() != 2:
            raise ValueError(
                "Inputs to OrthogonalRegularizer must have rank 2. Received: inputs.shape == "
                f"{tuple(weights.shape)}. Use it on a dense kernel."
            )
        axis = 1 if self.mode == "rows" else 0
        unit = torch.nn.functional.normalize(weights, dim=axis, eps=1e-6)
        product = unit @ unit.T if self.mode == "rows" else unit.T @ unit
        size = product.shape[0]
        off_diagonal = product * (1.0 - torch.eye(size, dtype=weights.dtype, device=weights.device))
        pairs = size * (size - 1.0) / 2.0
        return self.factor * 0.5 * off_diagonal.abs().sum() / pairs

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor, "mode": self.mode}


l1 = L1
l2 = L2
orthogonal_regularizer = OrthogonalRegularizer


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """``L1L2`` with both penalties 0.01 by default (``tf.keras.regularizers.l1_l2``).

    >>> l1_l2().get_config()
    {'l1': 0.009999999776482582, 'l2': 0.009999999776482582}
    """
    return L1L2(l1=l1, l2=l2)


_BY_NAME: dict[str, Callable[..., Regularizer]] = {
    "L1": L1,
    "l1": L1,
    "L2": L2,
    "l2": L2,
    "L1L2": L1L2,
    "l1_l2": l1_l2,
    "OrthogonalRegularizer": OrthogonalRegularizer,
    "orthogonal_regularizer": OrthogonalRegularizer,
}


def get(identifier: Any) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The regularizer ``identifier`` names (``tf.keras.regularizers.get``): None, a Keras name
    or a ``serialize`` dict, or any callable, returned as it is.

    Raises:
        ValueError: anything else, or an unknown name.

    >>> get('l1_l2')
    L1L2(l1=0.009999999776482582, l2=0.009999999776482582)
    """
    return from_identifier(identifier, _BY_NAME, "regularizer", "te.regularizers.l2(0.01)")
