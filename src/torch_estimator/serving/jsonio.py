"""JSON text of the REST API: ``orjson`` where it is installed and reads or writes the same values as
the standard library, the standard ``json`` module everywhere else.

Reading: ``orjson`` parses a body into the same Python values as ``json.loads`` except for integers
beyond 64 bits (it makes them floats), so bodies holding a run of 19 or more digits, and bodies it
refuses (NaN, lone surrogates, UTF-16 text...), are read by ``json.loads``, whose values and error
messages the API has always had. Writing: answers may hold numpy arrays (written by ``orjson`` from
their buffers, float32 in its shortest text); when ``orjson`` is missing, cannot write a value, or wrote
``null`` (its text for NaN and infinities, which ``json`` writes as ``NaN``/``Infinity``), the answer is
built again with plain lists and written by ``json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

try:  # the optional "serve" dependency: faster JSON for the hot :predict path
    import orjson
except ImportError:  # pragma: no cover - exercised by the tests that hide orjson
    orjson = None

__all__ = ["dump_answer", "dump_json", "parse_json"]

# Maps every digit to "1" and every other byte to "0": a run of 19 "1"s then marks an integer that
# orjson could read as a float.
_DIGITS = bytes(0x31 if 0x30 <= byte <= 0x39 else 0x30 for byte in range(256))
_LONG_RUN = b"1" * 19


def parse_json(body: bytes) -> Any:
    """``json.loads(body)``: the same value, or the same ``json.JSONDecodeError``/``UnicodeDecodeError``.

    >>> parse_json(b'{"instances": [[1, 2.5]]}')
    {'instances': [[1, 2.5]]}
    """
    if orjson is not None and _LONG_RUN not in body.translate(_DIGITS):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass  # json.loads reads what orjson refuses (NaN, UTF-16...) or raises the API's own error
    return json.loads(body)


def dump_json(answer: Any) -> bytes:
    """Compact JSON text of plain Python values, as ``json.dumps`` writes it (error bodies, status and
    metadata answers).

    >>> dump_json({"error": "Not found"})
    b'{"error":"Not found"}'
    """
    return json.dumps(answer, separators=(",", ":")).encode("utf-8")


def dump_answer(build: Callable[[bool], Any]) -> bytes:
    """The JSON text of ``build(arrays)``: ``build(True)`` may hold numpy arrays and scalars and is
    written by ``orjson``; ``build(False)`` holds only lists and Python scalars (the fallback).

    >>> import numpy as np
    >>> dump_answer(lambda arrays: {"y": np.array([0.1], np.float32) if arrays else [0.1]})
    b'{"y":[0.1]}'
    >>> dump_answer(lambda arrays: {"y": np.array([np.nan], np.float32) if arrays else [float("nan")]})
    b'{"y":[NaN]}'
    """
    if orjson is not None:
        try:
            text = orjson.dumps(build(True), option=orjson.OPT_SERIALIZE_NUMPY)
        except orjson.JSONEncodeError:
            pass  # e.g. a 0-d array: the plain-list answer below writes it
        else:
            if b"null" not in text:  # no value becomes null, except NaN and infinities in orjson
                return text
    return dump_json(build(False))
