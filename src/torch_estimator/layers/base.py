"""What every layer function shares: its name in the Graph, its variables, dtypes and flags.

A layer call picks its name (``dense``, ``dense_1``, ... in call order within the current scope,
or the ``name`` given, used as is), then finds its variables at ``<scope>/<name>/<variable>``. The
first call creates them as ``te.get_variable`` does; later calls take the fast path of one dict lookup
per variable, because model_fn (and so every layer) runs on every training step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch

from torch_estimator.graph import initializers
from torch_estimator.graph.graph import Graph, require_graph
from torch_estimator.graph.regularization import (
    Constraint,
    Regularizer,
    regularize_activity,
    regularize_variable,
    scope_default,
    scope_regularizer,
)
from torch_estimator.graph.variables import create_variable, getter_arguments

__all__ = [
    "ONES",
    "ZEROS",
    "Activation",
    "check_inputs",
    "compute_input",
    "current_graph_for",
    "get_activation",
    "is_training",
    "kernel_and_bias",
    "layer_name",
    "layer_output",
    "layer_variable",
    "normalize_axes",
    "variable_dtype",
]

Activation = Callable[[torch.Tensor], torch.Tensor] | str | None

ZEROS = initializers.zeros()
"""TF's ``zeros_initializer()``: the default for biases, ``beta`` and ``moving_mean``."""

ONES = initializers.ones()
"""TF's ``ones_initializer()``: the default for ``gamma`` and ``moving_variance``."""

_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor] | None] = {
    "linear": None,
    "relu": torch.relu,
    "relu6": torch.nn.functional.relu6,
    "elu": torch.nn.functional.elu,
    "selu": torch.selu,
    "gelu": torch.nn.functional.gelu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softplus": torch.nn.functional.softplus,
    "softsign": torch.nn.functional.softsign,
    "swish": torch.nn.functional.silu,
    "silu": torch.nn.functional.silu,
    "softmax": lambda x: torch.softmax(x, dim=-1),
}


def layer_name(graph: Graph, default_name: str, name: str | None) -> str:
    """The layer's name within the current scope: ``name`` as given, else ``default_name`` uniqued.

    An explicit name also counts as used, as TF's variable scopes did: after a layer named
    ``dense_1``, the unnamed ones are ``dense``, then ``dense_2``.

    >>> graph = Graph(lambda features, mode: None)
    >>> [layer_name(graph, "dense", name) for name in (None, "dense_1", None, "out")]
    ['dense', 'dense_1', 'dense_2', 'out']
    """
    if name is None:
        return graph.unique_name(default_name)
    graph.open_scope(name)
    return name


def layer_variable(
    graph: Graph,
    layer: str,
    name: str,
    shape: tuple[int, ...],
    initializer: Any,
    inputs: torch.Tensor,
    dtype: torch.dtype = torch.float32,
    trainable: bool = True,
    regularizer: Regularizer | None = None,
    constraint: Constraint | None = None,
) -> torch.Tensor:
    """Variable ``<scope>/<layer>/<name>`` of ``shape``: found by name, or created on first use.

    The enclosing ``variable_scope``'s regularizer and then ``regularizer``, fixed at the creation as
    ``constraint`` is, are recorded once per call of model_fn. Inside a ``variable_scope`` with a
    ``custom_getter``, what it returns is used (it is called on every call, as in TF).
    ``inputs`` only serves the error message.

    Raises:
        ValueError: the variable exists with another shape, because the input's shape changed
            since the first call (TF: "Input 0 of layer ... is incompatible with the layer").
    """
    full_name = f"{graph.scope}/{layer}/{name}" if graph.scope else f"{layer}/{name}"
    if graph.scope_custom_getters:
        getter = scope_default(graph, graph.scope_custom_getters)
        if getter is not None:
            return getter(
                getter=partial(_get_layer_variable, graph, layer, name, inputs),
                name=full_name,
                **getter_arguments(shape, dtype, initializer, regularizer, trainable, constraint),
            )
    found = graph.find_variable(full_name)
    if found is not None and found.shape == shape:  # every call after the first: the per-step path
        if graph.variable_regularizers:
            regularize_variable(graph, full_name, found)
        return found
    return _get_layer_variable(
        graph, layer, name, inputs, full_name, shape, dtype, initializer, regularizer, trainable, constraint
    )


def _get_layer_variable(
    graph: Graph,
    layer: str,
    variable: str,
    inputs: torch.Tensor,
    name: str,
    shape: Sequence[int],
    dtype: torch.dtype,
    initializer: Any,
    regularizer: Regularizer | None = None,
    trainable: bool = True,
    constraint: Constraint | None = None,
    **ignored: Any,
) -> torch.Tensor:
    """``layer_variable`` without a custom getter (the ``getter`` a custom getter is given): ``name``
    is the variable's full name, as TF's getters take it, ``variable`` its name in the layer."""
    shape = tuple(shape)
    found = graph.find_variable(name)
    if found is None:
        # TF's layers add their own regularizer to the scope's default rather than replacing it.
        regularizers = (
            ("variable_scope regularizer", scope_regularizer(graph)),
            (f"{variable}_regularizer", regularizer),
        )
        with graph.name_scope(layer):
            found = create_variable(
                graph,
                name,
                shape,
                dtype,
                initializer,
                trainable,
                regularizers,
                constraint,
                f"{variable}_constraint",
            )
    elif found.shape != shape:
        raise ValueError(
            f"Input 0 of layer {name.rpartition('/')[0]} is incompatible with the layer: its variable "
            f"{name} was created with shape {tuple(found.shape)} on the first call, but an input of "
            f"shape {tuple(inputs.shape)} needs shape {shape}. Feed inputs of the same shape (apart from "
            "the batch dimension) on every call, or give this layer call its own name=."
        )
    if graph.variable_regularizers:
        regularize_variable(graph, name, found)
    return found


def variable_dtype(inputs: torch.Tensor) -> torch.dtype:
    """The dtype of a layer's variables: the input's if float32/float64, else float32.

    Half-precision inputs (autocast outputs) keep float32 variables, as TF's mixed precision did.

    >>> [variable_dtype(torch.ones(1, dtype=dtype)) for dtype in (torch.bfloat16, torch.float64)]
    [torch.float32, torch.float64]
    """
    dtype = inputs.dtype
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def compute_input(inputs: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``inputs`` ready to meet variables of ``dtype``: cast, unless autocast will cast it anyway.

    >>> compute_input(torch.tensor([1, 2]), torch.float32)
    tensor([1., 2.])
    """
    if inputs.dtype == dtype:
        return inputs
    if inputs.is_floating_point() and torch.is_autocast_enabled(inputs.device.type):
        return inputs
    return inputs.to(dtype)


def layer_output(
    graph: Graph,
    layer: str,
    outputs: torch.Tensor,
    activation: Activation,
    activity_regularizer: Regularizer | None,
) -> torch.Tensor:
    """``activation(outputs)`` (outputs as they are for None), its activity regularization recorded."""
    activation_fn = get_activation(activation)
    if activation_fn is not None:
        outputs = activation_fn(outputs)
    regularize_activity(graph, layer, outputs, activity_regularizer)
    return outputs


def kernel_and_bias(
    graph: Graph,
    layer: str,
    kernel_shape: tuple[int, ...],
    units: int,
    inputs: torch.Tensor,
    dtype: torch.dtype,
    *,
    trainable: bool,
    use_bias: bool,
    initializers: tuple[Any, Any],
    regularizers: tuple[Regularizer | None, Regularizer | None],
    constraints: tuple[Constraint | None, Constraint | None],
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A dense or convolution layer's ``kernel`` of ``kernel_shape`` and ``bias`` of ``[units]``
    (None without ``use_bias``); each pair is ``(kernel's, bias's)``."""
    kernel_initializer, bias_initializer = initializers
    kernel = layer_variable(
        graph,
        layer,
        "kernel",
        kernel_shape,
        kernel_initializer,
        inputs,
        dtype,
        trainable,
        regularizers[0],
        constraints[0],
    )
    bias = None
    if use_bias:
        bias = layer_variable(
            graph,
            layer,
            "bias",
            (units,),
            bias_initializer,
            inputs,
            dtype,
            trainable,
            regularizers[1],
            constraints[1],
        )
    return kernel, bias


def get_activation(activation: Activation) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """A callable activation, a Keras name (``"relu"``, ``"tanh"``, ...) or None.

    >>> get_activation("relu")(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """
    if activation is None or callable(activation):
        return activation
    if isinstance(activation, str) and activation in _ACTIVATIONS:
        return _ACTIVATIONS[activation]
    raise ValueError(
        f"Unknown activation {activation!r}. Pass a callable such as torch.relu, None, or one of "
        f"{sorted(_ACTIVATIONS)}."
    )


def is_training(training: bool | torch.Tensor) -> bool:
    """The ``training`` flag as a bool; a 0-d bool tensor is read (a device sync on an accelerator).

    >>> is_training(torch.tensor(True)), is_training(False)
    (True, False)
    """
    if isinstance(training, torch.Tensor):
        if training.numel() != 1:
            raise ValueError(
                f"training must be a bool or a 0-d bool tensor. Received a tensor of shape "
                f"{tuple(training.shape)}."
            )
        return bool(training.item())
    return bool(training)


def normalize_axes(axis: int | Sequence[int], rank: int, what: str) -> tuple[int, ...]:
    """``axis`` (an int or a sequence) as sorted non-negative axes of a rank-``rank`` input."""
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    resolved = []
    for item in axes:
        if not -rank <= item < rank:
            raise ValueError(
                f"{what}: axis {item} is out of range for an input of rank {rank}. "
                f"Received axis={axis!r}; pass axes in [-{rank}, {rank})."
            )
        resolved.append(item % rank)
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"{what}: duplicate axes in axis={axis!r}.")
    return tuple(sorted(resolved))


def current_graph_for(what: str) -> Graph:
    """The running Graph; a clear error when a layer is called outside model_fn."""
    return require_graph(f"te.layers.{what}")


def check_inputs(inputs: Any, what: str, min_rank: int = 0, rank: int | None = None) -> None:
    """Raises unless ``inputs`` is a tensor of the rank a layer needs (TF's InputSpec check)."""
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(
            f"te.layers.{what} needs inputs to be a torch.Tensor. Received: {type(inputs).__name__}. "
            "Convert it with torch.as_tensor first."
        )
    ndim = inputs.dim()
    if (rank is not None and ndim != rank) or ndim < min_rank:
        expected = f"ndim={rank}" if rank is not None else f"min_ndim={min_rank}"
        raise ValueError(
            f"Input 0 of layer {what} is incompatible with the layer: expected {expected}, found "
            f"ndim={ndim}. Full shape received: {tuple(inputs.shape)}."
        )
