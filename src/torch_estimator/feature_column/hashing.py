"""A stable 64-bit string fingerprint, vectorised over a whole batch with numpy.

TF hashed strings with FarmHash ``Fingerprint64`` inside the graph. Torch has no string tensors, so
strings are hashed here, on numpy arrays, before they become id tensors. The fingerprint is the
same in every process, run and platform (pure integer arithmetic, no Python ``hash``), but it is
**not** FarmHash: the bucket ids differ from TF's, with the same collision rate.

The fingerprint of a string is defined as:

1. take its UTF-8 bytes, zero-padded to a multiple of 8 bytes, as little-endian 64-bit words;
2. ``h = 0xcbf29ce484222325``; for each word ``w``: ``h = (h ^ w) * 0x100000001b3`` (FNV-1a over
   words instead of bytes, 8x fewer steps), all modulo 2**64;
3. finish with MurmurHash3's ``fmix64`` so every bit of ``h`` depends on every input bit (bucket ids
   are ``h % num_buckets``, which reads the low bits).

Trailing NUL characters are ignored (numpy's fixed-width strings cannot hold them). Integers are
fingerprinted as their decimal string, as TF stringified them.

>>> int(fingerprint64(np.array([b"hello"]))[0])
675589456745443957
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

__all__ = [
    "FNV_OFFSET",
    "FNV_PRIME",
    "as_utf8",
    "combine_fingerprints",
    "fingerprint64",
    "fmix64",
    "integer_fingerprint64",
]

FNV_OFFSET = 0xCBF29CE484222325
"""FNV-1a's 64-bit offset basis: the state before the first word."""

FNV_PRIME = 0x100000001B3
"""FNV's 64-bit prime. It is odd, so multiplying by it is invertible modulo 2**64."""

_MASK = (1 << 64) - 1
_PRIME_INVERSE = pow(FNV_PRIME, -1, 1 << 64)
_FMIX_C1 = np.uint64(0xFF51AFD7ED558CCD)
_FMIX_C2 = np.uint64(0xC4CEB9FE1A85EC53)
_SHIFT = np.uint64(33)


def as_utf8(values: np.ndarray) -> np.ndarray:
    """A ``str``/``bytes`` numpy array as fixed-width UTF-8 bytes (dtype ``S<n>``), same shape.

    ASCII text (the common case) is converted without leaving numpy: a ``U`` array's code points are
    its UTF-8 bytes. Other text is encoded element by element in C (``np.char.encode``).

    >>> as_utf8(np.array(["ab", "é"])).tolist()
    [b'ab', b'\\xc3\\xa9']
    """
    if values.dtype.kind == "S":
        return values
    if values.dtype.kind != "U":
        raise TypeError(f"as_utf8 takes a str or bytes numpy array. Received dtype {values.dtype}.")
    width = values.dtype.itemsize // 4
    if width == 0 or values.size == 0:
        return values.astype(f"S{max(width, 1)}")
    codes = np.ascontiguousarray(values).view(np.uint32)
    if int(codes.max()) < 128:
        return codes.astype(np.uint8).view(f"S{width}").reshape(values.shape)
    return np.char.encode(values, "utf-8")


def fingerprint64(values: np.ndarray) -> np.ndarray:
    """The 64-bit fingerprint (module docstring) of every string in ``values``: a ``uint64`` array.

    ``values`` is a numpy array of ``str`` or ``bytes`` of any shape.

    >>> fingerprint64(np.array(["a", "é"])).tolist() == fingerprint64(np.array([b"a", "é".encode()])).tolist()
    True
    """
    data = np.ascontiguousarray(as_utf8(values))
    shape = data.shape
    width = data.dtype.itemsize
    count = data.size
    words_per_value = -(-width // 8)
    raw = data.view(np.uint8).reshape(count, width)
    if width != words_per_value * 8:
        padded = np.zeros((count, words_per_value * 8), dtype=np.uint8)
        padded[:, :width] = raw
        raw = padded
    words = raw.view("<u8").reshape(count, words_per_value)
    state = np.full(count, FNV_OFFSET, dtype=np.uint64)
    prime = np.uint64(FNV_PRIME)
    for index in range(words_per_value):
        state ^= words[:, index]
        state *= prime
    if words_per_value > 1:
        # Trailing all-zero words are padding of the fixed width, not part of the string: they only
        # multiplied the state by the prime, which is undone with the prime's inverse.
        nonzero = words != 0
        used = np.where(nonzero.any(axis=1), words_per_value - np.argmax(nonzero[:, ::-1], axis=1), 0)
        state *= _inverse_powers(words_per_value)[words_per_value - used]
    return fmix64(state).reshape(shape)


def integer_fingerprint64(values: np.ndarray) -> np.ndarray:
    """The fingerprint of each integer's decimal string (TF hashed integers as strings).

    >>> integer_fingerprint64(np.array([12])).tolist() == fingerprint64(np.array(["12"])).tolist()
    True
    """
    return fingerprint64(np.asarray(values, dtype=np.int64).astype("S20"))


def fmix64(state: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer (a bijection that mixes every bit into every other), in place."""
    state ^= state >> _SHIFT
    state *= _FMIX_C1
    state ^= state >> _SHIFT
    state *= _FMIX_C2
    state ^= state >> _SHIFT
    return state


def combine_fingerprints(fingerprints: Sequence[np.ndarray], seed: int | None = None) -> np.ndarray:
    """One fingerprint per position for a tuple of fingerprints (broadcast together), order-dependent.

    Used by ``crossed_column``: ``h = seed``; for each ``f``: ``h = fmix64((h ^ f) * FNV_PRIME)``.
    ``seed`` is ``crossed_column``'s ``hash_key`` (default: FNV's offset basis).

    >>> a, b = np.array([1], dtype=np.uint64), np.array([2], dtype=np.uint64)
    >>> bool(combine_fingerprints([a, b])[0] != combine_fingerprints([b, a])[0])
    True
    """
    start = FNV_OFFSET if seed is None else int(seed) & _MASK
    state = np.full(np.broadcast_shapes(*(f.shape for f in fingerprints)), start, dtype=np.uint64)
    prime = np.uint64(FNV_PRIME)
    for fingerprint in fingerprints:
        state ^= fingerprint
        state *= prime
        fmix64(state)
    return state


@functools.lru_cache(maxsize=64)
def _inverse_powers(count: int) -> np.ndarray:
    """``[P^-0, P^-1, ..., P^-count]`` modulo 2**64 for FNV's prime P."""
    powers = [1]
    for _ in range(count):
        powers.append(powers[-1] * _PRIME_INVERSE & _MASK)
    return np.array(powers, dtype=np.uint64)
