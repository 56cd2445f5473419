"""embedding_column, shared_embeddings and indicator_column: hand-derived values and errors."""

from __future__ import annotations

import math

import pytest
import torch

from torch_estimator import feature_column as fc
from torch_estimator.checkpoint.format import write_checkpoint
from torch_estimator.graph import initializers

TABLE = [[1.0, 0.0], [0.0, 2.0], [4.0, 4.0]]
VARIABLE = "input_layer/d_embedding/embedding_weights"


def embed(run, column, features):
    runner = run(lambda f: fc.input_layer(f, [column]))
    runner(features)
    runner.set(VARIABLE, TABLE)
    return runner(features)


@pytest.mark.parametrize(
    ("combiner", "expected"),
    [
        # rows r0=[1,0], r1=[0,2], r2=[4,4]; example 0 has ids {0, 1}, example 1 has {2}, example 2 none.
        ("sum", [[1.0, 2.0], [4.0, 4.0], [0.0, 0.0]]),  # r0 + r1
        ("mean", [[0.5, 1.0], [4.0, 4.0], [0.0, 0.0]]),  # (r0 + r1) / 2
        ("sqrtn", [[1 / math.sqrt(2), 2 / math.sqrt(2)], [4.0, 4.0], [0.0, 0.0]]),  # (r0 + r1) / sqrt(2)
    ],
)
def test_combiners(run, combiner, expected):
    column = fc.embedding_column(fc.categorical_column_with_identity("d", 3), 2, combiner=combiner)
    out = embed(run, column, {"d": torch.tensor([[0, 1], [2, -1], [-1, -1]])})
    assert torch.allclose(out, torch.tensor(expected))


def test_combiner_none_is_mean(run):
    """TF 2.15's embedding lookups read combiner=None as mean: ids {0, 1} give (r0 + r1) / 2."""
    column = fc.embedding_column(fc.categorical_column_with_identity("d", 3), 2, combiner=None)
    out = embed(run, column, {"d": torch.tensor([[0, 1], [2, -1]])})
    assert torch.allclose(out, torch.tensor([[0.5, 1.0], [4.0, 4.0]]))
    shared = fc.shared_embeddings([fc.categorical_column_with_identity("d", 3)], 2, combiner=None)
    assert shared[0].shared.combiner == "mean"


@pytest.mark.parametrize(
    ("combiner", "scale"),
    [("sum", 1.0), ("mean", 1 / 3), ("sqrtn", 1 / math.sqrt(5))],
)
def test_weighted_combiners(run, combiner, scale):
    """ids [0, 1] with weights [2, 1]: sum = 2 r0 + r1 = [2, 2]; mean divides by 3; sqrtn by sqrt(4 + 1)."""
    weighted = fc.weighted_categorical_column(fc.categorical_column_with_identity("d", 3), "w")
    column = fc.embedding_column(weighted, 2, combiner=combiner)
    runner = run(lambda f: fc.input_layer(f, [column]))
    features = {"d": torch.tensor([[0, 1]]), "w": torch.tensor([[2.0, 1.0]])}
    runner(features)
    runner.set("input_layer/d_weighted_by_w_embedding/embedding_weights", TABLE)
    assert torch.allclose(runner(features), torch.tensor([[2.0, 2.0]]) * scale)


@pytest.mark.parametrize(
    ("combiner", "expected"),
    [("sum", [[-2.0, 2.0]]), ("mean", [[0.0, 2.0]]), ("sqrtn", [[0.0, 2.0]])],
)
def test_negative_weights_count_in_a_sum_only(run, combiner, expected):
    """ids [0, 1] with weights [-2, 1]: TF's safe lookup keeps the -2 for sum (-2 r0 + r1 = [-2, 2])
    and drops it for mean and sqrtn (r1 alone, over weight 1)."""
    weighted = fc.weighted_categorical_column(fc.categorical_column_with_identity("d", 3), "w")
    column = fc.embedding_column(weighted, 2, combiner=combiner)
    runner = run(lambda f: fc.input_layer(f, [column]))
    features = {"d": torch.tensor([[0, 1]]), "w": torch.tensor([[-2.0, 1.0]])}
    runner(features)
    runner.set("input_layer/d_weighted_by_w_embedding/embedding_weights", TABLE)
    assert torch.allclose(runner(features), torch.tensor(expected))


def test_max_norm_clips_each_row(run):
    """r2 = [4, 4] has norm 4 sqrt(2); with max_norm 1 it becomes [1/sqrt(2)] * 2; r0 (norm 1) stays."""
    column = fc.embedding_column(fc.categorical_column_with_identity("d", 3), 2, max_norm=1.0, combiner="sum")
    out = embed(run, column, {"d": torch.tensor([[2], [0]])})
    assert torch.allclose(out, torch.tensor([[1 / math.sqrt(2)] * 2, [1.0, 0.0]]))


def test_default_initializer_is_truncated_normal(run):
    """TF's default: truncated normal, stddev 1/sqrt(dimension) = 0.25 for dimension 16; |w| <= 0.5."""
    torch.manual_seed(0)
    column = fc.embedding_column(fc.categorical_column_with_identity("d", 1000), 16)
    runner = run(lambda f: fc.input_layer(f, [column]))
    runner({"d": torch.tensor([1])})
    weights = runner.variables()["input_layer/d_embedding/embedding_weights"]
    assert weights.shape == (1000, 16)
    assert weights.abs().max() <= 0.5
    assert 0.2 < weights.std() < 0.25  # a normal truncated at 2 sigma has std 0.88 sigma


def test_custom_initializer_and_not_trainable(run):
    column = fc.embedding_column(
        fc.categorical_column_with_identity("d", 3), 2, initializer=initializers.ones(), trainable=False
    )
    runner = run(lambda f: fc.input_layer(f, [column]))
    assert runner({"d": torch.tensor([0])}).tolist() == [[1.0, 1.0]]
    assert not runner.graph.trainable_variables()


def test_ckpt_to_load_from(run, tmp_path):
    prefix = str(tmp_path / "model.ckpt-1")
    write_checkpoint(prefix, {"old/emb": torch.tensor(TABLE)}, global_step=1)
    column = fc.embedding_column(
        fc.categorical_column_with_identity("d", 3),
        2,
        ckpt_to_load_from=prefix,
        tensor_name_in_ckpt="old/emb",
    )
    assert run(lambda f: fc.input_layer(f, [column]))({"d": torch.tensor([2])}).tolist() == [[4.0, 4.0]]
    wrong = fc.embedding_column(
        fc.categorical_column_with_identity("d", 5),
        2,
        ckpt_to_load_from=prefix,
        tensor_name_in_ckpt="old/emb",
    )
    with pytest.raises(ValueError, match="Column d_embedding: tensor old/emb"):
        run(lambda f: fc.input_layer(f, [wrong]))({"d": torch.tensor([2])})


def test_gradients_reach_the_table(run):
    column = fc.embedding_column(fc.categorical_column_with_hash_bucket("s", 5), 3)
    runner = run(lambda f: fc.input_layer(f, [column]))
    runner({"s": ["a", "b"]}).sum().backward()
    (table,) = runner.graph.trainable_variables()
    assert table.grad is not None and table.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dimension": 0}, "Invalid dimension 0"),
        ({"dimension": 2, "combiner": "max"}, "combiner must be one of 'mean', 'sqrtn' or 'sum'"),
        (
            {"dimension": 2, "initializer": 3},
            "initializer must be callable if specified. Embedding of column_name: d",
        ),
        (
            {"dimension": 2, "ckpt_to_load_from": "x"},
            "Must specify both `ckpt_to_load_from` and `tensor_name_in_ckpt`",
        ),
    ],
)
def test_embedding_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fc.embedding_column(fc.categorical_column_with_identity("d", 3), **kwargs)


def test_embedding_needs_a_categorical_column():
    with pytest.raises(ValueError, match="categorical_column must be of type CategoricalColumn"):
        fc.embedding_column(fc.numeric_column("x"), 2)


def test_indicator_counts_ids():
    """ids [1, 1, 3] over 4 buckets -> [0, 2, 0, 1]; the padded example gives zeros."""
    column = fc.indicator_column(fc.categorical_column_with_identity("d", 4))
    out = column.dense_tensor(fc.TransformCache({"d": [[1, 1, 3], [-1, -1, -1]]}), None)
    assert out.tolist() == [[0, 2, 0, 1], [0, 0, 0, 0]]
    assert column.name == "d_indicator" and column.variable_shape == (4,)


def test_indicator_of_weighted_column_sums_weights():
    weighted = fc.weighted_categorical_column(fc.categorical_column_with_identity("d", 3), "w")
    cache = fc.TransformCache({"d": [[2, 2]], "w": [[0.5, 1.5]]})
    assert fc.indicator_column(weighted).dense_tensor(cache, None).tolist() == [[0.0, 0.0, 2.0]]


def test_shared_embeddings_share_one_table(run):
    """Both columns read table rows: a=[0] -> r0, b=[2] -> r2; one variable under the collection name."""
    a, b = fc.categorical_column_with_identity("a", 3), fc.categorical_column_with_identity("b", 3)
    columns = fc.shared_embeddings([b, a], 2)
    assert [c.name for c in columns] == ["a_shared_embedding", "b_shared_embedding"][::-1]
    runner = run(lambda f: fc.input_layer(f, columns))
    features = {"a": torch.tensor([0]), "b": torch.tensor([2])}
    runner(features)
    assert list(runner.variables()) == ["input_layer/a_b_shared_embedding/embedding_weights"]
    runner.set("input_layer/a_b_shared_embedding/embedding_weights", TABLE)
    assert runner(features).tolist() == [[1.0, 0.0, 4.0, 4.0]]


def test_shared_embeddings_validation():
    a = fc.categorical_column_with_identity("a", 3)
    with pytest.raises(ValueError, match="must have the same number of buckets"):
        fc.shared_embeddings([a, fc.categorical_column_with_identity("b", 4)], 2)
    with pytest.raises(ValueError, match="must be subclasses of CategoricalColumn"):
        fc.shared_embeddings([a, fc.numeric_column("x")], 2)
    named = fc.shared_embeddings([a], 2, shared_embedding_collection_name="tbl")
    assert named[0].shared.collection_name == "tbl"


def test_shared_embeddings_need_columns_of_one_type():
    """TF 2.15 raises for a vocabulary column beside a hashed one (or an identity one) of the same
    num_buckets; a weighted column compares by the column it wraps."""
    vocabulary = fc.categorical_column_with_vocabulary_list("a", ["x", "y", "z"])
    with pytest.raises(ValueError, match=r"Given column: a of type: VocabularyListCategoricalColumn"):
        fc.shared_embeddings([vocabulary, fc.categorical_column_with_hash_bucket("b", 3)], 2)
    with pytest.raises(ValueError, match="must have the same type"):
        fc.shared_embeddings([fc.categorical_column_with_identity("c", 3), vocabulary], 2)
    identity = fc.categorical_column_with_identity("d", 3)
    weighted = fc.weighted_categorical_column(fc.categorical_column_with_identity("e", 3), "w")
    assert len(fc.shared_embeddings([identity, weighted], 2)) == 2
