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

Integer tensors are fingerprinted in torch (``tensor_integer_fingerprint64``, bit-identical to
``integer_fingerprint64``), so integer columns run on the ids' device and trace under
``torch.export``. Torch has no uint64 arithmetic: a fingerprint tensor is int64 holding the same
64 bits (add, multiply and xor wrap modulo 2**64 alike; ``unsigned_remainder`` takes bucket ids).

>>> int(fingerprint64(np.array([b"hello"]))[0])
675589456745443957
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "FNV_OFFSET",
    "FNV_PRIME",
    "as_signed",
    "as_utf8",
    "combine_fingerprints",
    "decimal_words",
    "fingerprint64",
    "fmix64",
    "integer_fingerprint64",
    "tensor_combine_fingerprints",
    "tensor_fmix64",
    "tensor_integer_fingerprint64",
    "unsigned_remainder",
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


def as_signed(value: int) -> int:
    """The int64 with the same 64 bits as the unsigned ``value`` (for torch's int64 arithmetic).

    >>> as_signed(2**64 - 1), as_signed(5)
    (-1, 5)
    """
    value &= _MASK
    return value - (1 << 64) if value >> 63 else value


_SIGNED_OFFSET = as_signed(FNV_OFFSET)
_SIGNED_C1 = as_signed(int(_FMIX_C1))
_SIGNED_C2 = as_signed(int(_FMIX_C2))
_LOW_31 = (1 << 31) - 1
_CHUNK = 10**8  # eight decimal digits per 8-byte word
_POWERS_OF_TEN = [10**exponent for exponent in range(1, 19)]
_ASCII_ZEROS = 0x3030303030303030  # b"00000000" as a little-endian word


def tensor_fmix64(state: torch.Tensor) -> torch.Tensor:
    """``fmix64`` on int64 tensors holding uint64 bits (a new tensor; traceable)."""
    for constant in (_SIGNED_C1, _SIGNED_C2):
        # int64 ``>>`` is arithmetic; masking the 31 remaining bits makes it the logical shift.
        state = (state ^ ((state >> 33) & _LOW_31)) * constant
    return state ^ ((state >> 33) & _LOW_31)


def tensor_integer_fingerprint64(values: torch.Tensor) -> torch.Tensor:
    """``integer_fingerprint64`` of an integer tensor, as int64 bits, on its device (traceable).

    The decimal string is packed into little-endian words exactly as ``fingerprint64`` packs the
    ``S20`` bytes, without a per-byte tensor (see ``decimal_words``).

    >>> values = torch.tensor([0, -12, 2**63 - 1])
    >>> expected = integer_fingerprint64(values.numpy()).view(np.int64)
    >>> tensor_integer_fingerprint64(values).tolist() == expected.tolist()
    True
    """
    words, length = decimal_words(values.to(torch.int64))
    # fingerprint64 drops trailing all-zero words: keep the state after the last used word.
    used = (length + 7) // 8
    state = torch.full_like(length, as_signed(FNV_OFFSET))
    result = state
    for index in range(3):
        state = (state ^ words[..., index]) * FNV_PRIME
        result = torch.where(used == index + 1, state, result)
    return tensor_fmix64(result)


def decimal_words(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(words [..., 3], length)``: each int64's decimal string as 3 little-endian words, and its length.

    >>> words, length = decimal_words(torch.tensor([-12]))
    >>> words[0, 0].item().to_bytes(8, "little"), length.tolist()
    (b'-12\\x00\\x00\\x00\\x00\\x00', [3])
    """
    negative = values < 0
    # -|v| never overflows (|-2**63| is no int64); trunc division of it leaves remainders <= 0.
    rest = torch.where(negative, values, -values)
    high = torch.div(rest, _CHUNK, rounding_mode="trunc")
    top = torch.div(high, _CHUNK, rounding_mode="trunc")
    chunks = torch.stack([-top, top * _CHUNK - high, high * _CHUNK - rest], -1)
    # The string right-aligned in 24 bytes: its last 8 digits fill the last word (zero-padded).
    aligned = _ascii_digits(chunks)
    powers = torch.tensor(_POWERS_OF_TEN, dtype=torch.int64, device=values.device)
    digits = 1 + (rest.unsqueeze(-1) <= -powers).sum(-1)
    length = digits + negative.to(torch.int64)
    # Shifting the 192-bit little-endian number right by the 24 - length unused bytes left-aligns
    # the string and zero-fills its end; every word is ASCII, so the arithmetic shift is logical.
    shift = (24 - length) * 8
    word_shift, bit_shift = (shift >> 6).unsqueeze(-1), (shift & 63).unsqueeze(-1)
    padded = torch.cat([aligned, torch.zeros_like(aligned)], -1)
    index = word_shift + torch.arange(3, device=values.device)
    low, carry = torch.gather(padded, -1, index), torch.gather(padded, -1, index + 1)
    words = (low >> bit_shift) | ((carry << (63 - bit_shift)) << 1)
    # The first byte is then the '0' padding before the digits: '-' is 3 below '0'.
    first = words[..., :1] - 3 * negative.unsqueeze(-1).to(torch.int64)
    return torch.cat([first, words[..., 1:]], -1), length


def _ascii_digits(chunks: torch.Tensor) -> torch.Tensor:
    """Each value < 10**8 as its 8 zero-padded ASCII digits in one little-endian word (SWAR).

    Splits into 4-digit halves in 32-bit lanes, 2-digit quarters in 16-bit lanes, then digits in
    bytes; ``x // 100`` and ``x // 10`` are exact multiply-shifts for these ranges and stay in lane.
    """
    high = torch.div(chunks, 10_000, rounding_mode="trunc")
    words = high + ((chunks - high * 10_000) << 32)
    hundreds = ((words * 5243) >> 19) & 0x0000007F0000007F
    words = hundreds + ((words - hundreds * 100) << 16)
    tens = ((words * 103) >> 10) & 0x000F000F000F000F
    words = tens + ((words - tens * 10) << 8)
    return words + _ASCII_ZEROS


def tensor_combine_fingerprints(
    fingerprints: Sequence[torch.Tensor], seed: int | None = None
) -> torch.Tensor:
    """``combine_fingerprints`` on int64 tensors holding uint64 bits (traceable).

    >>> a, b = torch.tensor([1]), torch.tensor([2])
    >>> tensor_combine_fingerprints([a, b]).tolist() == combine_fingerprints(
    ...     [np.array([1], dtype=np.uint64), np.array([2], dtype=np.uint64)]).view(np.int64).tolist()
    True
    """
    start = as_signed(FNV_OFFSET if seed is None else int(seed))
    shape = torch.broadcast_shapes(*(f.shape for f in fingerprints))
    state = torch.full(shape, start, dtype=torch.int64, device=fingerprints[0].device)
    for fingerprint in fingerprints:
        state = tensor_fmix64((state ^ fingerprint) * FNV_PRIME)
    return state


def unsigned_remainder(bits: torch.Tensor, divisor: int) -> torch.Tensor:
    """``bits`` read as uint64, modulo ``divisor`` (1 <= divisor < 2**63): int64 in ``[0, divisor)``.

    A pattern with the top bit set stands for ``bits + 2**64``; its remainder is
    ``(bits mod divisor + 2**64 mod divisor) mod divisor``, summed without overflowing int64.

    >>> unsigned_remainder(torch.tensor([-1, 7]), 10).tolist()  # 2**64 - 1 = 18446744073709551615
    [5, 7]
    """
    remainder = torch.remainder(bits, divisor)
    wrapped = remainder - (divisor - (1 << 64) % divisor)
    wrapped = torch.where(wrapped < 0, wrapped + divisor, wrapped)
    return torch.where(bits < 0, wrapped, remainder)
