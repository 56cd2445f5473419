"""``tf.compat.v1.layers`` core layers as functions on the current Graph: dense, dropout, flatten."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from torch_estimator.graph.regularization import Constraint, Regularizer
from torch_estimator.layers.base import (
    ZEROS,
    Activation,
    check_inputs,
    compute_input,
    current_graph_for,
    is_training,
    kernel_and_bias,
    layer_name,
    layer_output,
    variable_dtype,
)

__all__ = ["dense", "dropout", "flatten"]


def dense(
    inputs: torch.Tensor,
    units: int,
    activation: Activation = None,
    use_bias: bool = True,
    kernel_initializer: Any = None,
    bias_initializer: Any = ZEROS,
    kernel_regularizer: Regularizer | None = None,
    bias_regularizer: Regularizer | None = None,
    activity_regularizer: Regularizer | None = None,
    kernel_constraint: Constraint | None = None,
    bias_constraint: Constraint | None = None,
    trainable: bool = True,
    name: str | None = None,
    reuse: Any = None,
) -> torch.Tensor:
    """``activation(inputs @ kernel + bias)`` on the last axis (TF's ``tf.layers.dense``).

    Variables: ``<name>/kernel`` ``[in, units]`` (TF layout; default glorot-uniform, or the
    enclosing ``variable_scope``'s initializer) and ``<name>/bias`` ``[units]`` (zeros). ``name``
    defaults to ``dense``, ``dense_1``, ... in call order; a given name is used as is, so two calls
    with one name share variables (``reuse`` is accepted and ignored: variables are always reused).
    Inputs of any rank ≥ 2 work: leading axes are batch axes.

    Regularizers (``callable(tensor) -> scalar``) add to ``te.losses.get_regularization_losses()``:
    the kernel's and the bias's once per call of model_fn, the activity regularizer's (of the
    output, divided by the batch size) at every call of the layer. Constraints are applied by the
    optimizers after each update.

    Raises:
        ValueError: the input's last dimension differs from the one the kernel was created for.

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract import EstimatorSpec
    >>> def model_fn(features, mode):
    ...     hidden = dense(features, 4, activation=torch.relu)
    ...     return EstimatorSpec(mode, predictions=dense(hidden, 2, name="logits"))
    >>> graph = Graph(model_fn)
    >>> graph(torch.ones(8, 3), None, "infer").predictions.shape
    torch.Size([8, 2])
    >>> {name: tuple(value.shape) for name, value in graph.state_dict().items()}
    {'dense/kernel': (3, 4), 'dense/bias': (4,), 'logits/kernel': (4, 2), 'logits/bias': (2,)}
    """
    del reuse  # always AUTO_REUSE: model_fn runs once per step
    graph = current_graph_for("dense")
    layer = layer_name(graph, "dense", name)
    check_inputs(inputs, layer, min_rank=2)
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ValueError(
            f"Received an invalid value for `units`, expected a positive integer. Received: units={units!r} "
            f"(layer {layer})."
        )
    dtype = variable_dtype(inputs)
    kernel, bias = kernel_and_bias(
        graph,
        layer,
        (inputs.shape[-1], units),
        units,
        inputs,
        dtype,
        trainable=trainable,
        use_bias=use_bias,
        initializers=(kernel_initializer, bias_initializer),
        regularizers=(kernel_regularizer, bias_regularizer),
        constraints=(kernel_constraint, bias_constraint),
    )
    x = compute_input(inputs, kernel.dtype)
    if x.dim() == 2:
        # One addmm on TF's [in, out] kernel: cheaper than F.linear on a transposed view.
        outputs = torch.mm(x, kernel) if bias is None else torch.addmm(bias, x, kernel)
    else:
        outputs = F.linear(x, kernel.t(), bias)
    return layer_output(graph, layer, outputs, activation, activity_regularizer)


def dropout(
    inputs: torch.Tensor,
    rate: float = 0.5,
    noise_shape: Sequence[int | None] | None = None,
    seed: int | None = None,
    training: bool | torch.Tensor = False,
    name: str | None = None,
) -> torch.Tensor:
    """Zeroes a fraction ``rate`` of the inputs and scales the rest by ``1 / (1 - rate)`` (TF semantics).

    A no-op unless ``training`` (a bool or a 0-d bool tensor; TF's default is False, so pass
    ``training=mode == te.ModeKeys.TRAIN``). ``noise_shape`` gives the shape of the random keep
    mask, broadcast against the inputs (``None`` entries take the input's size), e.g.
    ``[batch, 1, channels]`` drops whole channels. ``seed`` and ``name`` are accepted for TF
    compatibility and ignored: randomness comes from torch's generator, which
    ``RunConfig(tf_random_seed=...)`` seeds.

    Raises:
        ValueError: ``rate`` outside ``[0, 1]``, or ``rate == 1`` while training.

    >>> x = torch.ones(2, 4)
    >>> torch.equal(dropout(x, 0.5, training=False), x)
    True
    >>> sorted(set(dropout(x, 0.5, training=True).flatten().tolist()) - {0.0})
    [2.0]
    """
    del seed, name  # torch's global generator (seeded by RunConfig) drives the masks
    if isinstance(rate, torch.Tensor):
        rate = float(rate)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(
            "Invalid value received for argument `rate`. Expected a float value between 0 and 1. "
            f"Received: rate={rate}."
        )
    if rate == 0.0 or not is_training(training):
        return inputs
    if rate == 1.0:
        raise ValueError(
            f"rate must be a scalar tensor or a float in the range [0, 1), got {rate}. "
            "dropout(rate=1) while training would drop every unit."
        )
    if noise_shape is None:
        return F.dropout(inputs, rate, training=True)
    shape = list(noise_shape)
    if len(shape) != inputs.dim():
        raise ValueError(
            f"dropout: noise_shape must have one entry per input axis ({inputs.dim()}). "
            f"Received: noise_shape={noise_shape!r} for inputs of shape {tuple(inputs.shape)}."
        )
    shape = [size if given is None else given for given, size in zip(shape, inputs.shape, strict=True)]
    keep = torch.empty(shape, dtype=inputs.dtype, device=inputs.device).bernoulli_(1.0 - rate)
    return inputs * keep.div_(1.0 - rate)


def flatten(
    inputs: torch.Tensor, name: str | None = None, data_format: str = "channels_last"
) -> torch.Tensor:
    """``[batch, ...]`` to ``[batch, prod(...)]`` (TF's ``tf.layers.flatten``).

    With ``data_format="channels_first"`` the channel axis is moved last before flattening, as TF
    does, so the flat order matches a channels_last model's. A 1-D input becomes ``[batch, 1]``.

    >>> flatten(torch.zeros(2, 3, 4)).shape
    torch.Size([2, 12])
    """
    del name  # no variables
    check_inputs(inputs, "flatten", min_rank=1)
    if inputs.dim() == 1:
        return inputs.unsqueeze(1)
    if data_format.lower() == "channels_first" and inputs.dim() >= 3:
        inputs = inputs.movedim(1, -1)
    return inputs.flatten(1)
