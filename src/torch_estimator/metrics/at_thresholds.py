"""Counts, precision and recall at given thresholds on probabilities.

A prediction is positive at threshold ``t`` when ``prediction > t``; labels are cast to bool.
Values are float32 tensors of shape ``[len(thresholds)]``, in the thresholds' order.

Maths: TF's own (``tf.compat.v1.metrics``): ``precision = tp / (1e-7 + tp + fp)``, ``recall = tp /
(1e-7 + tp + fn)`` (torchmetrics' thresholded curves use ``>=`` and no epsilon).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from torch_estimator.contract.metric_types import MetricValue, UpdateOp
from torch_estimator.metrics.thresholds import ConfusionAtThresholds, thresholds_metric

__all__ = [
    "false_negatives_at_thresholds",
    "false_positives_at_thresholds",
    "precision_at_thresholds",
    "recall_at_thresholds",
    "true_negatives_at_thresholds",
    "true_positives_at_thresholds",
]

MetricPair = tuple[MetricValue, UpdateOp]

_EPSILON = 1e-7


def true_positives_at_thresholds(
    labels: Any,
    predictions: Any,
    thresholds: Sequence[float],
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """The total weight of true labels with ``prediction > thresholds[i]``, for each ``i``.

    Args:
        labels: cast to bool; the predictions' shape (a trailing size-1 dimension is squeezed).
        predictions: probabilities in ``[0, 1]``; any shape.
        thresholds: a list of floats.
        weights: None, a scalar, or a tensor broadcastable to the predictions.
        name: default ``true_positives`` (TF's).

    Raises:
        ValueError: incompatible shapes (both named) or weights; when the value is read, if a
            prediction was outside [0, 1].

    Maths: TF's ``true_positives_at_thresholds``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = true_positives_at_thresholds([1, 1, 0], [0.9, 0.4, 0.8], thresholds=[0.3, 0.5])
    >>> update_op.run(); value.compute()
    tensor([2., 1.])
    """
    return _counts("tp", "true_positives", labels, predictions, thresholds, weights, name)


def false_positives_at_thresholds(
    labels: Any,
    predictions: Any,
    thresholds: Sequence[float],
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """The total weight of false labels with ``prediction > thresholds[i]``, for each ``i``.

    Maths: TF's ``false_positives_at_thresholds``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = false_positives_at_thresholds([1, 0, 0], [0.9, 0.4, 0.8], [0.3, 0.5])
    >>> update_op.run(); value.compute()
    tensor([2., 1.])
    """
    return _counts("fp", "false_positives", labels, predictions, thresholds, weights, name)


def true_negatives_at_thresholds(
    labels: Any,
    predictions: Any,
    thresholds: Sequence[float],
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """The total weight of false labels with ``prediction <= thresholds[i]``, for each ``i``.

    Maths: TF's ``true_negatives_at_thresholds``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = true_negatives_at_thresholds([1, 0, 0], [0.9, 0.4, 0.8], thresholds=[0.3, 0.5])
    >>> update_op.run(); value.compute()
    tensor([0., 1.])
    """
    return _counts("tn", "true_negatives", labels, predictions, thresholds, weights, name)


def false_negatives_at_thresholds(
    labels: Any,
    predictions: Any,
    thresholds: Sequence[float],
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """The total weight of true labels with ``prediction <= thresholds[i]``, for each ``i``.

    Maths: TF's ``false_negatives_at_thresholds``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = false_negatives_at_thresholds([1, 1, 0], [0.9, 0.4, 0.8], [0.3, 0.5])
    >>> update_op.run(); value.compute()
    tensor([0., 1.])
    """
    return _counts("fn", "false_negatives", labels, predictions, thresholds, weights, name)


def precision_at_thresholds(
    labels: Any,
    predictions: Any,
    thresholds: Sequence[float],
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """``tp / (1e-7 + tp + fp)`` at each threshold (TF's epsilon keeps 0/0 at 0).

    Maths: TF's ``precision_at_thresholds``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = precision_at_thresholds([1, 0, 0], [0.9, 0.4, 0.8], thresholds=[0.3, 0.95])
    >>> update_op.run(); value.compute()
    tensor([0.3333, 0.0000])
    """
    return thresholds_metric(
        "precision_at_thresholds",
        "precision_at_thresholds",
        labels,
        predictions,
        *_given(thresholds),
        weights,
        name,
        _ratio,
        "fp",
    )


def recall_at_thresholds(
    labels: Any,
    predictions: Any,
    thresholds: Sequence[float],
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """``tp / (1e-7 + tp + fn)`` at each threshold (TF's epsilon keeps 0/0 at 0).

    Maths: TF's ``recall_at_thresholds``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = recall_at_thresholds([1, 1, 0], [0.9, 0.4, 0.8], thresholds=[0.3, 0.5])
    >>> update_op.run(); value.compute()
    tensor([1.0000, 0.5000])
    """
    return thresholds_metric(
        "recall_at_thresholds",
        "recall_at_thresholds",
        labels,
        predictions,
        *_given(thresholds),
        weights,
        name,
        _ratio,
        "fn",
    )


def _counts(
    key: str,
    default_name: str,
    labels: Any,
    predictions: Any,
    thresholds: Sequence[float],
    weights: Any,
    name: str | None,
) -> MetricPair:
    return thresholds_metric(
        f"{default_name}_at_thresholds",
        default_name,
        labels,
        predictions,
        *_given(thresholds),
        weights,
        name,
        _count,
        key,
    )


def _count(counts: ConfusionAtThresholds, key: str) -> torch.Tensor:
    return counts[key]


def _ratio(counts: ConfusionAtThresholds, other: str) -> torch.Tensor:
    """TF's ``tp / (1e-7 + tp + other)``: precision with ``fp``, recall with ``fn``."""
    return counts["tp"] / (_EPSILON + counts["tp"] + counts[other])


def _given(thresholds: Sequence[float]) -> tuple[tuple[float, ...], Callable[[], Sequence[float]]]:
    key = tuple(float(threshold) for threshold in thresholds)
    return key, lambda: key
