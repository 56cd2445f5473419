"""Regularization losses and variable constraints: TF's ``regularizer=`` and ``constraint=`` arguments.

TF's ``get_variable(regularizer=...)``, ``variable_scope(regularizer=...)`` and the layers'
``*_regularizer`` arguments put a loss in the graph's ``REGULARIZATION_LOSSES`` collection when a
variable is created (an activity regularizer's at every layer call), and
``tf.compat.v1.losses.get_regularization_loss()`` summed the collection. model_fn runs once per step
here, so the Graph records the losses of each call afresh, in TF's order: a variable's regularizers
the first time the call meets the variable (the scope's default, then a layer's own), an activity
regularizer at each layer call. A loss is computed when it is read, from the variable or the layer
output the call recorded: a model_fn that never reads them pays nothing.

A constraint (``kernel_constraint=``, ``get_variable(constraint=...)``) belongs to the variable from
its creation; the optimizers apply it after each update of that variable, as TF1's did.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import Any

import torch

from torch_estimator.graph.graph import Graph, require_graph

__all__ = [
    "Constraint",
    "RegularizationLoss",
    "Regularizer",
    "apply_constraints",
    "get_regularization_loss",
    "get_regularization_losses",
    "regularize_activity",
    "regularize_variable",
    "scope_regularizer",
]

Regularizer = Callable[[torch.Tensor], Any]
"""``regularizer(tensor) -> scalar loss`` (a tensor or a number; None adds no loss)."""

Constraint = Callable[[torch.Tensor], torch.Tensor]
"""``constraint(variable) -> projected value`` of the variable's shape, applied after each update."""


@dataclasses.dataclass(frozen=True)
class RegularizationLoss:
    """One entry of a call's regularization losses: ``regularizer(tensor)``, divided by the batch
    size for an activity regularizer (as Keras divides it), computed when read.

    ``name`` is TF's: ``<variable>/Regularizer`` or ``<layer>/ActivityRegularizer``; the ``scope``
    of ``get_regularization_losses`` matches it.

    >>> RegularizationLoss("w/Regularizer", lambda w: w.sum(), torch.ones(3)).value()
    tensor(3.)
    """

    name: str
    regularizer: Regularizer
    tensor: torch.Tensor
    per_example: bool = False

    def value(self) -> torch.Tensor | None:
        """The loss now, a 0-d tensor (None when the regularizer returns None)."""
        loss = self.regularizer(self.tensor)
        if loss is None:
            return None
        if not isinstance(loss, torch.Tensor):
            loss = torch.as_tensor(loss, dtype=torch.float32, device=self.tensor.device)
        if self.per_example:
            loss = loss / self.tensor.shape[0]
        return loss


def regularize_variable(
    graph: Graph, name: str, variable: torch.Tensor, regularizers: Sequence[Regularizer | None]
) -> None:
    """Records the ``regularizers`` of variable ``name`` (a full name) the first time this model_fn
    call meets it; later meetings in the call add nothing, as TF added them once, at creation."""
    if name in graph.regularized_variables:
        return
    graph.regularized_variables.add(name)
    for regularizer in regularizers:
        if regularizer is not None:
            _check_callable(regularizer, "regularizer", name)
            entry = RegularizationLoss(f"{name}/Regularizer", regularizer, variable)
            graph.regularization_losses.append(entry)


def regularize_activity(
    graph: Graph, layer: str, outputs: torch.Tensor, regularizer: Regularizer | None
) -> None:
    """Records ``regularizer(outputs) / batch size`` for layer ``layer`` (its name in the current
    scope), at each call of the layer."""
    if regularizer is None:
        return
    name = graph.scoped(layer)
    _check_callable(regularizer, "activity_regularizer", name)
    graph.regularization_losses.append(
        RegularizationLoss(f"{name}/ActivityRegularizer", regularizer, outputs, per_example=True)
    )


def scope_regularizer(graph: Graph) -> Regularizer | None:
    """The regularizer of the innermost enclosing ``variable_scope`` that set one."""
    if not graph.scope_regularizers:
        return None
    scope = graph.scope
    while True:
        found = graph.scope_regularizers.get(scope)
        if found is not None or not scope:
            return found
        scope = scope.rpartition("/")[0]


def get_regularization_losses(scope: str | None = None) -> list[torch.Tensor]:
    """The regularization losses of this model_fn call, in the order TF collected them
    (``tf.compat.v1.losses.get_regularization_losses``).

    Args:
        scope: keep only the losses whose name matches this regular expression at its start (as TF
            filtered the collection): ``"tower"`` keeps ``tower/dense/kernel/Regularizer``.

    Raises:
        RuntimeError: called outside model_fn.

    >>> import torch_estimator as te
    >>> def model_fn(features, mode):
    ...     out = te.layers.dense(features, 1, kernel_initializer=te.initializers.ones(),
    ...                           kernel_regularizer=lambda w: 0.5 * w.square().sum())
    ...     return te.EstimatorSpec(mode, predictions=out, loss=te.losses.get_regularization_loss())
    >>> te.Graph(model_fn)(torch.ones(4, 2), None, te.ModeKeys.EVAL).loss
    tensor(1., grad_fn=<MulBackward0>)
    """
    graph = require_graph("te.losses.get_regularization_losses")
    pattern = None if scope is None else re.compile(scope)
    losses = []
    for entry in graph.regularization_losses:
        if pattern is not None and pattern.match(entry.name) is None:
            continue
        loss = entry.value()
        if loss is not None:
            losses.append(loss)
    return losses


def get_regularization_loss(
    scope: str | None = None, name: str = "total_regularization_loss"
) -> torch.Tensor:
    """The sum of ``get_regularization_losses(scope)``, or a float32 zero when there are none
    (``tf.compat.v1.losses.get_regularization_loss``). ``name`` is accepted for TF's signature.

    Raises:
        RuntimeError: called outside model_fn.
    """
    del name  # tensors have no names here
    losses = get_regularization_losses(scope)
    if not losses:
        return torch.zeros((), dtype=torch.float32, device=require_graph("te.losses").device)
    total = losses[0]
    for loss in losses[1:]:
        total = total + loss
    return total


def apply_constraints(pairs: Sequence[tuple[torch.Tensor, Constraint]]) -> None:
    """Replaces each variable by ``constraint(variable)``, in place, for the variables updated."""
    with torch.no_grad():
        for variable, constraint in pairs:
            if variable.grad is not None:
                variable.copy_(constraint(variable))


def _check_callable(value: Any, argument: str, owner: str) -> None:
    if not callable(value):
        raise TypeError(
            f"{argument} of {owner} must be a callable taking the tensor and returning a scalar loss. "
            f"Received: {value!r}."
        )
