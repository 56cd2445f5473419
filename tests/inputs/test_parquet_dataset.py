"""make_parquet_dataset: the make_csv_dataset rules over Parquet files."""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

import torch_estimator as te
from torch_estimator.inputs.prefetch import READER_THREAD_NAME


@pytest.fixture
def five_rows(tmp_path):
    """id 0..4, x = id / 2 (float64 on disk), word 'w<id>', label = id % 2; row groups of 2."""
    path = str(tmp_path / "five.parquet")
    table = pa.table(
        {
            "id": list(range(5)),
            "x": [i / 2 for i in range(5)],
            "word": [f"w{i}" for i in range(5)],
            "label": [i % 2 for i in range(5)],
        }
    )
    pq.write_table(table, path, row_group_size=2)
    return path


def test_five_rows_batch_two_epochs_two(five_rows):
    dataset = te.inputs.make_parquet_dataset(five_rows, 2, num_epochs=2, shuffle=False, read_batch_size=2)
    assert [batch["id"].tolist() for batch in dataset] == [[0, 1], [2, 3], [4, 0], [1, 2], [3, 4]]


def test_label_dtypes_and_strings(five_rows):
    dataset = te.inputs.make_parquet_dataset(five_rows, 5, label_name="label", num_epochs=1, shuffle=False)
    [(features, label)] = list(dataset)
    assert label.tolist() == [0, 1, 0, 1, 0]
    assert features["x"].dtype == torch.float32
    assert isinstance(features["word"], np.ndarray) and features["word"].tolist()[:2] == ["w0", "w1"]


def test_select_columns(five_rows):
    [features] = list(
        te.inputs.make_parquet_dataset(
            five_rows, 5, select_columns=["word", "id"], num_epochs=1, shuffle=False
        )
    )
    assert list(features) == ["id", "word"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label_name": "nope"}, "`label_name` provided must be one of the columns"),
        ({"select_columns": ["nope"]}, "'nope', which is not a column"),
        ({"read_batch_size": 0}, "read_batch_size"),
    ],
)
def test_bad_arguments(five_rows, kwargs, message):
    with pytest.raises(ValueError, match=message):
        te.inputs.make_parquet_dataset(five_rows, 2, **kwargs)


def test_not_a_parquet_file(tmp_path):
    path = tmp_path / "x.parquet"
    path.write_text("not parquet")
    with pytest.raises(ValueError, match="Cannot read the schema of Parquet file"):
        te.inputs.make_parquet_dataset(str(path), 2)


def test_a_later_file_without_a_column_is_named(tmp_path):
    pq.write_table(pa.table({"a": [1], "b": [2]}), str(tmp_path / "1.parquet"))
    pq.write_table(pa.table({"a": [3]}), str(tmp_path / "2.parquet"))
    dataset = te.inputs.make_parquet_dataset(str(tmp_path / "*.parquet"), 1, num_epochs=1, shuffle=False)
    with pytest.raises(ValueError, match=r"2\.parquet' lacks the columns \['b'\]"):
        list(dataset)
    assert not [t for t in threading.enumerate() if t.name == READER_THREAD_NAME]


def test_shuffled_rows_stay_whole(five_rows):
    dataset = te.inputs.make_parquet_dataset(
        five_rows, 5, num_epochs=3, shuffle=True, shuffle_seed=0, shuffle_buffer_size=2
    )
    batches = list(dataset)
    ids = torch.cat([batch["id"] for batch in batches])
    assert sorted(ids.tolist()) == sorted(list(range(5)) * 3)
    for batch in batches:
        assert (batch["x"] * 2).long().tolist() == batch["id"].tolist()
        assert batch["word"].tolist() == [f"w{i}" for i in batch["id"].tolist()]
