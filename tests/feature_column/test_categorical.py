"""Vocabulary, hash and identity columns: ids, OOV buckets, padding, multivalent input, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_estimator as te
from torch_estimator import feature_column as fc
from torch_estimator.feature_column import TransformCache, hashing, string_hashes
from torch_estimator.feature_column.hashing import fingerprint64
from torch_estimator.feature_column.string_hashes import hash_strings_of


def ids_of(column, value):
    batch = column.transform_ids(TransformCache({column.name: value}))
    weights = None if batch.weights is None else batch.weights.tolist()
    return batch.ids.tolist(), weights


def test_vocabulary_list_ids_default_and_padding():
    """['b', 'zzz', ''] against [a, b, c]: b -> 1; unknown -> -1 (dropped); '' is padding."""
    column = fc.categorical_column_with_vocabulary_list("s", ["a", "b", "c"])
    assert column.num_buckets == 3
    assert ids_of(column, np.array(["b", "zzz", ""])) == ([[1], [0], [0]], [[1.0], [0.0], [0.0]])
    assert ids_of(column, [b"c", b"a"]) == ([[2], [0]], None)


def test_vocabulary_list_default_value_and_oov():
    """default_value=0 maps 'q' to 0. With 2 OOV buckets 'q' goes to 3 + fingerprint('q') % 2."""
    with_default = fc.categorical_column_with_vocabulary_list("s", ["a", "b", "c"], default_value=0)
    assert ids_of(with_default, ["q", "c"]) == ([[0], [2]], None)
    oov = fc.categorical_column_with_vocabulary_list("s", ["a", "b", "c"], num_oov_buckets=2)
    expected = 3 + int(fingerprint64(np.array(["q"]))[0] % 2)
    assert oov.num_buckets == 5
    assert ids_of(oov, ["q", "a"]) == ([[expected], [0]], None)


def test_out_of_vocabulary_buckets_are_tfs():
    """TF 2.15, vocabulary [a, b] with 5 OOV buckets: 'paris' and 'zz' both land in bucket 2 + 2 = 4;
    integers [10, 20]: 1234 in 4 and 7 in 5 (hashed as "1234" and "7"). Padding is not hashed."""
    strings = fc.categorical_column_with_vocabulary_list("c", ["a", "b"], num_oov_buckets=5)
    assert ids_of(strings, ["a", "paris", "zz", "b"]) == ([[0], [4], [4], [1]], None)
    assert ids_of(strings, [["a", "paris"], ["b"]]) == ([[0, 4], [1, 0]], [[1.0, 1.0], [1.0, 0.0]])
    integers = fc.categorical_column_with_vocabulary_list("n", [10, 20], num_oov_buckets=5)
    assert ids_of(integers, torch.tensor([10, 1234, 7])) == ([[0], [4], [5]], None)


def test_vocabulary_list_integers():
    column = fc.categorical_column_with_vocabulary_list("n", [30, 10, 20])
    assert column.dtype == torch.int64
    assert ids_of(column, torch.tensor([[10, 99], [20, -1]])) == ([[1, 0], [2, 0]], [[1.0, 0.0], [1.0, 0.0]])


def test_multivalent_ragged_strings():
    column = fc.categorical_column_with_vocabulary_list("s", ["a", "b"])
    assert ids_of(column, [["b", "a"], [], ["a"]]) == ([[1, 0], [0, 0], [0, 0]], [[1, 1], [0, 0], [1, 0]])


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("s", []), {}, "must be non-empty, column_name: s"),
        (("s", ["a", "a"]), {}, "Duplicate keys in vocabulary_list"),
        (("s", ["a"]), {"num_oov_buckets": 1, "default_value": 0}, "Can't specify both num_oov_buckets"),
        (("s", ["a"]), {"num_oov_buckets": -1}, "Invalid num_oov_buckets -1 in s"),
        (("s", ["a"]), {"dtype": torch.int64}, "do not match, column_name: s"),
        (("s", [1.5]), {}, "column_name: s vocabulary dtype must be string or integer"),
        # TF took it, then failed in embedding and linear lookups at run time.
        (
            ("s", ["a", "b"]),
            {"default_value": 2},
            r"default_value 2 is not an id of vocabulary column s: its ids are \[0, 2\)",
        ),
    ],
)
def test_vocabulary_list_validation(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fc.categorical_column_with_vocabulary_list(*args, **kwargs)


def test_vocabulary_file(tmp_path):
    """File lines red/green/blue: green -> 1; vocabulary_size=2 keeps red and green only."""
    path = tmp_path / "vocab.txt"
    path.write_text("red\ngreen\nblue\n", encoding="utf-8")
    column = fc.categorical_column_with_vocabulary_file("c", path)
    assert column.num_buckets == 3
    assert ids_of(column, ["green", "blue"]) == ([[1], [2]], None)
    two = fc.categorical_column_with_vocabulary_file("c", path, vocabulary_size=2, num_oov_buckets=1)
    assert two.num_buckets == 3
    assert ids_of(two, ["blue"]) == ([[2]], None)
    with pytest.raises(ValueError, match="Invalid vocab_size in c"):
        fc.categorical_column_with_vocabulary_file("c", path, vocabulary_size=9)
    with pytest.raises(ValueError, match="Missing vocabulary_file in c"):
        fc.categorical_column_with_vocabulary_file("c", "")
    with pytest.raises(
        ValueError, match=r"default_value 2 is not an id of vocabulary column c: its ids are \[0, 2\)"
    ):
        fc.categorical_column_with_vocabulary_file("c", path, vocabulary_size=2, default_value=2)
    with pytest.raises(ValueError, match="Invalid vocabulary_size in c"):
        fc.categorical_column_with_vocabulary_file("c", path, vocabulary_size=0)


def test_vocabulary_file_lines_end_at_newlines_only(tmp_path):
    """TF splits a vocabulary file at \\n (CRLF too): "green\\u2028x" and "a\\x0cb" are single terms,
    so the file holds red, green\\u2028x, a\\x0cb, blue (ids 0-3), and "green" alone is unknown (-1)."""
    path = tmp_path / "vocab.txt"
    path.write_bytes("red\r\ngreen\u2028x\na\x0cb\nblue".encode())
    column = fc.categorical_column_with_vocabulary_file("c", path)
    assert column.num_buckets == 4
    assert ids_of(column, ["green\u2028x", "a\x0cb", "blue", "red"]) == ([[1], [2], [3], [0]], None)
    assert ids_of(column, ["green"])[1] == [[0.0]]  # unknown: padding of weight 0


@pytest.mark.parametrize(
    ("content", "position", "line"),
    [(b"a\n\nb\n", 3, 2), (b"a\r\n\r\nb\r\n", 5, 2), (b"\na\nb", 1, 1), (b"a\nb\n\n", 5, 3)],
    ids=["middle", "crlf", "first", "two newlines at the end"],
)
def test_vocabulary_file_with_an_empty_line_is_rejected_as_tf_does(tmp_path, content, position, line):
    """TF 2.15 refuses the table: "empty line found at position N", N the byte just past the empty
    line (a\n\n: 3 bytes). A line of one space is a term."""
    path = tmp_path / "vocab.txt"
    path.write_bytes(content)
    message = rf"Invalid content in .*vocab.txt: empty line found at position {position}\. "
    with pytest.raises(ValueError, match=message + rf".*\(line {line} is empty\)"):
        fc.categorical_column_with_vocabulary_file("c", path)
    path.write_bytes(b"a\n \nb\n")
    assert ids_of(fc.categorical_column_with_vocabulary_file("c", path), [" ", "b"]) == ([[1], [2]], None)


def test_vocabulary_file_is_checked_only_up_to_vocabulary_size(tmp_path):
    """a, b, an empty line, c: vocabulary_size=2 reads a and b only, as TF; 3 reaches the empty line."""
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"a\nb\n\nc\n")
    column = fc.categorical_column_with_vocabulary_file("c", path, vocabulary_size=2)
    assert ids_of(column, ["b", "a"]) == ([[1], [0]], None)
    with pytest.raises(ValueError, match="empty line found at position 5"):
        ids_of(fc.categorical_column_with_vocabulary_file("c", path, vocabulary_size=3), ["a"])


def test_vocabulary_file_of_integers(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("7\n3\n", encoding="utf-8")
    column = fc.categorical_column_with_vocabulary_file("n", path, dtype=torch.int64)
    assert ids_of(column, np.array([3, 7])) == ([[1], [0]], None)


def test_hash_bucket_ids_are_tfs():
    """TF 2.15's ids with 10 buckets: 'paris' 7, 'x' 0, the integer 1234 (hashed as "1234") 2; for
    strings, bytes and ragged input alike; -1 is padding."""
    column = fc.categorical_column_with_hash_bucket("city", 10)
    assert ids_of(column, ["paris", "paris"]) == ([[7], [7]], None)
    assert ids_of(column, np.array([b"paris"])) == ([[7]], None)
    assert ids_of(column, [["paris", "x"], ["x"]])[0] == [[7, 0], [0, 0]]
    ints = fc.categorical_column_with_hash_bucket("n", 10, dtype=torch.int64)
    assert ids_of(ints, torch.tensor([1234, -1])) == ([[2], [0]], [[1.0], [0.0]])


def test_layers_hash_their_string_columns_together_by_width(monkeypatch):
    """input_layer over four hash-bucket columns (strings of 5, 8, 1 and 24 bytes, one wrapped in an
    indicator column) hashes them in one fingerprint64 call per width class (5-8, 1, 17-32 bytes),
    with the ids of hashing one by one: TF's 'paris' 7 and 'x' 0 in 10 buckets. A column whose ids
    this call already made is skipped."""
    calls = []

    def counted(values):
        calls.append(values.size)
        return hashing.fingerprint64(values)

    monkeypatch.setattr(string_hashes, "fingerprint64", counted)
    city, town, letter, long = (
        fc.categorical_column_with_hash_bucket(key, 10) for key in ("city", "town", "letter", "long")
    )
    features = {
        "city": ["paris", "paris"],
        "town": ["abcdefgh"] * 2,
        "letter": ["x", "x"],
        "long": ["a somewhat longer string"] * 2,
    }
    columns = [
        fc.indicator_column(city),
        *(fc.embedding_column(column, 2) for column in (town, letter, long)),
    ]
    graph = te.Graph(
        lambda features, mode: te.EstimatorSpec(mode, predictions=fc.input_layer(features, columns))
    )
    graph(features, None, "infer")
    assert calls == [4, 2, 2]
    cache = TransformCache(features)
    assert cache.ids(city).ids.tolist() == [[7], [7]] and cache.ids(letter).ids.tolist() == [[0], [0]]
    calls.clear()
    hash_strings_of(cache, [city, letter, long])  # city and letter have ids: only long is left
    assert calls == []  # one key alone is hashed when its column asks
    cache.ids(long)
    assert calls == [2]


def test_hash_bucket_validation_and_dtype_errors():
    with pytest.raises(ValueError, match=r"hash_bucket_size must be set\. key: c"):
        fc.categorical_column_with_hash_bucket("c", None)
    with pytest.raises(ValueError, match="hash_bucket_size must be at least 1"):
        fc.categorical_column_with_hash_bucket("c", 0)
    with pytest.raises(ValueError, match="dtype must be string or integer"):
        fc.categorical_column_with_hash_bucket("c", 3, dtype=torch.float32)
    with pytest.raises(ValueError, match=r"SparseTensors dtype must be compatible\. key: c"):
        ids_of(fc.categorical_column_with_hash_bucket("c", 3), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"Invalid input, not integer\. key: n"):
        ids_of(fc.categorical_column_with_hash_bucket("n", 3, dtype=torch.int64), np.array(["a"]))


def test_identity_ids_range_and_default():
    column = fc.categorical_column_with_identity("d", 4)
    assert ids_of(column, torch.tensor([[3, -1], [0, 1]])) == ([[3, 0], [0, 1]], [[1, 0], [1, 1]])
    with pytest.raises(ValueError, match="Bucket index for categorical column d exceeds number of buckets"):
        ids_of(column, torch.tensor([4]))
    with pytest.raises(ValueError, match="Negative bucket index for categorical column d"):
        ids_of(column, torch.tensor([-3]))
    with pytest.raises(ValueError, match=r"Invalid input, not integer\. key: d"):
        ids_of(column, torch.tensor([1.0]))
    defaulted = fc.categorical_column_with_identity("d", 4, default_value=0)
    assert ids_of(defaulted, torch.tensor([9, 2])) == ([[0], [2]], None)
    with pytest.raises(ValueError, match=r"default_value 4 not in range \[0, 4\), column_name d"):
        fc.categorical_column_with_identity("d", 4, default_value=4)
    with pytest.raises(ValueError, match="num_buckets 0 < 1, column_name d"):
        fc.categorical_column_with_identity("d", 0)


def test_columns_are_hashable_values():
    a = fc.categorical_column_with_vocabulary_list("s", ["a", "b"])
    b = fc.categorical_column_with_vocabulary_list("s", ["a", "b"])
    assert a == b and hash(a) == hash(b)
    assert {a: 1}[b] == 1
