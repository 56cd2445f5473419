"""FusedRows: variables kept as row blocks of one storage, and the optimizers that apply its gradient.

Two tables a [2, 1] (values 1, 2) and b [3, 1] (values 3, 4, 5) fuse into a [5, 1] storage with
offsets 0 and 2: b's row 1 is storage row 3. A lookup of storage rows [3, 0, 3] sends a gradient of
1 to each: b's row 1 gets 2, a's row 0 gets 1.
"""

from __future__ import annotations

import pytest
import torch

import torch_estimator as te
from torch_estimator.train.fused_rows import FusedRows, FusedRowsRegistry
from torch_estimator.train.optimizer import FusedTables, MinimizeStep
from torch_estimator.train.update_rules import Adagrad, Ftrl, GradientDescent, Momentum


def _members() -> list[torch.nn.Parameter]:
    return [
        torch.nn.Parameter(torch.tensor([[1.0], [2.0]])),
        torch.nn.Parameter(torch.tensor([[3.0], [4.0], [5.0]])),
    ]


def _loss(storage: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.embedding(torch.tensor([3, 0, 3]), storage, sparse=True).sum()


def _per_table_loss(members: list[torch.nn.Parameter]) -> torch.Tensor:
    a, b = members
    rows_b = torch.nn.functional.embedding(torch.tensor([1, 1]), b, sparse=True)
    return rows_b.sum() + torch.nn.functional.embedding(torch.tensor([0]), a, sparse=True).sum()


def test_members_become_views_of_their_blocks():
    a, b = _members()
    fused = FusedRows(("a", "b"), [a, b])
    assert fused.offsets == [0, 2] and fused.offset_tensor.tolist() == [0, 2]
    assert fused.storage.flatten().tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    with torch.no_grad():
        b[1, 0] = 9.0
    assert fused.storage[3, 0] == 9.0
    assert isinstance(b, torch.nn.Parameter) and b.shape == (3, 1)


def test_a_replaced_member_is_noticed_and_the_storage_rebuilt():
    registry = FusedRowsRegistry()
    members = _members()
    fused = registry.get("k", ("a", "b"), members)
    members[0].data = torch.tensor([[7.0], [8.0]])  # a device move or an assigning restore does this
    assert not fused.current(members)
    assert registry.get("k", ("a", "b"), members) is fused
    assert fused.current(members)
    assert fused.storage.flatten().tolist() == [7.0, 8.0, 3.0, 4.0, 5.0]
    assert registry.generation == 1


def test_split_gradient_gives_each_member_its_own_entries():
    """b gets rows [1, 1] (storage 3 - offset 2), a gets row [0]: the per-table gradients."""
    members = _members()
    fused = FusedRows(("a", "b"), members)
    _loss(fused.storage).backward()
    fused.split_gradient()
    assert fused.storage.grad is None
    a, b = members
    assert b.grad._indices().tolist() == [[1, 1]] and b.grad._values().flatten().tolist() == [1.0, 1.0]
    assert a.grad.to_dense().flatten().tolist() == [1.0, 0.0]


@pytest.mark.parametrize(
    ("rule_class", "hyperparameters"),
    [(GradientDescent, {"lr": 0.1}), (Adagrad, {"lr": 0.1}), (Ftrl, {"lr": 0.1, "l1": 0.01})],
)
def test_one_update_of_the_storage_equals_per_table_updates(rule_class, hyperparameters):
    """Three steps through the storage give bit for bit the variables and slots of per-table steps."""
    reference = _members()
    rule = rule_class(reference, **hyperparameters)
    for _ in range(3):
        for member in reference:
            member.grad = None
        _per_table_loss(reference).backward()
        rule.update()

    members = _members()
    fused = FusedRows(("a", "b"), members)
    fused_rule = rule_class(members, **hyperparameters)
    for _ in range(3):
        fused.storage.grad = None
        _loss(fused.storage).backward()
        fused_rule.update([(fused, fused_rule.param_groups[0])])

    for mine, theirs in zip(members, reference, strict=True):
        torch.testing.assert_close(mine.detach(), theirs.detach(), rtol=0, atol=0)
        assert sorted(fused_rule.state[mine]) == sorted(rule.state[theirs])
        for key, slot in rule.state[theirs].items():
            torch.testing.assert_close(fused_rule.state[mine][key], slot, rtol=0, atol=0)


def test_a_restored_slot_is_copied_into_the_fused_slot():
    """A restore replaces member b's accumulator: the next update starts from it (0.1 + 1 -> 4 + 1)."""
    members = _members()
    fused = FusedRows(("a", "b"), members)
    rule = Adagrad(members, lr=0.1)
    _loss(fused.storage).backward()
    rule.update([(fused, rule.param_groups[0])])
    rule.state[members[1]]["accumulator"] = torch.full((3, 1), 4.0)
    fused.storage.grad = None
    _loss(fused.storage).backward()
    rule.update([(fused, rule.param_groups[0])])
    assert rule.state[members[1]]["accumulator"].flatten().tolist() == [4.0, 8.0, 4.0]
    assert rule.state[members[0]]["accumulator"].flatten().tolist() == pytest.approx([2.1, 0.1])


def test_minimize_splits_the_gradient_for_a_rule_without_sparse_updates():
    """Momentum densifies: the split, densified gradients give the per-table dense update."""
    members = _members()
    fused = FusedRows(("a", "b"), members)
    rule = Momentum(members, lr=0.1, momentum=0.5)
    step = MinimizeStep(_loss(fused.storage), rule, members, fused=FusedTables([], [fused]))
    step()
    assert fused.storage.grad is None
    values = torch.cat([member.detach().flatten() for member in members]).tolist()
    assert values == pytest.approx([0.9, 2.0, 3.0, 3.8, 5.0])


def test_compute_gradients_hands_each_variable_its_block():
    """A model_fn that reads the storage still gets per-variable gradients from compute_gradients."""
    seen = {}

    def model_fn(features, mode):
        a = te.get_variable("a", initializer=torch.tensor([[1.0], [2.0]]))
        b = te.get_variable("b", initializer=torch.tensor([[3.0], [4.0], [5.0]]))
        graph = te.graph.require_graph("test")
        from torch_estimator.train.fused_rows import fused_rows_registry

        storage = fused_rows_registry(graph).get("k", ("a", "b"), [a, b]).storage
        loss = _loss(storage)
        optimizer = te.train.GradientDescentOptimizer(0.5)
        pairs = optimizer.compute_gradients(loss, [a, b])
        seen["grads"] = [grad.to_dense().flatten().tolist() for grad, _ in pairs]
        train_op = optimizer.apply_gradients(pairs)
        return te.EstimatorSpec(mode, loss=loss, train_op=train_op)

    graph = te.Graph(model_fn)
    graph(None, None, te.ModeKeys.TRAIN).train_op.run()
    assert seen["grads"] == [[1.0, 0.0], [0.0, 2.0, 0.0]]
    assert graph.state_dict()["b"].flatten().tolist() == [3.0, 3.0, 5.0]
