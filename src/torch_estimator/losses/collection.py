"""TF's loss collections: ``add_loss``, ``get_losses`` and ``get_total_loss``.

TF1's loss functions added their result to the graph's ``LOSSES`` collection, and model_fns summed
it with ``get_total_loss()``. model_fn runs once per batch here, so each call of model_fn starts
with empty collections (``Graph.loss_collections``) and the readers return this call's losses. A
loss is recorded under the name TF gave its tensor (``<scope>/mean_squared_error/value``), which is
what the ``scope`` regular expression of the readers matches at its start, as TF's
``get_collection`` did (``add_loss`` names its entry ``<scope>/add_loss`` where it is called; TF
used the name of the op that made the tensor). Outside model_fn the loss functions and ``add_loss``
record nothing, as TF's eager mode ignored ``loss_collection``.
"""

from __future__ import annotations

import re

import torch

from torch_estimator.contract.current import current_graph
from torch_estimator.graph.graph import Graph, require_graph
from torch_estimator.graph.regularization import RegularizationLoss, get_regularization_losses

__all__ = [
    "LOSSES",
    "REGULARIZATION_LOSSES",
    "add_loss",
    "get_losses",
    "get_total_loss",
    "record_loss",
    "scoped_loss_name",
]

LOSSES = "losses"
"""TF's ``GraphKeys.LOSSES``: the collection the loss functions add to by default."""

REGULARIZATION_LOSSES = "regularization_losses"
"""TF's ``GraphKeys.REGULARIZATION_LOSSES``: what ``te.losses.get_regularization_losses`` reads."""


def scoped_loss_name(scope: str | None, default_name: str) -> str | None:
    """The name TF's ``name_scope(scope, default_name)`` opens in the current model_fn call (uniqued
    like layer names: ``mean_squared_error``, ``mean_squared_error_1``, ...); None outside model_fn.
    A loss function takes it whether or not it records the loss, as TF opened the scope either way."""
    graph = current_graph()
    if graph is None:
        return None
    return graph.unique_scoped_name(scope or default_name)


def record_loss(name: str | None, loss: torch.Tensor, loss_collection: str | None) -> None:
    """Adds ``loss`` to ``loss_collection`` of the current call under ``name`` (see
    ``scoped_loss_name``); nothing outside model_fn or when ``loss_collection`` is None or empty."""
    graph = current_graph()
    if graph is None or name is None or not loss_collection:
        return
    _append(graph, name, loss, loss_collection)


def _append(graph: Graph, name: str, loss: torch.Tensor, loss_collection: str) -> None:
    if loss_collection == REGULARIZATION_LOSSES:
        graph.regularization_losses.append(RegularizationLoss(name, None, loss))
    else:
        graph.loss_collections.setdefault(loss_collection, []).append((name, loss))


def add_loss(loss: torch.Tensor, loss_collection: str | None = LOSSES) -> None:
    """Adds a loss the model computed itself to ``loss_collection`` (``tf.compat.v1.losses.add_loss``),
    for ``get_losses`` and ``get_total_loss``; ``REGULARIZATION_LOSSES`` adds it to the regularization
    losses instead. Outside model_fn it does nothing, as TF's did when executing eagerly.

    Raises:
        TypeError: ``loss`` is not a tensor.

    >>> import torch_estimator as te
    >>> def model_fn(features, mode):
    ...     te.losses.add_loss(features.sum())
    ...     return te.EstimatorSpec(mode, loss=te.losses.get_total_loss())
    >>> te.Graph(model_fn)(torch.ones(3), None, te.ModeKeys.EVAL).loss
    tensor(3.)
    """
    if not isinstance(loss, torch.Tensor):
        raise TypeError(
            f"te.losses.add_loss: loss must be a tensor. Received: {type(loss).__name__} {loss!r}. "
            "Pass the tensor the model computed (e.g. torch.as_tensor(value))."
        )
    graph = current_graph()
    if graph is not None and loss_collection:
        _append(graph, graph.unique_scoped_name("add_loss"), loss, loss_collection)


def get_losses(scope: str | None = None, loss_collection: str = LOSSES) -> list[torch.Tensor]:
    """The losses of ``loss_collection`` recorded in this model_fn call, in order
    (``tf.compat.v1.losses.get_losses``).

    Args:
        scope: keep only the losses whose name matches this regular expression at its start:
            ``"tower"`` keeps ``tower/mean_squared_error/value``.
        loss_collection: the collection to read; ``REGULARIZATION_LOSSES`` reads the regularization
            losses (``get_regularization_losses``).

    Raises:
        RuntimeError: called outside model_fn.

    >>> import torch_estimator as te
    >>> def model_fn(features, mode):
    ...     with te.variable_scope("tower"):
    ...         te.losses.mean_squared_error(features, features + 1)
    ...     te.losses.absolute_difference(features, features)
    ...     tower = te.losses.get_losses(scope="tower")
    ...     return te.EstimatorSpec(mode, loss=tower[0], predictions=features)
    >>> te.Graph(model_fn)(torch.ones(3), None, te.ModeKeys.EVAL).loss
    tensor(1.)
    """
    graph = require_graph("te.losses.get_losses")
    if loss_collection == REGULARIZATION_LOSSES:
        return get_regularization_losses(scope)
    entries = graph.loss_collections.get(loss_collection, [])
    if scope is None:
        return [loss for _, loss in entries]
    pattern = re.compile(scope)
    return [loss for name, loss in entries if pattern.match(name) is not None]


def get_total_loss(
    add_regularization_losses: bool = True, name: str = "total_loss", scope: str | None = None
) -> torch.Tensor:
    """The sum of ``get_losses(scope)`` and, with ``add_regularization_losses``, of
    ``get_regularization_losses(scope)`` (``tf.compat.v1.losses.get_total_loss``). ``name`` is
    accepted for TF's signature.

    Raises:
        RuntimeError: called outside model_fn.
        ValueError: there is no loss to add, or the losses differ in shape or dtype (TF's ``add_n``).
    """
    del name  # tensors have no names here
    losses = get_losses(scope)
    if add_regularization_losses:
        losses += get_regularization_losses(scope)
    if not losses:
        raise ValueError(
            "Inputs must be an iterable of at least one Tensor/IndexedSlices with the same dtype and shape: "
            f"te.losses.get_total_loss found no loss in this model_fn call{_scope_text(scope)}. Compute the "
            "loss with a te.losses function or add it with te.losses.add_loss first."
        )
    first = losses[0]
    for loss in losses[1:]:
        if loss.shape != first.shape or loss.dtype != first.dtype:
            raise ValueError(
                "Inputs must be an iterable of at least one Tensor/IndexedSlices with the same dtype and "
                f"shape: te.losses.get_total_loss found losses of shape {tuple(first.shape)} ({first.dtype}) "
                f"and {tuple(loss.shape)} ({loss.dtype}). Reduce each loss to a scalar (any reduction "
                "except Reduction.NONE) and give them one dtype."
            )
    total = first
    for loss in losses[1:]:
        total = total + loss
    return total


def _scope_text(scope: str | None) -> str:
    return "" if scope is None else f" under scope {scope!r}"
