"""Confusion counts at many thresholds, the base of ``*_at_thresholds``, ``auc`` and the
sensitivity/specificity metrics.

TF compared every prediction with every threshold (``batch x thresholds`` work per batch). Here a
batch costs one bucketing (a table lookup, ``buckets.py``, or ``torch.bucketize``) and one
``bincount``: the state is a weighted histogram of predictions over the gaps between the sorted
thresholds, one row per label value. At read time cumulative sums turn it into TF's counts; a
prediction counts as positive at threshold ``t`` when ``prediction > t`` (strictly, as TF).

Predictions must be in ``[0, 1]``. Two extra boundaries, just below 0 and at 1, make the histogram
itself say how many were not (NaN sorts above 1), so checking costs no kernel and no device sync
per batch; reading the value raises ValueError if any were seen. (With weights, the same check is
an explicit count, so a weight of 0 does not hide a bad prediction.)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import torch

from torch_estimator.contract.metric_types import MetricValue, UpdateOp
from torch_estimator.graph.graph import Graph
from torch_estimator.metrics.buckets import bucketize, prefix_table
from torch_estimator.metrics.shapes import check_broadcastable, prepare_inputs
from torch_estimator.metrics.state import (
    MetricState,
    deferred_pair,
    found_state,
    metric_state,
    named_metric,
)

__all__ = [
    "ConfusionAtThresholds",
    "confusion_at_thresholds",
    "fold_thresholds",
    "prepare_threshold_inputs",
    "read_thresholds",
    "threshold_state",
    "threshold_update",
    "thresholds_metric",
]

ConfusionAtThresholds = dict[str, torch.Tensor]
"""``{"tp", "fn", "tn", "fp"}`` -> float32 tensors of shape ``[len(thresholds)]``, thresholds' order."""

_JUST_BELOW_ZERO = -torch.finfo(torch.float32).tiny
# A prediction p is above this boundary exactly when p >= 0, up to negative subnormals (a normal
# number, so flush-to-zero modes cannot move it onto 0).


def threshold_state(
    graph: Graph, name: str, kind: str, key: Hashable, thresholds: Callable[[], Sequence[float]]
) -> MetricState:
    """The histogram state of a thresholds metric; ``thresholds()`` runs only when it is created.

    ``histogram[label, gap]`` holds the weight of predictions above exactly ``gap`` of the sorted
    boundaries (the thresholds, as float32 like TF's constant, plus the two range boundaries).

    >>> graph = Graph(lambda features: None)
    >>> state = threshold_state(graph, "tp", "tp", (0.5, 0.25), lambda: [0.5, 0.25])
    >>> state.constants["boundaries"][1:].tolist(), tuple(state["histogram"].shape)
    ([0.25, 0.5, 1.0], (2, 5))
    """

    def constants() -> dict[str, Any]:
        values = [float(threshold) for threshold in thresholds()]
        raw = torch.tensor([*values, _JUST_BELOW_ZERO, 1.0], dtype=torch.float32, device=graph.device)
        order = torch.argsort(raw, stable=True)
        position = torch.argsort(order, stable=True)  # where each raw value sits among the boundaries
        boundaries = raw[order]
        return {
            "boundaries": boundaries,
            "prefix_table": prefix_table(boundaries),
            "threshold_positions": position[:-2],
            "zero_position": int(position[-2]),
            "one_position": int(position[-1]),
        }

    def layout() -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        gaps = len(thresholds()) + 3
        return {"histogram": ((2, gaps), torch.float32), "out_of_range": ((), torch.float32)}

    return metric_state(graph, name, kind, key, layout, constants)


def prepare_threshold_inputs(
    labels: Any, predictions: Any, weights: Any, metric: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Labels and predictions squeezed and shape-checked as TF does; weights checked to broadcast
    to the predictions, and broadcast. (The update casts labels to bool, predictions to float32.)

    Raises:
        ValueError: incompatible shapes (both named), or weights that do not broadcast.

    >>> labels, predictions, _ = prepare_threshold_inputs([1, 0], [[0.8], [0.1]], None, "auc")
    >>> labels, predictions
    (tensor([1, 0]), tensor([0.8000, 0.1000]))
    """
    labels_t, predictions_t, weights_t = prepare_inputs(labels, predictions, weights, metric)
    if weights_t is not None:
        check_broadcastable(weights_t, predictions_t.shape, metric)
        if weights_t.shape != predictions_t.shape:
            # Deferred batches are concatenated row by row: give the weights the predictions' rows.
            weights_t = torch.broadcast_to(weights_t, predictions_t.shape)
    return labels_t, predictions_t, weights_t


def threshold_update(
    state: MetricState, labels: torch.Tensor, predictions: torch.Tensor, weights: torch.Tensor | None
) -> None:
    """Adds one batch to the histogram: vectorised, a handful of kernels, no device sync.

    Labels are cast to bool, predictions to float32 (as TF), weights broadcast to the predictions.

    >>> graph = Graph(lambda features: None)
    >>> state = threshold_state(graph, "tp", "tp", (0.5,), lambda: [0.5])
    >>> threshold_update(state, torch.tensor([True, False]), torch.tensor([0.7, 0.7]), None)
    >>> state["histogram"]
    tensor([[0., 0., 1., 0.],
            [0., 0., 1., 0.]])
    """
    histogram = state["histogram"]
    increment, out_of_range = state.memo.get(
        "threshold_histogram",
        (labels, predictions, weights),
        lambda: _histogram_increment(state, histogram, labels, predictions, weights),
        params=(state.kind, state.key),  # they fix the boundaries
    )
    histogram.add_(increment)
    if out_of_range is not None:
        state["out_of_range"].add_(out_of_range)


def _histogram_increment(
    state: MetricState,
    histogram: torch.Tensor,
    labels: torch.Tensor,
    predictions: torch.Tensor,
    weights: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """What one batch adds to the histogram and (with weights) to the out-of-range count; metrics
    fed the same tensors with the same boundaries share it (``FoldMemo``)."""
    device = histogram.device
    gaps = histogram.shape[1]
    flat_predictions = predictions.to(device, torch.float32).reshape(-1).contiguous()
    table = state.constants["prefix_table"]
    if table is None:
        gap = torch.bucketize(flat_predictions, state.constants["boundaries"], out_int32=True)
    else:
        gap = bucketize(flat_predictions, table)
    flat_labels = labels.to(device).reshape(-1)
    if flat_labels.dtype != torch.bool:
        flat_labels = flat_labels.bool()
    cell = torch.add(gap, flat_labels, alpha=gaps)  # row = label
    flat_weights = None
    out_of_range = None
    if weights is not None:
        flat_weights = torch.broadcast_to(weights.to(device, torch.float32), predictions.shape).reshape(-1)
        in_range = (flat_predictions >= 0) & (flat_predictions <= 1)
        out_of_range = flat_predictions.numel() - in_range.sum()
    counts = torch.bincount(cell, weights=flat_weights, minlength=2 * gaps)
    return counts.view(histogram.shape), out_of_range


def confusion_at_thresholds(state: MetricState, metric: str) -> ConfusionAtThresholds:
    """TF's ``tp, fn, tn, fp`` at each threshold (in the thresholds' given order) from the state.

    Raises:
        ValueError: some prediction seen was outside [0, 1] (TF: "predictions must be in [0, 1]").

    >>> graph = Graph(lambda features: None)
    >>> state = threshold_state(graph, "c", "tp", (0.5, 0.0), lambda: [0.5, 0.0])
    >>> threshold_update(state, torch.tensor([True, False, True]), torch.tensor([0.7, 0.2, 0.4]), None)
    >>> {key: value.tolist() for key, value in confusion_at_thresholds(state, "c").items()}
    {'tp': [1.0, 2.0], 'fn': [1.0, 0.0], 'tn': [1.0, 0.0], 'fp': [0.0, 1.0]}
    """
    histogram = state["histogram"]
    constants = state.constants
    # above[b] / at_or_below[b]: weight of predictions above / not above boundary b, per label row.
    above = histogram.flip(1).cumsum(1).flip(1)[:, 1:]
    at_or_below = histogram.cumsum(1)[:, :-1]
    both = at_or_below.sum(0)
    outside = both[constants["zero_position"]] + above.sum(0)[constants["one_position"]]
    out_of_range = float((outside + state["out_of_range"]).item())  # one sync, when the value is read
    if out_of_range:
        raise ValueError(
            f"{metric}: predictions must be in [0, 1], but some predictions seen were outside [0, 1] or NaN. "
            "Pass probabilities (e.g. torch.sigmoid(logits)), not logits."
        )
    positions = constants["threshold_positions"]
    return {
        "tp": above[1, positions],
        "fn": at_or_below[1, positions],
        "tn": at_or_below[0, positions],
        "fp": above[0, positions],
    }


def thresholds_metric(
    kind: str,
    default_name: str,
    labels: Any,
    predictions: Any,
    key: Hashable,
    thresholds: Callable[[], Sequence[float]],
    weights: Any,
    name: str | None,
    compute: Callable[[ConfusionAtThresholds, Any], torch.Tensor],
    compute_key: Hashable = None,
) -> tuple[MetricValue, UpdateOp]:
    """A ``(value, update_op)`` pair over the threshold histogram; ``compute(counts, compute_key)``
    maps the counts to the value (a module-level function, so that the value object is made once).
    ``key`` identifies the thresholds cheaply on every call; ``thresholds()`` lists them (called
    only when the state is created). Shared by ``*_at_thresholds``, ``auc`` and the
    sensitivity/specificity metrics.

    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = thresholds_metric(
    ...         "tp", "tp", [True, False], [0.9, 0.6], (0.5, 0.8), lambda: [0.5, 0.8], None, None,
    ...         lambda counts, compute_key: counts[compute_key], "tp",
    ...     )
    >>> update_op.run(); value.compute()
    tensor([1., 1.])
    """
    graph, full_name = named_metric(kind, name, default_name)
    inputs = (
        prepare_inputs(labels, predictions, None, full_name)  # no weights: nothing to broadcast
        if weights is None
        else prepare_threshold_inputs(labels, predictions, weights, full_name)
    )
    state = found_state(graph, full_name, kind, key)  # every batch but the first: no closures to make
    if state is None:
        state = threshold_state(graph, full_name, kind, key, thresholds)
    return deferred_pair(graph, state, read_thresholds, (compute, compute_key), fold_thresholds, None, inputs)


def read_thresholds(
    state: MetricState, value_key: tuple[Callable[[ConfusionAtThresholds, Any], torch.Tensor], Any]
) -> torch.Tensor:
    """``compute(counts, compute_key)`` for ``value_key = (compute, compute_key)``, with the counts
    of the threshold histogram ``state``.

    >>> graph = Graph(lambda features: None)
    >>> state = threshold_state(graph, "c", "tp", (0.5,), lambda: [0.5])
    >>> threshold_update(state, torch.tensor([True, False]), torch.tensor([0.7, 0.7]), None)
    >>> read_thresholds(state, (lambda counts, key: counts[key], "fp"))
    tensor([1.])
    """
    compute, compute_key = value_key
    return compute(confusion_at_thresholds(state, state.name), compute_key)


def fold_thresholds(
    state: MetricState,
    params: None,
    labels: torch.Tensor,
    predictions: torch.Tensor,
    weights: torch.Tensor | None,
) -> None:
    """``threshold_update`` as a ``Fold`` (for ``MetricState.defer``).

    >>> graph = Graph(lambda features: None)
    >>> state = threshold_state(graph, "tp", "tp", (0.5,), lambda: [0.5])
    >>> fold_thresholds(state, None, torch.tensor([1, 0]), torch.tensor([0.7, 0.2]), None)
    >>> state["histogram"].tolist()
    [[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]
    """
    threshold_update(state, labels, predictions, weights)
