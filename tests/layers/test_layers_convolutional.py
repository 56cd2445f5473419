"""te.layers.conv1d / conv2d / conv2d_transpose: TF kernel layouts, TF padding, hand values."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from torch_estimator.contract import EstimatorSpec, ModeKeys
from torch_estimator.graph import Graph
from torch_estimator.layers import conv1d, conv2d, conv2d_transpose


def predict_graph(body):
    return Graph(lambda features, mode: EstimatorSpec(mode, predictions=body(features)))


def run(graph, features):
    return graph(features, None, ModeKeys.PREDICT).predictions


def write(graph, name, value):
    with torch.no_grad():
        graph.find_variable(name).copy_(torch.as_tensor(value, dtype=torch.float32))


def tf_same_pads(size, kernel, stride, dilation=1):
    """TF's SAME rule, written out: out = ceil(size / stride), the odd padding element after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


# 3x3 image x[h, w] = 3h + w and a 2x2 kernel [[1, 2], [3, 4]] (one channel in, one out).
IMAGE = torch.arange(9.0).reshape(1, 3, 3, 1)
KERNEL = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)


def test_conv2d_variables_tf_layout_and_unique_names():
    graph = predict_graph(lambda x: conv2d(conv2d(x, 4, 3), 2, (1, 2), name="head"))
    assert run(graph, torch.ones(2, 5, 5, 3)).shape == (2, 3, 2, 2)
    assert {name: tuple(value.shape) for name, value in graph.state_dict().items()} == {
        "conv2d/kernel": (3, 3, 3, 4),
        "conv2d/bias": (4,),
        "head/kernel": (1, 2, 4, 2),
        "head/bias": (2,),
    }
    graph = predict_graph(lambda x: conv2d(conv2d(x, 4, 3), 2, 1))
    run(graph, torch.ones(1, 4, 4, 1))
    assert sorted(graph.state_dict()) == ["conv2d/bias", "conv2d/kernel", "conv2d_1/bias", "conv2d_1/kernel"]


def test_conv2d_valid_values_by_hand():
    """Cross-correlation, as TF: out[0,0] = 0*1 + 1*2 + 3*3 + 4*4 = 27; out[0,1] = 1 + 4 + 12 + 20 = 37;
    out[1,0] = 3 + 8 + 18 + 28 = 57; out[1,1] = 4 + 10 + 21 + 32 = 67; plus bias 0.5."""
    graph = predict_graph(lambda x: conv2d(x, 1, 2))
    run(graph, IMAGE)
    write(graph, "conv2d/kernel", KERNEL)
    write(graph, "conv2d/bias", [0.5])
    assert run(graph, IMAGE)[0, :, :, 0].tolist() == [[27.5, 37.5], [57.5, 67.5]]


def test_conv2d_same_pads_bottom_right_like_tf():
    """A 2x2 kernel, stride 1: TF pads one zero row at the bottom and one column on the right.
    Row 0: 27, 37, 2*1 + 5*3 = 17. Row 1: 57, 67, 5*1 + 8*3 = 29. Row 2: 6 + 14 = 20, 7 + 16 = 23, 8."""
    graph = predict_graph(lambda x: conv2d(x, 1, 2, padding="same", use_bias=False))
    run(graph, IMAGE)
    write(graph, "conv2d/kernel", KERNEL)
    assert run(graph, IMAGE)[0, :, :, 0].tolist() == [[27, 37, 17], [57, 67, 29], [20, 23, 8]]


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "dilation"),
    [
        (5, 3, 1, 1),
        (6, 3, 2, 1),
        (5, 2, 1, 1),
        (7, 4, 3, 1),
        (6, 2, 2, 1),
        (7, 3, 1, 2),
        (4, 5, 1, 1),
        (5, 1, 2, 1),
    ],
)
def test_conv2d_same_equals_explicit_tf_padding(size, kernel, stride, dilation):
    torch.manual_seed(0)
    x = torch.randn(2, size, size + 1, 3)
    graph = predict_graph(
        lambda x: conv2d(x, 4, kernel, strides=stride, padding="SAME", dilation_rate=dilation)
    )
    out = run(graph, x)
    weight = graph.find_variable("conv2d/kernel").permute(3, 2, 0, 1)
    top, bottom = tf_same_pads(size, kernel, stride, dilation)
    left, right = tf_same_pads(size + 1, kernel, stride, dilation)
    padded = F.pad(x.permute(0, 3, 1, 2), (left, right, top, bottom))
    expected = F.conv2d(padded, weight, graph.find_variable("conv2d/bias"), stride, 0, dilation)
    assert out.shape == (2, -(-size // stride), -(-(size + 1) // stride), 4)
    assert torch.allclose(out, expected.permute(0, 2, 3, 1), atol=1e-5)


def test_conv2d_channels_first_matches_channels_last():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 6, 3)
    last = predict_graph(lambda x: conv2d(x, 4, 3, strides=2, padding="same"))
    first = predict_graph(lambda x: conv2d(x, 4, 3, strides=2, padding="same", data_format="channels_first"))
    out_last = run(last, x)
    run(first, x.permute(0, 3, 1, 2))
    write(first, "conv2d/kernel", last.find_variable("conv2d/kernel"))
    assert torch.allclose(run(first, x.permute(0, 3, 1, 2)), out_last.permute(0, 3, 1, 2), atol=1e-5)


def test_conv2d_activation_and_errors():
    graph = predict_graph(
        lambda x: conv2d(x, 2, 1, activation=torch.relu, kernel_initializer=lambda s, dtype: -torch.ones(s))
    )
    assert run(graph, torch.ones(1, 2, 2, 1)).max().item() == 0.0
    with pytest.raises(
        ValueError, match="`strides > 1` not supported in conjunction with `dilation_rate > 1`"
    ):
        run(predict_graph(lambda x: conv2d(x, 2, 3, strides=2, dilation_rate=2)), torch.ones(1, 5, 5, 1))
    with pytest.raises(ValueError, match="`padding` argument must be one of 'valid', 'same'"):
        run(predict_graph(lambda x: conv2d(x, 2, 3, padding="causal")), torch.ones(1, 5, 5, 1))
    with pytest.raises(ValueError, match="expected ndim=4, found ndim=3"):
        run(predict_graph(lambda x: conv2d(x, 2, 3)), torch.ones(5, 5, 1))
    with pytest.raises(ValueError, match=r"`kernel_size` argument must be an int or a tuple of 2"):
        run(predict_graph(lambda x: conv2d(x, 2, (3, 3, 3))), torch.ones(1, 5, 5, 1))
    with pytest.raises(ValueError, match="Expected a strictly positive value"):
        run(predict_graph(lambda x: conv2d(x, 0, 3)), torch.ones(1, 5, 5, 1))
    graph = predict_graph(lambda x: conv2d(x, 2, 3))
    run(graph, torch.ones(1, 5, 5, 1))
    with pytest.raises(ValueError, match=r"conv2d/kernel was created with shape \(3, 3, 1, 2\)"):
        run(graph, torch.ones(1, 5, 5, 2))


def test_conv1d_valid_same_causal_by_hand():
    """x = [1, 2, 3, 4], kernel [1, 10]: valid [21, 32, 43]; same pads one zero on the right -> [.., 4];
    causal pads one zero on the left -> [10, 21, 32, 43]."""
    x = torch.tensor([1.0, 2.0, 3.0, 4.0]).reshape(1, 4, 1)
    results = {}
    for padding in ("valid", "same", "causal"):
        graph = predict_graph(lambda x, padding=padding: conv1d(x, 1, 2, padding=padding, use_bias=False))
        run(graph, x)
        assert tuple(graph.find_variable("conv1d/kernel").shape) == (2, 1, 1)
        write(graph, "conv1d/kernel", [[[1.0]], [[10.0]]])
        results[padding] = run(graph, x).flatten().tolist()
    assert results == {"valid": [21, 32, 43], "same": [21, 32, 43, 4], "causal": [10, 21, 32, 43]}


def test_conv2d_transpose_by_hand():
    """2x2 ones kernel, stride 2: each input value fills its own 2x2 block; bias 1."""
    graph = predict_graph(lambda x: conv2d_transpose(x, 1, 2, strides=2))
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    run(graph, x)
    write(graph, "conv2d_transpose/kernel", torch.ones(2, 2, 1, 1))
    write(graph, "conv2d_transpose/bias", [1.0])
    expected = [[2, 2, 3, 3], [2, 2, 3, 3], [4, 4, 5, 5], [4, 4, 5, 5]]
    assert run(graph, x)[0, :, :, 0].tolist() == expected


def test_conv2d_transpose_kernel_layout_is_out_then_in():
    graph = predict_graph(lambda x: conv2d_transpose(x, 4, (3, 2)))
    assert run(graph, torch.ones(2, 5, 5, 3)).shape == (2, 7, 6, 4)
    assert tuple(graph.find_variable("conv2d_transpose/kernel").shape) == (3, 2, 4, 3)


def tf_conv2d_nchw(y, kernel, stride, padding):
    """The forward TF conv2d (explicit TF padding) whose gradient conv2d_transpose is."""
    if padding == "same":
        top, bottom = tf_same_pads(y.shape[2], kernel.shape[0], stride)
        left, right = tf_same_pads(y.shape[3], kernel.shape[1], stride)
        y = F.pad(y, (left, right, top, bottom))
    return F.conv2d(y, kernel.permute(3, 2, 0, 1), None, stride)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize(("kernel", "stride"), [(3, 2), (2, 2), (1, 2), (4, 2), (3, 1), (2, 3), (5, 3)])
def test_conv2d_transpose_is_the_gradient_of_tf_conv2d(padding, kernel, stride):
    """TF defines conv2d_transpose as conv2d's input gradient for the output size
    size * stride (+ max(kernel - stride, 0) for valid); autograd gives the reference."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 5)
    graph = predict_graph(
        lambda x: conv2d_transpose(x, 2, kernel, strides=stride, padding=padding, use_bias=False)
    )
    out = run(graph, x)
    extra = max(kernel - stride, 0) if padding == "valid" else 0
    assert out.shape == (2, 3 * stride + extra, 4 * stride + extra, 2)
    # kernel [k, k, out=2, in=5] is a forward conv from 2 channels to 5.
    kernel_tf = graph.find_variable("conv2d_transpose/kernel").detach()
    y = torch.zeros(2, 2, out.shape[1], out.shape[2], requires_grad=True)
    forward = tf_conv2d_nchw(y, kernel_tf, stride, padding)
    assert forward.shape[2:] == (3, 4)
    (forward * x.permute(0, 3, 1, 2)).sum().backward()
    assert torch.allclose(out, y.grad.permute(0, 2, 3, 1), atol=1e-5)
