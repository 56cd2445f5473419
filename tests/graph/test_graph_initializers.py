"""TF's initializers: fans, ranges and the variance-scaling family."""

import math

import pytest
import torch

from torch_estimator.graph import initializers as init


@pytest.mark.parametrize(
    ("shape", "fans"),
    [
        ((), (1, 1)),
        ((5,), (5, 5)),
        ((3, 4), (3, 4)),
        # receptive field 2: fan_in = 3 * 2, fan_out = 4 * 2
        ((2, 3, 4), (6, 8)),
        # receptive field 3 * 3 = 9: fan_in = 16 * 9 = 144, fan_out = 32 * 9 = 288
        ((3, 3, 16, 32), (144, 288)),
    ],
)
def test_compute_fans(shape, fans):
    assert init.compute_fans(shape) == fans


def test_glorot_uniform_limit():
    """limit = sqrt(6 / (fan_in + fan_out)) = sqrt(6 / (40 + 60)) = 0.2449."""
    torch.manual_seed(0)
    values = init.glorot_uniform()((40, 60))
    limit = math.sqrt(6 / 100)
    assert values.shape == (40, 60) and values.dtype == torch.float32
    assert values.abs().max() <= limit
    assert values.abs().max() > 0.95 * limit  # 2400 draws: P(all below) = 0.95 ** 2400 ~ 1e-54
    # Uniform(-l, l) has variance l^2 / 3 = 1 / fan_avg = 0.02.
    assert values.var().item() == pytest.approx(0.02, rel=0.1)


def test_truncated_normal_stays_within_two_stddev():
    torch.manual_seed(0)
    values = init.truncated_normal(mean=1.0, stddev=0.5)((10_000,))
    assert values.min() >= 0.0 and values.max() <= 2.0
    assert values.mean().item() == pytest.approx(1.0, abs=0.02)


def test_truncated_variance_scaling_keeps_the_requested_variance():
    """he_normal on fan_in 200: variance 2 / 200 = 0.01; the truncation correction restores it."""
    torch.manual_seed(0)
    values = init.he_normal()((200, 100))
    assert values.var().item() == pytest.approx(0.01, rel=0.05)
    stddev = math.sqrt(0.01) / 0.87962566103423978
    assert values.abs().max() <= 2 * stddev + 1e-6


@pytest.mark.parametrize(
    ("initializer", "variance"),
    [
        (init.variance_scaling(2.0, "fan_out", "uniform"), 2.0 / 100),
        (init.variance_scaling(1.0, "fan_avg", "untruncated_normal"), 1.0 / 150),
        (init.variance_scaling(1.0, "fan_in", "normal"), 1.0 / 200),
        (init.lecun_uniform(), 1.0 / 200),
        (init.he_uniform(), 2.0 / 200),
        (init.glorot_normal(), 1.0 / 150),
    ],
)
def test_variance_scaling_variances(initializer, variance):
    """Shape (200, 100): fan_in 200, fan_out 100, fan_avg 150."""
    torch.manual_seed(0)
    assert initializer((200, 100)).var().item() == pytest.approx(variance, rel=0.05)


@pytest.mark.parametrize(
    ("kwargs", "phrase"),
    [
        ({"scale": 0.0}, "scale > 0"),
        ({"scale": -1.0}, "scale > 0"),
        ({"mode": "fan_sum"}, "mode must be fan_in, fan_out or fan_avg"),
        ({"distribution": "cauchy"}, "distribution must be truncated_normal, untruncated_normal or uniform"),
    ],
)
def test_variance_scaling_errors(kwargs, phrase):
    with pytest.raises(ValueError, match=phrase):
        init.variance_scaling(**kwargs)


def test_constants():
    assert init.zeros()((2,), dtype=torch.int64).tolist() == [0, 0]
    assert init.ones()((2,)).tolist() == [1.0, 1.0]
    assert init.constant(2.5)((1, 2)).tolist() == [[2.5, 2.5]]
    assert init.constant([1, 2, 3, 4])((2, 2), dtype=torch.float64).tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_random_uniform_and_normal():
    torch.manual_seed(0)
    uniform = init.random_uniform(2.0, 3.0)((1000,))
    assert uniform.min() >= 2.0 and uniform.max() < 3.0
    normal = init.random_normal(5.0, 0.1)((10_000,), dtype=torch.float64)
    assert normal.dtype == torch.float64
    assert normal.mean().item() == pytest.approx(5.0, abs=0.01)
    assert normal.std().item() == pytest.approx(0.1, rel=0.05)
