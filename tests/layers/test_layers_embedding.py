"""te.layers.embedding_lookup (tf.nn.embedding_lookup semantics) and the embedding layer."""

from __future__ import annotations

import pytest
import torch

from torch_estimator.contract import EstimatorSpec, ModeKeys
from torch_estimator.graph import Graph, variable_scope
from torch_estimator.graph import initializers as init
from torch_estimator.layers import embedding, embedding_lookup

TABLE = torch.arange(10.0).reshape(5, 2)  # row i = [2i, 2i + 1]


def test_lookup_rows_by_id_any_ids_shape():
    ids = torch.tensor([[4, 0], [1, 1]])
    out = embedding_lookup(TABLE, ids)
    assert out.shape == (2, 2, 2)
    assert out.tolist() == [[[8, 9], [0, 1]], [[2, 3], [2, 3]]]
    assert embedding_lookup(TABLE, [3]).tolist() == [[6, 7]]


def test_lookup_table_of_rank_3():
    table = torch.arange(12.0).reshape(3, 2, 2)
    assert embedding_lookup(table, torch.tensor([2, 0])).tolist() == [table[2].tolist(), table[0].tolist()]


def test_lookup_max_norm_clips_results_not_params():
    """Row [3, 4] has norm 5: with max_norm 1 it becomes [0.6, 0.8]; row [0.3, 0.4] (norm 0.5) stays."""
    params = torch.tensor([[3.0, 4.0], [0.3, 0.4]], requires_grad=True)
    out = embedding_lookup(params, torch.tensor([0, 1]), max_norm=1.0)
    assert torch.allclose(out, torch.tensor([[0.6, 0.8], [0.3, 0.4]]))
    assert torch.equal(params.detach(), torch.tensor([[3.0, 4.0], [0.3, 0.4]]))
    out.sum().backward()
    assert params.grad is not None and torch.isfinite(params.grad).all()


def test_lookup_gradient_counts_repeated_ids():
    params = TABLE.clone().requires_grad_()
    embedding_lookup(params, torch.tensor([1, 1, 3])).sum().backward()
    assert params.grad[:, 0].tolist() == [0, 2, 0, 1, 0]


def test_lookup_sharded_params_mod_and_div():
    """5 rows over 2 shards. mod: shard 0 holds ids 0, 2, 4 and shard 1 ids 1, 3.
    div: shard 0 holds ids 0-2 and shard 1 ids 3-4."""
    ids = torch.tensor([0, 1, 2, 3, 4, 3])
    mod_shards = [TABLE[0::2], TABLE[1::2]]
    assert torch.equal(embedding_lookup(mod_shards, ids), TABLE[ids])
    div_shards = [TABLE[:3], TABLE[3:]]
    assert torch.equal(embedding_lookup(div_shards, ids, partition_strategy="div"), TABLE[ids])
    assert torch.equal(embedding_lookup([TABLE], ids), TABLE[ids])
    with pytest.raises(ValueError, match="partition_strategy must be 'mod' or 'div'"):
        embedding_lookup(mod_shards, ids, partition_strategy="range")
    with pytest.raises(ValueError, match="non-empty list of shards"):
        embedding_lookup([], ids)


def predict_graph(body):
    return Graph(lambda features, mode: EstimatorSpec(mode, predictions=body(features)))


def test_embedding_layer_names_shapes_and_default_init():
    def body(ids):
        with variable_scope("words"):
            a = embedding(ids, vocab_size=100, dimension=8)
        b = embedding(ids, 7, 3, initializer=init.ones(), name="tags")
        c = embedding(ids, 10, 3)
        return a.sum(-1) + b.sum(-1) + c.sum(-1)

    graph = predict_graph(body)
    graph(torch.tensor([[1, 2]]), None, ModeKeys.PREDICT)
    assert {name: tuple(value.shape) for name, value in graph.state_dict().items()} == {
        "words/embedding/embeddings": (100, 8),
        "tags/embeddings": (7, 3),
        "embedding/embeddings": (10, 3),
    }
    table = graph.find_variable("words/embedding/embeddings")
    assert table.abs().max() <= 0.05 and table.std() > 0.01  # Keras' uniform(-0.05, 0.05)
    assert graph.find_variable("tags/embeddings").detach().eq(1).all()


def test_embedding_layer_reads_its_table():
    graph = predict_graph(lambda ids: embedding(ids, 4, 2))
    graph(torch.tensor([0]), None, ModeKeys.PREDICT)
    with torch.no_grad():
        graph.find_variable("embedding/embeddings").copy_(torch.arange(8.0).reshape(4, 2))
    assert graph(torch.tensor([3, 1]), None, ModeKeys.PREDICT).predictions.tolist() == [[6, 7], [2, 3]]
    with pytest.raises(ValueError, match="`dimension` must be a positive integer"):
        predict_graph(lambda ids: embedding(ids, 4, 0))(torch.tensor([0]), None, ModeKeys.PREDICT)
