"""TF's shape rules for metric inputs: squeezable dimensions, compatible shapes, weight broadcasting.

Every check here reads shapes only (no device sync) and runs when the metric function is called in
model_fn, as TF checked static shapes while building the graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from torch_estimator.contract.describe import describe

__all__ = [
    "align_weights",
    "align_weights_to_rank",
    "as_tensor",
    "check_broadcastable",
    "check_same_shape",
    "prepare_inputs",
    "remove_squeezable_dimensions",
]


def as_tensor(value: Any, argument: str, metric: str) -> torch.Tensor:
    """``value`` as a detached tensor; numbers, lists and numpy arrays are converted as TF did.

    >>> as_tensor([1, 2], "labels", "accuracy")
    tensor([1, 2])
    """
    if isinstance(value, torch.Tensor):
        return value.detach() if value.requires_grad else value
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(
            f"{metric}: {argument} must be a Tensor (or a number or array convertible to one). "
            f"Received: {describe(value)}."
        ) from err


def remove_squeezable_dimensions(
    labels: torch.Tensor, predictions: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """TF's ``confusion_matrix.remove_squeezable_dimensions``: drops a trailing size-1 dimension of
    whichever of the two has rank one more than the other.

    >>> [tuple(t.shape) for t in remove_squeezable_dimensions(torch.zeros(3), torch.zeros(3, 1))]
    [(3,), (3,)]
    """
    rank_diff = predictions.dim() - labels.dim()
    if rank_diff == 1 and predictions.shape[-1] == 1:
        predictions = predictions.squeeze(-1)
    elif rank_diff == -1 and labels.shape[-1] == 1:
        labels = labels.squeeze(-1)
    return labels, predictions


def check_same_shape(
    first: torch.Tensor, second: torch.Tensor, first_name: str, second_name: str, metric: str
) -> None:
    """TF's ``assert_is_compatible_with`` on static shapes.

    Raises:
        ValueError: the shapes differ (TF: "Shapes ... are incompatible"); names both shapes.

    >>> check_same_shape(torch.zeros(3), torch.zeros(3), "labels", "predictions", "accuracy")
    """
    if first.shape != second.shape:
        raise ValueError(
            f"{metric}: Shapes {tuple(first.shape)} and {tuple(second.shape)} are incompatible: {first_name} "
            f"has shape {tuple(first.shape)} and {second_name} has shape {tuple(second.shape)}. Pass "
            f"{first_name} and {second_name} of the same shape (a trailing dimension of size 1 on one of "
            "them is squeezed)."
        )


def align_weights(predictions: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor | None:
    """The weights half of TF's ``_remove_squeezable_dimensions``: scalar weights stay scalar;
    weights one rank above ``predictions`` lose a trailing size-1 dimension, one rank below gain one.

    >>> tuple(align_weights(torch.zeros(4, 3), torch.ones(4)).shape)
    (4, 1)
    """
    return None if weights is None else align_weights_to_rank(weights, predictions.dim())


def align_weights_to_rank(weights: torch.Tensor, rank: int) -> torch.Tensor:
    """``align_weights`` for predictions of rank ``rank``.

    >>> tuple(align_weights_to_rank(torch.ones(4, 1), 1).shape)
    (4,)
    """
    if weights.dim() == 0:
        return weights
    rank_diff = weights.dim() - rank
    if rank_diff == 1 and weights.shape[-1] == 1:
        return weights.squeeze(-1)
    if rank_diff == -1:
        return weights.unsqueeze(-1)
    return weights


def prepare_inputs(
    labels: Any, predictions: Any, weights: Any, metric: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Labels and predictions as tensors (``as_tensor``), then TF's
    ``_remove_squeezable_dimensions(predictions, labels, weights)`` and its shape check, weights
    converted last: the first step of the accuracy, confusion, threshold and regression metrics.

    Returns:
        ``(labels, predictions, weights)`` as tensors, squeezable dimensions removed.

    Raises:
        TypeError: an input is not convertible to a tensor.
        ValueError: labels and predictions have incompatible shapes.

    >>> inputs = prepare_inputs(torch.zeros(4), torch.zeros(4, 1), [[1.0]] * 4, "m")
    >>> [tuple(tensor.shape) for tensor in inputs]
    [(4,), (4,), (4,)]
    """
    # Plain tensors without grad (what model_fn passes on every batch) skip as_tensor's calls.
    if type(labels) is not torch.Tensor or labels.requires_grad:
        labels = as_tensor(labels, "labels", metric)
    if type(predictions) is not torch.Tensor or predictions.requires_grad:
        predictions = as_tensor(predictions, "predictions", metric)
    if labels.shape != predictions.shape:  # the common case, equal shapes, needs no more checks
        labels, predictions = remove_squeezable_dimensions(labels, predictions)
        check_same_shape(labels, predictions, "labels", "predictions", metric)
    if weights is None:
        return labels, predictions, None
    return (
        labels,
        predictions,
        align_weights_to_rank(as_tensor(weights, "weights", metric), predictions.dim()),
    )


def check_broadcastable(weights: torch.Tensor, values_shape: Sequence[int], metric: str) -> None:
    """TF's ``weights_broadcast_ops.assert_broadcastable``: weights are a scalar, or of the values'
    rank with every dimension 1 or equal to the values' dimension.

    Raises:
        ValueError: "weights can not be broadcast to values", naming both shapes.

    >>> check_broadcastable(torch.ones(4, 1), (4, 3), "mean")
    """
    if weights.dim() == 0:
        return
    values_shape = tuple(values_shape)
    fits = weights.dim() == len(values_shape) and all(
        size in (1, value_size) for size, value_size in zip(weights.shape, values_shape, strict=True)
    )
    if not fits:
        example = (*values_shape[:1], *([1] * (len(values_shape) - 1)))
        raise ValueError(
            f"{metric}: weights can not be broadcast to values. values.shape={values_shape}. "
            f"weights.shape={tuple(weights.shape)}. Pass weights of rank 0, or of the values' rank with each "
            f"dimension 1 or equal to the values' dimension (e.g. shape {example})."
        )
