"""The stable string fingerprint: fixed values, independence of representation, same in any process."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from torch_estimator.feature_column.hashing import (
    FNV_OFFSET,
    FNV_PRIME,
    as_utf8,
    combine_fingerprints,
    fingerprint64,
    fmix64,
    integer_fingerprint64,
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
