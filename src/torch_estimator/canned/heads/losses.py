"""How a head reduces its per-example loss: ``Reduction``, custom ``loss_fn`` calls, regularization.

``Reduction`` is TF2's ``tf.losses.Reduction`` (``tf.keras.losses.Reduction``): port
``tf.losses.Reduction.SUM`` as ``te.Reduction.SUM``. The values are the same strings, so
``loss_reduction="sum"`` works too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from torch_estimator.contract.describe import describe
from torch_estimator.contract.fn_args import fn_args

__all__ = [
    "LossTerms",
    "Reduction",
    "add_regularization",
    "call_loss_fn",
    "regularization_total",
    "validate_loss_fn",
    "validate_loss_reduction",
    "weighted_loss",
]

_LOSS_FN_ARGS = ("labels", "logits", "features", "loss_reduction")


class Reduction:
    """How the weighted per-example losses of a batch become the training loss.

    * ``SUM_OVER_BATCH_SIZE`` (the default of every head): the weighted sum divided by the number of
      loss elements (``batch_size * label_dimension``).
    * ``SUM``: the weighted sum.
    * ``AUTO``: ``SUM_OVER_BATCH_SIZE`` (as in Keras).
    * ``NONE``: the unreduced losses; heads reject it (the training loss must be a scalar).

    >>> Reduction.SUM_OVER_BATCH_SIZE, Reduction.validate("sum")
    ('sum_over_batch_size', None)
    """

    AUTO = "auto"
    NONE = "none"
    SUM = "sum"
    SUM_OVER_BATCH_SIZE = "sum_over_batch_size"

    @classmethod
    def all(cls) -> tuple[str, ...]:
        """Every reduction, as Keras lists them."""
        return (cls.AUTO, cls.NONE, cls.SUM, cls.SUM_OVER_BATCH_SIZE)

    @classmethod
    def validate(cls, key: Any) -> None:
        """Raises ValueError unless ``key`` is one of ``Reduction.all()``."""
        if key not in cls.all():
            raise ValueError(f"Invalid Reduction Key: {key!r}. Expected one of {cls.all()}.")


def validate_loss_reduction(loss_reduction: Any) -> None:
    """A head's ``loss_reduction`` must be a Reduction other than NONE.

    >>> validate_loss_reduction(Reduction.NONE)
    Traceback (most recent call last):
    ValueError: Invalid loss_reduction: 'none'. ...
    """
    if loss_reduction not in Reduction.all() or loss_reduction == Reduction.NONE:
        raise ValueError(
            f"Invalid loss_reduction: {loss_reduction!r}. See `te.Reduction` (tf.losses.Reduction) for valid "
            f"options: {Reduction.SUM_OVER_BATCH_SIZE!r} (the default) or {Reduction.SUM!r}; a head needs a "
            "scalar training loss, so NONE is not allowed."
        )


@dataclasses.dataclass(frozen=True)
class LossTerms:
    """What a head computes from one batch before reducing: shared by the loss and the eval metrics."""

    logits: torch.Tensor
    """The checked float32 logits, shape ``[D0, ..., DN, logits_dimension]``."""
    labels: torch.Tensor
    """The processed labels, shape ``[D0, ..., DN, k]``: int64 class ids (multi-class), else floats."""
    unweighted_loss: torch.Tensor
    """Per-example loss, shape ``[D0, ..., DN, k]``."""
    weights: torch.Tensor | None
    """Example weights from ``weight_column`` (float32, broadcastable to the loss), or None."""


def weighted_loss(terms: LossTerms, reduction: str) -> torch.Tensor:
    """The scalar training loss: ``sum(loss * weights)``, divided by the number of loss elements for
    ``SUM_OVER_BATCH_SIZE`` / ``AUTO``.

    >>> terms = LossTerms(torch.zeros(2, 1), torch.zeros(2, 1), torch.tensor([[1.0], [3.0]]), None)
    >>> weighted_loss(terms, Reduction.SUM), weighted_loss(terms, Reduction.SUM_OVER_BATCH_SIZE)
    (tensor(4.), tensor(2.))
    """
    losses = terms.unweighted_loss
    if terms.weights is not None:
        losses = losses * terms.weights
    total = losses.sum()
    if reduction == Reduction.SUM:
        return total
    return total / max(losses.numel(), 1)


def add_regularization(loss: torch.Tensor, regularization_losses: Sequence[Any] | None) -> torch.Tensor:
    """``loss + add_n(regularization_losses)``; ``loss`` itself when there are none."""
    if regularization_losses is None:
        return loss
    return loss + regularization_total(regularization_losses, loss)


def regularization_total(regularization_losses: Sequence[Any], like: torch.Tensor) -> torch.Tensor:
    """TF's ``add_n`` of the regularization losses, as a float32 scalar on ``like``'s device."""
    if not isinstance(regularization_losses, (list, tuple)):
        raise ValueError(
            "regularization_losses should be a list or a tuple of scalar loss tensors. "
            f"Given type: {type(regularization_losses).__name__}."
        )
    total = torch.zeros((), dtype=torch.float32, device=like.device)
    for term in regularization_losses:
        total = total + torch.as_tensor(term, dtype=torch.float32, device=like.device).reshape(())
    return total


def validate_loss_fn(loss_fn: Callable[..., Any]) -> None:
    """``loss_fn`` must take ``labels`` and ``logits``, and may take ``features`` and ``loss_reduction``.

    >>> validate_loss_fn(lambda labels: labels)
    Traceback (most recent call last):
    ValueError: loss_fn must contain argument: logits. Given arguments: ('labels',)...
    """
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be callable. Received: {describe(loss_fn)}.")
    names = fn_args(loss_fn)
    for required in ("labels", "logits"):
        if required not in names:
            raise ValueError(
                f"loss_fn must contain argument: {required}. Given arguments: {names}. "
                "Write it as loss_fn(labels, logits[, features])."
            )
    unexpected = sorted(set(names) - set(_LOSS_FN_ARGS))
    if unexpected:
        raise ValueError(f"loss_fn has unexpected args: {unexpected}. Allowed: {list(_LOSS_FN_ARGS)}.")


def call_loss_fn(
    loss_fn: Callable[..., Any],
    labels: torch.Tensor,
    logits: torch.Tensor,
    features: Mapping[str, Any] | Any,
    expected_loss_dim: int,
) -> torch.Tensor:
    """Calls ``loss_fn(labels=, logits=[, features=])`` and checks the unreduced loss's shape is
    ``[D0, ..., DN, expected_loss_dim]``."""
    kwargs: dict[str, Any] = {}
    if "features" in fn_args(loss_fn):
        kwargs["features"] = features
    loss = loss_fn(labels=labels, logits=logits, **kwargs)
    expected = (*logits.shape[:-1], expected_loss_dim)
    if not isinstance(loss, torch.Tensor) or tuple(loss.shape) != expected:
        raise ValueError(
            f"loss_fn must return Tensor of shape [D0, D1, ... DN, {expected_loss_dim}]. "
            f"logits_shape: {tuple(logits.shape)}, loss: {describe(loss)}; expected shape {expected}. "
            "Return the unreduced per-example loss."
        )
    return loss
