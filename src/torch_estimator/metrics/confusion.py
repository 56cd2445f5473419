"""Binary counts and their ratios: true/false positives/negatives, precision, recall.

Labels and predictions are cast to bool as TF does (``x != 0``: a prediction of 0.3 counts as
positive; threshold probabilities first, or use the ``*_at_thresholds`` metrics).

Maths: TF's own (``tf.compat.v1.metrics``): weights multiply the 0/1 indicators with ordinary
broadcasting and must have rank 0 or the indicators' rank; precision and recall read 0 when their
denominator is 0 (torchmetrics' binary stat scores threshold scores and take no weights).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from torch_estimator.contract.metric_types import MetricValue, UpdateOp
from torch_estimator.metrics.shapes import prepare_inputs
from torch_estimator.metrics.state import MetricState, deferred_metric, named_metric

__all__ = [
    "false_negatives",
    "false_positives",
    "fold_count",
    "fold_ratio",
    "precision",
    "read_count",
    "read_ratio",
    "recall",
    "true_negatives",
    "true_positives",
]

MetricPair = tuple[MetricValue, UpdateOp]
Condition = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

_COUNT_LAYOUT = {"count": ((), torch.float32)}
_RATIO_LAYOUT = {"true_positives": ((), torch.float32), "denominator": ((), torch.float32)}

_CONDITIONS: dict[str, Condition] = {
    "true_positives": lambda labels, predictions: labels & predictions,
    "false_positives": lambda labels, predictions: ~labels & predictions,
    "true_negatives": lambda labels, predictions: ~labels & ~predictions,
    "false_negatives": lambda labels, predictions: labels & ~predictions,
}


def true_positives(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """The total weight of examples with label and prediction both true (nonzero).

    Returns:
        ``(value, update_op)``: a 0-d float32 count.

    Raises:
        ValueError: labels and predictions have incompatible shapes (both shapes named), or weights
            have a rank other than 0 or the labels' rank, or do not broadcast.

    Maths: TF's ``true_positives``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = true_positives(torch.tensor([1, 1, 0, 0]), torch.tensor([1, 0, 1, 0]))
    >>> update_op.run(); value.compute()
    tensor(1.)
    """
    return _count("true_positives", labels, predictions, weights, name)


def false_positives(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """The total weight of examples with a false label and a true prediction.

    Maths: TF's ``false_positives``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = false_positives(torch.tensor([1, 1, 0, 0]), torch.tensor([1, 0, 1, 1]))
    >>> update_op.run(); value.compute()
    tensor(2.)
    """
    return _count("false_positives", labels, predictions, weights, name)


def true_negatives(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """The total weight of examples with label and prediction both false (zero).

    Maths: TF's ``true_negatives``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = true_negatives(torch.tensor([1, 0, 0, 0]), torch.tensor([0, 0, 1, 0]))
    >>> update_op.run(); value.compute()
    tensor(2.)
    """
    return _count("true_negatives", labels, predictions, weights, name)


def false_negatives(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """The total weight of examples with a true label and a false prediction.

    Maths: TF's ``false_negatives``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = false_negatives(torch.tensor([1, 1, 0, 0]), torch.tensor([1, 0, 1, 0]))
    >>> update_op.run(); value.compute()
    tensor(1.)
    """
    return _count("false_negatives", labels, predictions, weights, name)


def precision(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """``tp / (tp + fp)`` over every batch, 0 while ``tp + fp`` is 0.

    Maths: TF's ``precision``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = precision(torch.tensor([1, 1, 0, 0]), torch.tensor([1, 0, 1, 1]))
    >>> update_op.run(); value.compute()
    tensor(0.3333)
    """
    # TF sums tp + fp; the state counts the predicted positives, the same number.
    return _binary_metric(
        "precision", labels, predictions, weights, name, _RATIO_LAYOUT, read_ratio, fold_ratio, True
    )


def recall(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """``tp / (tp + fn)`` over every batch, 0 while ``tp + fn`` is 0.

    Maths: TF's ``recall``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = recall(torch.tensor([1, 1, 0, 0]), torch.tensor([1, 0, 1, 1]))
    >>> update_op.run(); value.compute()
    tensor(0.5000)
    """
    # TF sums tp + fn; the state counts the actual positives, the same number.
    return _binary_metric(
        "recall", labels, predictions, weights, name, _RATIO_LAYOUT, read_ratio, fold_ratio, False
    )


def _binary_inputs(
    labels: Any, predictions: Any, weights: Any, metric: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Squeezed and shape-checked inputs, of one shape (the update casts them to bool)."""
    labels_t, predictions_t, weights_t = prepare_inputs(labels, predictions, weights, metric)
    if weights_t is not None and weights_t.shape != labels_t.shape:
        shape = _check_condition_weights(weights_t, labels_t.shape, metric)
        # Deferred batches are concatenated row by row: give all three the product's shape.
        labels_t, predictions_t, weights_t = (
            tensor if tensor.shape == shape else torch.broadcast_to(tensor, shape)
            for tensor in (labels_t, predictions_t, weights_t)
        )
    return labels_t, predictions_t, weights_t


def _check_condition_weights(weights: torch.Tensor, shape: torch.Size, metric: str) -> torch.Size:
    # TF's _count_condition: weights of rank 0 or the values' rank, multiplied with broadcasting.
    fits = weights.dim() in (0, len(shape))
    if fits:
        try:
            return torch.broadcast_shapes(weights.shape, shape)
        except RuntimeError:
            pass
    raise ValueError(
        f"{metric}: weights of shape {tuple(weights.shape)} do not fit values of shape {tuple(shape)}. "
        f"Pass weights of rank 0 or {len(shape)} that broadcast to the labels' shape."
    )


def _as_bool(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    if tensor.device != device:
        tensor = tensor.to(device)
    return tensor if tensor.dtype == torch.bool else tensor.bool()


def _weighted_sum(
    indicator: torch.Tensor, weights: torch.Tensor | None, device: torch.device
) -> torch.Tensor:
    if weights is None:
        return indicator.sum()
    return (indicator.to(torch.float32) * weights.to(device, torch.float32)).sum()


def fold_count(
    state: MetricState,
    kind: str,
    labels: torch.Tensor,
    predictions: torch.Tensor,
    weights: torch.Tensor | None,
) -> None:
    """Adds the weight of the examples meeting condition ``kind`` (``"true_positives"``, ...).

    >>> state = MetricState("true_positives", {"count": torch.zeros(())}, key=None)
    >>> fold_count(state, "true_positives", torch.tensor([1, 1, 0]), torch.tensor([1, 0, 1]), None)
    >>> state["count"]
    tensor(1.)
    """
    count = state["count"]
    device = count.device
    indicator = _CONDITIONS[kind](_as_bool(labels, device), _as_bool(predictions, device))
    count.add_(_weighted_sum(indicator, weights, device))


def fold_ratio(
    state: MetricState,
    by_predictions: bool,
    labels: torch.Tensor,
    predictions: torch.Tensor,
    weights: torch.Tensor | None,
) -> None:
    """Adds true positives and the predicted (precision) or actual (recall) positives.

    >>> layout = {"true_positives": torch.zeros(()), "denominator": torch.zeros(())}
    >>> state = MetricState("recall", layout, key=None)
    >>> fold_ratio(state, False, torch.tensor([1, 1, 0]), torch.tensor([1, 0, 1]), None)
    >>> [float(t) for t in state.tensors()]
    [1.0, 2.0]
    """
    hits, total = state["true_positives"], state["denominator"]
    device = hits.device
    batch_labels, batch_predictions = _as_bool(labels, device), _as_bool(predictions, device)
    hits.add_(_weighted_sum(batch_labels & batch_predictions, weights, device))
    total.add_(_weighted_sum(batch_predictions if by_predictions else batch_labels, weights, device))


def read_count(state: MetricState, value_key: Any = None) -> torch.Tensor:
    """The count of a ``true_positives``-like state.

    >>> read_count(MetricState("true_positives", {"count": torch.tensor(3.0)}, key=None))
    tensor(3.)
    """
    return state["count"].clone()


def read_ratio(state: MetricState, value_key: Any = None) -> torch.Tensor:
    """``true_positives / denominator`` of a precision or recall state, 0 while the denominator is 0.

    >>> layout = {"true_positives": torch.tensor(1.0), "denominator": torch.tensor(4.0)}
    >>> read_ratio(MetricState("recall", layout, key=None))
    tensor(0.2500)
    """
    hits, total = state["true_positives"], state["denominator"]
    return torch.where(total > 0, hits / torch.where(total > 0, total, 1.0), 0.0)


def _count(kind: str, labels: Any, predictions: Any, weights: Any, name: str | None) -> MetricPair:
    return _binary_metric(
        kind, labels, predictions, weights, name, _COUNT_LAYOUT, read_count, fold_count, kind
    )


def _binary_metric(
    kind: str,
    labels: Any,
    predictions: Any,
    weights: Any,
    name: str | None,
    layout: dict[str, tuple[tuple[int, ...], torch.dtype]],
    read: Callable[[MetricState, Any], torch.Tensor],
    fold: Callable[..., None],
    params: Any,
) -> MetricPair:
    """The pair of a count (``fold_count``) or ratio (``fold_ratio``) metric over bool-cast inputs."""
    graph, full_name = named_metric(kind, name, kind)
    inputs = (
        prepare_inputs(labels, predictions, None, full_name)  # no weights: nothing to broadcast
        if weights is None
        else _binary_inputs(labels, predictions, weights, full_name)
    )
    return deferred_metric(graph, full_name, kind, None, layout, read, None, fold, params, inputs)
