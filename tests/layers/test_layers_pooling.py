"""te.layers pooling: TF's valid / same windows, padding excluded from max and mean."""

from __future__ import annotations

import pytest
import torch

from torch_estimator.layers import average_pooling1d, average_pooling2d, max_pooling1d, max_pooling2d

# 3x3 image x[h, w] = 3h + w: rows [0, 1, 2], [3, 4, 5], [6, 7, 8].
IMAGE = torch.arange(9.0).reshape(1, 3, 3, 1)


def grid(out):
    return out[0, :, :, 0].tolist()


def test_pooling_2x2_stride_2_same_pads_bottom_right():
    """Windows: {0,1,3,4}, {2,5}, {6,7}, {8}. The padding never wins a max (so IMAGE - 10 keeps
    negative maxima) and is left out of the mean."""
    assert grid(max_pooling2d(IMAGE, 2, 2, padding="same")) == [[4, 5], [7, 8]]
    assert grid(max_pooling2d(IMAGE - 10, 2, 2, padding="same")) == [[-6, -5], [-3, -2]]
    assert grid(average_pooling2d(IMAGE, 2, 2, padding="same")) == [[2.0, 3.5], [6.5, 8.0]]


def test_pooling_valid_drops_the_remainder():
    assert grid(max_pooling2d(IMAGE, 2, 2)) == [[4]]
    assert grid(average_pooling2d(IMAGE, 2, 1)) == [[2, 3], [5, 6]]


def test_pooling_symmetric_same_padding_averages_covered_inputs_only():
    """4x4 x[h, w] = 4h + w, 3x3 windows, stride 1: one padding row / column on each side.
    Corner (0, 0) covers {0, 1, 4, 5}: mean 2.5; edge (0, 1) covers {0, 1, 2, 4, 5, 6}: mean 3."""
    x = torch.arange(16.0).reshape(1, 4, 4, 1)
    out = average_pooling2d(x, 3, 1, padding="same")
    assert out.shape == (1, 4, 4, 1)
    assert grid(out)[0][:2] == [2.5, 3.0]
    assert grid(max_pooling2d(x - 100, 3, 1, padding="same"))[0][0] == -95


@pytest.mark.parametrize(("pool", "stride"), [(2, 2), (3, 2), (2, 1), (3, 3), (4, 3)])
def test_pooling_same_output_size_is_ceil(pool, stride):
    x = torch.randn(2, 7, 8, 3)
    for fn in (max_pooling2d, average_pooling2d):
        out = fn(x, pool, stride, padding="same")
        assert out.shape == (2, -(-7 // stride), -(-8 // stride), 3)
    ones = average_pooling2d(torch.ones(1, 7, 8, 1), pool, stride, padding="same")
    assert torch.allclose(ones, torch.ones_like(ones))  # every mean is over real inputs only


def test_pooling_1d_and_channels_first():
    """x = [1, 5, 2, 4, 3], window 2 stride 2 same: {1,5}, {2,4}, {3} -> max [5, 4, 3], mean [3, 3, 3]."""
    x = torch.tensor([1.0, 5.0, 2.0, 4.0, 3.0]).reshape(1, 5, 1)
    assert max_pooling1d(x, 2, 2, padding="same").flatten().tolist() == [5, 4, 3]
    assert average_pooling1d(x, 2, 2, padding="same").flatten().tolist() == [3, 3, 3]
    assert average_pooling1d(x.reshape(1, 1, 5), 2, 2, data_format="channels_first").flatten().tolist() == [
        3,
        3,
    ]
    first = max_pooling2d(IMAGE.permute(0, 3, 1, 2), 2, 2, padding="same", data_format="channels_first")
    assert first[0, 0].tolist() == [[4, 5], [7, 8]]


def test_pooling_errors():
    with pytest.raises(ValueError, match="expected ndim=4, found ndim=3"):
        max_pooling2d(torch.ones(3, 3, 1), 2, 2)
    with pytest.raises(ValueError, match="`pool_size` argument must be an int or a tuple of 2"):
        max_pooling2d(IMAGE, (2, 2, 2), 2)
    with pytest.raises(
        ValueError, match="`data_format` argument must be 'channels_last' or 'channels_first'"
    ):
        max_pooling2d(IMAGE, 2, 2, data_format="NHWC")
