"""Normalization layers: ``tf.layers.batch_normalization`` and ``tf.contrib.layers.layer_norm``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from torch_estimator.graph.regularization import Constraint, Regularizer
from torch_estimator.layers.base import (
    ONES,
    ZEROS,
    Activation,
    check_inputs,
    compute_input,
    current_graph_for,
    get_activation,
    is_training,
    layer_name,
    layer_variable,
    normalize_axes,
    variable_dtype,
)

__all__ = ["LAYER_NORM_EPSILON", "batch_normalization", "layer_normalization"]

# tf.nn.fused_batch_norm silently raises epsilon to this value.
_FUSED_MIN_EPSILON = 1.001e-5

LAYER_NORM_EPSILON = 1e-12
"""The variance epsilon of ``tf.contrib.layers.layer_norm`` (fixed there, not an argument)."""


def batch_normalization(
    inputs: torch.Tensor,
    axis: int | Sequence[int] = -1,
    momentum: float = 0.99,
    epsilon: float = 1e-3,
    center: bool = True,
    scale: bool = True,
    beta_initializer: Any = ZEROS,
    gamma_initializer: Any = ONES,
    moving_mean_initializer: Any = ZEROS,
    moving_variance_initializer: Any = ONES,
    beta_regularizer: Regularizer | None = None,
    gamma_regularizer: Regularizer | None = None,
    beta_constraint: Constraint | None = None,
    gamma_constraint: Constraint | None = None,
    training: bool | torch.Tensor = False,
    trainable: bool = True,
    name: str | None = None,
    reuse: Any = None,
    fused: bool | None = None,
) -> torch.Tensor:
    """Batch normalization over every axis but ``axis`` (TF's ``tf.layers.batch_normalization``).

    ``training=True`` normalizes with the batch's mean and (biased) variance and updates
    ``moving_mean`` / ``moving_variance`` in place: ``moving = moving * momentum + batch * (1 -
    momentum)``. TF ran these updates through ``UPDATE_OPS``; here they happen during the call, so
    the ``control_dependencies(update_ops)`` lines of a TF model_fn simply go. No update happens
    during the Graph's build pass, nor with ``trainable=False`` (TF's frozen layer: it normalizes
    with the batch's statistics and leaves the moving ones as they are). ``training=False`` (TF's
    default) uses the moving statistics.

    As in TF, which variance feeds the moving average depends on the kernel TF picked: the fused
    one (4-D input with ``axis`` 1 or 3, 5-D with 1 or 4, ``fused`` not False) uses the unbiased
    (Bessel-corrected) batch variance and an epsilon of at least 1.001e-5; every other case uses
    the biased variance.

    Variables: ``<name>/gamma``, ``beta`` (trainable), ``moving_mean``, ``moving_variance`` (buffers:
    saved, not trained), of shape ``[channels]``; ``name`` defaults to ``batch_normalization``.
    ``gamma_regularizer`` and ``beta_regularizer`` add to ``te.losses.get_regularization_losses()``
    (gamma's first, as TF); the constraints are applied by the optimizers after each update.

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract import EstimatorSpec
    >>> def model_fn(features, mode):
    ...     out = batch_normalization(features, training=mode == "train")
    ...     return EstimatorSpec(mode, predictions=out)
    >>> graph = Graph(model_fn)
    >>> outputs = graph(torch.tensor([[0.0], [2.0]]), None, "infer").predictions
    >>> [round(value, 4) for value in outputs.flatten().tolist()]
    [0.0, 1.999]
    >>> [name.partition("/")[2] for name in graph.state_dict()]
    ['gamma', 'beta', 'moving_mean', 'moving_variance']
    """
    del reuse  # always AUTO_REUSE: model_fn runs once per step
    graph = current_graph_for("batch_normalization")
    layer = layer_name(graph, "batch_normalization", name)
    check_inputs(inputs, layer, min_rank=2)
    rank = inputs.dim()
    axes = normalize_axes(axis, rank, layer)
    if len(axes) == 1:
        param_shape: tuple[int, ...] = (inputs.shape[axes[0]],)
    else:
        param_shape = tuple(inputs.shape[i] if i in axes else 1 for i in range(rank))
    dtype = variable_dtype(inputs)

    def variable(
        name: str, initializer: Any, trainable: bool, regularizer: Any = None, constraint: Any = None
    ) -> torch.Tensor:
        return layer_variable(
            graph, layer, name, param_shape, initializer, inputs, dtype, trainable, regularizer, constraint
        )

    gamma = beta = None
    if scale:
        gamma = variable("gamma", gamma_initializer, trainable, gamma_regularizer, gamma_constraint)
    if center:
        beta = variable("beta", beta_initializer, trainable, beta_regularizer, beta_constraint)
    moving_mean = variable("moving_mean", moving_mean_initializer, False)
    moving_variance = variable("moving_variance", moving_variance_initializer, False)

    train = is_training(training)
    # TF drops the updates of a frozen (trainable=False) layer: it still normalizes with the batch.
    update = train and trainable and not graph.building
    use_fused = (
        fused is not False
        and len(axes) == 1
        and (rank, axes[0]) in ((4, 1), (4, 3), (5, 1), (5, 4))
        and inputs.dtype != torch.float64
    )
    if len(axes) == 1 and (use_fused or not train):
        # One fused kernel. Its running-variance update is the unbiased one, which is what TF's
        # fused kernel does too; the non-fused training case below needs the biased one.
        channel = axes[0]
        x = inputs if channel == 1 else inputs.movedim(channel, 1)
        out = F.batch_norm(
            x,
            moving_mean if update or not train else None,
            moving_variance if update or not train else None,
            gamma,
            beta,
            training=train,
            momentum=1.0 - momentum,
            eps=max(epsilon, _FUSED_MIN_EPSILON) if use_fused else epsilon,
        )
        return out if channel == 1 else out.movedim(1, channel)

    broadcast = tuple(inputs.shape[i] if i in axes else 1 for i in range(rank))
    # TF computes the moments of half-precision inputs in the variables' dtype.
    x = inputs if inputs.dtype == dtype else inputs.to(dtype)
    if train:
        reduce = tuple(i for i in range(rank) if i not in axes)
        variance, mean = torch.var_mean(x, dim=reduce, correction=0, keepdim=True)
        if update:
            with torch.no_grad():
                moving_mean.lerp_(mean.reshape(param_shape), 1.0 - momentum)
                moving_variance.lerp_(variance.reshape(param_shape), 1.0 - momentum)
    else:
        mean, variance = moving_mean.reshape(broadcast), moving_variance.reshape(broadcast)
    inv = torch.rsqrt(variance + epsilon)
    if gamma is not None:
        inv = inv * gamma.reshape(broadcast)
    shift = -mean * inv if beta is None else beta.reshape(broadcast) - mean * inv
    return (x * inv + shift).to(inputs.dtype)


def layer_normalization(
    inputs: torch.Tensor,
    center: bool = True,
    scale: bool = True,
    activation_fn: Activation = None,
    reuse: Any = None,
    trainable: bool = True,
    begin_norm_axis: int = 1,
    begin_params_axis: int = -1,
    name: str | None = None,
) -> torch.Tensor:
    """Layer normalization with ``tf.contrib.layers.layer_norm`` semantics.

    Normalizes over the axes ``begin_norm_axis:`` (mean and biased variance, epsilon 1e-12), then
    scales by ``gamma`` and shifts by ``beta``, both of shape ``inputs.shape[begin_params_axis:]``.
    Variables: ``<name>/beta`` (zeros) and ``<name>/gamma`` (ones); ``name`` defaults to
    ``LayerNorm`` as TF's scope did, so BERT-style names (``encoder/LayerNorm/gamma``) come out.

    Raises:
        ValueError: an axis is not below the input's rank.

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract import EstimatorSpec
    >>> def model_fn(features, mode):
    ...     return EstimatorSpec(mode, predictions=layer_normalization(features))
    >>> graph = Graph(model_fn)
    >>> graph(torch.tensor([[1.0, 3.0]]), None, "infer").predictions.tolist()
    [[-1.0, 1.0]]
    >>> sorted(graph.state_dict())
    ['LayerNorm/beta', 'LayerNorm/gamma']
    """
    del reuse  # always AUTO_REUSE: model_fn runs once per step
    graph = current_graph_for("layer_normalization")
    layer = layer_name(graph, "LayerNorm", name)
    check_inputs(inputs, layer, min_rank=1)
    rank = inputs.dim()
    norm_axis = begin_norm_axis + rank if begin_norm_axis < 0 else begin_norm_axis
    params_axis = begin_params_axis + rank if begin_params_axis < 0 else begin_params_axis
    if not (0 <= norm_axis < rank and 0 <= params_axis < rank):
        raise ValueError(
            f"begin_params_axis ({begin_params_axis}) and begin_norm_axis ({begin_norm_axis}) must be "
            f"< rank(inputs) ({rank}) (layer {layer}, input shape {tuple(inputs.shape)})."
        )
    params_shape = tuple(inputs.shape[params_axis:])
    dtype = variable_dtype(inputs)

    def variable(name: str, initializer: Any) -> torch.Tensor:
        return layer_variable(graph, layer, name, params_shape, initializer, inputs, dtype, trainable)

    beta = variable("beta", ZEROS) if center else None
    gamma = variable("gamma", ONES) if scale else None
    x = compute_input(inputs, dtype)
    norm_shape = tuple(inputs.shape[norm_axis:])
    if norm_shape == params_shape:
        out = F.layer_norm(x, norm_shape, gamma, beta, LAYER_NORM_EPSILON)
    else:
        out = F.layer_norm(x, norm_shape, None, None, LAYER_NORM_EPSILON)
        if gamma is not None:
            out = out * gamma
        if beta is not None:
            out = out + beta
    activation = get_activation(activation_fn)
    return out if activation is None else activation(out)
