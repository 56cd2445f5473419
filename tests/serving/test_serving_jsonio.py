"""The JSON text of the REST API: orjson where it reads and writes the values the standard library
does, ``json`` for everything else (same values, same errors)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torch_estimator.serving import jsonio

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_parse_json_reads_what_json_loads_reads(value):
    """Integers of any size included: orjson would make those beyond 64 bits floats."""
    body = json.dumps(value).encode()
    parsed = jsonio.parse_json(body)
    assert parsed == json.loads(body)
    assert json.dumps(parsed) == json.dumps(json.loads(body))  # 1 stays an int, 1.0 a float


@pytest.mark.parametrize(
    "body",
    [b'{"a": NaN}', b'"\\ud800"', b"\xef\xbb\xbf{}", '{"a": 1}'.encode("utf-16"), b"[-9223372036854775809]"],
    ids=["nan", "lone-surrogate", "utf8-bom", "utf16", "beyond-int64"],
)
def test_what_orjson_refuses_or_reads_otherwise_is_read_by_json(body):
    try:
        expected = json.loads(body)
    except ValueError as err:
        with pytest.raises(type(err), match=str(err).split(":")[0]):
            jsonio.parse_json(body)
        return
    assert json.dumps(jsonio.parse_json(body)) == json.dumps(expected)


@pytest.mark.parametrize("body", [b'{"a": [1, 2', b"\xff\xfe{}", b""])
def test_malformed_json_raises_json_s_own_error(body):
    with pytest.raises(ValueError) as caught:
        json.loads(body)
    with pytest.raises(type(caught.value)) as got:
        jsonio.parse_json(body)
    assert str(got.value) == str(caught.value)


def answer(arrays):
    values = np.array([[0.1, 1 / 3], [2.5, -0.0]], np.float32)
    ids = np.array([3, 1])
    if not arrays:
        return {"predictions": [{"p": [0.1, 0.33333334], "id": 3}, {"p": [2.5, -0.0], "id": 1}]}
    return {"predictions": [{"p": p, "id": i} for p, i in zip(values, ids, strict=True)]}


def test_dump_answer_writes_arrays_as_the_plain_answer_reads():
    assert json.loads(jsonio.dump_answer(answer)) == answer(False)


def test_dump_answer_writes_nan_and_infinity_as_json_does():
    text = jsonio.dump_answer(
        lambda arrays: {
            "y": np.array([np.nan, -np.inf], np.float32) if arrays else [float("nan"), -float("inf")]
        }
    )
    assert text == b'{"y":[NaN,-Infinity]}'


def test_without_orjson_the_standard_library_does_it_all(monkeypatch):
    monkeypatch.setattr(jsonio, "orjson", None)
    assert jsonio.parse_json(b'{"a": [1, 2.5]}') == {"a": [1, 2.5]}
    assert (
        jsonio.dump_answer(answer)
        == b'{"predictions":[{"p":[0.1,0.33333334],"id":3},{"p":[2.5,-0.0],"id":1}]}'
    )
