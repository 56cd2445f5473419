"""te.losses collections: what the loss functions and add_loss record in a model_fn call, and
get_losses / get_total_loss, against tf.compat.v1.losses in a TF 2.15 graph."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import torch_estimator as te
from torch_estimator.contract import EstimatorSpec, ModeKeys
from torch_estimator.graph import Graph, variable_scope

LABELS = torch.tensor([[1.0], [0.0], [2.0], [3.0]])
PREDICTIONS = torch.tensor([[1.5], [0.5], [1.0], [3.0]])
WEIGHTS = torch.tensor([[1.0], [0.0], [2.0], [0.5]])
LOGITS = torch.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3], [1.0, 1.0, 1.0], [0.2, 0.1, 3.0]])
CLASS_IDS = torch.tensor([0, 1, 2, 0])


def call(body):
    """Runs ``body()`` inside one model_fn call and returns what it returned."""
    seen = {}

    def model_fn(features, mode):
        seen["result"] = body()
        return EstimatorSpec(mode, predictions=features)

    Graph(model_fn)(torch.zeros(1), None, ModeKeys.PREDICT)
    return seen["result"]


def tf_sequence():
    """The losses of the TF 2.15 reference graph, in its order; TF's get_total_loss() of them is
    98.23191 and get_losses() names them mean_squared_error_1/Sum, ..., tower/myloss/value, Const."""
    losses = te.losses
    mse = losses.mean_squared_error
    mse(LABELS, PREDICTIONS, weights=WEIGHTS, reduction="none", loss_collection=None)
    for reduction in losses.Reduction.all()[1:5]:
        mse(LABELS, PREDICTIONS, weights=WEIGHTS, reduction=reduction)
    losses.absolute_difference(LABELS, PREDICTIONS, weights=WEIGHTS)
    losses.absolute_difference(LABELS, PREDICTIONS, weights=0.0)
    losses.absolute_difference(LABELS, PREDICTIONS, weights=2.0)
    losses.huber_loss(LABELS, PREDICTIONS, weights=WEIGHTS, delta=0.75)
    binary = torch.tensor([[1.0], [0.0], [1.0], [0.0]])
    losses.hinge_loss(binary, torch.tensor([[0.3], [-2.0], [-0.5], [0.7]]))
    losses.log_loss(binary, torch.tensor([[0.9], [0.2], [0.4], [0.0]]), weights=WEIGHTS)
    losses.sparse_softmax_cross_entropy(CLASS_IDS, LOGITS)
    losses.sparse_softmax_cross_entropy(
        CLASS_IDS.reshape(4, 1), LOGITS, weights=torch.tensor([[1.0], [2.0], [0.0], [1.0]])
    )
    losses.softmax_cross_entropy(
        F.one_hot(CLASS_IDS, 3), LOGITS, weights=torch.tensor([1.0, 2.0, 0.0, 1.0]), label_smoothing=0.1
    )
    multi = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    losses.sigmoid_cross_entropy(
        multi, LOGITS, weights=torch.tensor([[1.0], [0.0], [2.0], [1.0]]), label_smoothing=0.2
    )
    losses.sigmoid_cross_entropy(multi, LOGITS, reduction="none", loss_collection=None)
    losses.cosine_distance(
        torch.tensor([[0.6, 0.8], [1.0, 0.0], [0.0, 1.0], [0.8, 0.6]]),
        torch.tensor([[0.8, 0.6], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
        axis=1,
        weights=WEIGHTS,
    )
    pairs = torch.tensor([[1.0, 2.0, 4.0], [0.0, 3.0, 1.0]]), torch.tensor([[2.0, 2.0, 1.0], [1.0, 1.0, 1.0]])
    losses.mean_pairwise_squared_error(*pairs, weights=torch.tensor([[1.0], [2.0]]))
    losses.mean_pairwise_squared_error(*pairs, weights=torch.tensor([[1.0, 0.0, 1.0], [2.0, 1.0, 1.0]]))
    square = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    losses.compute_weighted_loss(square, weights=torch.tensor([[0.0], [2.0]]))
    losses.compute_weighted_loss(square, weights=torch.tensor([[0.0], [2.0]]), reduction="weighted_mean")
    losses.compute_weighted_loss(square, weights=torch.tensor([[0.0], [0.0]]))
    with variable_scope("tower"):
        scoped = mse(LABELS, PREDICTIONS, scope="myloss")
        mse(LABELS, PREDICTIONS, loss_collection=None)  # not recorded, but it takes the name
        extra = mse(LABELS, PREDICTIONS, loss_collection="extra")
    losses.add_loss(torch.tensor(5.0))
    return {
        "count": len(losses.get_losses()),
        "total": float(losses.get_total_loss()),
        "tower": losses.get_losses(scope="tower"),
        "scoped": scoped,
        "extra": losses.get_losses(loss_collection="extra"),
        "extra_named": losses.get_losses(scope="tower/mean_squared_error_1/value", loss_collection="extra"),
        "extra_obj": extra,
        "sum_named": losses.get_losses(scope="mean_squared_error_1/Sum"),
        "none_named": losses.get_losses(scope="mean_squared_error/"),
    }


def test_the_collection_and_total_match_tf():
    seen = call(tf_sequence)
    assert seen["count"] == 22  # TF's get_losses(): 22 entries (the two loss_collection=None ones left out)
    assert seen["total"] == pytest.approx(98.23191, rel=1e-6)
    assert len(seen["tower"]) == 1 and seen["tower"][0] is seen["scoped"]
    assert float(seen["scoped"]) == pytest.approx(0.375)
    assert len(seen["extra"]) == 1 and seen["extra"][0] is seen["extra_obj"]
    assert seen["extra_named"] == seen["extra"]  # the loss_collection=None call took the first name
    # TF's names: the SUM reduction ends in Sum; the unrecorded NONE call still took the bare name.
    assert [float(loss) for loss in seen["sum_named"]] == [2.25]
    assert seen["none_named"] == []


def test_total_adds_the_regularization_losses():
    def body():
        logits = te.layers.dense(
            torch.ones(4, 2),
            3,
            kernel_initializer=te.initializers.ones(),
            kernel_regularizer=lambda w: 0.5 * w.sum(),
        )
        loss = te.losses.sparse_softmax_cross_entropy(CLASS_IDS, logits)
        totals = te.losses.get_total_loss(), te.losses.get_total_loss(add_regularization_losses=False)
        return [float(value.detach()) for value in (loss, *totals)]

    loss, total, without = call(body)
    assert loss == pytest.approx(float(torch.log(torch.tensor(3.0))))  # equal logits: log(3)
    assert total == pytest.approx(loss + 3.0)  # 0.5 * six kernel ones
    assert without == pytest.approx(loss)


def test_each_model_fn_call_starts_with_empty_collections():
    counts = []

    def model_fn(features, mode):
        te.losses.mean_squared_error(features, features)
        counts.append(len(te.losses.get_losses()))
        return EstimatorSpec(mode, loss=te.losses.get_total_loss())

    graph = Graph(model_fn)
    for _ in range(3):
        graph(torch.ones(2), None, ModeKeys.EVAL)
    assert counts == [1, 1, 1]


def test_add_loss_to_the_regularization_collection():
    def body():
        te.losses.add_loss(torch.tensor(2.0), loss_collection=te.losses.REGULARIZATION_LOSSES)
        return [float(loss) for loss in te.losses.get_regularization_losses()], te.losses.get_losses()

    regularization, losses = call(body)
    assert regularization == [2.0] and losses == []


def test_total_loss_errors_name_the_problem():
    with pytest.raises(ValueError, match="found no loss in this model_fn call"):
        call(te.losses.get_total_loss)

    def mixed():
        te.losses.mean_squared_error(LABELS, PREDICTIONS, reduction="none")
        te.losses.mean_squared_error(LABELS, PREDICTIONS)
        return te.losses.get_total_loss()

    with pytest.raises(ValueError, match=r"losses of shape \(4, 1\)"):
        call(mixed)


def test_readers_need_model_fn_but_the_functions_and_add_loss_do_not():
    assert float(te.losses.mean_squared_error(LABELS, PREDICTIONS)) == pytest.approx(0.375)
    with pytest.raises(RuntimeError, match=r"te\.losses\.get_losses must be called inside model_fn"):
        te.losses.get_losses()
    te.losses.add_loss(torch.tensor(1.0))  # nothing to add it to: ignored, as by TF's eager mode


def test_a_tf1_model_fn_trains_on_the_total_loss(tmp_path):
    """The TF1 pattern: a loss function, get_total_loss(), minimize."""

    def model_fn(features, labels, mode):
        logits = te.layers.dense(features, 3, kernel_regularizer=lambda w: 1e-3 * w.square().sum())
        te.losses.sparse_softmax_cross_entropy(labels, logits)
        loss = te.losses.get_total_loss()
        train_op = te.train.GradientDescentOptimizer(0.5).minimize(
            loss, global_step=te.train.get_global_step()
        )
        return EstimatorSpec(mode, loss=loss, train_op=train_op)

    features = torch.eye(3).repeat(4, 1)
    labels = torch.arange(3).repeat(4)

    def input_fn():
        return iter([(features, labels)] * 20)

    estimator = te.Estimator(model_fn, model_dir=str(tmp_path))
    before = estimator.evaluate(input_fn, steps=1)["loss"]
    estimator.train(input_fn, steps=20)
    after = estimator.evaluate(input_fn, steps=1)["loss"]
    assert after < 0.5 * before


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf Tensor:UserWarning")
def test_losses_and_total_compile_without_graph_breaks():
    from torch._dynamo.utils import counters

    def model_fn(features, labels, mode):
        logits = te.layers.dense(features, 3, kernel_regularizer=lambda w: 1e-3 * w.square().sum())
        te.losses.sparse_softmax_cross_entropy(labels, logits, weights=torch.ones(4))
        te.losses.mean_squared_error(logits, torch.zeros_like(logits), reduction=te.losses.Reduction.MEAN)
        return EstimatorSpec(mode, loss=te.losses.get_total_loss(), predictions=logits)

    graph = Graph(model_fn)
    features, labels = torch.randn(4, 5, generator=torch.Generator().manual_seed(0)), CLASS_IDS
    with torch.no_grad():
        eager = graph(features, labels, ModeKeys.EVAL).loss
        torch._dynamo.reset()
        counters.clear()
        try:
            compiled = torch.compile(graph, backend="aot_eager")(features, labels, ModeKeys.EVAL).loss
            assert not counters["graph_break"]
        finally:
            torch._dynamo.reset()
    torch.testing.assert_close(compiled, eager)
