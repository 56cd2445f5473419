"""Fused lookups: ``fused_input_layer`` / ``fused_linear_model`` give input_layer's / linear_model's
variables and outputs bit for bit, reading every fusable table through one storage.

The columns mix what fuses (single- and multivalent ids, weighted ids, two embedding dimensions)
with what does not (numeric columns, an embedding with ``max_norm``), in an order where the fused
columns do not form one run.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_estimator as te
from torch_estimator.feature_column.fused_lookup import fused_lookups_apply
from torch_estimator.feature_column.input_layer import fused_input_layer
from torch_estimator.feature_column.linear_model import fused_linear_model
from torch_estimator.train.fused_rows import fused_rows_registry

fc = te.feature_column
CITY = fc.categorical_column_with_hash_bucket("city", 7)
DAY = fc.categorical_column_with_identity("day", 5)
TAGS = fc.categorical_column_with_vocabulary_list("tags", ["a", "b", "c"])
WEIGHTED = fc.weighted_categorical_column(fc.categorical_column_with_identity("item", 4), "item_weight")
AGE = fc.numeric_column("age")
DNN_COLUMNS = [
    AGE,
    fc.embedding_column(CITY, 3),
    fc.embedding_column(DAY, 3, combiner="sum"),
    fc.embedding_column(TAGS, 2),
    fc.embedding_column(WEIGHTED, 2, combiner="sqrtn"),
    fc.embedding_column(fc.categorical_column_with_identity("zone", 3), 3, max_norm=0.5),
    fc.numeric_column("height"),
]
LINEAR_COLUMNS = [AGE, CITY, DAY, TAGS, WEIGHTED, fc.numeric_column("height")]


def _features(seed: int, multivalent: bool = True) -> dict:
    rs = np.random.RandomState(seed)
    tags = [["a", "c"], ["b"], [], ["c", "c"]] if multivalent else [["a"], ["b"], ["c"], ["a"]]
    return {
        "age": torch.tensor(rs.uniform(size=(4, 1)), dtype=torch.float32),
        "height": torch.tensor(rs.uniform(size=(4, 1)), dtype=torch.float32),
        "city": np.array([["paris"], ["rome"], ["oslo"], ["paris"]]),
        "day": torch.tensor(rs.randint(0, 5, size=(4, 1))),
        "tags": tags,
        "item": torch.tensor([[1], [3], [0], [1]]),
        "item_weight": torch.tensor([[0.5], [2.0], [1.0], [1.0]]),
        "zone": torch.tensor([[0], [2], [1], [1]]),
    }


def _graph(layer):
    """A Graph whose TRAIN call records ``te.train``'s gradient of every variable, by name."""

    def model_fn(features, mode):
        output = layer(features)
        loss = output.square().sum()
        graph = te.graph.require_graph("test")
        optimizer = te.train.GradientDescentOptimizer(0.1)
        pairs = optimizer.compute_gradients(loss, list(graph.parameters()))
        names = {id(value): name for name, value in graph.named_parameters()}
        graph.objects["test/gradients"] = {names[id(variable)]: grad for grad, variable in pairs}
        return te.EstimatorSpec(
            mode, loss=loss, predictions=output, train_op=optimizer.apply_gradients(pairs)
        )

    return te.Graph(model_fn)


def _twins(fused_layer, plain_layer):
    """A Graph reading through the fused layer and one through the plain layer, same variables."""
    fused, plain = _graph(fused_layer), _graph(plain_layer)
    features = _features(0)
    fused(features, None, te.ModeKeys.PREDICT)
    plain(features, None, te.ModeKeys.PREDICT)
    plain.load_state_dict(fused.state_dict())
    return fused, plain


LAYERS = {
    "input_layer": (
        lambda features: fused_input_layer(features, DNN_COLUMNS),
        lambda features: fc.input_layer(features, DNN_COLUMNS),
    ),
    "linear_model": (
        lambda features: fused_linear_model(features, LINEAR_COLUMNS, 2, "sqrtn"),
        lambda features: fc.linear_model(features, LINEAR_COLUMNS, units=2, sparse_combiner="sqrtn"),
    ),
}


@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("multivalent", [True, False])
def test_outputs_and_gradients_equal_the_plain_layer(layer, multivalent):
    """Forward values, and each variable's gradient (the storage's split back), bit for bit."""
    fused, plain = _twins(*LAYERS[layer])
    assert sorted(fused.state_dict()) == sorted(plain.state_dict())
    for seed in (1, 2):
        features = _features(seed, multivalent)
        fused_spec = fused(features, None, te.ModeKeys.TRAIN)
        plain_spec = plain(features, None, te.ModeKeys.TRAIN)
        torch.testing.assert_close(fused_spec.predictions, plain_spec.predictions, rtol=0, atol=0)
        expected = plain.objects["test/gradients"]
        for name, grad in fused.objects["test/gradients"].items():
            torch.testing.assert_close(grad.to_dense(), expected[name].to_dense(), rtol=0, atol=0)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_the_second_call_reads_one_storage_per_width(layer):
    """The first call creates the tables one by one; then they are fused: a lookup's gradient lands
    on the storage, and every table is a view of it under its own name and shape."""
    body = LAYERS[layer][0]
    fused = te.Graph(lambda features, mode: te.EstimatorSpec(mode, loss=body(features).square().sum()))
    fused(_features(0), None, te.ModeKeys.EVAL)
    tables = fused_rows_registry(fused).tables
    widths = {table.storage.shape[1]: len(table.members) for table in tables.values()}
    assert widths == ({3: 2, 2: 2} if layer == "input_layer" else {2: 4})
    spec = fused(_features(1), None, te.ModeKeys.EVAL)
    spec.loss.backward()
    for table in tables.values():
        assert table.storage.grad is not None and table.storage.grad.is_sparse
        assert all(member.grad is None for member in table.members)
        for name, member in zip(table.names, table.members, strict=True):
            assert fused.find_variable(name) is member
            assert member.untyped_storage().data_ptr() == table.storage.untyped_storage().data_ptr()


def test_batch_size_mismatch_still_names_the_columns():
    layer = _graph(LAYERS["input_layer"][0])
    layer(_features(0), None, te.ModeKeys.PREDICT)
    features = _features(1)
    features["day"] = torch.tensor([[1], [2]])
    with pytest.raises(ValueError, match="Batch size \\(first dimension\\) of each feature must be same"):
        layer(features, None, te.ModeKeys.PREDICT)


def test_no_fusion_while_tracing(monkeypatch):
    """torch.compile / export and process groups keep per-table lookups."""
    assert fused_lookups_apply()
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    assert not fused_lookups_apply()
