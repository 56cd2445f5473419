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
from torch_estimator.graph.graph import require_graph
from torch_estimator.metrics.shapes import as_tensor, check_same_shape
from torch_estimator.metrics.state import div_no_nan, metric_name, metric_pair, metric_state

__all__ = ["mean_iou", "mean_per_class_accuracy"]

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
        weights: None, a scalar, or one weight per element (any shape with as many elements).

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
    graph = require_graph("te.metrics.mean_iou")
    full_name = metric_name(graph, name, "mean_iou")
    labels_t = as_tensor(labels, "labels", full_name)
    predictions_t = as_tensor(predictions, "predictions", full_name)
    check_same_shape(labels_t, predictions_t, "labels", "predictions", full_name)
    flat_labels, flat_predictions = labels_t.reshape(-1), predictions_t.reshape(-1)
    weights_t = _flat_weights(weights, flat_labels.numel(), labels_t.shape, full_name)
    side = num_classes + 2  # the matrix has a border row and column for ids out of range
    layout = {"confusion_matrix": ((side, side), torch.float64), "out_of_range": ((), torch.float64)}
    state = metric_state(graph, full_name, "mean_iou", num_classes, layout)
    matrix = state["confusion_matrix"]

    def update() -> None:
        device = matrix.device
        batch_labels = flat_labels.to(device, torch.int64)
        batch_predictions = flat_predictions.to(device, torch.int64)
        clamped_labels = batch_labels.clamp(-1, num_classes)
        clamped_predictions = batch_predictions.clamp(-1, num_classes)
        # Row (label + 1), column (prediction + 1) of the bordered matrix.
        cell = torch.add(clamped_predictions, clamped_labels, alpha=side).add_(side + 1)
        if weights_t is None:
            source = torch.ones(cell.shape, dtype=torch.float64, device=device)
        else:
            source = torch.broadcast_to(weights_t.to(device, torch.float64), cell.shape)
            outside = _outside(batch_labels, num_classes) | _outside(batch_predictions, num_classes)
            state["out_of_range"].add_(outside.sum())  # a weight of 0 must not hide a bad id
        matrix.view(-1).index_add_(0, cell, source)

    def compute() -> torch.Tensor:
        inner = matrix[1:-1, 1:-1]
        _check_in_range(matrix.sum() - inner.sum() + state["out_of_range"], full_name, num_classes)
        sum_over_row = inner.sum(0).to(torch.float32)
        sum_over_col = inner.sum(1).to(torch.float32)
        diagonal = torch.diagonal(inner).to(torch.float32)
        denominator = sum_over_row + sum_over_col - diagonal
        valid_entries = (denominator != 0).sum().to(torch.float32)
        iou = diagonal / torch.where(denominator > 0, denominator, torch.ones_like(denominator))
        return torch.where(valid_entries > 0, iou.sum() / valid_entries.clamp(min=1), 0.0)

    return metric_pair(graph, full_name, compute, update)


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
    graph = require_graph("te.metrics.mean_per_class_accuracy")
    full_name = metric_name(graph, name, "mean_accuracy")
    labels_t = as_tensor(labels, "labels", full_name)
    predictions_t = as_tensor(predictions, "predictions", full_name)
    flat_labels, flat_predictions = labels_t.reshape(-1), predictions_t.reshape(-1)
    if flat_labels.shape != flat_predictions.shape:
        raise ValueError(
            f"{full_name}: Shapes {tuple(labels_t.shape)} and {tuple(predictions_t.shape)} are incompatible: "
            f"labels has {flat_labels.numel()} elements and predictions {flat_predictions.numel()} once "
            "flattened. Pass one prediction per label."
        )
    weights_t = _flat_weights(weights, flat_labels.numel(), labels_t.shape, full_name)
    width = num_classes + 2  # a border column on each side for labels out of range
    layout = {"histogram": ((2, width), torch.float32), "out_of_range": ((), torch.float32)}
    state = metric_state(graph, full_name, "mean_per_class_accuracy", num_classes, layout)
    histogram = state["histogram"]

    def update() -> None:
        device = histogram.device
        batch_labels = flat_labels.to(device, torch.int64)
        batch_predictions = flat_predictions.to(device, torch.int64)  # TF casts them to the labels' int64
        clamped = batch_labels.clamp(-1, num_classes)
        # Row: whether the prediction is right; column: label + 1.
        cell = torch.add(clamped, batch_predictions == batch_labels, alpha=width).add_(1)
        source = None
        if weights_t is not None:
            source = torch.broadcast_to(weights_t.to(device, torch.float32), cell.shape)
            state["out_of_range"].add_(_outside(batch_labels, num_classes).sum())  # weight 0 must not hide it
        histogram.view(-1).add_(torch.bincount(cell, weights=source, minlength=2 * width))

    def compute() -> torch.Tensor:
        inner = histogram[:, 1:-1]
        _check_in_range(histogram.sum() - inner.sum() + state["out_of_range"], full_name, num_classes)
        count, total = inner[1], inner.sum(0)
        return div_no_nan(count, total.clamp(min=0)).mean()

    return metric_pair(graph, full_name, compute, update)


def _flat_weights(weights: Any, size: int, shape: torch.Size, metric: str) -> torch.Tensor | None:
    # TF flattened weights of rank > 1 and needed one per element; a scalar is accepted too.
    if weights is None:
        return None
    weights_t = as_tensor(weights, "weights", metric)
    if weights_t.dim() == 0:
        return weights_t
    if weights_t.numel() != size:
        raise ValueError(
            f"{metric}: weights of shape {tuple(weights_t.shape)} do not fit labels of shape {tuple(shape)}: "
            f"pass a scalar or one weight per label ({size} in all)."
        )
    return weights_t.reshape(-1)


def _outside(ids: torch.Tensor, num_classes: int) -> torch.Tensor:
    return (ids < 0) | (ids >= num_classes)


def _check_in_range(outside: torch.Tensor, metric: str, num_classes: int) -> None:
    if float(outside.item()):  # one sync, when the value is read
        raise ValueError(
            f"{metric}: `labels` out of bound: class ids outside [0, {num_classes}) were seen. Pass class "
            "ids in [0, num_classes) or raise num_classes."
        )
