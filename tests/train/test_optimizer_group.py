"""te.train.group of minimize ops on one loss: one backward through .grad feeds every optimizer."""

import pytest
import torch

import torch_estimator as te


def _model_fn(calls):
    def model_fn(features, labels, mode):
        a = te.get_variable("a", initializer=torch.tensor([1.0]))
        b = te.get_variable("b", initializer=torch.tensor([2.0]))
        loss = (a * b * features).sum()
        for variable in (a, b):
            # Runs where DDP's reducer runs: when autograd accumulates into .grad.
            variable.register_post_accumulate_grad_hook(lambda param: calls.append(param.grad.item()))
        first = te.train.GradientDescentOptimizer(0.1).minimize(
            loss, global_step=te.train.get_or_create_global_step(), var_list=[a]
        )
        second = te.train.GradientDescentOptimizer(0.5, name="second").minimize(loss, var_list=[b])
        return te.EstimatorSpec(mode, loss=loss, train_op=te.train.group(first, second))

    return model_fn


def test_group_of_minimizes_shares_one_backward():
    """loss = a * b * 3: d/da = 6, d/db = 3 from one backward; a = 1 - 0.1 * 6, b = 2 - 0.5 * 3."""
    calls = []
    graph = te.Graph(_model_fn(calls))
    spec = graph(torch.tensor([3.0]), None, te.ModeKeys.TRAIN)
    calls.clear()
    spec.train_op.run()
    assert sorted(calls) == [3.0, 6.0]  # each variable's .grad accumulated once
    state = graph.state_dict()
    assert state["a"].item() == pytest.approx(0.4)
    assert state["b"].tolist() == [0.5]
    assert int(state["global_step"]) == 1
