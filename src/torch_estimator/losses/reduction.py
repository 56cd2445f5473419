"""TF1's weighted reduction of per-element losses: ``Reduction`` and ``compute_weighted_loss``.

Maths: TF's own (``tf.compat.v1.losses``). The losses and weights are cast to float32, the weights
must broadcast to the losses (rank 0, or the losses' rank with each dimension 1 or equal), and the
weighted sum is divided per ``reduction``; every division is ``div_no_nan`` (0 when the divisor is
0). The result goes back to the losses' dtype. This is ``tf.compat.v1.losses.Reduction``, whose
default divides by the number of nonzero weights; ``te.Reduction`` is TF2's (the heads').
"""

from __future__ import annotations

from typing import Any

import torch

from torch_estimator.losses.collection import LOSSES, record_loss, scoped_loss_name
from torch_estimator.metrics.shapes import check_broadcastable
from torch_estimator.metrics.state import div_no_nan

__all__ = ["Reduction", "as_float_tensor", "compute_weighted_loss", "reduce_weighted"]


class Reduction:
    """How ``compute_weighted_loss`` and the loss functions reduce the weighted losses
    (``tf.compat.v1.losses.Reduction``).

    * ``NONE``: the weighted losses, unreduced.
    * ``SUM``: their sum.
    * ``MEAN``: the sum divided by the sum of the weights (broadcast to the losses).
    * ``SUM_OVER_BATCH_SIZE``: the sum divided by the number of loss elements.
    * ``SUM_BY_NONZERO_WEIGHTS`` (the default; also ``SUM_OVER_NONZERO_WEIGHTS``): the sum divided by
      the number of loss elements whose weight is not 0.

    >>> Reduction.SUM_BY_NONZERO_WEIGHTS, Reduction.validate("weighted_sum")
    ('weighted_sum_by_nonzero_weights', None)
    """

    NONE = "none"
    SUM = "weighted_sum"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS

    @classmethod
    def all(cls) -> tuple[str, ...]:
        """Every reduction, in TF's order (the nonzero-weights one twice, under both names)."""
        return (
            cls.NONE,
            cls.SUM,
            cls.MEAN,
            cls.SUM_OVER_BATCH_SIZE,
            cls.SUM_OVER_NONZERO_WEIGHTS,
            cls.SUM_BY_NONZERO_WEIGHTS,
        )

    @classmethod
    def validate(cls, key: Any) -> None:
        """Raises ValueError unless ``key`` is one of ``Reduction.all()``."""
        if key not in cls.all():
            raise ValueError(
                f"Invalid Reduction Key {key}. Key should be one of {cls.all()}. Use te.losses.Reduction "
                "(tf.compat.v1.losses.Reduction), not te.Reduction, with te.losses functions."
            )


def as_float_tensor(value: Any, argument: str, function: str) -> torch.Tensor:
    """``value`` as a float32 tensor (TF's ``cast(..., float32)``); None and unconvertible values
    raise with the argument named."""
    if value is None:
        raise ValueError(f"te.losses.{function}: Argument `{argument}` must not be None.")
    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"te.losses.{function}: {argument} must be a tensor (or a number or array convertible to "
                f"one). Received: {type(value).__name__} {value!r}."
            ) from err
    return value.to(torch.float32)


_LAST_OPS = {Reduction.NONE: "Mul", Reduction.SUM: "Sum"}
"""TF's last op of a reduction, naming the recorded loss (``value`` for the divisions)."""


def reduce_weighted(
    losses: torch.Tensor,
    weights: Any,
    name: str | None,
    loss_collection: str | None,
    reduction: str,
    function: str,
) -> torch.Tensor:
    """``compute_weighted_loss`` under the scope ``name`` a loss function opened already
    (``scoped_loss_name``); ``function`` is named in errors. The loss is recorded as ``<name>/<op>``,
    ``op`` being TF's last op of the reduction (``Mul``, ``Sum`` or ``value``)."""
    Reduction.validate(reduction)
    input_dtype = losses.dtype
    losses = losses.to(torch.float32)
    op = _LAST_OPS.get(reduction, "value")
    if isinstance(weights, (int, float)) and not isinstance(weights, bool) and reduction != Reduction.MEAN:
        # A number (the default 1.0): TF's _num_present short-cuts it too; no weight tensor, no count kernels.
        loss = _reduce_by_number(losses, weights, reduction)
    else:
        weights = as_float_tensor(weights, "weights", function).to(losses.device)
        check_broadcastable(weights, losses.shape, f"te.losses.{function}")
        loss = _reduce_by_tensor(losses, weights, reduction)
    loss = loss.to(input_dtype)
    if name is not None:
        record_loss(f"{name}/{op}", loss, loss_collection)
    return loss


def _reduce_by_number(losses: torch.Tensor, weight: float, reduction: str) -> torch.Tensor:
    """``reduce_weighted`` for a number weight (not MEAN, whose float32 sum of weights it would round
    differently): the divisor is a count, exact as a Python number."""
    weighted = losses if weight == 1 else losses * weight
    if reduction == Reduction.NONE:
        return weighted
    total = weighted.sum()
    if reduction == Reduction.SUM:
        return total
    count = losses.numel() if reduction == Reduction.SUM_OVER_BATCH_SIZE or weight != 0 else 0
    return total / count if count else torch.zeros_like(total)


def _reduce_by_tensor(losses: torch.Tensor, weights: torch.Tensor, reduction: str) -> torch.Tensor:
    weighted = losses * weights
    if reduction == Reduction.NONE:
        return weighted
    total = weighted.sum()
    if reduction == Reduction.SUM:
        return total
    if reduction == Reduction.MEAN:
        return div_no_nan(total, torch.broadcast_to(weights, losses.shape).sum())
    if reduction == Reduction.SUM_BY_NONZERO_WEIGHTS:
        return div_no_nan(total, _nonzero_weights(losses, weights))
    count = losses.numel()  # a Python number: no tensor made (and copied to the device) per step
    return total / count if count else torch.zeros_like(total)


def _nonzero_weights(losses: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """How many loss elements have a nonzero weight once the weights are broadcast to the losses
    (TF's ``_num_present``), as a float32 scalar."""
    present = (weights != 0).to(torch.float32)
    return torch.broadcast_to(present, losses.shape).sum()


def compute_weighted_loss(
    losses: Any,
    weights: Any = 1.0,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> torch.Tensor:
    """The losses weighted and reduced (``tf.compat.v1.losses.compute_weighted_loss``), added to
    ``loss_collection`` inside model_fn.

    Args:
        losses: per-element losses of any shape.
        weights: a scalar, or a tensor of the losses' rank with each dimension 1 or the losses'.
        scope: the name the loss is recorded under (default ``weighted_loss``).
        loss_collection: the collection to add the loss to (None: none).
        reduction: a ``te.losses.Reduction``.

    Returns:
        A scalar in the losses' dtype; with ``Reduction.NONE``, the weighted losses.

    Raises:
        ValueError: an unknown reduction, weights that do not broadcast to the losses, or None.

    >>> compute_weighted_loss(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), weights=torch.tensor([[0.0], [2.0]]))
    tensor(7.)
    """
    name = scoped_loss_name(scope, "weighted_loss")
    if losses is None:
        raise ValueError("te.losses.compute_weighted_loss: Argument `losses` must not be None.")
    try:
        tensor = losses if isinstance(losses, torch.Tensor) else torch.as_tensor(losses)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(
            "te.losses.compute_weighted_loss: losses must be a tensor (or a number or array convertible to "
            f"one). Received: {type(losses).__name__} {losses!r}."
        ) from err
    return reduce_weighted(tensor, weights, name, loss_collection, reduction, "compute_weighted_loss")
