"""Class-id metrics over a fixed number of classes: ``mean_iou`` and ``mean_per_class_accuracy``.

Labels and predictions are integer class ids in ``[0, num_classes)``, flattened. An id outside that
range is counted (without a device sync) and reading the value then raises ValueError, where TF's
ops failed at run time.

Maths: TF's own (``tf.compat.v1.metrics``). ``mean_iou`` accumulates a float64 confusion matrix
(rows: labels, columns: predictions) and averages ``diag / (row + col - diag)`` over the classes
that occur (torchmetrics' JaccardIndex averages differently over absent classes);
``mean_per_class_accuracy`` averages per-class accuracy over all ``num_classes`` classes, an absent
class counting 0.
"""

from __future__ import annotations

from typing import Any

import torch

from torch_estimator.contract.metric_types import MetricValue, UpdateOp
from torch_estimator.metrics.shapes import as_tensor, check_same_shape
from torch_estimator.metrics.state import (
    MetricState,
    deferred_metric,
    div_no_nan,
    named_metric,
)

__all__ = [
    "fold_class_accuracy",
    "fold_confusion_matrix",
    "mean_iou",
    "mean_per_class_accuracy",
    "read_mean_iou",
    "read_mean_per_class_accuracy",
]

MetricPair = tuple[MetricValue, UpdateOp]


def mean_iou(
    labels: Any,
    predictions: Any,
    num_classes: int,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """The mean intersection-over-union ``tp / (tp + fp + fn)`` over the classes present.

    Args:
        labels: int class ids, any shape (flattened).
        predictions: int class ids of the labels' shape.
        num_classes: the number of classes (the confusion matrix is ``num_classes`` square).
        weights: None, one weight per element (any shape with as many elements), or a single
            weight for all (TF's ``mean_iou`` raised on a single weight; accepted here).

    Returns:
        ``(value, update_op)``: a 0-d float32 mean IoU; 0 while no class has occurred.

    Raises:
        ValueError: labels and predictions of different shapes (both named) or weights of another
            size; when read, if an id was outside ``[0, num_classes)``.

    Maths: TF's ``mean_iou``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = mean_iou(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 1]), num_classes=2)
    >>> update_op.run(); value.compute()
    tensor(0.5833)
    """
    graph, full_name = named_metric("mean_iou", name, "mean_iou")
    labels_t = as_tensor(labels, "labels", full_name)
    predictions_t = as_tensor(predictions, "predictions", full_name)
    check_same_shape(labels_t, predictions_t, "labels", "predictions", full_name)
    weights_t = _element_weights(weights, labels_t, full_name)
    side = num_classes + 2  # the matrix has a border row and column for ids out of range
    layout = {"confusion_matrix": ((side, side), torch.float64), "out_of_range": ((), torch.float64)}
    inputs = (labels_t, predictions_t, weights_t)
    return deferred_metric(
        graph,
        full_name,
        "mean_iou",
        num_classes,
        layout,
        read_mean_iou,
        None,
        fold_confusion_matrix,
        num_classes,
        inputs,
    )


def fold_confusion_matrix(
    state: MetricState,
    num_classes: int,
    labels: torch.Tensor,
    predictions: torch.Tensor,
    weights: torch.Tensor | None,
) -> None:
    """Adds (flattened) class ids to ``mean_iou``'s bordered confusion matrix: row ``label + 1``,
    column ``prediction + 1``; ids out of range land on the border.

    >>> layout = {"confusion_matrix": torch.zeros(4, 4, dtype=torch.float64), "out_of_range": torch.zeros(())}
    >>> state = MetricState("mean_iou", layout, key=2)
    >>> fold_confusion_matrix(state, 2, torch.tensor([0, 1, 1]), torch.tensor([1, 1, 1]), None)
    >>> state["confusion_matrix"][1:-1, 1:-1].tolist()
    [[0.0, 1.0], [0.0, 2.0]]
    """
    matrix = state["confusion_matrix"]
    side = num_classes + 2
    device = matrix.device
    batch_labels = labels.to(device, torch.int64).reshape(-1)
    batch_predictions = predictions.to(device, torch.int64).reshape(-1)
    clamped_labels = batch_labels.clamp(-1, num_classes)
    clamped_predictions = batch_predictions.clamp(-1, num_classes)
    cell = torch.add(clamped_predictions, clamped_labels, alpha=side).add_(side + 1)
    source = None
    if weights is not None:
        source = weights.to(device, torch.float64).reshape(-1)
        outside = _outside(batch_labels, num_classes) | _outside(batch_predictions, num_classes)
        state["out_of_range"].add_(outside.sum())  # a weight of 0 must not hide a bad id
    matrix.view(-1).add_(torch.bincount(cell, weights=source, minlength=side * side))


def mean_per_class_accuracy(
    labels: Any,
    predictions: Any,
    num_classes: int,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """The mean over all ``num_classes`` classes of each class's (weighted) accuracy.

    A class with no label reads accuracy 0 and still counts in the mean, as in TF. Default name
    ``mean_accuracy`` (TF's).

    Raises:
        ValueError: labels and predictions of different sizes (both shapes named) or weights of
            another size; when read, if a label was outside ``[0, num_classes)``.

    Maths: TF's ``mean_per_class_accuracy``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = mean_per_class_accuracy(
    ...         torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 1]), num_classes=2
    ...     )
    >>> update_op.run(); value.compute()
    tensor(0.7500)
    """
    graph, full_name = named_metric("mean_per_class_accuracy", name, "mean_accuracy")
    labels_t = as_tensor(labels, "labels", full_name)
    predictions_t = as_tensor(predictions, "predictions", full_name)
    if labels_t.numel() != predictions_t.numel():
        raise ValueError(
            f"{full_name}: Shapes {tuple(labels_t.shape)} and {tuple(predictions_t.shape)} are incompatible: "
            f"labels has {labels_t.numel()} elements and predictions {predictions_t.numel()} once "
            "flattened. Pass one prediction per label."
        )
    if labels_t.shape != predictions_t.shape:
        # Deferred batches are concatenated row by row: give both the same rows.
        labels_t, predictions_t = labels_t.reshape(-1), predictions_t.reshape(-1)
    weights_t = _element_weights(weights, labels_t, full_name)
    width = num_classes + 2  # a border column on each side for labels out of range
    layout = {"histogram": ((2, width), torch.float32), "out_of_range": ((), torch.float32)}
    inputs = (labels_t, predictions_t, weights_t)
    return deferred_metric(
        graph,
        full_name,
        "mean_per_class_accuracy",
        num_classes,
        layout,
        read_mean_per_class_accuracy,
        None,
        fold_class_accuracy,
        num_classes,
        inputs,
    )


def fold_class_accuracy(
    state: MetricState,
    num_classes: int,
    labels: torch.Tensor,
    predictions: torch.Tensor,
    weights: torch.Tensor | None,
) -> None:
    """Adds (flattened) class ids to ``mean_per_class_accuracy``'s histogram: row 1 where the
    prediction is right, column ``label + 1`` (labels out of range land on the border).

    >>> state = MetricState("m", {"histogram": torch.zeros(2, 4), "out_of_range": torch.zeros(())}, key=2)
    >>> fold_class_accuracy(state, 2, torch.tensor([0, 1, 1]), torch.tensor([1, 1, 1]), None)
    >>> state["histogram"][:, 1:-1].tolist()
    [[1.0, 0.0], [0.0, 2.0]]
    """
    histogram = state["histogram"]
    width = num_classes + 2
    device = histogram.device
    batch_labels = labels.to(device, torch.int64).reshape(-1)
    batch_predictions = predictions.to(device, torch.int64).reshape(-1)  # TF casts them to the labels' int64
    clamped = batch_labels.clamp(-1, num_classes)
    cell = torch.add(clamped, batch_predictions == batch_labels, alpha=width).add_(1)
    source = None
    if weights is not None:
        source = weights.to(device, torch.float32).reshape(-1)
        state["out_of_range"].add_(_outside(batch_labels, num_classes).sum())  # weight 0 must not hide it
    histogram.view(-1).add_(torch.bincount(cell, weights=source, minlength=2 * width))


def read_mean_iou(state: MetricState, value_key: Any = None) -> torch.Tensor:
    """The mean IoU of a ``mean_iou`` state; raises ValueError if an id out of range was seen.

    >>> layout = {"confusion_matrix": torch.zeros(4, 4, dtype=torch.float64), "out_of_range": torch.zeros(())}
    >>> state = MetricState("mean_iou", layout, key=2)
    >>> fold_confusion_matrix(state, 2, torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 1]), None)
    >>> read_mean_iou(state)  # (1/2 + 2/3) / 2
    tensor(0.5833)
    """
    num_classes, full_name = state.key, state.name
    matrix = state["confusion_matrix"]
    inner = matrix[1:-1, 1:-1]
    border = torch.cat((matrix[0], matrix[-1], matrix[1:-1, 0], matrix[1:-1, -1]))
    _check_in_range(border, state["out_of_range"], full_name, num_classes)
    sum_over_row = inner.sum(0).to(torch.float32)
    sum_over_col = inner.sum(1).to(torch.float32)
    diagonal = torch.diagonal(inner).to(torch.float32)
    denominator = sum_over_row + sum_over_col - diagonal
    valid_entries = (denominator != 0).sum().to(torch.float32)
    iou = diagonal / torch.where(denominator > 0, denominator, torch.ones_like(denominator))
    return torch.where(valid_entries > 0, iou.sum() / valid_entries.clamp(min=1), 0.0)


def read_mean_per_class_accuracy(state: MetricState, value_key: Any = None) -> torch.Tensor:
    """The mean per-class accuracy of a ``mean_per_class_accuracy`` state; raises ValueError if a
    label out of range was seen.

    >>> state = MetricState("m", {"histogram": torch.zeros(2, 4), "out_of_range": torch.zeros(())}, key=2)
    >>> fold_class_accuracy(state, 2, torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 1]), None)
    >>> read_mean_per_class_accuracy(state)  # (1/2 + 2/2) / 2
    tensor(0.7500)
    """
    num_classes, full_name = state.key, state.name
    histogram = state["histogram"]
    inner = histogram[:, 1:-1]
    _check_in_range(histogram[:, [0, -1]], state["out_of_range"], full_name, num_classes)
    count, total = inner[1], inner.sum(0)
    return div_no_nan(count, total.clamp(min=0)).mean()


def _element_weights(weights: Any, labels: torch.Tensor, metric: str) -> torch.Tensor | None:
    # TF flattened weights of rank > 1 and needed one per element (mean_per_class_accuracy also
    # broadcast a single weight; mean_iou accepts one here too, where TF raised).
    if weights is None:
        return None
    weights_t = as_tensor(weights, "weights", metric)
    if weights_t.shape == labels.shape:
        return weights_t
    if weights_t.numel() == 1:
        # Deferred batches are concatenated row by row: give the weights the labels' rows.
        return torch.broadcast_to(weights_t.reshape(()), labels.shape)
    if weights_t.numel() != labels.numel():
        raise ValueError(
            f"{metric}: weights of shape {tuple(weights_t.shape)} do not fit labels of shape "
            f"{tuple(labels.shape)}: pass a scalar or one weight per label ({labels.numel()} in all)."
        )
    return weights_t.reshape(labels.shape)


def _outside(ids: torch.Tensor, num_classes: int) -> torch.Tensor:
    return (ids < 0) | (ids >= num_classes)


def _check_in_range(border: torch.Tensor, out_of_range: torch.Tensor, metric: str, num_classes: int) -> None:
    # Border cells are read one by one: the total less the inner sum would round to nonzero with
    # float weights. A border cell weighted 0 (or cancelled to 0) is in ``out_of_range``'s count.
    if float((border.ne(0).sum() + out_of_range).item()):  # one sync, when the value is read
        raise ValueError(
            f"{metric}: `labels` out of bound: class ids outside [0, {num_classes}) were seen. Pass class "
            "ids in [0, num_classes) or raise num_classes."
        )
