"""Regularizers and constraints of te.layers / te.get_variable / te.variable_scope, and te.losses.

Expected values are TF 2.15's (tf.compat.v1.layers in graph mode, the same weights and inputs).
"""

from __future__ import annotations

import pytest
import torch

import torch_estimator as te
from torch_estimator.contract import EstimatorSpec, ModeKeys
from torch_estimator.graph import Graph, get_variable, variable_scope
from torch_estimator.graph import initializers as init
from torch_estimator.layers import batch_normalization, conv1d, conv2d, dense
from torch_estimator.losses import get_regularization_loss, get_regularization_losses


def constant(value: float):
    return lambda tensor: tensor.sum() * 0.0 + value


def losses_of(body, features):
    """The regularization losses (floats) of one call of a model_fn running ``body(features)``."""
    seen = {}

    def model_fn(features, mode):
        body(features)
        seen["losses"] = [float(loss.detach()) for loss in get_regularization_losses()]
        return EstimatorSpec(mode, predictions=features)

    Graph(model_fn)(features, None, ModeKeys.PREDICT)
    return seen["losses"]


KERNEL = torch.arange(6.0).reshape(3, 2) / 10 - 0.2
INPUTS = torch.arange(12.0).reshape(4, 3) / 10


def regularized_dense(x):
    return dense(
        x,
        2,
        kernel_initializer=init.constant(KERNEL),
        bias_initializer=init.constant(0.5),
        kernel_regularizer=lambda w: 0.1 * w.square().sum(),  # tf.keras.regularizers.l2(0.1)
        bias_regularizer=lambda b: 0.3 * b.abs().sum(),  # l1(0.3)
        activity_regularizer=lambda y: 0.01 * y.square().sum(),  # l2(0.01), divided by the batch
        kernel_constraint=lambda w: w.clamp(-0.1, 0.1),
    )


def test_dense_kernel_bias_and_activity_losses_match_tf():
    # kernel: 0.1 * 0.19; bias: 0.3 * (0.5 + 0.5); activity: 0.01 * sum(y^2) / 4 = 0.01 * 3.195 / 4.
    assert losses_of(regularized_dense, INPUTS) == pytest.approx([0.019, 0.3, 0.0079875], rel=1e-6)


def test_get_regularization_loss_sums_them_and_is_zero_without_any():
    totals = {}

    def model_fn(features, mode):
        totals["empty"] = get_regularization_loss()
        regularized_dense(features)
        totals["total"] = get_regularization_loss()
        return EstimatorSpec(mode, predictions=features)

    Graph(model_fn)(INPUTS, None, ModeKeys.PREDICT)
    assert float(totals["total"].detach()) == pytest.approx(0.3269875, rel=1e-6)  # TF: 0.32698730
    assert totals["empty"].dtype == torch.float32 and float(totals["empty"]) == 0.0


def test_kernel_constraint_is_applied_after_each_optimizer_update():
    def model_fn(features, mode):
        loss = regularized_dense(features).sum()
        train_op = te.train.GradientDescentOptimizer(0.5).minimize(loss)
        return EstimatorSpec(mode, loss=loss, train_op=train_op)

    graph = Graph(model_fn)
    graph(INPUTS, None, ModeKeys.TRAIN).train_op()
    # The step moves every entry below -0.1 (TF gives the same clipped kernel); the bias is free.
    assert torch.equal(graph.state_dict()["dense/kernel"], torch.full((3, 2), -0.1))
    assert graph.state_dict()["dense/bias"].tolist() == [-1.5, -1.5]


def test_collection_order_and_sharing_match_tf():
    def body(x):
        dense(x, 2, kernel_regularizer=constant(1.0), trainable=False, name="frozen")  # frozen: counted
        with variable_scope("s"):
            get_variable("v", [2], regularizer=constant(2.0))
            get_variable("v", [2], regularizer=constant(3.0))  # the variable exists: no second loss
        with variable_scope("r", regularizer=constant(5.0)):
            dense(x, 2)  # the scope's regularizer on kernel and bias
            dense(x, 2, kernel_regularizer=constant(7.0))  # the scope's, then the layer's own
        shared = {"kernel_regularizer": constant(11.0), "activity_regularizer": constant(13.0)}
        dense(x, 2, name="sh", **shared)
        # The second call shares the variables: its kernel regularizer is not added, its activity
        # regularizer is (divided by the batch of 2).
        dense(x, 2, name="sh", kernel_regularizer=constant(17.0), activity_regularizer=constant(19.0))
        batch_normalization(x, beta_regularizer=constant(23.0), gamma_regularizer=constant(29.0))

    expected = [1.0, 2.0, 5.0, 5.0, 5.0, 7.0, 5.0, 11.0, 6.5, 9.5, 29.0, 23.0]  # TF's collection
    assert losses_of(body, torch.ones(2, 3)) == expected


def test_scope_filters_by_name_prefix_as_a_regular_expression():
    def body(x):
        with variable_scope("s"):
            get_variable("v", [2], regularizer=constant(2.0))
        dense(x, 2, name="sh", kernel_regularizer=constant(11.0))
        with variable_scope("tower"):
            dense(x, 1, kernel_regularizer=constant(3.0))
        filtered["s"] = [float(loss.detach()) for loss in get_regularization_losses(scope="s")]
        filtered["tower"] = float(get_regularization_loss(scope="tower").detach())
        filtered["none"] = float(get_regularization_loss(scope="nothing"))

    filtered = {}
    losses_of(body, torch.ones(2, 3))
    assert filtered == {"s": [2.0, 11.0], "tower": 3.0, "none": 0.0}  # "s" matches "sh/..." too, as TF


def test_scope_regularizer_covers_every_variable_and_a_given_one_replaces_it():
    def body(x):
        with variable_scope("r", regularizer=constant(5.0)):
            batch_normalization(x)  # gamma, beta and both moving statistics, as TF
            get_variable("own", [1], regularizer=constant(3.0))
            conv1d(torch.ones(2, 4, 3), 2, 2, activity_regularizer=constant(8.0))

    assert losses_of(body, torch.ones(2, 3)) == [5.0, 5.0, 5.0, 5.0, 3.0, 5.0, 5.0, 4.0]


def test_losses_are_recorded_afresh_on_every_call_and_follow_the_weights():
    # loss = 0.5 * w^2 with w = 2: each gradient-descent step at 0.1 multiplies w by 0.9.
    def model_fn(features, mode):
        w = get_variable("w", [], initializer=2.0, regularizer=lambda w: 0.5 * w.square())
        loss = get_regularization_loss() + 0.0 * (features.sum() * w)
        assert len(get_regularization_losses()) == 1
        return EstimatorSpec(mode, loss=loss, train_op=te.train.GradientDescentOptimizer(0.1).minimize(loss))

    graph = Graph(model_fn)
    for _ in range(3):
        graph(torch.ones(1), None, ModeKeys.TRAIN).train_op()
    assert float(graph.state_dict()["w"]) == pytest.approx(2.0 * 0.9**3)


def test_constraints_apply_with_a_torch_optimizer_and_only_to_updated_variables():
    def model_fn(features, mode):
        used = get_variable("used", [2], initializer=1.0, constraint=lambda v: v.clamp(min=0.0))
        unused = get_variable("unused", [2], initializer=-1.0, constraint=lambda v: v.clamp(min=0.0))
        loss = (used * features).sum() + 0.0 * unused.detach().sum()
        train_op = te.train.Optimizer(torch.optim.SGD, lr=1.0).minimize(loss)
        return EstimatorSpec(mode, loss=loss, train_op=train_op)

    graph = Graph(model_fn)
    graph(torch.tensor([3.0, -0.5]), None, ModeKeys.TRAIN).train_op()
    # used: [1 - 3, 1 + 0.5] = [-2, 1.5], clamped to [0, 1.5]; unused got no gradient: no update.
    assert graph.state_dict()["used"].tolist() == [0.0, 1.5]
    assert graph.state_dict()["unused"].tolist() == [-1.0, -1.0]


def test_conv2d_regularizes_its_kernel_in_tf_layout():
    shapes = []

    def body(x):
        conv2d(x, 4, 3, kernel_regularizer=lambda w: shapes.append(tuple(w.shape)) or w.sum() * 0.0)

    assert losses_of(body, torch.ones(2, 5, 5, 3)) == [0.0]
    assert shapes == [(3, 3, 3, 4)]


def test_estimator_trains_with_regularized_and_constrained_layers(tmp_path):
    def model_fn(features, labels, mode):
        logits = dense(
            features,
            1,
            kernel_regularizer=lambda w: 0.01 * w.square().sum(),
            bias_constraint=lambda b: b.clamp(max=0.0),
        )
        loss = torch.nn.functional.mse_loss(logits.squeeze(-1), labels) + get_regularization_loss()
        train_op = te.train.AdamOptimizer(0.1).minimize(loss, global_step=te.train.get_global_step())
        return EstimatorSpec(mode, loss=loss, train_op=train_op)

    features = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    labels = features.sum(-1) + 5.0  # the best bias is 5: the constraint holds it at 0
    estimator = te.Estimator(model_fn, model_dir=str(tmp_path))
    estimator.train(lambda: iter([(features, labels)] * 20))
    assert estimator.get_variable_value("dense/bias").tolist() == [0.0]


def test_bad_regularizer_and_constraint_name_the_variable():
    with pytest.raises(TypeError, match="kernel_regularizer of dense/kernel must be a callable"):
        losses_of(lambda x: dense(x, 2, kernel_regularizer=0.1), torch.ones(2, 3))
    with pytest.raises(TypeError, match="bias_constraint of dense/bias must be a callable"):
        losses_of(lambda x: dense(x, 2, bias_constraint=3), torch.ones(2, 3))
    with pytest.raises(ValueError, match="bias_constraint of dense/bias: Unknown constraint: 'non_negative'"):
        losses_of(lambda x: dense(x, 2, bias_constraint="non_negative"), torch.ones(2, 3))


def test_a_constraint_returning_another_shape_raises_naming_the_variable():
    def model_fn(features, mode):
        w = get_variable("w", [2], initializer=1.0, constraint=lambda v: v.norm())
        loss = (w * features).sum()
        return EstimatorSpec(mode, loss=loss, train_op=te.train.GradientDescentOptimizer(0.1).minimize(loss))

    graph = Graph(model_fn)
    with pytest.raises(ValueError, match=r"The constraint of w returned \(\); .* shape \(2,\)"):
        graph(torch.ones(2), None, ModeKeys.TRAIN).train_op()


def test_regularizers_are_fixed_when_the_variable_is_created():
    def body(x):
        dense(x, 2, name="d")
        dense(x, 2, name="d", kernel_regularizer=constant(1.0))  # shares d/kernel: TF adds nothing

    assert losses_of(body, torch.ones(2, 3)) == []


def test_an_activity_loss_is_taken_at_the_layer_call():
    def body(x):
        outputs = dense(x, 2, kernel_initializer=init.ones(), activity_regularizer=lambda y: y.sum())
        outputs += 100.0  # an in-place change after the call does not reach the loss (TF: 6.0)

    assert losses_of(body, torch.ones(2, 3)) == [6.0]


def test_a_scope_regularizer_reaches_feature_column_variables_on_every_call():
    column = te.feature_column.embedding_column(
        te.feature_column.categorical_column_with_identity("id", 4), 2, initializer=init.ones()
    )
    counts = []

    def model_fn(features, mode):
        with variable_scope("s", regularizer=lambda w: w.sum()):
            net = te.feature_column.input_layer(features, [column])
        counts.append([float(loss.detach()) for loss in get_regularization_losses()])
        return EstimatorSpec(mode, predictions=net)

    graph = Graph(model_fn)
    for _ in range(2):
        graph({"id": torch.tensor([[1], [2]])}, None, ModeKeys.PREDICT)
    assert counts == [[8.0], [8.0]]  # the 4 x 2 table of ones, once per call


def test_reading_the_losses_outside_model_fn_raises():
    with pytest.raises(RuntimeError, match="get_regularization_losses must be called inside model_fn"):
        get_regularization_losses()
    with pytest.raises(RuntimeError, match="get_regularization_loss must be called inside model_fn"):
        get_regularization_loss()
