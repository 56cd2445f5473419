"""TF's variable API on the current Graph: get_variable, variable_scope, get_module, identity."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from functools import partial
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

__all__ = [
    "CustomGetter",
    "VariableScope",
    "create_variable",
    "get_module",
    "get_variable",
    "getter_arguments",
    "identity",
    "variable_scope",
]


CustomGetter = Callable[..., torch.Tensor]
"""TF's ``custom_getter(getter, name, *args, **kwargs)``: returns what ``get_variable`` returns."""


def get_variable(
    name: str,
    shape: Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    initializer: Any = None,
    regularizer: Regularizer | None = None,
    trainable: bool | None = None,
    collections: Any = None,
    caching_device: Any = None,
    partitioner: Any = None,
    validate_shape: bool = True,
    use_resource: Any = None,
    custom_getter: CustomGetter | None = None,
    constraint: Constraint | None = None,
    synchronization: Any = None,
    aggregation: Any = None,
) -> torch.Tensor:
    """The variable ``name`` under the current scope, created on the first call of model_fn.

    TF's arguments, in TF's order. ``initializer`` is a callable ``(shape, dtype=...) -> Tensor``
    (``te.initializers.*``), a tensor or a number. The default is glorot-uniform for float variables
    and zeros for integer ones, as in TF, unless an enclosing ``variable_scope(initializer=...)`` sets
    another; ``dtype`` defaults to the scope's (float32 without one). A trainable float variable
    (``trainable=None`` means True) is an ``nn.Parameter``; anything else is a buffer (saved, not
    trained).

    ``regularizer(variable)`` (default: the enclosing ``variable_scope``'s) is added to
    ``te.losses.get_regularization_losses()`` once per call of model_fn. ``constraint`` (default: the
    scope's), given when the variable is created, is applied by the optimizers after each update of it.
    ``custom_getter(getter, name, **kwargs)`` (default: the scope's) is called instead, on every call,
    with the full name and these arguments as keywords; ``getter`` gets or creates the variable.

    ``collections``, ``caching_device``, ``partitioner`` (the variable is one tensor), ``validate_shape``,
    ``use_resource``, ``synchronization`` and ``aggregation`` concern TF's graph and are ignored.

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
    del collections, caching_device, partitioner, validate_shape, use_resource, synchronization, aggregation
    graph = require_graph("te.get_variable")
    full_name = graph.scoped(name)
    getter = custom_getter or scope_default(graph, graph.scope_custom_getters)
    if dtype is None:
        dtype = scope_default(graph, graph.scope_dtypes)
    if constraint is None:
        constraint = scope_default(graph, graph.scope_constraints)
    if trainable is None:
        trainable = True
    if getter is not None:
        return getter(
            getter=partial(_true_getter, graph),
            name=full_name,
            **getter_arguments(shape, dtype, initializer, regularizer, trainable, constraint),
        )
    return _true_getter(graph, full_name, shape, dtype, initializer, regularizer, trainable, constraint)


def getter_arguments(
    shape: Sequence[int] | None,
    dtype: torch.dtype | None,
    initializer: Any,
    regularizer: Regularizer | None,
    trainable: bool,
    constraint: Constraint | None,
) -> dict[str, Any]:
    """The keyword arguments TF passed a custom getter besides ``getter`` and ``name``."""
    return {
        "shape": shape,
        "dtype": dtype,
        "initializer": initializer,
        "regularizer": regularizer,
        "reuse": True,  # TF's AUTO_REUSE, always
        "trainable": trainable,
        "collections": None,
        "caching_device": None,
        "partitioner": None,
        "validate_shape": True,
        "use_resource": None,
        "constraint": constraint,
        "synchronization": None,
        "aggregation": None,
    }


def _true_getter(
    graph: Graph,
    name: str,
    shape: Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    initializer: Any = None,
    regularizer: Regularizer | None = None,
    trainable: bool | None = True,
    constraint: Constraint | None = None,
    **ignored: Any,
) -> torch.Tensor:
    """Gets or creates variable ``name`` (its full name): what a custom getter calls as ``getter``."""
    existing = graph.find_variable(name)
    if existing is not None:
        if shape is not None and tuple(existing.shape) != tuple(shape):
            raise ValueError(
                f"Trying to share variable {name}, but specified shape {tuple(shape)} and found shape "
                f"{tuple(existing.shape)}. The input to this layer has changed shape since the variable "
                "was created; feed inputs of the same trailing shape on every call."
            )
        variable = existing
    else:
        if regularizer is None:
            regularizer = scope_regularizer(graph)
        regularizers = (("regularizer", regularizer),)
        trainable = True if trainable is None else trainable
        variable = create_variable(
            graph, name, shape, dtype, initializer, trainable, regularizers, constraint
        )
    regularize_variable(graph, name, variable)
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


class VariableScope(str):
    """The scope ``variable_scope`` yields: its full path, which is also ``.name`` as in TF.

    >>> scope = VariableScope("outer/inner")
    >>> scope.name, scope.original_name_scope, scope == "outer/inner"
    ('outer/inner', 'outer/inner/', True)
    """

    __slots__ = ()

    @property
    def name(self) -> str:
        return str(self)

    @property
    def original_name_scope(self) -> str:
        return f"{self}/" if self else ""


@contextlib.contextmanager
def variable_scope(
    name_or_scope: str | None = None,
    default_name: str | None = None,
    values: Any = None,
    initializer: Any = None,
    regularizer: Regularizer | None = None,
    caching_device: Any = None,
    partitioner: Any = None,
    custom_getter: CustomGetter | None = None,
    reuse: Any = None,
    dtype: torch.dtype | None = None,
    use_resource: Any = None,
    constraint: Constraint | None = None,
    auxiliary_name_scope: bool = True,
) -> Iterator[VariableScope]:
    """Puts the variables made inside under ``<scope>/``. TF's arguments, in TF's order.

    An explicit name is used as given, so two ``variable_scope("dnn")`` blocks share variables:
    layers inside are named afresh on each entry (``dnn/dense`` both times), as in TF.
    ``default_name`` is uniqued (``block``, ``block_1``, ...). Variables are always reused across
    calls (TF's ``AUTO_REUSE``), because model_fn runs on every step; ``reuse`` is accepted and ignored.

    Defaults for the variables made inside, as in TF:

    * ``initializer`` and ``regularizer``: for ``get_variable`` and the layers; a layer adds its own
      ``kernel_regularizer`` (say) to the scope's rather than replacing it;
    * ``dtype`` and ``constraint``: for ``get_variable`` only (TF's layers kept their own);
    * ``custom_getter``: for ``get_variable`` and the layers' variables. Inside another scope's, it is
      called first, with a ``getter`` that runs the outer one.

    ``values``, ``caching_device``, ``partitioner``, ``use_resource`` and ``auxiliary_name_scope``
    concern TF's graph and are ignored.

    Yields:
        the full scope path (a ``str`` whose ``.name`` is itself, as TF's ``VariableScope.name``).
    """
    del values, caching_device, partitioner, reuse, use_resource, auxiliary_name_scope
    graph = require_graph("te.variable_scope")
    if name_or_scope is None and default_name is None:
        raise ValueError("variable_scope needs name_or_scope or default_name. Received neither.")
    if name_or_scope is not None:
        name = str(name_or_scope)
        graph.open_scope(name)
    else:
        name = graph.unique_name(default_name or "")
    if custom_getter is not None:
        if not callable(custom_getter):
            raise ValueError(f"The custom_getter must be callable. Received: {custom_getter!r}.")
        custom_getter = _wrap_getter(custom_getter, scope_default(graph, graph.scope_custom_getters))
    given = [
        (defaults, value)
        for defaults, value in (
            (graph.scope_initializers, initializer),
            (graph.scope_regularizers, regularizer),
            (graph.scope_dtypes, dtype),
            (graph.scope_constraints, constraint),
            (graph.scope_custom_getters, custom_getter),
        )
        if value is not None
    ]
    with graph.name_scope(name) as scope:
        if not given:  # the common case: a plain scope, entered on every step
            yield VariableScope(scope)
            return
        previous = [defaults.get(scope) for defaults, _ in given]
        for defaults, value in given:
            defaults[scope] = value
        try:
            yield VariableScope(scope)
        finally:
            for (defaults, _), before in zip(given, previous, strict=True):
                if before is None:
                    del defaults[scope]
                else:
                    defaults[scope] = before


def _wrap_getter(custom_getter: CustomGetter, outer: CustomGetter | None) -> CustomGetter:
    """``custom_getter`` inside ``outer`` (TF's ``_maybe_wrap_custom_getter``): the ``getter`` it is
    given runs ``outer``."""
    if outer is None:
        return custom_getter

    def wrapped(getter: CustomGetter, *args: Any, **kwargs: Any) -> torch.Tensor:
        return custom_getter(partial(outer, getter), *args, **kwargs)

    return wrapped


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
