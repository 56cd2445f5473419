"""TF's variable API on the current Graph: get_variable, variable_scope, get_module, identity."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from torch_estimator.contract.current import current_graph
from torch_estimator.graph import initializers
from torch_estimator.graph.graph import Graph, require_graph
from torch_estimator.graph.regularization import (
    Constraint,
    Regularizer,
    attach_constraint,
    attach_regularizers,
    regularize_variable,
    scope_default,
    scope_regularizer,
)

__all__ = ["create_variable", "get_module", "get_variable", "identity", "variable_scope"]


def get_variable(
    name: str,
    shape: Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    initializer: Any = None,
    regularizer: Regularizer | None = None,
    trainable: bool = True,
    *,
    constraint: Constraint | None = None,
) -> torch.Tensor:
    """The variable ``name`` under the current scope, created on the first call of model_fn.

    ``initializer`` is a callable ``(shape, dtype=...) -> Tensor`` (``te.initializers.*``), a tensor
    or a number. The default is glorot-uniform for float variables and zeros for integer ones, as in
    TF, unless an enclosing ``variable_scope(initializer=...)`` sets another. A trainable float
    variable is an ``nn.Parameter``; anything else is a buffer (saved, not trained).

    ``regularizer(variable)`` (default: the enclosing ``variable_scope``'s) is added to
    ``te.losses.get_regularization_losses()`` once per call of model_fn. ``constraint``, given when
    the variable is created, is applied by the optimizers after each update of it.

    Raises:
        ValueError: the variable exists with another shape (TF: "Trying to share variable").
        RuntimeError: called outside model_fn.

    >>> import torch_estimator as te
    >>> def model_fn(features, mode):
    ...     with te.variable_scope("linear"):
    ...         w = te.get_variable("w", [3, 1], initializer=te.initializers.ones())
    ...     return te.EstimatorSpec(mode, predictions=features @ w)
    >>> graph = te.Graph(model_fn)
    >>> graph(torch.ones(2, 3), None, te.ModeKeys.PREDICT).predictions.tolist()
    [[3.0], [3.0]]
    >>> list(graph.state_dict())
    ['linear/w']
    """
    graph = require_graph("te.get_variable")
    full_name = graph.scoped(name)
    existing = graph.find_variable(full_name)
    if existing is not None:
        if shape is not None and tuple(existing.shape) != tuple(shape):
            raise ValueError(
                f"Trying to share variable {full_name}, but specified shape {tuple(shape)} and found shape "
                f"{tuple(existing.shape)}. The input to this layer has changed shape since the variable "
                "was created; feed inputs of the same trailing shape on every call."
            )
        variable = existing
    else:
        if regularizer is None:
            regularizer = scope_regularizer(graph)
        regularizers = (("regularizer", regularizer),)
        variable = create_variable(
            graph, full_name, shape, dtype, initializer, trainable, regularizers, constraint
        )
    regularize_variable(graph, full_name, variable)
    return variable


def create_variable(
    graph: Graph,
    full_name: str,
    shape: Sequence[int] | None,
    dtype: torch.dtype | None,
    initializer: Any,
    trainable: bool,
    regularizers: Sequence[tuple[str, Regularizer | None]] = (),
    constraint: Constraint | None = None,
    constraint_argument: str = "constraint",
) -> torch.Tensor:
    """Creates variable ``full_name`` in ``graph`` (``get_variable``'s first call; the initializer
    default is looked up from the current scope), with its ``(argument, regularizer)`` pairs and its
    constraint (``attach_regularizers``, ``attach_constraint``)."""
    if isinstance(initializer, (torch.Tensor, int, float)) and not isinstance(initializer, bool):
        value = torch.as_tensor(initializer, dtype=dtype).clone()
        if shape is not None and tuple(value.shape) != tuple(shape):
            value = initializers.constant(value)(tuple(shape), value.dtype)
    else:
        if shape is None:
            raise ValueError(
                f"get_variable({full_name!r}) needs a shape when the initializer is not a tensor. "
                f"Received: shape=None, initializer={initializer!r}."
            )
        dtype = dtype or torch.float32
        if initializer is None:
            initializer = _scope_initializer(graph)
        if initializer is None:
            floating = dtype.is_floating_point or dtype.is_complex
            initializer = initializers.glorot_uniform() if floating else initializers.zeros()
        value = initializer(tuple(shape), dtype=dtype)
    attach_regularizers(graph, full_name, regularizers)
    attach_constraint(graph, full_name, constraint, constraint_argument)
    return graph.add_variable(full_name, value, trainable)


def get_module(name: str, factory: Callable[[], nn.Module]) -> nn.Module:
    """An ``nn.Module`` owned by the current Graph, made by ``factory()`` on the first call.

    The module is registered under the current scope; its parameters and buffers are checkpointed
    and trained like any variable.

    >>> import torch_estimator as te
    >>> def model_fn(features, mode):
    ...     net = te.get_module("net", lambda: torch.nn.Linear(3, 1))
    ...     return te.EstimatorSpec(mode, predictions=net(features))
    >>> graph = te.Graph(model_fn)
    >>> _ = graph(torch.ones(2, 3), None, te.ModeKeys.PREDICT)
    >>> sorted(graph.state_dict())
    ['net.bias', 'net.weight']
    """
    graph = require_graph("te.get_module")
    return graph.get_module(graph.scoped(name), factory)


@contextlib.contextmanager
def variable_scope(
    name_or_scope: str | None = None,
    default_name: str | None = None,
    initializer: Any = None,
    regularizer: Regularizer | None = None,
    reuse: Any = None,
) -> Iterator[str]:
    """Puts the variables made inside under ``<scope>/``.

    An explicit name is used as given, so two ``variable_scope("dnn")`` blocks share variables:
    layers inside are named afresh on each entry (``dnn/dense`` both times), as in TF.
    ``default_name`` is uniqued (``block``, ``block_1``, ...). Variables are always reused across
    calls (TF's ``AUTO_REUSE``), because model_fn runs on every step; ``reuse`` is accepted and ignored.
    ``initializer`` and ``regularizer`` are the defaults of the variables made inside; as in TF, a
    layer adds its own ``kernel_regularizer`` (say) to the scope's rather than replacing it.

    Yields:
        the full scope path.
    """
    del reuse  # always AUTO_REUSE: model_fn runs once per step
    graph = require_graph("te.variable_scope")
    if name_or_scope is None and default_name is None:
        raise ValueError("variable_scope needs name_or_scope or default_name. Received neither.")
    if name_or_scope is not None:
        name = name_or_scope
        graph.open_scope(name)
    else:
        name = graph.unique_name(default_name or "")
    with (
        graph.name_scope(name) as scope,
        _scope_default(graph.scope_initializers, scope, initializer),
        _scope_default(graph.scope_regularizers, scope, regularizer),
    ):
        yield scope


@contextlib.contextmanager
def _scope_default(defaults: dict[str, Any], scope: str, value: Any) -> Iterator[None]:
    """Sets ``defaults[scope] = value`` (unless None) for the duration of the block."""
    if value is None:
        yield
        return
    previous = defaults.get(scope)
    defaults[scope] = value
    try:
        yield
    finally:
        if previous is None:
            del defaults[scope]
        else:
            defaults[scope] = previous


def _scope_initializer(graph: Graph) -> Any:
    """The initializer of the innermost enclosing variable_scope that set one."""
    return scope_default(graph, graph.scope_initializers)


def identity(tensor: torch.Tensor, name: str | None = None) -> torch.Tensor:
    """Returns ``tensor`` and, with a ``name``, registers it for hook fetches under the scoped name.

    Outside model_fn it just returns the tensor.

    >>> identity(torch.ones(1), name="x")
    tensor([1.])
    """
    graph = current_graph()
    if graph is not None and name is not None:
        graph.named_tensors[graph.scoped(name)] = tensor
    return tensor
