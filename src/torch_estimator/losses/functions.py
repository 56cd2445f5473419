"""TF1's loss functions (``tf.compat.v1.losses.*``): per-element losses, weighted and reduced.

Each takes TF's arguments in TF's order, computes TF's per-element loss, and reduces it with
``reduce_weighted`` (``reduction.py``); inside model_fn it adds the result to ``loss_collection``
under TF's name (``collection.py``). Maths: TF's own, in float32 (the cross entropies in the
logits' dtype), checked against TensorFlow 2.15 by the tests.

Arguments every function takes, as TF's:

* ``weights``: a scalar, or a tensor of the per-element losses' rank whose dimensions are 1 or the
  losses' (``sparse_softmax_cross_entropy`` also squeezes a trailing size-1 dimension).
* ``scope``: the name the loss is recorded under, instead of the function's default.
* ``loss_collection``: the collection the loss is added to inside model_fn (None: none).
* ``reduction``: a ``te.losses.Reduction`` (``mean_pairwise_squared_error`` has none).

Each returns the reduced loss, a scalar (the weighted per-element losses for ``Reduction.NONE``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from torch_estimator.losses.collection import LOSSES, record_loss, scoped_loss_name
from torch_estimator.losses.reduction import Reduction, as_float_tensor, reduce_weighted
from torch_estimator.metrics.shapes import check_broadcastable
from torch_estimator.metrics.state import div_no_nan

__all__ = [
    "absolute_difference",
    "cosine_distance",
    "hinge_loss",
    "huber_loss",
    "log_loss",
    "mean_pairwise_squared_error",
    "mean_squared_error",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
    "sparse_softmax_cross_entropy",
]

_DEFAULT_REDUCTION = Reduction.SUM_BY_NONZERO_WEIGHTS


def _pair(
    labels: Any, predictions: Any, function: str, predictions_argument: str = "predictions"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels and predictions as float32 tensors of one shape on the predictions' device (TF's casts
    and shape assertion)."""
    prediction_tensor = as_float_tensor(predictions, predictions_argument, function)
    label_tensor = as_float_tensor(labels, "labels", function).to(prediction_tensor.device)
    _check_shapes(prediction_tensor, label_tensor, predictions_argument, "labels", function)
    return label_tensor, prediction_tensor


def _elementwise(
    function: str,
    labels: Any,
    predictions: Any,
    per_element: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    weights: Any,
    scope: str | None,
    loss_collection: str | None,
    reduction: str,
    predictions_argument: str = "predictions",
) -> torch.Tensor:
    """``per_element(labels, predictions)`` of float32 inputs of one shape, weighted and reduced under
    the name ``function`` (the loss functions comparing labels and predictions element by element)."""
    name = scoped_loss_name(scope, function)
    labels_t, predictions_t = _pair(labels, predictions, function, predictions_argument)
    losses = per_element(labels_t, predictions_t)
    return reduce_weighted(losses, weights, name, loss_collection, reduction, function)


def _check_shapes(
    first: torch.Tensor, second: torch.Tensor, first_name: str, second_name: str, function: str
) -> None:
    """TF's ``assert_is_compatible_with``: the losses squeeze nothing, so the shapes must be equal."""
    if first.shape != second.shape:
        raise ValueError(
            f"te.losses.{function}: Shapes {tuple(first.shape)} and {tuple(second.shape)} are incompatible: "
            f"{first_name} has shape {tuple(first.shape)} and {second_name} has shape {tuple(second.shape)}. "
            f"Reshape one of them (e.g. {second_name}.reshape({first_name}.shape))."
        )


def absolute_difference(
    labels: Any,
    predictions: Any,
    weights: Any = 1.0,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
    reduction: str = _DEFAULT_REDUCTION,
) -> torch.Tensor:
    """``|predictions - labels|``, weighted and reduced (``compute_weighted_loss``).

    >>> weights = torch.tensor([1.0, 0.0])
    >>> absolute_difference(torch.tensor([1.0, 0.0]), torch.tensor([1.5, 0.5]), weights=weights)
    tensor(0.5000)
    """
    return _elementwise(
        "absolute_difference",
        labels,
        predictions,
        lambda y, p: (p - y).abs(),
        weights,
        scope,
        loss_collection,
        reduction,
    )


def mean_squared_error(
    labels: Any,
    predictions: Any,
    weights: Any = 1.0,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
    reduction: str = _DEFAULT_REDUCTION,
) -> torch.Tensor:
    """``(predictions - labels)²``, weighted and reduced: by default over the nonzero weights.

    Raises:
        ValueError: labels and predictions of different shapes, or weights that do not broadcast.

    >>> mean_squared_error(torch.tensor([[1.0], [0.0]]), torch.tensor([[2.0], [0.5]]))
    tensor(0.6250)
    """
    return _elementwise(
        "mean_squared_error",
        labels,
        predictions,
        lambda y, p: (p - y).square(),
        weights,
        scope,
        loss_collection,
        reduction,
    )


def huber_loss(
    labels: Any,
    predictions: Any,
    weights: Any = 1.0,
    delta: float = 1.0,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
    reduction: str = _DEFAULT_REDUCTION,
) -> torch.Tensor:
    """``0.5 * e²`` where ``|e| <= delta``, else ``0.5 * delta² + delta * (|e| - delta)``, with
    ``e = predictions - labels``.

    >>> huber_loss(torch.tensor([0.0, 0.0]), torch.tensor([0.5, 3.0]))
    tensor(1.3125)
    """

    def huber(labels_t: torch.Tensor, predictions_t: torch.Tensor) -> torch.Tensor:
        abs_error = (predictions_t - labels_t).abs()
        quadratic = torch.clamp(abs_error, max=delta)
        return 0.5 * quadratic * quadratic + delta * (abs_error - quadratic)

    return _elementwise("huber_loss", labels, predictions, huber, weights, scope, loss_collection, reduction)


def log_loss(
    labels: Any,
    predictions: Any,
    weights: Any = 1.0,
    epsilon: float = 1e-7,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
    reduction: str = _DEFAULT_REDUCTION,
) -> torch.Tensor:
    """``-labels * log(p + epsilon) - (1 - labels) * log(1 - p + epsilon)`` for probabilities ``p``.

    >>> log_loss(torch.tensor([1.0]), torch.tensor([0.5]))
    tensor(0.6931)
    """

    def log(labels_t: torch.Tensor, predictions_t: torch.Tensor) -> torch.Tensor:
        return -labels_t * torch.log(predictions_t + epsilon) - (1 - labels_t) * torch.log(
            1 - predictions_t + epsilon
        )

    return _elementwise("log_loss", labels, predictions, log, weights, scope, loss_collection, reduction)


def hinge_loss(
    labels: Any,
    logits: Any,
    weights: Any = 1.0,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
    reduction: str = _DEFAULT_REDUCTION,
) -> torch.Tensor:
    """``max(0, 1 - (2 * labels - 1) * logits)`` for labels in {0, 1}.

    >>> hinge_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.3, -2.0]))
    tensor(0.3500)
    """
    return _elementwise(
        "hinge_loss",
        labels,
        logits,
        lambda y, z: torch.relu(1 - (2 * y - 1) * z),
        weights,
        scope,
        loss_collection,
        reduction,
        predictions_argument="logits",
    )


def cosine_distance(
    labels: Any,
    predictions: Any,
    axis: int | None = None,
    weights: Any = 1.0,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
    reduction: str = _DEFAULT_REDUCTION,
    dim: int | None = None,
) -> torch.Tensor:
    """``1 - sum(predictions * labels, axis)`` (kept as a size-1 dimension) for unit-normalized
    inputs; ``dim`` is TF's deprecated name of ``axis``.

    Raises:
        ValueError: no ``axis``, or both ``axis`` and ``dim``.

    >>> cosine_distance(torch.tensor([[0.6, 0.8]]), torch.tensor([[0.8, 0.6]]), axis=1)
    tensor(0.0400)
    """
    if axis is not None and dim is not None:
        raise ValueError(
            "te.losses.cosine_distance: Cannot specify both 'axis' and 'dim'. Pass axis only (dim is its "
            "deprecated name)."
        )
    axis = dim if axis is None else axis
    if axis is None:
        raise ValueError(
            "te.losses.cosine_distance: You must specify argument `axis`: the dimension of the unit vectors, "
            "e.g. axis=1."
        )
    name = scoped_loss_name(scope, "cosine_distance_loss")
    labels_t, predictions_t = _pair(labels, predictions, "cosine_distance")
    losses = 1 - (predictions_t * labels_t).sum(dim=axis, keepdim=True)
    return reduce_weighted(losses, weights, name, loss_collection, reduction, "cosine_distance")


def sigmoid_cross_entropy(
    multi_class_labels: Any,
    logits: Any,
    weights: Any = 1.0,
    label_smoothing: float = 0,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
    reduction: str = _DEFAULT_REDUCTION,
) -> torch.Tensor:
    """Sigmoid cross entropy of independent labels in [0, 1] against logits of the same shape;
    ``label_smoothing`` moves the labels towards 1/2: ``labels * (1 - s) + 0.5 * s``.

    >>> sigmoid_cross_entropy(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 0.0]]))
    tensor(0.6931)
    """
    name = scoped_loss_name(scope, "sigmoid_cross_entropy_loss")
    logits_t = _logits(logits, "sigmoid_cross_entropy")
    labels_t = _labels_like(multi_class_labels, logits_t, "multi_class_labels", "sigmoid_cross_entropy")
    if label_smoothing > 0:
        labels_t = labels_t * (1 - label_smoothing) + 0.5 * label_smoothing
    losses = F.binary_cross_entropy_with_logits(logits_t, labels_t, reduction="none")
    return reduce_weighted(losses, weights, name, loss_collection, reduction, "sigmoid_cross_entropy")


def softmax_cross_entropy(
    onehot_labels: Any,
    logits: Any,
    weights: Any = 1.0,
    label_smoothing: float = 0,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
    reduction: str = _DEFAULT_REDUCTION,
) -> torch.Tensor:
    """Softmax cross entropy over the last dimension, of one-hot (or probability) labels shaped as
    the logits; ``label_smoothing`` gives ``labels * (1 - s) + s / num_classes``. No gradient flows
    into the labels.

    >>> softmax_cross_entropy(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 0.0]]))
    tensor(0.6931)
    """
    name = scoped_loss_name(scope, "softmax_cross_entropy_loss")
    logits_t = _logits(logits, "softmax_cross_entropy")
    labels_t = _labels_like(onehot_labels, logits_t, "onehot_labels", "softmax_cross_entropy")
    if label_smoothing > 0:
        labels_t = labels_t * (1.0 - label_smoothing) + label_smoothing / labels_t.shape[-1]
    losses = -(labels_t.detach() * logits_t.log_softmax(-1)).sum(-1)
    return reduce_weighted(losses, weights, name, loss_collection, reduction, "softmax_cross_entropy")


def sparse_softmax_cross_entropy(
    labels: Any,
    logits: Any,
    weights: Any = 1.0,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
    reduction: str = _DEFAULT_REDUCTION,
) -> torch.Tensor:
    """Softmax cross entropy of integer class ids ``labels`` (shape ``logits.shape[:-1]``; a trailing
    size-1 dimension is squeezed, of the weights too) against ``logits``.

    Raises:
        ValueError: labels whose shape is not the logits' without the last dimension.
        TypeError: labels that are not integers.

    >>> sparse_softmax_cross_entropy(torch.tensor([[0], [1]]), torch.tensor([[0.0, 0.0], [0.0, 0.0]]))
    tensor(0.6931)
    """
    name = scoped_loss_name(scope, "sparse_softmax_cross_entropy_loss")
    logits_t = _logits(logits, "sparse_softmax_cross_entropy")
    if labels is None:
        raise ValueError("te.losses.sparse_softmax_cross_entropy: Argument `labels` must not be None.")
    labels_t = labels if isinstance(labels, torch.Tensor) else torch.as_tensor(labels)
    labels_t, logits_t, weights = _squeeze_sparse(labels_t.to(logits_t.device), logits_t, weights)
    if labels_t.is_floating_point() or labels_t.is_complex() or labels_t.dtype == torch.bool:
        raise TypeError(
            f"te.losses.sparse_softmax_cross_entropy: labels must be integer class ids. Received dtype "
            f"{labels_t.dtype}. Cast them with labels.long(), or use softmax_cross_entropy for one-hot "
            "labels."
        )
    if labels_t.shape != logits_t.shape[:-1]:
        raise ValueError(
            "te.losses.sparse_softmax_cross_entropy: `labels.shape` must equal `logits.shape` except for the "
            f"last dimension. Received: labels.shape={tuple(labels_t.shape)} and logits.shape="
            f"{tuple(logits_t.shape)}. Pass one class id per row of logits."
        )
    # gather rather than cross_entropy, whose ignore_index would silently skip labels of -100: every
    # id outside [0, classes) raises, as in TF.
    picked = logits_t.log_softmax(-1).gather(-1, labels_t.long().unsqueeze(-1))
    losses = -picked.squeeze(-1)
    return reduce_weighted(losses, weights, name, loss_collection, reduction, "sparse_softmax_cross_entropy")


def mean_pairwise_squared_error(
    labels: Any,
    predictions: Any,
    weights: Any = 1.0,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
) -> torch.Tensor:
    """The mean over pairs of elements, within each example, of the squared difference between
    their prediction difference and their label difference; TF's closed form
    ``2 * sum(d²) / (n - 1) - 2 * sum(d)² / (n * (n - 1))`` per example with ``d = predictions -
    labels`` and ``n`` the elements of nonzero weight, times the weights, summed.

    >>> mean_pairwise_squared_error(torch.tensor([[1.0, 2.0, 4.0]]), torch.tensor([[2.0, 2.0, 1.0]]))
    tensor(8.6667)
    """
    name = scoped_loss_name(scope, "mean_pairwise_squared_error")
    weights_t = as_float_tensor(weights, "weights", "mean_pairwise_squared_error")
    labels_t, predictions_t = _pair(labels, predictions, "mean_pairwise_squared_error")
    weights_t = weights_t.to(labels_t.device)
    check_broadcastable(weights_t, labels_t.shape, "te.losses.mean_pairwise_squared_error")
    diffs = predictions_t - labels_t
    axes = tuple(range(1, diffs.dim()))
    present = (weights_t != 0).to(torch.float32)
    present = torch.broadcast_to(present, diffs.shape)
    if axes:
        sum_squares, sum_diffs = diffs.square().sum(axes, keepdim=True), diffs.sum(axes, keepdim=True)
        count = present.sum(axes, keepdim=True)
    else:  # rank 1: each example is one element (TF reduces over no axis)
        sum_squares, sum_diffs, count = diffs.square(), diffs, present
    term1 = 2.0 * div_no_nan(sum_squares, (count - 1).clamp(min=0))
    term2 = 2.0 * div_no_nan(sum_diffs.square(), (count * (count - 1)).clamp(min=0))
    loss = ((term1 - term2) * weights_t).sum()
    loss = torch.where(count.sum() > 0, loss, torch.zeros_like(loss))
    if name is not None:
        record_loss(f"{name}/value_2", loss, loss_collection)
    return loss


def _logits(logits: Any, function: str) -> torch.Tensor:
    if logits is None:
        raise ValueError(f"te.losses.{function}: Argument `logits` must not be None.")
    tensor = logits if isinstance(logits, torch.Tensor) else torch.as_tensor(logits, dtype=torch.float32)
    if not tensor.is_floating_point():
        raise TypeError(
            f"te.losses.{function}: logits must be floating point. Received dtype {tensor.dtype}. Cast them "
            "with logits.float()."
        )
    return tensor


def _labels_like(labels: Any, logits: torch.Tensor, argument: str, function: str) -> torch.Tensor:
    """Labels cast straight to the logits' dtype and device (TF's cast to the logits' dtype), checked
    to have the logits' shape."""
    if labels is None:
        raise ValueError(f"te.losses.{function}: Argument `{argument}` must not be None.")
    tensor = labels if isinstance(labels, torch.Tensor) else torch.as_tensor(labels)
    tensor = tensor.to(logits.device, logits.dtype)
    _check_shapes(logits, tensor, "logits", argument, function)
    return tensor


def _squeeze_sparse(
    labels: torch.Tensor, logits: torch.Tensor, weights: Any
) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """TF's ``_remove_squeezable_dimensions(labels, logits, weights, expected_rank_diff=1)``: labels of
    the logits' rank lose a trailing size-1 dimension (or logits two ranks above the labels lose
    theirs), and weights one rank above the labels lose their trailing dimension."""
    rank_diff = logits.dim() - labels.dim()
    if rank_diff == 2 and logits.shape[-1] == 1:
        logits = logits.squeeze(-1)
    elif rank_diff == 0 and labels.dim() > 0 and labels.shape[-1] == 1:
        labels = labels.squeeze(-1)
    if isinstance(weights, (int, float)):  # a number has no dimension to squeeze
        return labels, logits, weights
    weights_t = as_float_tensor(weights, "weights", "sparse_softmax_cross_entropy")
    if weights_t.dim() - labels.dim() == 1:
        weights_t = weights_t.squeeze(-1)
    return labels, logits, weights_t
