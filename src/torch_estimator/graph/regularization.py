"""Regularization losses and variable constraints: TF's ``regularizer=`` and ``constraint=`` arguments.

TF's ``get_variable(regularizer=...)``, ``variable_scope(regularizer=...)`` and the layers'
``*_regularizer`` arguments put a loss in the graph's ``REGULARIZATION_LOSSES`` collection when a
variable is created (an activity regularizer's at every layer call), and
``tf.compat.v1.losses.get_regularization_loss()`` summed the collection. model_fn runs once per step
here, so the Graph records the losses of each call afresh, in TF's order: a variable's regularizers,
fixed at its creation (the scope's default, then a layer's own), the first time the call meets the
variable; an activity regularizer's at each layer call. A variable's loss is computed when it is
read, from the current weights: a model_fn that never reads them pays nothing.

A constraint (``kernel_constraint=``, ``get_variable(constraint=...)``) belongs to the variable from
its creation; the optimizers apply it after each update of that variable, as TF1's did.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from torch_estimator.constraints import get as constraint_named
from torch_estimator.graph.graph import Graph, require_graph
from torch_estimator.regularizers import get as regularizer_named

__all__ = [
    "Constraint",
    "RegularizationLoss",
    "Regularizer",
    "apply_constraints",
    "attach_constraint",
    "attach_regularizers",
    "get_regularization_loss",
    "get_regularization_losses",
    "regularize_activity",
    "regularize_variable",
    "scope_default",
    "scope_regularizer",
]

Regularizer = Callable[[torch.Tensor], Any]
"""``regularizer(tensor) -> scalar loss`` (a tensor or a number; None adds no loss)."""

Constraint = Callable[[torch.Tensor], torch.Tensor]
"""``constraint(variable) -> projected value`` of the variable's shape, applied after each update."""


@dataclasses.dataclass(frozen=True)
class RegularizationLoss:
    """One entry of a call's regularization losses, named as TF named it: ``<variable>/Regularizer``
    (``regularizer(variable)``, computed when read, from the current weights) or
    ``<layer>/ActivityRegularizer`` (computed at the layer call, so later in-place changes of the
    output do not reach it). The ``scope`` of ``get_regularization_losses`` matches the name.

    >>> RegularizationLoss("w/Regularizer", lambda w: w.sum(), torch.ones(3)).value()
    tensor(3.)
    """

    name: str
    regularizer: Regularizer | None
    tensor: torch.Tensor | None

    def value(self) -> torch.Tensor | None:
        """The loss, a 0-d tensor (None when the regularizer returned None)."""
        if self.regularizer is None:
            return self.tensor
        return _as_loss(self.regularizer(self.tensor), self.tensor)


def attach_regularizers(
    graph: Graph, name: str, regularizers: Sequence[tuple[str, Regularizer | None]]
) -> None:
    """Gives the variable ``name`` (a full name), being created, its regularizers: ``(argument,
    regularizer)`` pairs in TF's order, the argument named in the error. TF fixed them at creation."""
    found = []
    for argument, given in regularizers:
        regularizer = _by_name(given, regularizer_named, argument, name)
        if regularizer is not None:
            _check_callable(regularizer, argument, name, "a scalar loss", "te.regularizers.l2(0.01)")
            found.append(regularizer)
    if found:
        graph.variable_regularizers[name] = tuple(found)


def attach_constraint(graph: Graph, name: str, constraint: Constraint | None, argument: str) -> None:
    """Gives the variable ``name``, being created, its constraint (``argument`` names it in the error)."""
    constraint = _by_name(constraint, constraint_named, argument, name)
    if constraint is not None:
        _check_callable(constraint, argument, name, "its projected value", "te.constraints.non_neg()")
        graph.variable_constraints[name] = constraint


def regularize_variable(graph: Graph, name: str, variable: torch.Tensor) -> None:
    """Records the regularizers of variable ``name`` the first time this model_fn call meets it;
    later meetings in the call add nothing, as TF added them once, at creation."""
    regularizers = graph.variable_regularizers.get(name)
    if regularizers is None or name in graph.regularized_variables:
        return
    graph.regularized_variables.add(name)
    for regularizer in regularizers:
        graph.regularization_losses.append(RegularizationLoss(f"{name}/Regularizer", regularizer, variable))


def regularize_activity(
    graph: Graph, layer: str, outputs: torch.Tensor, regularizer: Regularizer | None
) -> None:
    """Records ``regularizer(outputs) / batch size`` (as Keras divides it) for layer ``layer`` (its
    name in the current scope), computed now, at each call of the layer."""
    if regularizer is None:
        return
    name = graph.scoped(layer)
    regularizer = _by_name(regularizer, regularizer_named, "activity_regularizer", name)
    _check_callable(regularizer, "activity_regularizer", name, "a scalar loss", "te.regularizers.l2(0.01)")
    loss = _as_loss(regularizer(outputs), outputs)
    if loss is not None:
        loss = loss / outputs.shape[0]
    graph.regularization_losses.append(RegularizationLoss(f"{name}/ActivityRegularizer", None, loss))


def _as_loss(loss: Any, like: torch.Tensor) -> torch.Tensor | None:
    if loss is None or isinstance(loss, torch.Tensor):
        return loss
    return torch.as_tensor(loss, dtype=torch.float32, device=like.device)


def scope_regularizer(graph: Graph) -> Regularizer | None:
    """The regularizer of the innermost enclosing ``variable_scope`` that set one."""
    return scope_default(graph, graph.scope_regularizers)


def scope_default(graph: Graph, defaults: dict[str, Any]) -> Any:
    """The value of ``defaults`` (scope -> value) for the innermost enclosing scope that has one."""
    if not defaults:
        return None
    scope = graph.scope
    while True:
        found = defaults.get(scope)
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
    return _losses(require_graph("te.losses.get_regularization_losses"), scope)


def _losses(graph: Graph, scope: str | None) -> list[torch.Tensor]:
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
    graph = require_graph("te.losses.get_regularization_loss")
    losses = _losses(graph, scope)
    if not losses:
        return torch.zeros((), dtype=torch.float32, device=graph.device)
    total = losses[0]
    for loss in losses[1:]:
        total = total + loss
    return total


def apply_constraints(pairs: Sequence[tuple[str, torch.Tensor, Constraint]]) -> None:
    """Replaces each ``(name, variable, constraint)``'s variable by ``constraint(variable)``, in
    place, for the variables that had a gradient (the ones updated).

    Raises:
        ValueError: a constraint returned a value of another shape than its variable's.
    """
    with torch.no_grad():
        for name, variable, constraint in pairs:
            if variable.grad is None:
                continue
            value = constraint(variable)
            if not isinstance(value, torch.Tensor) or value.shape != variable.shape:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise ValueError(
                    f"The constraint of {name} returned {shape}; it must return the variable's new value, "
                    f"a tensor of shape {tuple(variable.shape)}."
                )
            variable.copy_(value)


def _by_name(value: Any, lookup: Callable[[Any], Any], argument: str, owner: str) -> Any:
    """A Keras name or config dict (``"l2"``, ``"non_neg"``) looked up, as TF's layers do; any other
    value as it is."""
    if not isinstance(value, (str, Mapping)):
        return value
    try:
        return lookup(value)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{argument} of {owner}: {err}") from err


def _check_callable(value: Any, argument: str, owner: str, returns: str, example: str) -> None:
    if not callable(value):
        raise TypeError(
            f"{argument} of {owner} must be a callable taking the tensor and returning {returns}, or a Keras "
            f"name, e.g. {example}. Received: {value!r}."
        )
