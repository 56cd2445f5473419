"""TF-named optimizers inside a Graph: TF's signatures, slot names, resume equivalence, schedules.

The model throughout: w = [[1], [2]], features [[1, 1]], label 0, loss = (x @ w - y)^2 = 9, so the
gradient is 2 * 3 * [1, 1] = [6, 6] on the first step.
"""

import inspect

import pytest
import torch

from torch_estimator.canned.optimizers import get_optimizer_instance
from torch_estimator.contract import EstimatorSpec, ModeKeys
from torch_estimator.graph import Graph, get_or_create_global_step, get_variable, initializers
from torch_estimator.train import update_rules
from torch_estimator.train.learning_rate import exponential_decay
from torch_estimator.train.tf_optimizers import (
    AdagradOptimizer,
    AdamOptimizer,
    AdamWOptimizer,
    FtrlOptimizer,
    GradientDescentOptimizer,
    MomentumOptimizer,
    RMSPropOptimizer,
)

FEATURES = torch.tensor([[1.0, 1.0]])
LABELS = torch.tensor([[0.0]])


def _model_fn(make_optimizer, use_apply_gradients=False):
    def model_fn(features, labels, mode):
        w = get_variable("w", [2, 1], initializer=initializers.constant([[1.0], [2.0]]))
        loss = ((features @ w - labels) ** 2).mean()
        global_step = get_or_create_global_step()
        optimizer = make_optimizer(global_step)
        if use_apply_gradients:
            op = optimizer.apply_gradients(optimizer.compute_gradients(loss), global_step=global_step)
        else:
            op = optimizer.minimize(loss, global_step=global_step)
        return EstimatorSpec(mode, loss=loss, train_op=op)

    return model_fn


def _train(graph: Graph, steps: int = 1) -> None:
    for _ in range(steps):
        graph(FEATURES, LABELS, ModeKeys.TRAIN).train_op.run()


def _weights(graph: Graph) -> list[float]:
    return graph.state_dict()["w"].flatten().tolist()


OPTIMIZERS = {
    "GradientDescent": (lambda _: GradientDescentOptimizer(0.1), set()),
    "Momentum": (lambda _: MomentumOptimizer(0.1, momentum=0.9), {"w/Momentum"}),
    "Nesterov": (lambda _: MomentumOptimizer(0.1, momentum=0.9, use_nesterov=True), {"w/Momentum"}),
    "Adam": (lambda _: AdamOptimizer(0.1), {"w/Adam", "w/Adam_1", "beta1_power", "beta2_power"}),
    "Adagrad": (lambda _: AdagradOptimizer(0.1), {"w/Adagrad"}),
    "RMSProp": (lambda _: RMSPropOptimizer(0.1, momentum=0.5), {"w/RMSProp", "w/RMSProp_1"}),
    "RMSPropCentered": (
        lambda _: RMSPropOptimizer(0.1, centered=True),
        {"w/RMSProp", "w/RMSProp_1", "w/RMSProp_2"},
    ),
    "Ftrl": (lambda _: FtrlOptimizer(0.1, l1_regularization_strength=0.01), {"w/Ftrl", "w/Ftrl_1"}),
    "AdamW": (
        lambda _: AdamWOptimizer(0.01, learning_rate=0.1),
        {"w/AdamW", "w/AdamW_1", "beta1_power", "beta2_power"},
    ),
}


@pytest.mark.parametrize("key", sorted(OPTIMIZERS))
def test_checkpoint_names_slots_as_tf(key):
    make, slots = OPTIMIZERS[key]
    graph = Graph(_model_fn(make))
    _train(graph)
    assert set(graph.checkpoint_tensors()) == {"w", "global_step"} | slots
    assert int(graph.state_dict()["global_step"]) == 1


@pytest.mark.parametrize("key", sorted(OPTIMIZERS))
def test_restored_slots_give_the_identical_next_step(key):
    """Step 1, save everything, step 2; a fresh Graph restored from the save takes the same step 2."""
    make, _ = OPTIMIZERS[key]
    graph = Graph(_model_fn(make))
    _train(graph)
    # Cloned, as a checkpoint read from disk would be.
    saved = {name: value.clone() for name, value in graph.checkpoint_tensors().items()}
    _train(graph)

    fresh = Graph(_model_fn(make))
    with fresh.build():
        fresh(FEATURES, LABELS, ModeKeys.TRAIN)
    fresh.restore_tensors(saved)
    _train(fresh)

    expected, actual = graph.checkpoint_tensors(), fresh.checkpoint_tensors()
    assert set(actual) == set(expected)
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0, msg=name)


def test_adam_first_step_moves_by_learning_rate():
    """Adam's first step is lr_t*m/(sqrt(v)+eps) with m = 0.1*g, sqrt(v) = sqrt(0.001)*|g|,
    lr_t = 0.1*sqrt(0.001)/0.1: exactly 0.1*sign(g) = 0.1 here -> w = [0.9, 1.9]."""
    graph = Graph(_model_fn(lambda _: AdamOptimizer(0.1)))
    _train(graph)
    assert _weights(graph) == pytest.approx([0.9, 1.9], abs=1e-6)
    tensors = graph.checkpoint_tensors()
    assert float(tensors["beta1_power"]) == pytest.approx(0.81)
    assert float(tensors["beta2_power"]) == pytest.approx(0.998001)


def test_adagrad_in_graph():
    """accum = 0.1 + 36 = 36.1; w -= 0.1*6/sqrt(36.1) = 0.0998613."""
    graph = Graph(_model_fn(lambda _: AdagradOptimizer(0.1)))
    _train(graph)
    assert _weights(graph) == pytest.approx([0.9001387, 1.9001387], abs=1e-6)
    assert graph.checkpoint_tensors()["w/Adagrad"].flatten().tolist() == pytest.approx([36.1, 36.1])


def test_apply_gradients_matches_minimize():
    by_minimize = Graph(_model_fn(lambda _: AdamOptimizer(0.1)))
    by_apply = Graph(_model_fn(lambda _: AdamOptimizer(0.1), use_apply_gradients=True))
    _train(by_minimize, 2)
    _train(by_apply, 2)
    assert _weights(by_apply) == pytest.approx(_weights(by_minimize), abs=1e-7)
    assert set(by_apply.checkpoint_tensors()) == set(by_minimize.checkpoint_tensors())


def test_decayed_learning_rate_follows_the_global_step():
    """lr = 0.1 * 0.5^step. Step 0: lr 0.1, grad 6 -> w = [0.4, 1.4].
    Step 1: lr 0.05, prediction 1.8, grad 3.6 -> w -= 0.18 -> [0.22, 1.22]."""
    graph = Graph(
        _model_fn(
            lambda step: GradientDescentOptimizer(exponential_decay(0.1, step, decay_steps=1, decay_rate=0.5))
        )
    )
    _train(graph)
    assert _weights(graph) == pytest.approx([0.4, 1.4])
    _train(graph)
    assert _weights(graph) == pytest.approx([0.22, 1.22])


def test_callable_learning_rate():
    graph = Graph(_model_fn(lambda _: GradientDescentOptimizer(lambda: 0.1)))
    _train(graph)
    assert _weights(graph) == pytest.approx([0.4, 1.4])


def test_clip_norm_keyword():
    """grad [6, 6] (norm 8.485) is clipped to norm 1: [0.70711, 0.70711]; lr 1 -> w = [0.29289, 1.29289]."""
    graph = Graph(_model_fn(lambda _: GradientDescentOptimizer(1.0, clip_norm=1.0)))
    _train(graph)
    assert _weights(graph) == pytest.approx([0.2928932, 1.2928932], abs=1e-6)


@pytest.mark.parametrize("use_apply_gradients", [False, True])
@pytest.mark.parametrize(
    ("scale", "clip_norm", "expected"),
    [
        (1.0, 1.0, [-0.6, -0.8]),  # gradient [3, 4], norm 5, clipped to norm 1
        (1e-4, 1e-4, [-6e-5, -8e-5]),  # TF's clip_norm / max(norm, clip_norm): no + 1e-6 in the norm
    ],
)
def test_clip_norm_is_tfs_global_norm_clipping_in_both_paths(use_apply_gradients, scale, clip_norm, expected):
    """TF 2.15's clip_by_global_norm then a GradientDescent step of 1 from w = [0, 0]."""

    def model_fn(features, labels, mode):
        w = get_variable("w", [2], initializer=initializers.zeros())
        loss = (w * torch.tensor([3.0, 4.0]) * scale).sum()
        optimizer = GradientDescentOptimizer(1.0, clip_norm=clip_norm)
        if use_apply_gradients:
            op = optimizer.apply_gradients(optimizer.compute_gradients(loss))
        else:
            op = optimizer.minimize(loss)
        return EstimatorSpec(mode, loss=loss, train_op=op)

    graph = Graph(model_fn)
    _train(graph)
    assert _weights(graph) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "make", [lambda: AdamOptimizer(0.1), lambda: MomentumOptimizer(0.1, 0.9), lambda: RMSPropOptimizer(0.1)]
)
def test_a_single_looked_up_row_of_width_one_is_updated(make):
    """One id into a [2, 1] table through a sparse embedding gradient: torch 2.13's to_dense of that
    gradient is all zeros, which silently skipped the update. TF 2.15 moves row 0 by 0.1 with each
    (RMSProp's mean square starts at ones: 0.9 + 0.1 * 1 = 1) and leaves row 1."""

    def model_fn(features, labels, mode):
        table = get_variable("table", [2, 1], initializer=initializers.constant([[1.0], [2.0]]))
        loss = torch.nn.functional.embedding(features, table, sparse=True).sum()
        return EstimatorSpec(mode, loss=loss, train_op=make().minimize(loss))

    graph = Graph(model_fn)
    graph(torch.tensor([0]), None, ModeKeys.TRAIN).train_op.run()
    row0, row1 = graph.state_dict()["table"].flatten().tolist()
    assert row0 == pytest.approx(0.9, abs=1e-6)
    assert row1 == 2.0


def test_custom_name_prefixes_slots():
    graph = Graph(_model_fn(lambda _: AdagradOptimizer(0.1, name="MyAdagrad")))
    _train(graph)
    assert "w/MyAdagrad" in graph.checkpoint_tensors()


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (
            GradientDescentOptimizer,
            "(learning_rate, use_locking=False, name='GradientDescent', *, clip_norm=None)",
        ),
        (
            MomentumOptimizer,
            "(learning_rate, momentum, use_locking=False, name='Momentum', use_nesterov=False, "
            "*, clip_norm=None)",
        ),
        (
            AdamOptimizer,
            "(learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-08, use_locking=False, name='Adam', "
            "*, clip_norm=None)",
        ),
        (
            AdagradOptimizer,
            "(learning_rate, initial_accumulator_value=0.1, use_locking=False, name='Adagrad', "
            "*, clip_norm=None)",
        ),
        (
            RMSPropOptimizer,
            "(learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10, use_locking=False, centered=False, "
            "name='RMSProp', *, clip_norm=None, keras=False)",
        ),
        (
            FtrlOptimizer,
            "(learning_rate, learning_rate_power=-0.5, initial_accumulator_value=0.1, "
            "l1_regularization_strength=0.0, l2_regularization_strength=0.0, use_locking=False, name='Ftrl', "
            "accum_name=None, linear_name=None, l2_shrinkage_regularization_strength=0.0, beta=None, *, "
            "clip_norm=None)",
        ),
        (
            AdamWOptimizer,
            "(weight_decay, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-08, use_locking=False, "
            "name='AdamW', *, clip_norm=None)",
        ),
    ],
)
def test_tf_signatures_and_defaults(cls, expected):
    parameters = inspect.signature(cls).parameters.values()
    unannotated = inspect.Signature([p.replace(annotation=inspect.Parameter.empty) for p in parameters])
    assert str(unannotated) == expected


def test_constructors_validate_numbers_only_and_allocate_nothing():
    """Built outside any Graph (no state is made); only plain numbers are checked, schedules pass."""
    assert AdamOptimizer(lambda: 0.1).hyperparameters["lr"]() == 0.1
    assert AdamOptimizer(torch.tensor(0.1)).name == "Adam"
    assert FtrlOptimizer(0.1).hyperparameters["beta"] == 0.0
    with pytest.raises(ValueError, match=r"learning_rate -0\.1 must be >= 0"):
        AdamOptimizer(-0.1)
    with pytest.raises(ValueError, match=r"learning_rate_power 0\.5 needs to be negative or zero"):
        FtrlOptimizer(0.1, learning_rate_power=0.5)
    with pytest.raises(ValueError, match=r"initial_accumulator_value 0\.0 must be positive"):
        AdagradOptimizer(0.1, initial_accumulator_value=0.0)


def test_empty_name_is_rejected_as_in_tf():
    with pytest.raises(ValueError, match="Must specify the optimizer name"):
        AdamOptimizer(0.1, name="")


def test_keras_rmsprop_starts_from_zero_and_adds_epsilon_after_the_root():
    """tf.keras.optimizers.legacy.RMSprop, w = 1, g = 1, lr 0.1, rho 0.9, epsilon 1e-7: ms = 0.1 * 1
    (from zeros), w = 1 - 0.1 / (sqrt(0.1) + 1e-7) = 0.6837723. TF1's rule starts ms at ones:
    ms = 0.9 + 0.1 = 1, w = 1 - 0.1 / sqrt(1 + 1e-7) = 0.9. The canned estimators' 'RMSProp' is
    Keras' (TF2 builds the Keras optimizer for the name)."""
    for keras, expected in ((True, 1 - 0.1 / (0.1**0.5 + 1e-7)), (False, 1 - 0.1 / (1 + 1e-7) ** 0.5)):
        w = torch.nn.Parameter(torch.tensor([1.0]))
        w.grad = torch.tensor([1.0])
        update_rules.RMSProp([w], lr=0.1, epsilon=1e-7, keras=keras).step()
        assert w.item() == pytest.approx(expected, rel=1e-6)
    canned = get_optimizer_instance("RMSProp")
    assert canned.hyperparameters["keras"] is True
    assert canned.hyperparameters["epsilon"] == 1e-7


def test_rmsprop_centered_slot_names():
    """TF 2.15's get_slot_names: the slot keys, sorted."""
    assert RMSPropOptimizer(0.1, centered=True).get_slot_names() == ["mg", "momentum", "rms"]
    assert RMSPropOptimizer(0.1).get_slot_names() == ["momentum", "rms"]


def test_slots_by_tf_name_after_the_first_step():
    """Adam's slots after one step on gradient [6, 6], as TF 2.15 reads them: ``m`` (1 - 0.9) * 6 and
    ``v`` (1 - 0.999) * 36, with 1 - 0.9 and 1 - 0.999 worked out in float32 as TF's kernel does."""
    made = []

    def make(_):
        made.append(AdamOptimizer(0.1))
        return made[-1]

    graph = Graph(_model_fn(make))
    graph(FEATURES, LABELS, ModeKeys.TRAIN)  # the call made the state; no step yet: no slot
    w = graph.state_dict(keep_vars=True)["w"]
    assert made[-1].get_slot(w, "m") is None
    _train(graph)
    optimizer = made[-1]
    assert optimizer.get_slot(w, "m").flatten().tolist() == [0.6000001430511475] * 2
    assert optimizer.get_slot(w, "v").flatten().tolist() == [0.03599953651428223] * 2
    assert optimizer.get_slot(torch.zeros(1), "m") is None
    assert GradientDescentOptimizer(0.1).get_slot(w, "m") is None


@pytest.mark.parametrize("use_apply_gradients", [False, True])
def test_tf_gradient_arguments_and_grad_loss(use_apply_gradients):
    """TF's minimize/compute_gradients arguments are taken; grad_loss 0.5 halves the gradient [6, 6]:
    SGD at 0.1 moves w = [1, 2] by 0.3."""

    def model_fn(features, labels, mode):
        w = get_variable("w", [2, 1], initializer=initializers.constant([[1.0], [2.0]]))
        loss = ((features @ w - labels) ** 2).mean()
        global_step = get_or_create_global_step()
        optimizer = GradientDescentOptimizer(0.1)
        half = torch.tensor(0.5)
        if use_apply_gradients:
            grads = optimizer.compute_gradients(
                loss, None, gate_gradients=0, aggregation_method=None, colocate_gradients_with_ops=True,
                grad_loss=half,
            )  # fmt: skip
            op = optimizer.apply_gradients(grads, global_step, None, skip_gradients_aggregation=True)
        else:
            op = optimizer.minimize(
                loss, global_step, None, 0, None, True, "train", half
            )  # TF's positional order
        return EstimatorSpec(mode, loss=loss, train_op=op)

    graph = Graph(model_fn)
    graph(FEATURES, LABELS, ModeKeys.TRAIN)  # the build pass
    _train(graph)
    assert _weights(graph) == pytest.approx([0.7, 1.7])
