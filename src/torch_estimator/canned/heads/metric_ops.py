"""Metric pairs several heads share: the accuracy baseline, regularization loss, threshold metrics."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import torch

from torch_estimator.canned.heads.keys import MetricKeys, summary_key
from torch_estimator.canned.heads.losses import regularization_total
from torch_estimator.contract.metric_types import MetricValue, UpdateOp
from torch_estimator.metrics import accuracy, mean, precision, recall
from torch_estimator.metrics.state import MetricState, div_no_nan, found_state

__all__ = ["accuracy_baseline", "regularization_metric", "threshold_metrics"]

_BASELINE_PREFIX = "accuracy_baseline:"
"""Prefix of an accuracy baseline pair's key in ``Graph.objects``, with the label mean it reads."""


def accuracy_baseline(label_mean: tuple[MetricValue, UpdateOp], key: str) -> tuple[MetricValue, UpdateOp]:
    """``max(label_mean, 1 - label_mean)``: the accuracy of always predicting the majority class,
    computed as TF 2.15's heads do, ``max(total, count - total) / count``: 0 before any weight (where
    ``max(0, 1 - 0)`` would read 1).

    ``label_mean`` is ``te.metrics.mean``'s pair, made in this Graph: this reads its state. Its own
    update op does nothing (TF reused the label mean's update the same way), so each batch is
    counted once.
    """
    value = label_mean[0]
    graph = value.graph
    # The pair depends on the label mean's value object only, which its state keeps across batches:
    # made once per Graph, as the metric functions make their value objects once.
    found = graph.objects.get(_BASELINE_PREFIX + key)
    if found is None or found[0] is not value:
        state = found_state(graph, value.name, "mean", None)
        baseline = MetricValue(partial(_baseline, state), key, graph)
        pair = graph.keep_metric_pair((baseline, UpdateOp(_no_update, f"{key}/update_op", graph)))
        found = graph.objects[_BASELINE_PREFIX + key] = (value, pair)
    return found[1]


def _baseline(state: MetricState) -> torch.Tensor:
    total, count = state["total"], state["count"]
    return div_no_nan(torch.maximum(total, count - total), count)


def _no_update() -> None:
    return None


def regularization_metric(
    regularization_losses: Sequence[torch.Tensor] | None, like: torch.Tensor, head_name: str | None
) -> dict[str, Any]:
    """``{'regularization_loss[/name]': mean of add_n(regularization_losses)}``, or ``{}`` without them."""
    if regularization_losses is None:
        return {}
    key = summary_key(MetricKeys.LOSS_REGULARIZATION, head_name)
    return {key: mean(regularization_total(regularization_losses, like).detach(), name=key)}


def threshold_metrics(
    labels: torch.Tensor,
    probabilities: torch.Tensor,
    weights: torch.Tensor | None,
    thresholds: Sequence[float],
    head_name: str | None,
) -> dict[str, Any]:
    """accuracy / precision / recall with ``probabilities > t`` as the positive predictions, per ``t``."""
    metrics: dict[str, Any] = {}
    for threshold in thresholds:
        positive = probabilities > threshold
        for template, metric, predicted in (
            (MetricKeys.ACCURACY_AT_THRESHOLD, accuracy, positive.to(labels.dtype)),
            (MetricKeys.PRECISION_AT_THRESHOLD, precision, positive),
            (MetricKeys.RECALL_AT_THRESHOLD, recall, positive),
        ):
            name = summary_key(template % threshold, head_name)
            metrics[name] = metric(labels, predicted, weights, name=name)
    return metrics
