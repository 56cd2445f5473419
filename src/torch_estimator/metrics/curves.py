"""Curve metrics over 200 (``num_thresholds``) thresholds: ``auc``, ``sensitivity_at_specificity``,
``specificity_at_sensitivity``.

Maths: TF's own (``tf.compat.v1.metrics``), in float32, including its threshold placement
``[0 - 1e-7, 1/(n-1), ..., (n-2)/(n-1), 1 + 1e-7]`` (``1 - 1e-7`` last for
``specificity_at_sensitivity``), its ``1e-6`` epsilons in AUC and its Riemann sums. torchmetrics'
AUROC is exact (no thresholds), so its numbers differ; these match TF's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

from torch_estimator.contract.metric_types import MetricValue, UpdateOp
from torch_estimator.metrics.state import div_no_nan
from torch_estimator.metrics.thresholds import ConfusionAtThresholds, thresholds_metric

__all__ = ["auc", "auc_thresholds", "keras_auc", "sensitivity_at_specificity", "specificity_at_sensitivity"]

logger = logging.getLogger("torch_estimator")

MetricPair = tuple[MetricValue, UpdateOp]

_KEPSILON = 1e-7
_AUC_EPSILON = 1.0e-6
_CURVES = ("ROC", "PR")
_SUMMATION_METHODS = ("trapezoidal", "careful_interpolation", "minoring", "majoring")


def auc_thresholds(num_thresholds: int = 200, thresholds: Sequence[float] | None = None) -> list[float]:
    """TF's AUC thresholds: ``thresholds`` sorted (or ``num_thresholds - 2`` evenly spaced inside
    (0, 1)), between the endpoints ``-1e-7`` and ``1 + 1e-7``.

    >>> auc_thresholds(3)
    [-1e-07, 0.5, 1.0000001]
    """
    if thresholds is not None:
        inner = sorted(float(threshold) for threshold in thresholds)
    else:
        _check_num_thresholds(num_thresholds)
        inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return [0.0 - _KEPSILON, *inner, 1.0 + _KEPSILON]


def auc(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    num_thresholds: int = 200,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    curve: str = "ROC",
    name: str | None = None,
    summation_method: str = "trapezoidal",
    thresholds: Sequence[float] | None = None,
) -> MetricPair:
    """The area under the ROC or PR curve, approximated over thresholds as TF does.

    Args:
        labels: cast to bool; the predictions' shape (a trailing size-1 dimension is squeezed).
        predictions: probabilities in ``[0, 1]``.
        weights: None, a scalar, or a tensor broadcastable to the predictions.
        num_thresholds: how many thresholds (endpoints included); ignored when ``thresholds`` is set.
        curve: ``'ROC'`` (recall over false-positive rate) or ``'PR'`` (precision over recall).
        summation_method: ``'trapezoidal'``, ``'careful_interpolation'`` (TF's interpolation of
            true/false positives for PR; the same as trapezoidal for ROC), ``'minoring'`` or
            ``'majoring'``.
        thresholds: explicit thresholds in [0, 1]; TF's endpoints are added.

    Returns:
        ``(value, update_op)``: a 0-d float32 area.

    Raises:
        ValueError: an unknown curve ("Curve must be either ROC or PR") or summation_method
            ("Invalid summation_method"), ``num_thresholds`` below 2 (TF ran with fewer and returned
            an area of its slicing), bad shapes; when read, predictions outside [0, 1].

    Maths: TF's ``auc``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = auc(torch.tensor([0, 0, 1, 1]), torch.tensor([0.1, 0.4, 0.35, 0.8]))
    >>> update_op.run(); value.compute()
    tensor(0.7500)
    """
    _check_curve(curve)
    if summation_method not in _SUMMATION_METHODS:
        raise ValueError(
            f"Invalid summation_method: {summation_method} summation_method should be 'trapezoidal', "
            "'careful_interpolation', 'minoring', or 'majoring'."
        )
    given = None if thresholds is None else tuple(float(threshold) for threshold in thresholds)
    if given is None:
        _check_num_thresholds(num_thresholds)
    key = (num_thresholds if given is None else None, given)
    return thresholds_metric(
        "auc",
        "auc",
        labels,
        predictions,
        key,
        lambda: auc_thresholds(num_thresholds, given),
        weights,
        name,
        _area,
        (curve, summation_method),
    )


def keras_auc(
    labels: Any, predictions: Any, weights: Any = None, curve: str = "ROC", name: str | None = None
) -> MetricPair:
    """The area under the ROC or PR curve as ``tf.keras.metrics.AUC`` computes it (200 thresholds,
    ``summation_method='interpolation'``): what TF's canned heads report as ``auc`` and
    ``auc_precision_recall``.

    It differs from ``auc`` only where a rate has a zero denominator: Keras divides with
    ``divide_no_nan`` where ``auc`` adds 1e-6 to both sides, so with no positive label the ROC area
    is 0 here and about 1 there. The PR area is ``auc``'s careful interpolation.

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = keras_auc(torch.tensor([0, 0]), torch.tensor([0.1, 0.4]))
    >>> update_op.run(); value.compute()
    tensor(0.)
    """
    _check_curve(curve)
    return thresholds_metric(
        "auc",
        "auc",
        labels,
        predictions,
        (200, None),
        lambda: auc_thresholds(200),
        weights,
        name,
        _area,
        (curve, "interpolation"),
    )


def sensitivity_at_specificity(
    labels: Any,
    predictions: Any,
    specificity: float,
    weights: Any = None,
    num_thresholds: int = 200,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """The sensitivity (recall) at the threshold whose specificity is closest to ``specificity``.

    TF's rule: specificity ``tn / (tn + fp + 1e-7)`` at each threshold, the first (lowest)
    threshold with the smallest ``|specificity_i - specificity|``, then ``tp / (tp + fn + 1e-7)``
    there.

    Raises:
        ValueError: ``specificity`` outside [0, 1] ("`specificity` must be in the range [0, 1]"),
            or ``num_thresholds`` below 2 (TF ran with fewer).

    Maths: TF's ``sensitivity_at_specificity``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = sensitivity_at_specificity([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.8], specificity=0.5)
    >>> update_op.run(); value.compute()
    tensor(1.)
    """
    if specificity < 0 or specificity > 1:
        raise ValueError(
            f"`specificity` must be in the range [0, 1]. Currently, `specificity` got {specificity}. "
            "Pass a specificity between 0 and 1."
        )
    _check_num_thresholds(num_thresholds)
    return thresholds_metric(
        "sensitivity_at_specificity",
        "sensitivity_at_specificity",
        labels,
        predictions,
        num_thresholds,
        lambda: _evenly_spaced(num_thresholds, 1.0 + _KEPSILON),
        weights,
        name,
        _sensitivity_at,
        specificity,
    )


def specificity_at_sensitivity(
    labels: Any,
    predictions: Any,
    sensitivity: float,
    weights: Any = None,
    num_thresholds: int = 200,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """The specificity at the threshold whose sensitivity is closest to ``sensitivity``.

    TF's rule: sensitivity ``tp / (tp + fn + 1e-7)`` at each threshold (the last one is
    ``1 - 1e-7``), the last (highest) threshold with the smallest ``|sensitivity_i - sensitivity|``,
    then ``tn / (tn + fp + 1e-7)`` there.

    Raises:
        ValueError: ``sensitivity`` outside [0, 1] ("`sensitivity` must be in the range [0, 1]"),
            or ``num_thresholds`` below 2 (TF ran with fewer).

    Maths: TF's ``specificity_at_sensitivity``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = specificity_at_sensitivity([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.8], sensitivity=1.0)
    >>> update_op.run(); value.compute()
    tensor(0.5000)
    """
    if sensitivity < 0 or sensitivity > 1:
        raise ValueError(
            f"`sensitivity` must be in the range [0, 1]. Currently, `sensitivity` is {sensitivity}. "
            "Pass a sensitivity between 0 and 1."
        )
    _check_num_thresholds(num_thresholds)
    return thresholds_metric(
        "specificity_at_sensitivity",
        "specificity_at_sensitivity",
        labels,
        predictions,
        num_thresholds,
        lambda: _evenly_spaced(num_thresholds, 1.0 - _KEPSILON),
        weights,
        name,
        _specificity_at,
        sensitivity,
    )


def _sensitivity_at(counts: ConfusionAtThresholds, specificity: float) -> torch.Tensor:
    tp, fn, tn, fp = counts["tp"], counts["fn"], counts["tn"], counts["fp"]
    specificities = tn / (tn + fp + _KEPSILON)
    index = torch.argmin((specificities - specificity).abs())  # first index of the minimum
    return tp[index] / (tp[index] + fn[index] + _KEPSILON)


def _specificity_at(counts: ConfusionAtThresholds, sensitivity: float) -> torch.Tensor:
    tp, fn, tn, fp = counts["tp"], counts["fn"], counts["tn"], counts["fp"]
    distance = ((tp / (tp + fn + _KEPSILON)) - sensitivity).abs()
    at_minimum = distance == distance.min()
    index = at_minimum.numel() - 1 - torch.argmax(at_minimum.flip(0).to(torch.int64))  # last minimum
    return tn[index] / (tn[index] + fp[index] + _KEPSILON)


def _evenly_spaced(num_thresholds: int, last: float) -> list[float]:
    inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return [0.0 - _KEPSILON, *inner, last]


def _check_curve(curve: str) -> None:
    if curve not in _CURVES:
        raise ValueError(
            f"Curve must be either ROC or PR. Curve {curve} is unknown. Pass curve='ROC' or 'PR'."
        )


def _check_num_thresholds(num_thresholds: int) -> None:
    if num_thresholds < 2:
        raise ValueError(
            f"num_thresholds must be at least 2 (the two endpoint thresholds). Received: {num_thresholds}."
        )


def _area(counts: ConfusionAtThresholds, method: tuple[str, str]) -> torch.Tensor:
    curve, summation_method = method
    tp, fn, tn, fp = counts["tp"], counts["fn"], counts["tn"], counts["fp"]
    if curve == "PR":
        if summation_method == "trapezoidal":
            logger.warning(
                "Trapezoidal rule is known to produce incorrect PR-AUCs; "
                'please switch to "careful_interpolation" instead.'
            )
        elif summation_method in ("careful_interpolation", "interpolation"):
            return _interpolate_pr_auc(tp, fp, fn)
    if summation_method == "interpolation":  # keras_auc's ROC: rates with divide_no_nan, trapezoids
        x, y = div_no_nan(fp, fp + tn), div_no_nan(tp, tp + fn)
        return ((x[:-1] - x[1:]) * (y[:-1] + y[1:]) / 2.0).sum()
    recall_values = (tp + _AUC_EPSILON) / (tp + fn + _AUC_EPSILON)
    if curve == "ROC":
        x, y = fp / (fp + tn + _AUC_EPSILON), recall_values
    else:
        x, y = recall_values, (tp + _AUC_EPSILON) / (tp + fp + _AUC_EPSILON)
    widths = x[:-1] - x[1:]
    if summation_method == "minoring":
        heights = torch.minimum(y[:-1], y[1:])
    elif summation_method == "majoring":
        heights = torch.maximum(y[:-1], y[1:])
    else:  # trapezoidal, or careful_interpolation on ROC
        heights = (y[:-1] + y[1:]) / 2.0
    return (widths * heights).sum()


def _interpolate_pr_auc(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> torch.Tensor:
    """TF's closed form (Davis & Goadrich 2006, section 4): within each threshold interval TP and
    P = TP + FP vary linearly, and precision is integrated exactly over recall."""
    dtp = tp[:-1] - tp[1:]
    positives = tp + fp
    slope = div_no_nan(dtp, (positives[:-1] - positives[1:]).clamp(min=0))
    intercept = tp[1:] - slope * positives[1:]
    both_positive = (positives[:-1] > 0) & (positives[1:] > 0)
    ratio = torch.where(
        both_positive, div_no_nan(positives[:-1], positives[1:].clamp(min=0)), torch.ones_like(positives[1:])
    )
    increments = div_no_nan(slope * (dtp + intercept * torch.log(ratio)), (tp[1:] + fn[1:]).clamp(min=0))
    return increments.sum()
