"""The stable string fingerprint: fixed values, independence of representation, same in any process."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from torch_estimator.feature_column.hashing import (
    FNV_OFFSET,
    FNV_PRIME,
    as_utf8,
    combine_fingerprints,
    decimal_words,
    fingerprint64,
    fmix64,
    integer_fingerprint64,
    tensor_combine_fingerprints,
    tensor_fmix64,
    tensor_integer_fingerprint64,
    unsigned_remainder,
)

MASK = (1 << 64) - 1


def reference_fingerprint(text: str) -> int:
    """The module's definition written out with Python ints, one word at a time."""
    data = text.encode("utf-8").rstrip(b"\0")
    data += b"\0" * (-len(data) % 8)
    state = FNV_OFFSET
    for start in range(0, len(data), 8):
        state = ((state ^ int.from_bytes(data[start : start + 8], "little")) * FNV_PRIME) & MASK
    return int(fmix64(np.array([state], dtype=np.uint64))[0])


def test_fixed_values_never_change():
    """Pinned ids: a change here re-buckets every hashed feature of every saved model."""
    values = fingerprint64(np.array(["hello", "8f3a9c01", "a somewhat longer string"]))
    assert values.tolist() == [
        reference_fingerprint("hello"),
        reference_fingerprint("8f3a9c01"),
        reference_fingerprint("a somewhat longer string"),
    ]
    assert int(values[0]) == 675589456745443957
    assert int(values[1]) % 10_000 == int(fingerprint64(np.array([b"8f3a9c01"]))[0]) % 10_000


def test_integer_ids_same_in_a_fresh_process():
    """Pinned: integer ids hashed in torch never change between processes (or this version)."""
    code = (
        "import torch; from torch_estimator.feature_column.hashing import tensor_integer_fingerprint64; "
        "print(tensor_integer_fingerprint64(torch.tensor([0, -12, 2**63 - 1])).tolist())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    expected = integer_fingerprint64(np.array([0, -12, 2**63 - 1])).view(np.int64).tolist()
    assert out.strip() == str(expected)


def test_same_in_a_fresh_process():
    code = (
        "import numpy as np; from torch_estimator.feature_column.hashing import fingerprint64; "
        "print(fingerprint64(np.array(['hello', 'x', 'ünïcode'])).tolist())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(fingerprint64(np.array(["hello", "x", "ünïcode"])).tolist())


def test_str_bytes_object_and_width_agree():
    words = ["a", "bb", "ccccccccc", "é"]
    expected = fingerprint64(np.array(words))
    assert fingerprint64(np.array([w.encode() for w in words])).tolist() == expected.tolist()
    assert fingerprint64(np.array(words, dtype="U40")).tolist() == expected.tolist()
    assert fingerprint64(np.array(words, dtype=object).astype(str)).tolist() == expected.tolist()


def test_integers_hash_as_decimal_strings():
    assert (
        integer_fingerprint64(np.array([7, -12])).tolist() == fingerprint64(np.array(["7", "-12"])).tolist()
    )


def test_as_utf8_encodes_non_ascii():
    assert as_utf8(np.array(["ab", "€"])).tolist() == [b"ab", "€".encode()]


def test_combine_is_order_dependent_and_seeded():
    a, b = np.array([1], dtype=np.uint64), np.array([2], dtype=np.uint64)
    assert combine_fingerprints([a, b])[0] != combine_fingerprints([b, a])[0]
    assert combine_fingerprints([a, b], seed=5)[0] != combine_fingerprints([a, b])[0]


@given(st.lists(st.text(min_size=1).map(lambda t: t.rstrip("\0")).filter(bool), min_size=1, max_size=20))
def test_matches_reference_for_any_text(words):
    assert fingerprint64(np.array(words)).tolist() == [reference_fingerprint(w) for w in words]


@given(st.lists(st.binary(min_size=1, max_size=30).map(lambda b: b.rstrip(b"\0")).filter(bool), min_size=1))
def test_padding_width_does_not_matter(values):
    narrow = np.array(values)
    wide = narrow.astype(f"S{narrow.dtype.itemsize + 13}")
    assert fingerprint64(narrow).tolist() == fingerprint64(wide).tolist()


INT64 = st.integers(-(2**63), 2**63 - 1)
EDGES = [0, -1, 1, 9, 10, -10, 2**63 - 1, -(2**63), -(2**63) + 1] + [
    sign * 10**e for e in range(19) for sign in (1, -1)
]


@settings(deadline=None)  # the first torch call pays its one-off start-up
@given(st.lists(st.one_of(INT64, st.sampled_from(EDGES), st.integers(-1000, 1000)), min_size=1, max_size=40))
def test_tensor_integer_fingerprint_equals_numpy(values):
    array = np.array(values, dtype=np.int64)
    expected = integer_fingerprint64(array).view(np.int64).tolist()
    assert tensor_integer_fingerprint64(torch.from_numpy(array)).tolist() == expected


def test_tensor_integer_fingerprint_edges_and_shape():
    """Every digit count, both signs, int64's extremes; a [B, K] batch keeps its shape."""
    array = np.array(EDGES + [10**e - 1 for e in range(1, 19)] + [-(10**e) + 1 for e in range(1, 19)] + [42])
    values = torch.from_numpy(array).reshape(2, -1)
    hashed = tensor_integer_fingerprint64(values)
    assert hashed.shape == values.shape
    assert hashed.flatten().tolist() == integer_fingerprint64(array).view(np.int64).tolist()
    words, length = decimal_words(values.flatten())
    texts = [
        b"".join(w.to_bytes(8, "little", signed=True) for w in row)[:n]
        for row, n in zip(words.tolist(), length.tolist(), strict=True)
    ]
    assert texts == [str(v).encode() for v in array.tolist()]


@settings(deadline=None)  # the first torch call pays its one-off start-up
@given(st.lists(INT64, min_size=1, max_size=20), st.integers(1, 2**63 - 1))
def test_unsigned_remainder_reads_the_uint64_bits(values, divisor):
    bits = np.array(values, dtype=np.int64)
    expected = [(v & MASK) % divisor for v in values]
    assert unsigned_remainder(torch.from_numpy(bits), divisor).tolist() == expected


@settings(deadline=None)  # the first torch call pays its one-off start-up
@given(st.lists(INT64, min_size=2, max_size=4), st.none() | st.integers(0, 2**64 - 1))
def test_tensor_combine_equals_numpy(values, seed):
    tensors = [torch.tensor([v]) for v in values]
    arrays = [np.array([v], dtype=np.int64).view(np.uint64) for v in values]
    expected = combine_fingerprints(arrays, seed).view(np.int64).tolist()
    assert tensor_combine_fingerprints(tensors, seed).tolist() == expected


def test_tensor_fmix_equals_numpy():
    state = np.array([0, 1, 2**63, 2**64 - 1, 0xDEADBEEFCAFEBABE], dtype=np.uint64)
    expected = fmix64(state.copy()).view(np.int64).tolist()
    assert tensor_fmix64(torch.from_numpy(state.view(np.int64))).tolist() == expected


def test_integer_hash_traces_under_torch_export():
    class Hash(torch.nn.Module):
        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return unsigned_remainder(tensor_integer_fingerprint64(ids), 97)

    ids = torch.tensor([[3, -7], [2**63 - 1, 0]])
    program = torch.export.export(Hash(), (ids,))
    other = torch.tensor([[12, -(2**63)], [5, 123456789012345]])
    expected = (integer_fingerprint64(other.numpy()) % np.uint64(97)).astype(np.int64).tolist()
    assert program.module()(other).tolist() == expected
