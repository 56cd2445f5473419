"""Streaming means: ``mean``, ``mean_tensor``, ``accuracy``, ``percentage_below``.

Maths: TF's own (``tf.compat.v1.metrics``): ``total += sum(values * weights)``, ``count +=
sum(weights)`` with weights broadcast to the values, value ``div_no_nan(total, count)`` (0 before any
weight arrives, where torchmetrics' ``MeanMetric`` gives NaN), all in float32.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from torch_estimator.contract.metric_types import MetricValue, UpdateOp
from torch_estimator.metrics.shapes import (
    align_weights,
    align_weights_to_rank,
    as_tensor,
    check_broadcastable,
    prepare_inputs,
)
from torch_estimator.metrics.state import (
    MetricState,
    deferred_metric,
    div_no_nan,
    metric_pair,
    metric_state,
    named_metric,
)

__all__ = [
    "accuracy",
    "equal_as_labels",
    "fold_mean",
    "mean",
    "mean_of",
    "mean_pair",
    "mean_tensor",
    "percentage_below",
    "read_mean",
]

MetricPair = tuple[MetricValue, UpdateOp]
Transform = Callable[..., torch.Tensor]

_MEAN_LAYOUT = {"total": ((), torch.float32), "count": ((), torch.float32)}


def mean_pair(
    values: torch.Tensor, weights: torch.Tensor | None, name: str | None, default_name: str
) -> MetricPair:
    """The ``(value, update_op)`` of TF's ``metrics.mean`` over ``values``; shared by the metrics
    that average a per-element quantity (accuracy, errors, ...).

    Raises:
        ValueError: ``weights`` can not be broadcast to ``values``.

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = mean_pair(torch.tensor([1.0, 3.0]), None, None, "mean")
    >>> update_op.run(); value.compute()
    tensor(2.)
    """
    return mean_of((values,), None, weights, name, default_name)


def mean_of(
    inputs: tuple[torch.Tensor, ...],
    transform: Transform | None,
    weights: torch.Tensor | None,
    name: str | None,
    default_name: str,
) -> MetricPair:
    """``mean_pair`` of ``transform(*inputs)``, computed in the update op.

    ``transform`` must work element-wise on inputs of one shape, the values' shape (checked by the
    caller, as ``prepare_inputs`` does), and be one module-level function (its identity groups
    deferred batches): the update defers the raw inputs and transforms many batches at once
    (``MetricState.defer``). With ``transform=None``, ``inputs`` is ``(values,)``.

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     labels, predictions = torch.tensor([1.0, 2.0]), torch.tensor([2.0, 5.0])
    ...     value, update_op = mean_of((labels, predictions), torch.sub, None, None, "mean_diff")
    >>> update_op.run(); value.compute()
    tensor(-2.)
    """
    graph, full_name = named_metric(default_name, name, default_name)
    if weights is not None:
        shape = inputs[0].shape  # the values' shape (a Size is made per call: only with weights)
        weights = align_weights_to_rank(weights, len(shape))
        check_broadcastable(weights, shape, full_name)
        if weights.shape != shape:
            # Deferred batches are concatenated row by row: give the weights the values' rows.
            weights = torch.broadcast_to(weights, tuple(shape))
    return deferred_metric(
        graph,
        full_name,
        "mean",
        None,
        _MEAN_LAYOUT,
        read_mean,
        None,
        fold_mean,
        transform,
        (*inputs, weights),
    )


def read_mean(state: MetricState, value_key: Any = None) -> torch.Tensor:
    """``div_no_nan(total, count)`` of a mean state.

    >>> read_mean(MetricState("mean", {"total": torch.tensor(6.0), "count": torch.tensor(4.0)}, key=None))
    tensor(1.5000)
    """
    return div_no_nan(state["total"], state["count"].clamp(min=0))


def fold_mean(state: MetricState, transform: Transform | None, *inputs: torch.Tensor | None) -> None:
    """Adds ``sum(values * weights)`` and ``sum(weights)`` of one or more batches to a mean state;
    ``inputs`` are ``(*transform_inputs, weights)``.

    >>> state = MetricState("mean", {"total": torch.zeros(()), "count": torch.zeros(())}, key=None)
    >>> fold_mean(state, None, torch.tensor([1.0, 5.0]), None)
    >>> [float(t) for t in state.tensors()]
    [6.0, 2.0]
    """
    *parts, weights = inputs
    total, count = state["total"], state["count"]
    device = total.device
    batch = parts[0] if transform is None else transform(*parts)
    if batch.device != device:
        batch = batch.to(device)
    if batch.is_floating_point() and batch.dtype not in (torch.float32, torch.float64):
        batch = batch.to(torch.float32)  # a half-precision sum would lose counts
    if weights is None:
        total.add_(batch.sum())  # bools and ints sum exactly, with no cast kernel
        count.add_(batch.numel())
        return
    batch_weights = torch.broadcast_to(weights.to(device, torch.float32), batch.shape)
    total.add_((batch * batch_weights).sum())
    count.add_(batch_weights.sum())


def mean(
    values: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """The (weighted) mean of ``values`` over every batch: ``sum(values * weights) / sum(weights)``.

    Args:
        values: a tensor of any shape.
        weights: None, a scalar, or a tensor broadcastable to ``values`` (rank 0 or the values' rank,
            each dimension 1 or equal). Use weights of 0 to mask values.
        metrics_collections, updates_collections: accepted and ignored (no collections here).
        name: the metric's name in the Graph; default ``mean`` (``mean_1``, ... when repeated).

    Returns:
        ``(value, update_op)``: the 0-d float32 mean, 0 before any weight; the op that adds a batch.

    Maths: TF's ``mean``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = mean(torch.tensor([1.0, 2.0, 6.0]), weights=torch.tensor([1.0, 1.0, 0.0]))
    >>> update_op.run(); value.compute()
    tensor(1.5000)
    """
    if type(values) is not torch.Tensor or values.requires_grad:  # model outputs skip the call
        values = as_tensor(values, "values", "mean")
    weights_tensor = None if weights is None else as_tensor(weights, "weights", "mean")
    return mean_of((values,), None, weights_tensor, name, "mean")


def mean_tensor(
    values: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """The element-wise (weighted) mean of ``values`` over batches; every batch has one shape.

    The state has the values' full shape, batch dimension included (as TF), so a batch of another
    shape (a short last batch) raises ValueError; use ``mean`` or drop the remainder.

    Returns:
        ``(value, update_op)``: a float32 tensor of the values' shape, 0 where no weight arrived.

    Maths: TF's own (torchmetrics has no element-wise mean).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.spec import EstimatorSpec
    >>> def model_fn(features, mode):
    ...     return EstimatorSpec(mode, loss=torch.zeros(()), eval_metric_ops={"m": mean_tensor(features)})
    >>> graph = Graph(model_fn)
    >>> for batch in (torch.tensor([1.0, 2.0]), torch.tensor([3.0, 6.0])):
    ...     value, update_op = graph(batch, None, "eval").eval_metric_ops["m"]
    ...     update_op.run()
    >>> value.compute()
    tensor([2., 4.])
    """
    graph, full_name = named_metric("mean_tensor", name, "mean")
    tensor = as_tensor(values, "values", "mean_tensor")
    weights_tensor = _optional_tensor(weights, "mean_tensor")
    if weights_tensor is not None:
        weights_tensor = align_weights(tensor, weights_tensor)
        check_broadcastable(weights_tensor, tensor.shape, full_name)
    layout = {"total": (tensor.shape, torch.float32), "count": (tensor.shape, torch.float32)}
    state = metric_state(graph, full_name, "mean_tensor", f"values of shape {tuple(tensor.shape)}", layout)
    total, count = state["total"], state["count"]

    def update() -> None:
        batch = tensor.to(total.device, torch.float32)
        if weights_tensor is None:
            total.add_(batch)
            count.add_(1.0)
            return
        batch_weights = torch.broadcast_to(weights_tensor.to(total.device, torch.float32), batch.shape)
        total.add_(batch * batch_weights)
        count.add_(batch_weights)

    def compute() -> torch.Tensor:
        return div_no_nan(total, count.clamp(min=0))

    return metric_pair(graph, full_name, compute, update)


def accuracy(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """How often ``predictions`` equals ``labels``: the (weighted) mean of ``predictions == labels``.

    Predictions are cast to the labels' dtype before comparing, as TF does. A trailing dimension of
    size 1 on either is squeezed.

    Raises:
        ValueError: labels and predictions have incompatible shapes (both shapes named), or weights
            can not be broadcast to them.

    Maths: TF's own (torchmetrics' Accuracy takes class scores and has no weights).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = accuracy(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 0, 4]))
    >>> update_op.run(); value.compute()
    tensor(0.7500)
    """
    label_tensor, prediction_tensor, weights_tensor = prepare_inputs(
        labels, predictions, weights, name or "accuracy"
    )
    return mean_of(
        (label_tensor, prediction_tensor),
        equal_as_labels,
        weights_tensor,
        name,
        "accuracy",
    )


def equal_as_labels(labels: torch.Tensor, predictions: torch.Tensor) -> torch.Tensor:
    """``predictions == labels``, predictions cast to the labels' dtype first (as TF's accuracy).

    >>> equal_as_labels(torch.tensor([1, 2]), torch.tensor([1.0, 2.5]))
    tensor([True, True])
    """
    if predictions.dtype != labels.dtype:
        predictions = predictions.to(labels.dtype)
    return predictions == labels


def percentage_below(
    values: Any,
    threshold: float,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """The (weighted) fraction of ``values`` strictly below ``threshold``.

    Default name ``percentage_below_threshold`` (TF's).

    Maths: TF's own.

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = percentage_below(torch.tensor([1.0, 2.0, 3.0, 4.0]), threshold=3.0)
    >>> update_op.run(); value.compute()
    tensor(0.5000)
    """
    tensor = as_tensor(values, "values", "percentage_below")
    return mean_pair(
        tensor < threshold, _optional_tensor(weights, "percentage_below"), name, "percentage_below_threshold"
    )


def _optional_tensor(weights: Any, metric: str) -> torch.Tensor | None:
    return None if weights is None else as_tensor(weights, "weights", metric)
