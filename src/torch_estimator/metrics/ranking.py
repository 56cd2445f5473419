"""Top-k metrics with sparse labels: ``precision_at_k``, ``recall_at_k``, ``average_precision_at_k``
(and ``precision_at_top_k`` / ``recall_at_top_k``, which take the top-k class ids directly).

Labels are integer class ids of shape ``[D1, ..., DN, num_labels]`` or ``[D1, ..., DN]`` (one label
each); predictions are scores of shape ``[D1, ..., DN, num_classes]``. As TF's set operations, the
labels of a row are a set: duplicates count once, and in recall a label outside ``[0, num_classes)``
(a ``-1`` pad, say) is a false negative; precision ignores such labels. The top k are taken by a
stable descending sort, so equal scores rank the lower class id first (TF's ``top_k`` rule).

Maths: TF's own (``tf.compat.v1.metrics``), in float64: precision and recall are plain ratios, NaN
while their denominator is 0 (e.g. a ``class_id`` never seen); average precision is 0 before any
weight. torchmetrics' retrieval metrics take dense relevance, not sparse ids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from torch_estimator.contract.metric_types import MetricValue, UpdateOp
from torch_estimator.graph.graph import require_graph
from torch_estimator.metrics.shapes import as_tensor, check_broadcastable
from torch_estimator.metrics.state import div_no_nan, metric_name, metric_pair, metric_state

__all__ = ["average_precision_at_k", "precision_at_k", "precision_at_top_k", "recall_at_k", "recall_at_top_k"]

MetricPair = tuple[MetricValue, UpdateOp]

_RATIO_LAYOUT = {"true_positives": ((), torch.float64), "denominator": ((), torch.float64)}
_AVERAGE_PRECISION_LAYOUT = {"total": ((), torch.float64), "max": ((), torch.float64)}


def precision_at_k(
    labels: Any,
    predictions: Any,
    k: int,
    class_id: int | None = None,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """How often a class among the top ``k`` predictions of a row is one of its labels.

    With ``class_id``: among rows with ``class_id`` in their top k, how often it is a label.

    Args:
        labels: int class ids ``[D1, ..., DN, num_labels]`` or ``[D1, ..., DN]``.
        predictions: float scores ``[D1, ..., DN, num_classes]``.
        k: how many top predictions count.
        class_id: optional class for a binary metric.
        weights: None, a scalar, or a tensor broadcastable to ``[D1, ..., DN]``.
        name: default ``precision_at_<k>`` (``..._class<id>`` with a class_id), as TF.

    Returns:
        ``(value, update_op)``: 0-d float64 ``tp / (tp + fp)``, NaN while there is no prediction.

    Raises:
        ValueError: k < 1 or more than num_classes, labels of the wrong rank or leading shape, or
            weights that do not broadcast.

    Maths: TF's ``precision_at_k``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = precision_at_k(torch.tensor([1, 2]), scores, k=2)
    >>> update_op.run(); value.compute()
    tensor(0.2500, dtype=torch.float64)
    """
    metric = name or _at_k_name("precision", k, class_id)
    return _sparse_ratio(
        "precision", labels, _TopK.of_scores(predictions, k, metric), k, class_id, weights, name
    )


def recall_at_k(
    labels: Any,
    predictions: Any,
    k: int,
    class_id: int | None = None,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """How often a label of a row is among its top ``k`` predictions.

    With ``class_id``: among rows with ``class_id`` among their labels, how often it is in the top k.
    Arguments as ``precision_at_k``; default name ``recall_at_<k>``.

    Returns:
        ``(value, update_op)``: 0-d float64 ``tp / (tp + fn)``, NaN while there is no label.

    Maths: TF's ``recall_at_k``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = recall_at_k(torch.tensor([1, 2]), scores, k=2)
    >>> update_op.run(); value.compute()
    tensor(0.5000, dtype=torch.float64)
    """
    metric = name or _at_k_name("recall", k, class_id)
    return _sparse_ratio(
        "recall", labels, _TopK.of_scores(predictions, k, metric), k, class_id, weights, name
    )


def precision_at_top_k(
    labels: Any,
    predictions_idx: Any,
    k: int | None = None,
    class_id: int | None = None,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """``precision_at_k`` from the top-k class ids ``[D1, ..., DN, k]`` instead of scores (``k``
    only names the metric). Repeated ids in a row count once.

    Maths: TF's ``precision_at_top_k``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = precision_at_top_k(torch.tensor([1, 2]), torch.tensor([[1, 2], [0, 1]]))
    >>> update_op.run(); value.compute()
    tensor(0.2500, dtype=torch.float64)
    """
    metric = name or _at_k_name("precision", k, class_id)
    return _sparse_ratio(
        "precision", labels, _TopK.of_ids(predictions_idx, metric), k, class_id, weights, name
    )


def recall_at_top_k(
    labels: Any,
    predictions_idx: Any,
    k: int | None = None,
    class_id: int | None = None,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """``recall_at_k`` from the top-k class ids ``[D1, ..., DN, k]`` instead of scores.

    Maths: TF's ``recall_at_top_k``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = recall_at_top_k(torch.tensor([1, 2]), torch.tensor([[1, 2], [0, 1]]))
    >>> update_op.run(); value.compute()
    tensor(0.5000, dtype=torch.float64)
    """
    metric = name or _at_k_name("recall", k, class_id)
    return _sparse_ratio("recall", labels, _TopK.of_ids(predictions_idx, metric), k, class_id, weights, name)


def average_precision_at_k(
    labels: Any,
    predictions: Any,
    k: int,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """The mean over rows of average precision at ``k``.

    Per row (TF's formula): ``sum_i P_i * rel_i / min(k, num_relevant)`` over the top ``k``
    predictions, where ``rel_i`` says whether the ``i``-th prediction is a label, ``P_i`` is the
    precision of the first ``i`` predictions, and ``num_relevant`` counts the row's labels in
    ``[0, num_classes)`` (a row with none reads NaN, as in TF). Rows are averaged with weights.

    Returns:
        ``(value, update_op)``: 0-d float64, 0 before any weight.

    Raises:
        ValueError: "Invalid k" for k < 1; k more than num_classes; bad label or weight shapes.

    Maths: TF's ``average_precision_at_k``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = average_precision_at_k(torch.tensor([[1, 2], [2, -1]]), scores, k=3)
    >>> update_op.run(); value.compute()
    tensor(0.6667, dtype=torch.float64)
    """
    if k < 1:
        raise ValueError(f"Invalid k={k}. `k` should be >= 1.")
    graph = require_graph("te.metrics.average_precision_at_k")
    full_name = metric_name(graph, name, _at_k_name("average_precision", k))
    top_k = _TopK.of_scores(predictions, k, full_name)
    num_classes = top_k.num_classes
    label_ids = _expand_labels(labels, top_k.shape, full_name)
    weights_t = _row_weights(weights, top_k.shape[:-1], full_name)
    state = metric_state(graph, full_name, "average_precision_at_k", None, _AVERAGE_PRECISION_LAYOUT)
    total, maximum = state["total"], state["max"]
    single_label = label_ids.shape[-1] == 1

    def update() -> None:
        device = total.device
        ids, batch_labels = top_k.ids(device), label_ids.to(device)
        # TF's _clean_out_of_range_indices: labels >= num_classes are ignored, like negative ones.
        valid_labels = (batch_labels >= 0) & (batch_labels < num_classes)
        ranks = torch.arange(1, k + 1, dtype=torch.float64, device=device)
        if single_label:
            # One label: at most one hit, where the running precision is 1 / rank.
            precision_sum = ((ids == batch_labels) / ranks).sum(-1)
            num_relevant = valid_labels.squeeze(-1)
        else:
            relevant = (ids.unsqueeze(-1) == batch_labels.unsqueeze(-2)).any(-1).to(torch.float64)
            precision_sum = (relevant.cumsum(-1) / ranks * relevant).sum(-1)
            num_relevant = valid_labels.sum(-1).clamp(max=k)
        average_precision = precision_sum / num_relevant  # a row without labels is 0 / 0 = NaN, as TF
        if weights_t is None:
            total.add_(average_precision.sum())
            maximum.add_(average_precision.numel())
            return
        row_weights = torch.broadcast_to(weights_t.to(device, torch.float64), average_precision.shape)
        total.add_((average_precision * row_weights).sum())
        maximum.add_(row_weights.sum())

    def compute() -> torch.Tensor:
        return div_no_nan(total, maximum)

    return metric_pair(graph, full_name, compute, update)


def _at_k_name(base: str, k: int | None, class_id: int | None = None) -> str:
    name = f"{base}_at_{k}" if k is not None else f"{base}_at_k"
    return f"{name}_class{class_id}" if class_id is not None else name


class _TopK:
    """The top-k class ids of a batch: sorted from scores inside the update op, or given."""

    def __init__(
        self, shape: torch.Size, ids: Callable[[torch.device], torch.Tensor], distinct: bool, num_classes: int
    ) -> None:
        self.shape = shape
        self.ids = ids
        self.distinct = distinct  # ids from scores never repeat within a row
        self.num_classes = num_classes

    @classmethod
    def of_scores(cls, predictions: Any, k: int, metric: str) -> _TopK:
        scores = as_tensor(predictions, "predictions", metric)
        if k < 1:
            raise ValueError(f"{metric}: Invalid k={k}. `k` should be >= 1.")
        columns = scores.shape[-1] if scores.dim() else 0
        if columns < k:
            raise ValueError(
                f"{metric}: input must have at least k columns. Had {columns}, needed {k}: predictions of "
                f"shape {tuple(scores.shape)} hold {columns} class scores per row. Pass k <= num_classes."
            )

        def ids(device: torch.device) -> torch.Tensor:
            # A stable sort keeps equal scores in class order: TF's top_k ranks the lower id first.
            return torch.sort(scores.to(device), dim=-1, descending=True, stable=True).indices[..., :k]

        return cls(torch.Size((*scores.shape[:-1], k)), ids, True, columns)

    @classmethod
    def of_ids(cls, predictions_idx: Any, metric: str) -> _TopK:
        given = _class_ids(as_tensor(predictions_idx, "predictions_idx", metric), "predictions_idx", metric)
        if given.dim() < 1:
            raise ValueError(f"{metric}: The rank of predictions_idx must be at least 1. Received a scalar.")
        return cls(given.shape, lambda device: given.to(device), False, -1)


def _class_ids(ids: torch.Tensor, argument: str, metric: str) -> torch.Tensor:
    if ids.is_floating_point() or ids.is_complex():
        raise TypeError(
            f"{metric}: {argument} must hold integer class ids. Received dtype {ids.dtype}; "
            "cast with .long()."
        )
    return ids.to(torch.int64)


def _expand_labels(labels: Any, ids_shape: torch.Size, metric: str) -> torch.Tensor:
    """TF's ``_maybe_expand_labels``: labels get the ids' rank; leading dimensions must match."""
    label_ids = _class_ids(as_tensor(labels, "labels", metric), "labels", metric)
    if label_ids.dim() == len(ids_shape) - 1:
        label_ids = label_ids.unsqueeze(-1)
    elif label_ids.dim() != len(ids_shape):
        raise ValueError(
            f"{metric}: Unexpected labels shape {tuple(label_ids.shape)} for predictions shape "
            f"{tuple(ids_shape)}. Predictions rank should be the same rank as labels rank or labels rank "
            "plus one."
        )
    if label_ids.shape[:-1] != ids_shape[:-1]:
        raise ValueError(
            f"{metric}: labels of shape {tuple(label_ids.shape)} and predictions of shape {tuple(ids_shape)} "
            "differ in their leading dimensions [D1, ..., DN]; they must match."
        )
    return label_ids


def _row_weights(weights: Any, rows: torch.Size, metric: str) -> torch.Tensor | None:
    if weights is None:
        return None
    weights_t = as_tensor(weights, "weights", metric)
    check_broadcastable(weights_t, rows, metric)
    return weights_t


def _distinct(sorted_ids: torch.Tensor) -> torch.Tensor:
    """True at the first element of each run of equal values along the last dimension."""
    first = torch.ones_like(sorted_ids[..., :1], dtype=torch.bool)
    return torch.cat([first, sorted_ids[..., 1:] != sorted_ids[..., :-1]], dim=-1)


def _set_sizes(
    ids: torch.Tensor, labels: torch.Tensor, class_id: int | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per row, with ids and labels as sets (TF's set ops, restricted to ``class_id`` when given):
    ``|ids & labels|``, ``|ids|``, ``|labels|``."""
    if class_id is not None:
        in_ids = (ids == class_id).any(-1)
        in_labels = (labels == class_id).any(-1)
        return in_ids & in_labels, in_ids, in_labels
    sorted_ids = ids.sort(-1).values
    distinct_ids = _distinct(sorted_ids)
    hits = (distinct_ids & (sorted_ids.unsqueeze(-1) == labels.unsqueeze(-2)).any(-1)).sum(-1)
    return hits, distinct_ids.sum(-1), _distinct(labels.sort(-1).values).sum(-1)


def _sparse_ratio(
    kind: str,
    labels: Any,
    top_k: _TopK,
    k: int | None,
    class_id: int | None,
    weights: Any,
    name: str | None,
) -> MetricPair:
    """precision = tp / retrieved (tp + fp), recall = tp / relevant (tp + fn), as set sizes per row."""
    graph = require_graph(f"te.metrics.{kind}_at_k")
    full_name = metric_name(graph, name, _at_k_name(kind, k, class_id))
    label_ids = _expand_labels(labels, top_k.shape, full_name)
    weights_t = _row_weights(weights, top_k.shape[:-1], full_name)
    state = metric_state(graph, full_name, f"{kind}_at_k", class_id, _RATIO_LAYOUT)
    hits, total = state["true_positives"], state["denominator"]
    by_predictions = kind == "precision"
    # The common case needs no set arithmetic: distinct top-k ids and one label per row.
    simple = class_id is None and top_k.distinct and label_ids.shape[-1] == 1

    def update() -> None:
        device = hits.device
        ids, batch_labels = top_k.ids(device), label_ids.to(device)
        if simple and weights_t is None:
            hits.add_((ids == batch_labels).sum())
            total.add_(ids.numel() if by_predictions else batch_labels.numel())
            return
        tp, retrieved, relevant = _set_sizes(ids, batch_labels, class_id)
        denominator = retrieved if by_predictions else relevant
        if weights_t is None:
            hits.add_(tp.sum())
            total.add_(denominator.sum())
            return
        row_weights = torch.broadcast_to(weights_t.to(device, torch.float64), tp.shape)
        hits.add_((tp * row_weights).sum())
        total.add_((denominator * row_weights).sum())

    def compute() -> torch.Tensor:
        return hits / total  # TF's plain divide: NaN while there is nothing to divide

    return metric_pair(graph, full_name, compute, update)
