"""Property tests of feature-column invariants."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from torch_estimator import feature_column as fc
from torch_estimator.feature_column import IdBatch, TransformCache
from torch_estimator.feature_column.ids import combine_embeddings, multi_hot

words = st.text(alphabet="abcxyz€", min_size=1, max_size=6)
ragged = st.lists(st.lists(words, max_size=4), min_size=1, max_size=8)


def padded(rows):
    width = max(1, max(len(row) for row in rows))
    return np.array([row + [""] * (width - len(row)) for row in rows], dtype="U6")


@settings(max_examples=40, deadline=None)
@given(ragged, st.integers(1, 50))
def test_hash_ids_in_range_and_ragged_equals_padded(rows, size):
    column = fc.categorical_column_with_hash_bucket("s", size)
    from_lists = column.transform_ids(TransformCache({"s": rows}))
    from_array = column.transform_ids(TransformCache({"s": padded(rows)}))
    valid = from_array.valid()
    assert torch.equal(from_lists.ids[from_lists.valid()], from_array.ids[valid])
    assert ((from_array.ids >= 0) & (from_array.ids < size)).all()
    assert valid.sum(1).tolist() == [len(row) for row in rows]


@settings(max_examples=40, deadline=None)
@given(st.lists(words, min_size=1, max_size=10, unique=True), ragged)
def test_vocabulary_ids_are_list_positions(vocabulary, rows):
    column = fc.categorical_column_with_vocabulary_list("s", vocabulary)
    batch = column.transform_ids(TransformCache({"s": padded(rows)}))
    for row, ids, valid in zip(rows, batch.ids.tolist(), batch.valid().tolist(), strict=False):
        kept = [ids[i] for i, ok in enumerate(valid) if ok]
        assert kept == [vocabulary.index(w) for w in row if w in vocabulary]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 5), max_size=5), min_size=1, max_size=6),
    st.sampled_from(["sum", "mean", "sqrtn"]),
)
def test_combiner_matches_its_definition_and_ignores_order(rows, combiner):
    table = torch.arange(12.0).reshape(6, 2) - 5
    width = max(1, max(len(r) for r in rows))
    ids = torch.tensor([r + [-1] * (width - len(r)) for r in rows])
    batch = IdBatch.from_mask(ids, ids >= 0)
    flipped = IdBatch.from_mask(ids.flip(1), ids.flip(1) >= 0)
    out = combine_embeddings(table, batch, combiner)
    assert torch.allclose(out, combine_embeddings(table, flipped, combiner))
    for row, value in zip(rows, out, strict=True):
        total = table[row].sum(0) if row else torch.zeros(2)
        scale = {"sum": 1.0, "mean": max(len(row), 1), "sqrtn": max(len(row), 1) ** 0.5}[combiner]
        assert torch.allclose(value, total / scale)
    assert multi_hot(batch, 6).sum(1).tolist() == [float(len(r)) for r in rows]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-100, 100), min_size=1, max_size=5, unique=True),
    st.lists(st.floats(-200, 200, width=32), min_size=1, max_size=20),
)
def test_bucket_is_count_of_boundaries_at_or_below(boundaries, values):
    column = fc.bucketized_column(fc.numeric_column("v"), sorted(boundaries))
    ids = column.bucket_ids(TransformCache({"v": np.array(values, dtype=np.float32)})).flatten().tolist()
    edges = np.array(sorted(boundaries), dtype=np.float32)
    assert ids == [int((edges <= np.float32(v)).sum()) for v in values]
