"""make_csv_dataset: TF's make_csv_dataset arguments, streamed with pyarrow in a background thread."""

from __future__ import annotations

import gzip
import threading

import numpy as np
import pytest
import torch

import torch_estimator as te
from torch_estimator.inputs.csv_io import read_csv_chunks
from torch_estimator.inputs.prefetch import READER_THREAD_NAME


def write(path, text):
    path.write_text(text)
    return str(path)


@pytest.fixture
def five_rows(tmp_path):
    """id 0..4, x = id / 2, word 'w<id>', label = id % 2."""
    lines = ["id,x,word,label"] + [f"{i},{i / 2},w{i},{i % 2}" for i in range(5)]
    return write(tmp_path / "five.csv", "\n".join(lines) + "\n")


def flatten(batches):
    return [row for batch in batches for row in batch]


def ids(dataset, key="id"):
    return [batch[key].tolist() if isinstance(batch, dict) else batch[0][key].tolist() for batch in dataset]


def test_five_rows_batch_two_epochs_two(five_rows):
    dataset = te.inputs.make_csv_dataset(five_rows, 2, num_epochs=2, shuffle=False)
    assert ids(dataset) == [[0, 1], [2, 3], [4, 0], [1, 2], [3, 4]]


def test_label_name_splits_features_and_label(five_rows):
    dataset = te.inputs.make_csv_dataset(five_rows, 5, label_name="label", num_epochs=1, shuffle=False)
    [(features, label)] = list(dataset)
    assert set(features) == {"id", "x", "word"}
    assert label.tolist() == [0, 1, 0, 1, 0]
    assert features["x"].dtype == torch.float32 and features["id"].dtype == torch.int64
    assert isinstance(features["word"], np.ndarray) and features["word"].tolist() == [
        "w0",
        "w1",
        "w2",
        "w3",
        "w4",
    ]


def test_select_columns_by_name_and_index_in_file_order(five_rows):
    dataset = te.inputs.make_csv_dataset(five_rows, 5, select_columns=["x", 0], num_epochs=1, shuffle=False)
    [features] = list(dataset)
    assert list(features) == ["id", "x"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label_name": "nope"}, "`label_name` provided must be one of the columns"),
        ({"select_columns": ["id", "nope"]}, "'nope', which is not a column"),
        ({"select_columns": [9]}, "index 9 is out of range"),
        (
            {"select_columns": ["x"], "label_name": "label"},
            "`label_name` provided must be one of the columns",
        ),
        ({"column_defaults": [0, 0.0]}, "one entry per column"),
        ({"column_defaults": [0, 0.0, object(), 0]}, "column_defaults entry for column 'word'"),
        ({"num_epochs": -1}, "num_epochs"),
        ({"shuffle_buffer_size": 0}, "shuffle_buffer_size"),
        ({"compression_type": "ZLIB"}, "ZLIB"),
    ],
)
def test_bad_arguments_fail_at_once(five_rows, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        te.inputs.make_csv_dataset(five_rows, 2, **kwargs)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"No files match `file_pattern` '.*missing\.csv'"):
        te.inputs.make_csv_dataset(str(tmp_path / "missing.csv"), 2)


def test_files_of_a_glob_are_read_in_sorted_order_and_batches_span_files(tmp_path):
    write(tmp_path / "b.csv", "id\n3\n4\n")
    write(tmp_path / "a.csv", "id\n0\n1\n2\n")
    dataset = te.inputs.make_csv_dataset(str(tmp_path / "*.csv"), 2, num_epochs=1, shuffle=False)
    assert ids(dataset) == [[0, 1], [2, 3], [4]]


def test_no_header_needs_column_names(tmp_path):
    path = write(tmp_path / "raw.csv", "1;2\n3;4\n")
    with pytest.raises(ValueError, match="Cannot infer column names without a header line"):
        te.inputs.make_csv_dataset(path, 2, header=False, field_delim=";")
    dataset = te.inputs.make_csv_dataset(
        path, 2, column_names=["a", "b"], header=False, field_delim=";", num_epochs=1, shuffle=False
    )
    assert [batch["b"].tolist() for batch in dataset] == [[2, 4]]


def test_column_names_replace_the_header(five_rows):
    names = ["i", "x", "w", "y"]
    dataset = te.inputs.make_csv_dataset(
        five_rows, 5, column_names=names, label_name="y", num_epochs=1, shuffle=False
    )
    [(features, _)] = list(dataset)
    assert features["i"].tolist() == [0, 1, 2, 3, 4]


def test_missing_fields_take_the_inferred_zero_or_the_given_default(tmp_path):
    """Inferred: a missing int is 0, float 0.0, string ''. column_defaults: a value fills, a type requires."""
    path = write(tmp_path / "gaps.csv", "n,f,s\n1,1.5,a\n,,\n")
    [inferred] = list(te.inputs.make_csv_dataset(path, 2, num_epochs=1, shuffle=False))
    assert (inferred["n"].tolist(), inferred["f"].tolist(), inferred["s"].tolist()) == (
        [1, 0],
        [1.5, 0.0],
        ["a", ""],
    )
    [given] = list(
        te.inputs.make_csv_dataset(path, 2, column_defaults=[-1, 9.0, "?"], num_epochs=1, shuffle=False)
    )
    assert (given["n"].tolist(), given["f"].tolist(), given["s"].tolist()) == (
        [1, -1],
        [1.5, 9.0],
        ["a", "?"],
    )
    required = te.inputs.make_csv_dataset(
        path, 2, column_defaults=[int, 0.0, ""], num_epochs=1, shuffle=False
    )
    with pytest.raises(ValueError, match="Field 'n' is required but missing"):
        list(required)


def test_column_defaults_set_dtypes(tmp_path):
    path = write(tmp_path / "types.csv", "a,b,c\n1,2,3\n")
    dataset = te.inputs.make_csv_dataset(
        path, 1, column_defaults=[0.0, np.int32(0), torch.float64], num_epochs=1, shuffle=False
    )
    [batch] = list(dataset)
    assert [batch[key].dtype for key in "abc"] == [torch.float32, torch.int32, torch.float64]


def test_column_defaults_per_selected_column(five_rows):
    dataset = te.inputs.make_csv_dataset(
        five_rows, 5, select_columns=["id", "x"], column_defaults=[0.0, 0.0], num_epochs=1, shuffle=False
    )
    assert next(iter(dataset))["id"].dtype == torch.float32


def test_a_value_that_does_not_parse_is_reported_with_the_file(tmp_path):
    """Types are fixed from the first block (block_size 64 bytes: the early ints); a later 'oops' fails."""
    path = write(tmp_path / "bad.csv", "n\n" + "1\n" * 100 + "oops\n")
    dataset = te.inputs.make_csv_dataset(path, 10, num_epochs=1, shuffle=False, block_size=64)
    with pytest.raises(ValueError, match=r"Cannot parse CSV file .*bad\.csv.*column_defaults"):
        list(dataset)
    assert not [t for t in threading.enumerate() if t.name == READER_THREAD_NAME]


def test_files_are_read_block_by_block(tmp_path):
    """2,000 rows of ~6 bytes in 1 KiB blocks: many chunks, every row once, in order."""
    path = write(tmp_path / "big.csv", "n\n" + "".join(f"{i}\n" for i in range(2000)))
    dataset = te.inputs.make_csv_dataset(path, 300, num_epochs=1, shuffle=False, block_size=1024)
    csv_format = dataset.read_file.keywords["csv_format"]
    assert len(list(read_csv_chunks(path, csv_format))) > 5
    batches = ids(dataset, "n")
    assert [len(batch) for batch in batches] == [300] * 6 + [200]
    assert flatten(batches) == list(range(2000))


def test_shuffle_mixes_rows_and_visits_each_once_per_epoch(tmp_path):
    path = write(tmp_path / "rows.csv", "n\n" + "".join(f"{i}\n" for i in range(1000)))
    dataset = te.inputs.make_csv_dataset(
        path, 100, num_epochs=2, shuffle=True, shuffle_buffer_size=50, shuffle_seed=3, block_size=256
    )
    rows = flatten(ids(dataset, "n"))
    assert sorted(rows) == sorted(list(range(1000)) * 2)
    assert rows[:1000] != list(range(1000))
    assert rows == flatten(ids(dataset, "n"))  # the seed fixes the order of every iteration


def test_without_a_seed_numpys_global_rng_decides(five_rows):
    dataset = te.inputs.make_csv_dataset(five_rows, 5, num_epochs=1, shuffle=True)
    np.random.seed(5)
    first = ids(dataset)
    np.random.seed(5)
    assert ids(dataset) == first


def test_num_epochs_none_repeats_forever(five_rows):
    batches = iter(te.inputs.make_csv_dataset(five_rows, 3, shuffle=False))
    assert [next(batches)["id"].tolist() for _ in range(4)] == [[0, 1, 2], [3, 4, 0], [1, 2, 3], [4, 0, 1]]
    batches.close()


def test_an_empty_file_ends_instead_of_repeating_forever(tmp_path):
    path = write(tmp_path / "empty.csv", "a,b\n")
    assert list(te.inputs.make_csv_dataset(path, 2, shuffle=False)) == []


def test_stopping_early_leaves_no_reader_thread(five_rows):
    batches = iter(te.inputs.make_csv_dataset(five_rows, 1, shuffle=False, prefetch_buffer_size=1))
    next(batches)
    batches.close()
    assert not [t for t in threading.enumerate() if t.name == READER_THREAD_NAME]


@pytest.mark.parametrize(("name", "compression_type"), [("data.csv.gz", None), ("data.bin", "GZIP")])
def test_gzip_files(tmp_path, name, compression_type):
    path = tmp_path / name
    path.write_bytes(gzip.compress(b"a\n1\n2\n"))
    dataset = te.inputs.make_csv_dataset(
        str(path), 2, num_epochs=1, shuffle=False, compression_type=compression_type
    )
    assert ids(dataset, "a") == [[1, 2]]
