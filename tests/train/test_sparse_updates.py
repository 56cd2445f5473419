"""Row-sparse gradients: the rules that take them give exactly their dense update."""

import math

import pytest
import torch

from torch_estimator.train.update_rules import Adagrad, Adam, Ftrl, GradientDescent, Momentum, RMSProp

# A 4 x 2 table; the gradient touches rows 0 and 2 (row 2 twice: the duplicates add up).
ROWS = torch.tensor([2, 0, 2])
VALUES = torch.tensor([[0.5, -1.0], [2.0, 0.25], [0.5, 1.0]])
DENSE = torch.tensor([[2.0, 0.25], [0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])


def _sparse_grad() -> torch.Tensor:
    return torch.sparse_coo_tensor(ROWS.unsqueeze(0), VALUES, (4, 2), check_invariants=True)


def _table(values=None) -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.arange(8.0).reshape(4, 2) / 10 if values is None else values.clone())


def _train(rule_class, sparse: bool, steps: int = 3, table=None, **hyperparameters):
    table = _table(table)
    rule = rule_class([table], **hyperparameters)
    for _ in range(steps):
        table.grad = _sparse_grad() if sparse else DENSE.clone()
        rule.step()
    return table.detach(), rule.state[table]


@pytest.mark.parametrize(
    ("rule_class", "hyperparameters"),
    [
        (GradientDescent, {"lr": 0.1}),
        (Adagrad, {"lr": 0.1}),
        (Ftrl, {"lr": 0.1}),
        (Ftrl, {"lr": 0.5, "l1": 0.3, "l2": 0.2, "beta": 0.1, "learning_rate_power": -0.7}),
    ],
)
def test_sparse_update_equals_dense(rule_class, hyperparameters):
    """Rows 1 and 3 get no gradient: SGD and Adagrad leave them (var - lr * 0), Ftrl leaves them
    at the proximal point of their unchanged accum/linear (0 for a zero table)."""
    table = torch.zeros(4, 2) if rule_class is Ftrl else None
    dense, dense_state = _train(rule_class, False, table=table, **hyperparameters)
    sparse, sparse_state = _train(rule_class, True, table=table, **hyperparameters)
    assert rule_class.accepts_sparse_gradients
    torch.testing.assert_close(sparse, dense, rtol=0, atol=0)
    for key, slot in dense_state.items():
        torch.testing.assert_close(sparse_state[key], slot, rtol=0, atol=0)


def test_sparse_gradient_descent_by_hand():
    """Row 2 gets 0.5 + 0.5 = 1.0 and -1 + 1 = 0: [0.4, 0.5] - 0.1 * [1, 0] = [0.3, 0.5]; row 0:
    [0, 0.1] - 0.1 * [2, 0.25] = [-0.2, 0.075]; rows 1, 3 stay."""
    table, _ = _train(GradientDescent, True, steps=1, lr=0.1)
    expected = torch.tensor([[-0.2, 0.075], [0.2, 0.3], [0.3, 0.5], [0.6, 0.7]])
    torch.testing.assert_close(table, expected)


def test_sparse_adagrad_by_hand():
    """Row 0: accum = 0.1 + [4, 0.0625]; var = [0, 0.1] - 0.1 * [2 / sqrt(4.1), 0.25 / sqrt(0.1625)]."""
    table, state = _train(Adagrad, True, steps=1, lr=0.1)
    torch.testing.assert_close(state["accumulator"][0], torch.tensor([4.1, 0.1625]))
    torch.testing.assert_close(state["accumulator"][1], torch.tensor([0.1, 0.1]))
    expected = [-0.2 / math.sqrt(4.1), 0.1 - 0.025 / math.sqrt(0.1625)]
    torch.testing.assert_close(table[0], torch.tensor(expected))
    torch.testing.assert_close(table[1], torch.tensor([0.2, 0.3]))


def test_sparse_ftrl_leaves_untouched_rows_where_dense_moves_them():
    """A nonzero table: dense Ftrl with g = 0 resets a row to its proximal point (0 here, as linear
    is 0); TF's SparseApplyFtrl, like ours, leaves rows without a gradient alone."""
    sparse, _ = _train(Ftrl, True, steps=1, lr=0.1)
    dense, _ = _train(Ftrl, False, steps=1, lr=0.1)
    torch.testing.assert_close(sparse[1], torch.tensor([0.2, 0.3]))
    torch.testing.assert_close(dense[1], torch.tensor([0.0, 0.0]))
    torch.testing.assert_close(sparse[[0, 2]], dense[[0, 2]], rtol=0, atol=0)


@pytest.mark.parametrize(
    ("rule_class", "hyperparameters"),
    [(Momentum, {"lr": 0.1, "momentum": 0.9}), (Adam, {"lr": 0.1}), (RMSProp, {"lr": 0.1, "momentum": 0.5})],
)
def test_lazy_rules_densify_sparse_gradients(rule_class, hyperparameters):
    """TF's sparse Momentum/RMSProp update only touched rows; the dense rule is kept: equal to dense."""
    assert not rule_class.accepts_sparse_gradients
    dense, _ = _train(rule_class, False, **hyperparameters)
    sparse, _ = _train(rule_class, True, **hyperparameters)
    torch.testing.assert_close(sparse, dense, rtol=0, atol=0)
