"""te.regularizers and te.constraints against tf.keras' (TF 2.15, the same weights), and the layers
taking Keras' names for them as TF's layers do."""

from __future__ import annotations

import pytest
import torch

import torch_estimator as te
from torch_estimator import constraints, regularizers
from torch_estimator.contract import EstimatorSpec, ModeKeys
from torch_estimator.graph import Graph

W = torch.tensor([[0.5, -1.0, 2.0], [-0.25, 0.0, 1.5]])  # sum |w| = 5.25, sum w² = 7.5625


@pytest.mark.parametrize(
    ("regularizer", "config", "expected"),
    [
        (regularizers.l1(), {"l1": 0.009999999776482582}, 0.05249999836087227),
        (regularizers.l2(), {"l2": 0.009999999776482582}, 0.0756249949336052),
        (regularizers.l1_l2(), {"l1": 0.009999999776482582, "l2": 0.009999999776482582}, 0.12812499701976776),
        (regularizers.L1L2(), {"l1": 0.0, "l2": 0.0}, 0.0),
        (regularizers.L1(0.3), {"l1": 0.30000001192092896}, 1.5750000476837158),
        (regularizers.L2(l=0.7), {"l2": 0.699999988079071}, 5.293749809265137),
        (
            regularizers.L1L2(l1=0.1, l2=0.2),
            {"l1": 0.10000000149011612, "l2": 0.20000000298023224},
            2.0375001430511475,
        ),
        (regularizers.get("l2"), {"l2": 0.009999999776482582}, 0.0756249949336052),
        (regularizers.get({"class_name": "L2", "config": {"l2": 0.5}}), {"l2": 0.5}, 3.78125),
        (
            regularizers.OrthogonalRegularizer(0.1, "rows"),
            {"factor": 0.10000000149011612, "mode": "rows"},
            0.08251204,
        ),
        (
            regularizers.OrthogonalRegularizer(0.1, "columns"),
            {"factor": 0.10000000149011612, "mode": "columns"},
            0.07138803,
        ),
    ],
)
def test_regularizers_match_keras(regularizer, config, expected):
    assert regularizer.get_config() == config
    assert float(regularizer(W)) == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert regularizers.get(regularizers.serialize(regularizer)).get_config() == config


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        (constraints.MaxNorm(1.0), [[0.49999988, -0.9999999, 0.8], [-0.24999994, 0.0, 0.6]]),
        (
            constraints.MaxNorm(2.0, axis=1),
            [[0.43643576, -0.8728715, 1.745743], [-0.24999999, 0.0, 1.4999999]],
        ),
        (constraints.get("max_norm"), [[0.49999988, -0.9999999, 1.6], [-0.24999994, 0.0, 1.2]]),
        (constraints.NonNeg(), [[0.5, -0.0, 2.0], [-0.0, 0.0, 1.5]]),
        (constraints.UnitNorm(), [[0.894427, -0.9999999, 0.8], [-0.4472135, 0.0, 0.6]]),
        (constraints.UnitNorm(axis=1), [[0.21821788, -0.43643576, 0.8728715], [-0.16439897, 0.0, 0.9863938]]),
        (
            constraints.MinMaxNorm(0.5, 1.0, rate=0.5),
            [[0.49999988, -0.9999999, 1.4], [-0.24999994, 0.0, 1.05]],
        ),
    ],
)
def test_constraints_match_keras(constraint, expected):
    torch.testing.assert_close(constraint(W), torch.tensor(expected))


def test_radial_constraint_matches_keras():
    kernel = torch.arange(18, dtype=torch.float32).reshape(3, 3, 2, 1) / 10
    # Keras 2.15: the centre takes the [0, 0] value, the ring the [1, 1] value, per [h, w] slice.
    expected = [0.8, 0.9, 0.8, 0.9, 0.8, 0.9, 0.8, 0.9, 0.0, 0.1] + [0.8, 0.9] * 4
    torch.testing.assert_close(constraints.RadialConstraint()(kernel).reshape(-1), torch.tensor(expected))
    even = torch.arange(16.0).reshape(4, 4, 1, 1)  # rings: the central 2x2 block [1, 1] = 5, then [3, 3] = 15
    assert constraints.RadialConstraint()(even)[:, :, 0, 0].tolist() == [
        [15.0, 15.0, 15.0, 15.0],
        [15.0, 5.0, 5.0, 15.0],
        [15.0, 5.0, 5.0, 15.0],
        [15.0, 15.0, 15.0, 15.0],
    ]


@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        (lambda: regularizers.L2(l2="a"), "Value a is not a valid regularization penalty number"),
        (lambda: regularizers.L2(l2=float("nan")), "an infinite number or NaN are not valid values"),
        (lambda: regularizers.L1(l1=0.1, scale=2), "Argument\\(s\\) not recognized"),
        (lambda: regularizers.get(3), "Could not interpret regularizer identifier: 3"),
        (lambda: regularizers.get("l3"), "Unknown regularizer: 'l3'"),
        (lambda: regularizers.OrthogonalRegularizer(mode="diagonal"), "Invalid value for argument `mode`"),
        (lambda: constraints.get("foo"), "Unknown constraint: 'foo'"),
        (lambda: constraints.get(3), "Could not interpret constraint function identifier: 3"),
        (lambda: constraints.RadialConstraint()(W), "The weight tensor must have rank 4"),
    ],
)
def test_bad_arguments_raise_keras_errors(make, phrase):
    with pytest.raises((ValueError, TypeError), match=phrase):
        make()


def test_layers_take_keras_names_as_tfs_layers_do():
    def model_fn(features, labels, mode):
        out = te.layers.dense(
            features,
            2,
            kernel_initializer=te.initializers.constant(-0.5),
            kernel_regularizer="l2",
            kernel_constraint="non_neg",
            activity_regularizer={"class_name": "L1", "config": {"l1": 0.5}},
        )
        loss = out.sum()
        spec_loss = loss + te.losses.get_regularization_loss()
        optimizer = te.train.GradientDescentOptimizer(0.0)
        return EstimatorSpec(mode, loss=spec_loss, train_op=optimizer.minimize(spec_loss))

    graph = Graph(model_fn)
    features = torch.ones(4, 3)
    losses = []
    for _ in range(2):
        spec = graph(features, None, ModeKeys.TRAIN)
        losses.append(float(spec.loss.detach()))
        spec.train_op.run()
    # Kernel -0.5 (3x2), bias 0: outputs -1.5 each (sum -12); l2: 0.01 * 6 * 0.25 = 0.015; activity:
    # 0.5 * 12 / 4 rows = 1.5. After the first step the non_neg constraint zeroes the kernel.
    assert losses[0] == pytest.approx(-12 + 0.015 + 1.5, rel=1e-6)
    assert losses[1] == pytest.approx(0.0)
    assert graph.state_dict()["dense/kernel"].abs().sum() == 0
