"""TransformCache: each column's ids are computed once per model_fn call, across layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch

from torch_estimator import feature_column as fc
from torch_estimator.feature_column import CategoricalColumn, IdBatch, TransformCache

CALLS: list[str] = []


@dataclass(frozen=True)
class CountingColumn(CategoricalColumn):
    """A fake identity column that records every transform."""

    key: str

    @property
    def name(self) -> str:
        return self.key

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return {}

    @property
    def num_buckets(self) -> int:
        return 4

    def transform_ids(self, cache: TransformCache) -> IdBatch:
        CALLS.append(self.key)
        return IdBatch(torch.as_tensor(cache.raw(self.key)).reshape(-1, 1), None)


@pytest.fixture(autouse=True)
def _clear_calls():
    CALLS.clear()


def test_wide_and_deep_transform_each_feature_once_per_call(run):
    column = CountingColumn("c")

    def body(features):
        deep = fc.input_layer(features, [fc.embedding_column(column, 2), fc.indicator_column(column)])
        wide = fc.linear_model(features, [column])
        return deep, wide

    runner = run(body)
    runner({"c": np.array([1, 2])})
    assert CALLS == ["c"]
    runner({"c": np.array([1, 2])})  # a new call transforms again
    assert CALLS == ["c", "c"]


def test_replaced_feature_value_is_transformed_again(run):
    column = CountingColumn("c")

    def body(features):
        first = fc.linear_model(features, [column])
        features = {"c": np.array([3, 3])}
        return first, fc.linear_model(features, [column])

    first, second = run(body)({"c": np.array([0, 1])})
    assert CALLS == ["c", "c"]
    assert first.shape == second.shape == (2, 1)


def test_hashed_wide_and_deep_shapes(run):
    """A W2-like model: 3 hashed string columns, wide (linear) and deep (embedding 4) parts."""
    hashed = [fc.categorical_column_with_hash_bucket(f"C{i}", 10 * (i + 1)) for i in range(3)]

    def body(features):
        deep = fc.input_layer(
            features, [fc.embedding_column(c, 4) for c in hashed] + [fc.numeric_column("I1")]
        )
        return deep, fc.linear_model(features, hashed)

    runner = run(body)
    strings = np.array([[b"%08x" % (i * 7 + j) for j in range(3)] for i in range(5)], dtype="S8")
    features = {f"C{j}": strings[:, j] for j in range(3)}
    features["I1"] = torch.arange(5.0)
    deep, wide = runner(features)
    assert deep.shape == (5, 13) and wide.shape == (5, 1)
    assert runner.variables()["linear_model/C2/weights"].shape == (30, 1)
    assert runner.variables()["input_layer/C2_embedding/embedding_weights"].shape == (30, 4)
