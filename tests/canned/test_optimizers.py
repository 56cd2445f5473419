"""The canned estimators' ``optimizer`` argument: names with their learning rates, instances, callables."""

from __future__ import annotations

import pytest
import torch

import torch_estimator as te
from torch_estimator.canned.optimizers import check_optimizer, get_optimizer_instance


@pytest.mark.parametrize(
    ("name", "optimizer_class", "slots"),
    [
        ("Adagrad", te.train.AdagradOptimizer, ["accumulator"]),
        ("Adam", te.train.AdamOptimizer, ["m", "v"]),
        ("Ftrl", te.train.FtrlOptimizer, ["accum", "linear"]),
        ("RMSProp", te.train.RMSPropOptimizer, ["momentum", "rms"]),
        ("SGD", te.train.GradientDescentOptimizer, []),
    ],
)
def test_each_name_gives_its_te_train_optimizer_at_the_given_rate(name, optimizer_class, slots):
    optimizer = get_optimizer_instance(name, learning_rate=0.25)
    assert type(optimizer) is optimizer_class
    assert optimizer.hyperparameters["lr"] == 0.25
    assert optimizer.get_slot_names() == slots


@pytest.mark.parametrize(
    ("name", "rate"),
    [("Adagrad", 0.001), ("Adam", 0.001), ("Ftrl", 0.001), ("RMSProp", 0.001), ("SGD", 0.01)],
)
def test_a_name_without_a_rate_gets_the_keras_default(name, rate):
    """TF2's canned DNN builds the Keras optimizer with its own default learning rate."""
    assert get_optimizer_instance(name).hyperparameters["lr"] == rate


def test_an_instance_is_used_as_given():
    optimizer = te.train.AdamOptimizer(0.5)
    assert get_optimizer_instance(optimizer, learning_rate=0.1) is optimizer


def test_a_callable_is_called_and_its_rate_kept():
    optimizer = get_optimizer_instance(lambda: te.train.FtrlOptimizer(0.7), learning_rate=0.1)
    assert isinstance(optimizer, te.train.FtrlOptimizer)
    assert optimizer.hyperparameters["lr"] == 0.7


def test_an_unknown_name_is_rejected_with_tf_phrase():
    with pytest.raises(ValueError, match="Unsupported optimizer name: Adadelta"):
        check_optimizer("Adadelta")
    with pytest.raises(ValueError, match="Unsupported optimizer name"):
        get_optimizer_instance("adagrad")


@pytest.mark.parametrize("given", [3, None])
def test_neither_name_nor_optimizer_nor_callable_is_rejected(given):
    with pytest.raises(ValueError, match="must be an optimizer name"):
        check_optimizer(given)


def test_a_callable_returning_something_else_is_rejected():
    with pytest.raises(ValueError, match=r"not a te\.train\.Optimizer instance"):
        get_optimizer_instance(lambda: "Adagrad")


def test_a_wrapped_torch_optimizer_is_accepted():
    optimizer = te.train.Optimizer(torch.optim.SGD, lr=0.1)
    assert get_optimizer_instance(optimizer) is optimizer
