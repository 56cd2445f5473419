"""Regression errors as streaming means: squared, root squared, absolute, relative, cosine distance.

Maths: TF's own (``tf.compat.v1.metrics``). Each is ``metrics.mean`` of a per-element error, so it
takes weights as ``mean`` does and reads 0 before any weight arrives (torchmetrics' error metrics
take no weights).
"""

from __future__ import annotations

from typing import Any

import torch

from torch_estimator.contract.metric_types import MetricValue, UpdateOp
from torch_estimator.metrics.core import mean_of, mean_pair
from torch_estimator.metrics.shapes import (
    as_tensor,
    check_same_shape,
    prepare_inputs,
    remove_squeezable_dimensions,
)

__all__ = [
    "absolute_error",
    "mean_absolute_error",
    "mean_cosine_distance",
    "mean_relative_error",
    "mean_squared_error",
    "root_mean_squared_error",
    "squared_error",
]

MetricPair = tuple[MetricValue, UpdateOp]


def mean_squared_error(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """The (weighted) mean of ``(labels - predictions) ** 2``.

    Raises:
        ValueError: labels and predictions have incompatible shapes (both shapes named), or weights
            can not be broadcast to them.

    Maths: TF's ``mean_squared_error``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = mean_squared_error(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 5.0]))
    >>> update_op.run(); value.compute()
    tensor(5.)
    """
    labels_t, predictions_t, weights_t = prepare_inputs(
        labels, predictions, weights, name or "mean_squared_error"
    )
    return mean_of((labels_t, predictions_t), squared_error, weights_t, name, "mean_squared_error")


def root_mean_squared_error(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """The square root of ``mean_squared_error`` (of the accumulated mean, not a mean of roots).

    Maths: TF's ``root_mean_squared_error``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = root_mean_squared_error(torch.tensor([0.0, 0.0]), torch.tensor([3.0, 5.0]))
    >>> update_op.run(); value.compute()
    tensor(4.1231)
    """
    labels_t, predictions_t, weights_t = prepare_inputs(
        labels, predictions, weights, name or "root_mean_squared_error"
    )
    mse, update_op = mean_of(
        (labels_t, predictions_t), squared_error, weights_t, name, "root_mean_squared_error"
    )
    return MetricValue(lambda: torch.sqrt(mse.compute()), name=mse.name, graph=mse.graph), update_op


def mean_absolute_error(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """The (weighted) mean of ``|predictions - labels|``.

    Maths: TF's ``mean_absolute_error``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = mean_absolute_error(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 5.0]))
    >>> update_op.run(); value.compute()
    tensor(2.)
    """
    labels_t, predictions_t, weights_t = prepare_inputs(
        labels, predictions, weights, name or "mean_absolute_error"
    )
    return mean_of((labels_t, predictions_t), absolute_error, weights_t, name, "mean_absolute_error")


def mean_relative_error(
    labels: Any,
    predictions: Any,
    normalizer: Any,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """The (weighted) mean of ``|labels - predictions| / normalizer``, counting 0 where the
    normalizer is 0 (the element still counts in the denominator, as in TF).

    Raises:
        ValueError: labels, predictions and normalizer have incompatible shapes.

    Maths: TF's ``mean_relative_error``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = mean_relative_error(
    ...         torch.tensor([2.0, 4.0]), torch.tensor([1.0, 1.0]), normalizer=torch.tensor([2.0, 0.0])
    ...     )
    >>> update_op.run(); value.compute()
    tensor(0.2500)
    """
    metric = name or "mean_relative_error"
    labels_t, predictions_t, weights_t = prepare_inputs(labels, predictions, weights, metric)
    normalizer_t = as_tensor(normalizer, "normalizer", metric)
    predictions_t, normalizer_t = remove_squeezable_dimensions(predictions_t, normalizer_t)
    check_same_shape(predictions_t, normalizer_t, "predictions", "normalizer", metric)
    errors = (labels_t - predictions_t).abs() / normalizer_t
    relative = torch.where(normalizer_t == 0, torch.zeros_like(errors), errors)
    return mean_pair(relative, weights_t, name, "mean_relative_error")


def mean_cosine_distance(
    labels: Any,
    predictions: Any,
    dim: int,
    weights: Any = None,
    metrics_collections: Any = None,
    updates_collections: Any = None,
    name: str | None = None,
) -> MetricPair:
    """``1 - mean(sum(labels * predictions, dim))``: the cosine distance of unit-normalised vectors.

    Inputs are expected to be normalised already (TF does not normalise them). Weights must
    broadcast to the reduced values, whose dimension ``dim`` has size 1.

    Maths: TF's ``mean_cosine_distance``; torchmetrics differs (module docstring).

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract.current import graph_context
    >>> with graph_context(Graph(lambda features: None)):
    ...     value, update_op = mean_cosine_distance(
    ...         torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.0], [1.0, 0.0]]), dim=1
    ...     )
    >>> update_op.run(); value.compute()
    tensor(0.5000)
    """
    labels_t, predictions_t, weights_t = prepare_inputs(
        labels, predictions, weights, name or "mean_cosine_distance"
    )
    rank = predictions_t.dim()
    if not -rank <= dim < max(rank, 1):
        raise ValueError(
            f"{name or 'mean_cosine_distance'}: Invalid reduction dimension {dim} for inputs of shape "
            f"{tuple(predictions_t.shape)} (rank {rank}). Pass dim in [{-rank}, {max(rank, 1)})."
        )
    radial = (predictions_t * labels_t).sum(dim=dim, keepdim=True)
    mean_value, update_op = mean_pair(radial, weights_t, name, "mean_cosine_distance")
    return MetricValue(
        lambda: 1.0 - mean_value.compute(), name=mean_value.name, graph=mean_value.graph
    ), update_op


def squared_error(labels: torch.Tensor, predictions: torch.Tensor) -> torch.Tensor:
    """``(labels - predictions) ** 2``, element-wise (the update of ``mean_squared_error``).

    >>> squared_error(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 5.0]))
    tensor([1., 9.])
    """
    return (labels - predictions).square()


def absolute_error(labels: torch.Tensor, predictions: torch.Tensor) -> torch.Tensor:
    """``|predictions - labels|``, element-wise (the update of ``mean_absolute_error``).

    >>> absolute_error(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 5.0]))
    tensor([1., 3.])
    """
    return (predictions - labels).abs()
