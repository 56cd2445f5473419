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

from typing import Any

import torch

from torch_estimator.contract.metric_types import MetricValue, UpdateOp
from torch_estimator.metrics.shapes import as_tensor, check_broadcastable
from torch_estimator.metrics.state import (
    MetricState,
    deferred_metric,
    div_no_nan,
    named_metric,
)

__all__ = [
    "average_precision_at_k",
    "fold_average_precision",
    "fold_sparse_ratio",
    "label_rank",
    "precision_at_k",
    "precision_at_top_k",
    "read_average_precision",
    "read_sparse_ratio",
    "recall_at_k",
    "recall_at_top_k",
    "top_k_ids",
]

MetricPair = tuple[MetricValue, UpdateOp]

_RATIO_LAYOUT = {"true_positives": ((), torch.float64), "denominator": ((), torch.float64)}
_AVERAGE_PRECISION_LAYOUT = {"total": ((), torch.float64), "max": ((), torch.float64)}
_RATIO_KINDS = {"precision": "precision_at_k", "recall": "recall_at_k"}


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
    default_name = _at_k_name("precision", k, class_id)
    scores = _scores(predictions, k, name or default_name)
    return _sparse_ratio("precision", default_name, labels, scores, k, class_id, weights, name)


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
    default_name = _at_k_name("recall", k, class_id)
    scores = _scores(predictions, k, name or default_name)
    return _sparse_ratio("recall", default_name, labels, scores, k, class_id, weights, name)


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
    default_name = _at_k_name("precision", k, class_id)
    ids = _top_ids(predictions_idx, name or default_name)
    return _sparse_ratio("precision", default_name, labels, ids, None, class_id, weights, name)


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
    default_name = _at_k_name("recall", k, class_id)
    ids = _top_ids(predictions_idx, name or default_name)
    return _sparse_ratio("recall", default_name, labels, ids, None, class_id, weights, name)


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
    graph, full_name = named_metric("average_precision_at_k", name, _at_k_name("average_precision", k))
    scores = _scores(predictions, k, full_name)
    inputs, expand = _batch_inputs(labels, scores, k, weights, full_name)
    return deferred_metric(
        graph,
        full_name,
        "average_precision_at_k",
        None,
        _AVERAGE_PRECISION_LAYOUT,
        read_average_precision,
        None,
        fold_average_precision,
        (k, expand),
        inputs,
    )


def read_average_precision(state: MetricState, value_key: Any = None) -> torch.Tensor:
    """The mean average precision of an ``average_precision_at_k`` state, 0 before any weight.

    >>> layout = {"total": torch.tensor(1.5), "max": torch.tensor(2.0)}
    >>> read_average_precision(MetricState("average_precision_at_k", layout, None)).double()
    tensor(0.7500, dtype=torch.float64)
    """
    return div_no_nan(state["total"], state["max"])


def fold_average_precision(
    state: MetricState,
    params: tuple[int, bool],
    labels: torch.Tensor,
    scores: torch.Tensor,
    weights: torch.Tensor | None,
) -> None:
    """Adds the rows' (weighted) average precision at ``k`` and their weight; ``params`` is
    ``(k, whether labels need a trailing dimension)``.

    >>> state = MetricState("ap", {"total": torch.zeros(()), "max": torch.zeros(())}, None)
    >>> scores = torch.tensor([[0.1, 0.9], [0.2, 0.8]])
    >>> fold_average_precision(state, (2, True), torch.tensor([1, 0]), scores, None)
    >>> [float(t) for t in state.tensors()]  # rows: hit at rank 1, hit at rank 2
    [1.5, 2.0]
    """
    k, expand = params
    total, maximum = state["total"], state["max"]
    device = total.device
    ranks = torch.arange(1, k + 1, dtype=torch.float64, device=device)
    single_label = expand or labels.shape[-1] == 1
    if single_label and weights is None:
        # One label: at most one hit, where the running precision is 1 / rank; a row without a
        # label in range reads 0 / 0 = NaN, as in TF.
        counts = _rank_counts(state, labels, scores, expand, device)
        total.add_((counts[:k] / ranks).sum())
        if int(counts[-1]):  # a sync, once a fold
            total.add_(torch.nan)
        maximum.add_(labels.numel())
        return
    if single_label:
        rank, num_relevant = _label_ranks(state, labels, scores, expand, device)
        precision_sum = torch.where(num_relevant & (rank < k), 1.0 / (rank + 1).to(torch.float64), 0.0)
    else:
        batch_labels = _label_ids(labels, expand, device)
        batch_scores = scores.to(device)
        # TF's _clean_out_of_range_indices: labels >= num_classes are ignored, like negative ones.
        valid_labels = (batch_labels >= 0) & (batch_labels < batch_scores.shape[-1])
        ids = top_k_ids(batch_scores, k)
        relevant = (ids.unsqueeze(-1) == batch_labels.unsqueeze(-2)).any(-1).to(torch.float64)
        precision_sum = (relevant.cumsum(-1) / ranks * relevant).sum(-1)
        num_relevant = valid_labels.sum(-1).clamp(max=k)
    average_precision = precision_sum / num_relevant  # a row without labels is 0 / 0 = NaN, as TF
    if weights is None:
        total.add_(average_precision.sum())
        maximum.add_(average_precision.numel())
        return
    row_weights = torch.broadcast_to(weights.to(device, torch.float64), average_precision.shape)
    total.add_((average_precision * row_weights).sum())
    maximum.add_(row_weights.sum())


def top_k_ids(scores: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k`` class ids of highest score in each row, best first; equal scores rank the lower id
    first (a stable sort, as TF's ``top_k``), NaN above everything (as ``torch.sort``).

    >>> top_k_ids(torch.tensor([[0.2, 0.7, 0.2, 0.1]]), 3)
    tensor([[1, 0, 2]])
    """
    return torch.sort(scores, dim=-1, descending=True, stable=True).indices[..., :k]


def label_rank(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Where each row's one label ``[..., 1]`` sits in ``top_k_ids`` order (0 first), without sorting:
    the classes scored higher, plus the equal ones of lower id. Labels out of range read the rank of
    a clamped id; mask them.

    >>> label_rank(torch.tensor([[0.2, 0.7, 0.2, 0.1]]), torch.tensor([[2]]))
    tensor([2])
    """
    num_classes = scores.shape[-1]
    clamped = labels.clamp(0, num_classes - 1)
    label_scores = scores.gather(-1, clamped)
    rank = (scores > label_scores).sum(-1)
    # Exact as it is unless a row has a tie besides the label itself (or its label's score is NaN:
    # NaN equals nothing), or some score is NaN (sorted above everything). Both are rare, and each
    # check is one full reduction: one device sync per fold.
    ties = int((scores == label_scores).sum()) != label_scores.numel()
    if not ties and not (scores.is_floating_point() and bool(scores.sum().isnan())):
        return rank
    if scores.is_floating_point() and bool(label_scores.isnan().any()):
        # torch.sort puts NaN above everything, NaNs in id order: rank such rows by sorting.
        order = torch.sort(scores, dim=-1, descending=True, stable=True).indices
        return (order == clamped).to(torch.int8).argmax(-1)
    above = (scores <= label_scores).logical_not_()  # a NaN score is above a number, as in the sort
    above |= (scores == label_scores) & (torch.arange(num_classes, device=scores.device) < labels)
    return above.sum(-1)


def _label_ranks(
    state: MetricState, labels: torch.Tensor, scores: torch.Tensor, expand: bool, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """For one label a row: each label's ``label_rank`` and whether it is a class id in range (TF's
    _clean_out_of_range_indices ignores others). Shared through the memo by the top-k metrics fed
    the same tensors."""

    def compute() -> tuple[torch.Tensor, torch.Tensor]:
        batch_labels = _label_ids(labels, expand, device)
        batch_scores = scores.to(device)
        valid = (batch_labels >= 0) & (batch_labels < batch_scores.shape[-1])
        return label_rank(batch_scores, batch_labels), valid.squeeze(-1)

    return state.memo.get("label_rank", (labels, scores), compute, params=expand)


def _rank_counts(
    state: MetricState, labels: torch.Tensor, scores: torch.Tensor, expand: bool, device: torch.device
) -> torch.Tensor:
    """How many rows have their one label at each rank ``0 .. num_classes - 1``, and (last) how many
    have no label in range: all an unweighted top-k metric needs, for any k. Shared like
    ``_label_ranks``."""

    def compute() -> torch.Tensor:
        rank, valid = _label_ranks(state, labels, scores, expand, device)
        num_classes = scores.shape[-1]
        # Rows of [D1, ..., DN]: bincount counts a flat vector.
        bins = torch.where(valid, rank, num_classes).reshape(-1)
        return torch.bincount(bins, minlength=num_classes + 1)

    return state.memo.get("rank_counts", (labels, scores), compute, params=expand)


def _at_k_name(base: str, k: int | None, class_id: int | None = None) -> str:
    name = f"{base}_at_{k}" if k is not None else f"{base}_at_k"
    return f"{name}_class{class_id}" if class_id is not None else name


def _scores(predictions: Any, k: int, metric: str) -> torch.Tensor:
    """Class scores ``[D1, ..., DN, num_classes]``, checked to hold at least ``k`` columns."""
    scores = as_tensor(predictions, "predictions", metric)
    if k < 1:
        raise ValueError(f"{metric}: Invalid k={k}. `k` should be >= 1.")
    columns = scores.shape[-1] if scores.dim() else 0
    if columns < k:
        raise ValueError(
            f"{metric}: input must have at least k columns. Had {columns}, needed {k}: predictions of "
            f"shape {tuple(scores.shape)} hold {columns} class scores per row. Pass k <= num_classes."
        )
    return scores


def _top_ids(predictions_idx: Any, metric: str) -> torch.Tensor:
    """Top-k class ids ``[D1, ..., DN, k]``, checked."""
    given = as_tensor(predictions_idx, "predictions_idx", metric)
    if given.is_floating_point():
        given = given.to(torch.int64)  # TF casts predictions_idx to int64, truncating
    _check_class_ids(given, "predictions_idx", metric)
    if given.dim() < 1:
        raise ValueError(f"{metric}: The rank of predictions_idx must be at least 1. Received a scalar.")
    return given


def _check_class_ids(ids: torch.Tensor, argument: str, metric: str) -> None:
    if ids.is_floating_point() or ids.is_complex():
        raise TypeError(
            f"{metric}: {argument} must hold integer class ids. Received dtype {ids.dtype}; "
            "cast with .long()."
        )


def _label_ids(labels: torch.Tensor, expand: bool, device: torch.device) -> torch.Tensor:
    label_ids = labels.to(device, torch.int64)
    return label_ids.unsqueeze(-1) if expand else label_ids


def _batch_inputs(
    labels: Any, predictions: torch.Tensor, k: int | None, weights: Any, metric: str
) -> tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None], bool]:
    """``(labels, predictions, weights)`` checked against the top-k ids' shape (scores with their
    top ``k``, or the ids when ``k`` is None), with rows along dimension 0 (what deferred updates
    concatenate), and whether the labels need a trailing dimension (TF's ``_maybe_expand_labels``:
    labels get the ids' rank; their leading dimensions must match)."""
    rank = predictions.dim()
    rows = predictions.shape[:-1]
    label_ids = as_tensor(labels, "labels", metric)
    _check_class_ids(label_ids, "labels", metric)
    expand = label_ids.dim() == rank - 1
    if expand:
        leading_match = label_ids.shape == rows
    else:
        leading_match = label_ids.dim() == rank and label_ids.shape[:-1] == rows
    if not leading_match:
        _raise_label_shape(
            label_ids, expand, rank, (*rows, predictions.shape[-1] if k is None else k), metric
        )
    weights_t = None
    if weights is not None:
        weights_t = as_tensor(weights, "weights", metric)
        check_broadcastable(weights_t, rows, metric)
        if weights_t.shape != rows:
            weights_t = torch.broadcast_to(weights_t, rows)
    if not rows:  # one row with no leading dimension: give it one, so batches concatenate as rows
        label_ids, predictions = label_ids.unsqueeze(0), predictions.unsqueeze(0)
        weights_t = None if weights_t is None else weights_t.unsqueeze(0)
    return (label_ids, predictions, weights_t), expand


def _raise_label_shape(
    label_ids: torch.Tensor, expand: bool, rank: int, ids_shape: tuple[int, ...], metric: str
) -> None:
    if not expand and label_ids.dim() != rank:
        raise ValueError(
            f"{metric}: Unexpected labels shape {tuple(label_ids.shape)} for predictions shape "
            f"{ids_shape}. Predictions rank should be the same rank as labels rank or labels rank "
            "plus one."
        )
    expanded_shape = (*label_ids.shape, 1) if expand else tuple(label_ids.shape)
    raise ValueError(
        f"{metric}: labels of shape {expanded_shape} and predictions of shape {ids_shape} "
        "differ in their leading dimensions [D1, ..., DN]; they must match."
    )


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


def _distinct(sorted_ids: torch.Tensor) -> torch.Tensor:
    """True at the first element of each run of equal values along the last dimension."""
    first = torch.ones_like(sorted_ids[..., :1], dtype=torch.bool)
    return torch.cat([first, sorted_ids[..., 1:] != sorted_ids[..., :-1]], dim=-1)


def _sparse_ratio(
    kind: str,
    default_name: str,
    labels: Any,
    predictions: torch.Tensor,
    k: int | None,
    class_id: int | None,
    weights: Any,
    name: str | None,
) -> MetricPair:
    """precision = tp / retrieved (tp + fp), recall = tp / relevant (tp + fn), as set sizes per row;
    ``predictions`` are scores with ``k``, or top-k ids with ``k=None``."""
    graph, full_name = named_metric(_RATIO_KINDS[kind], name, default_name)
    inputs, expand = _batch_inputs(labels, predictions, k, weights, full_name)
    params = (kind == "precision", k, class_id, expand)
    return deferred_metric(
        graph,
        full_name,
        _RATIO_KINDS[kind],
        class_id,
        _RATIO_LAYOUT,
        read_sparse_ratio,
        None,
        fold_sparse_ratio,
        params,
        inputs,
    )


def read_sparse_ratio(state: MetricState, value_key: Any = None) -> torch.Tensor:
    """``true_positives / denominator`` of a top-k precision or recall state (TF's plain divide:
    NaN while there is nothing to divide).

    >>> layout = {"true_positives": torch.tensor(1.0), "denominator": torch.tensor(4.0)}
    >>> read_sparse_ratio(MetricState("recall_at_k", layout, None))
    tensor(0.2500)
    """
    return state["true_positives"] / state["denominator"]


def fold_sparse_ratio(
    state: MetricState,
    params: tuple[bool, int | None, int | None, bool],
    labels: torch.Tensor,
    predictions: torch.Tensor,
    weights: torch.Tensor | None,
) -> None:
    """Adds true positives and retrieved (precision) or relevant (recall) counts of top-k rows.

    ``params`` is ``(precision?, k when predictions are scores or None when they are top-k ids,
    class_id, whether labels need a trailing dimension)``.

    >>> layout = {"true_positives": torch.zeros(()), "denominator": torch.zeros(())}
    >>> state = MetricState("recall_at_k", layout, None)
    >>> scores = torch.tensor([[0.1, 0.9], [0.1, 0.9]])
    >>> fold_sparse_ratio(state, (False, 1, None, True), torch.tensor([1, 0]), scores, None)
    >>> [float(t) for t in state.tensors()]
    [1.0, 2.0]
    """
    by_predictions, k, class_id, expand = params
    hits, total = state["true_positives"], state["denominator"]
    device = hits.device
    if k is not None and class_id is None and weights is None and (expand or labels.shape[-1] == 1):
        # The common case needs no sort and no set arithmetic: distinct top-k ids, one label per row.
        counts = _rank_counts(state, labels, predictions, expand, device)
        hits.add_(counts[:k].sum())
        total.add_(labels.numel() * k if by_predictions else labels.numel())
        return
    batch_labels = _label_ids(labels, expand, device)
    ids = top_k_ids(predictions.to(device), k) if k is not None else predictions.to(device, torch.int64)
    tp, retrieved, relevant = _set_sizes(ids, batch_labels, class_id)
    denominator = retrieved if by_predictions else relevant
    if weights is None:
        hits.add_(tp.sum())
        total.add_(denominator.sum())
        return
    row_weights = torch.broadcast_to(weights.to(device, torch.float64), tp.shape)
    hits.add_((tp * row_weights).sum())
    total.add_((denominator * row_weights).sum())
