"""Convolution layers (``tf.layers.conv1d``, ``conv2d``, ``conv2d_transpose``) on the current Graph.

Kernels keep TF's layout so checkpoints map one to one: ``conv1d`` ``[k, in, out]``, ``conv2d``
``[kh, kw, in, out]``, ``conv2d_transpose`` ``[kh, kw, out, in]``. They are permuted to torch's
layout (a view) on each call. Inputs are ``channels_last`` (TF's default: ``[batch, width,
channels]``, ``[batch, height, width, channels]``) or ``channels_first``; outputs use the same layout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    kernel_and_bias,
    layer_name,
    layer_output,
    variable_dtype,
)
from torch_estimator.layers.spatial import (
    from_channels_first,
    normalize_data_format,
    normalize_padding,
    normalize_tuple,
    same_padding,
    to_channels_first,
    torch_pad,
)

__all__ = ["conv1d", "conv2d", "conv2d_transpose"]

IntOrTuple = int | Sequence[int]

_CONV_FUNCTIONS: dict[int, Callable[..., torch.Tensor]] = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def conv1d(
    inputs: torch.Tensor,
    filters: int,
    kernel_size: IntOrTuple,
    strides: IntOrTuple = 1,
    padding: str = "valid",
    data_format: str = "channels_last",
    dilation_rate: IntOrTuple = 1,
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
    """1-D convolution of ``[batch, width, channels]`` inputs (TF's ``tf.layers.conv1d``).

    ``padding`` is ``"valid"``, ``"same"`` (TF's rule, extra padding on the right) or ``"causal"``
    (left padding only, so output ``t`` sees inputs up to ``t``). Variables ``<name>/kernel``
    ``[kernel_size, in, filters]`` and ``<name>/bias``; ``name`` defaults to ``conv1d``.

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract import EstimatorSpec
    >>> graph = Graph(lambda features, mode: EstimatorSpec(mode, predictions=conv1d(features, 4, 3)))
    >>> graph(torch.ones(2, 10, 3), None, "infer").predictions.shape
    torch.Size([2, 8, 4])
    """
    del reuse  # always AUTO_REUSE: model_fn runs once per step
    return _convolution(
        inputs, 1, "conv1d", filters, kernel_size, strides, padding, data_format, dilation_rate,
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        activity_regularizer, kernel_constraint, bias_constraint, trainable, name,
    )  # fmt: skip


def conv2d(
    inputs: torch.Tensor,
    filters: int,
    kernel_size: IntOrTuple,
    strides: IntOrTuple = (1, 1),
    padding: str = "valid",
    data_format: str = "channels_last",
    dilation_rate: IntOrTuple = (1, 1),
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
    """2-D convolution of ``[batch, height, width, channels]`` inputs (TF's ``tf.layers.conv2d``).

    ``padding="same"`` gives ``ceil(size / stride)`` outputs per axis with TF's padding, the odd
    element at the bottom / right. Variables ``<name>/kernel`` ``[kh, kw, in, filters]`` (default
    glorot-uniform) and ``<name>/bias`` ``[filters]``; ``name`` defaults to ``conv2d``.

    Raises:
        ValueError: bad arguments, a wrong input rank, or an input channel count that differs from
            the kernel's.

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract import EstimatorSpec
    >>> def model_fn(features, mode):
    ...     return EstimatorSpec(mode, predictions=conv2d(features, 8, 3, strides=2, padding="same"))
    >>> graph = Graph(model_fn)
    >>> graph(torch.ones(2, 5, 5, 3), None, "infer").predictions.shape
    torch.Size([2, 3, 3, 8])
    >>> tuple(graph.state_dict()["conv2d/kernel"].shape)
    (3, 3, 3, 8)
    """
    del reuse  # always AUTO_REUSE: model_fn runs once per step
    return _convolution(
        inputs, 2, "conv2d", filters, kernel_size, strides, padding, data_format, dilation_rate,
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        activity_regularizer, kernel_constraint, bias_constraint, trainable, name,
    )  # fmt: skip


def _convolution(
    inputs: torch.Tensor,
    rank: int,
    kind: str,
    filters: int,
    kernel_size: IntOrTuple,
    strides: IntOrTuple,
    padding: str,
    data_format: str,
    dilation_rate: IntOrTuple,
    activation: Activation,
    use_bias: bool,
    kernel_initializer: Any,
    bias_initializer: Any,
    kernel_regularizer: Regularizer | None,
    bias_regularizer: Regularizer | None,
    activity_regularizer: Regularizer | None,
    kernel_constraint: Constraint | None,
    bias_constraint: Constraint | None,
    trainable: bool,
    name: str | None,
) -> torch.Tensor:
    graph = current_graph_for(kind)
    layer = layer_name(graph, kind, name)
    kernel_size = normalize_tuple(kernel_size, rank, layer, "kernel_size")
    strides = normalize_tuple(strides, rank, layer, "strides")
    dilation = normalize_tuple(dilation_rate, rank, layer, "dilation_rate")
    padding = normalize_padding(padding, layer, allow_causal=rank == 1)
    data_format = normalize_data_format(data_format, layer)
    _check_filters(filters, layer)
    if max(strides) > 1 and max(dilation) > 1:
        raise ValueError(
            f"{layer}: `strides > 1` not supported in conjunction with `dilation_rate > 1`. "
            f"Received: strides={strides} and dilation_rate={dilation}."
        )
    check_inputs(inputs, layer, rank=rank + 2)
    x = to_channels_first(inputs, data_format)
    dtype = variable_dtype(inputs)
    kernel_shape = (*kernel_size, x.shape[1], filters)
    kernel, bias = kernel_and_bias(
        graph,
        layer,
        kernel_shape,
        filters,
        inputs,
        dtype,
        trainable=trainable,
        use_bias=use_bias,
        initializers=(kernel_initializer, bias_initializer),
        regularizers=(kernel_regularizer, bias_regularizer),
        constraints=(kernel_constraint, bias_constraint),
    )
    # TF [*k, in, out] -> torch [out, in, *k], a view.
    weight = kernel.permute(rank + 1, rank, *range(rank))
    x = compute_input(x, kernel.dtype)
    torch_padding: tuple[int, ...] | int = 0
    if padding == "causal":
        x = F.pad(x, ((kernel_size[0] - 1) * dilation[0], 0))
    elif padding == "same":
        pads = same_padding(x.shape[2:], kernel_size, strides, dilation)
        if all(before == after for before, after in pads):
            torch_padding = tuple(before for before, _ in pads)
        else:
            x = F.pad(x, torch_pad(pads))
    outputs = _CONV_FUNCTIONS[rank](x, weight, bias, strides, torch_padding, dilation)
    outputs = from_channels_first(outputs, data_format)
    return layer_output(graph, layer, outputs, activation, activity_regularizer)


def conv2d_transpose(
    inputs: torch.Tensor,
    filters: int,
    kernel_size: IntOrTuple,
    strides: IntOrTuple = (1, 1),
    padding: str = "valid",
    data_format: str = "channels_last",
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
    """Transposed 2-D convolution (TF's ``tf.layers.conv2d_transpose``), the gradient of ``conv2d``.

    Output size per axis, as TF: ``"same"``: ``size * stride``; ``"valid"``: ``size * stride +
    max(kernel - stride, 0)``. Variables ``<name>/kernel`` ``[kh, kw, filters, in]`` (TF's layout:
    output channels before input channels) and ``<name>/bias`` ``[filters]``; ``name`` defaults to
    ``conv2d_transpose``.

    >>> from torch_estimator.graph import Graph
    >>> from torch_estimator.contract import EstimatorSpec
    >>> def model_fn(features, mode):
    ...     outputs = conv2d_transpose(features, 4, 3, strides=2, padding="same")
    ...     return EstimatorSpec(mode, predictions=outputs)
    >>> graph = Graph(model_fn)
    >>> graph(torch.ones(2, 5, 5, 3), None, "infer").predictions.shape
    torch.Size([2, 10, 10, 4])
    >>> tuple(graph.state_dict()["conv2d_transpose/kernel"].shape)
    (3, 3, 4, 3)
    """
    del reuse  # always AUTO_REUSE: model_fn runs once per step
    graph = current_graph_for("conv2d_transpose")
    layer = layer_name(graph, "conv2d_transpose", name)
    kernel_size = normalize_tuple(kernel_size, 2, layer, "kernel_size")
    strides = normalize_tuple(strides, 2, layer, "strides")
    padding = normalize_padding(padding, layer)
    data_format = normalize_data_format(data_format, layer)
    _check_filters(filters, layer)
    check_inputs(inputs, layer, rank=4)
    x = to_channels_first(inputs, data_format)
    dtype = variable_dtype(inputs)
    kernel_shape = (*kernel_size, filters, x.shape[1])
    kernel, bias = kernel_and_bias(
        graph,
        layer,
        kernel_shape,
        filters,
        inputs,
        dtype,
        trainable=trainable,
        use_bias=use_bias,
        initializers=(kernel_initializer, bias_initializer),
        regularizers=(kernel_regularizer, bias_regularizer),
        constraints=(kernel_constraint, bias_constraint),
    )
    # TF [kh, kw, out, in] -> torch's transposed-conv layout [in, out, kh, kw], a view.
    weight = kernel.permute(3, 2, 0, 1)
    # torch's output is (size - 1) * stride - 2 * pad + kernel + output_padding. output_padding
    # (< stride) appends what TF gets when kernel < stride; TF's "same" crops total = kernel - stride
    # with the odd element at the end, which a symmetric pad leaves as one extra row / column.
    torch_padding, output_padding, crop = [], [], False
    for k, s in zip(kernel_size, strides, strict=True):
        total = max(k - s, 0) if padding == "same" else 0
        torch_padding.append(total // 2)
        output_padding.append(max(s - k, 0))
        crop = crop or total % 2 == 1
    x = compute_input(x, kernel.dtype)
    outputs = F.conv_transpose2d(x, weight, bias, strides, tuple(torch_padding), tuple(output_padding))
    if crop:
        outputs = outputs[..., : x.shape[2] * strides[0], : x.shape[3] * strides[1]]
    outputs = from_channels_first(outputs, data_format)
    return layer_output(graph, layer, outputs, activation, activity_regularizer)


def _check_filters(filters: Any, layer: str) -> None:
    if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
        raise ValueError(
            f"Invalid value for argument `filters`. Expected a strictly positive value. Received "
            f"filters={filters!r} (layer {layer})."
        )
