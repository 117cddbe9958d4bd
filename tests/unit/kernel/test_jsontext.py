"""`kernel.jsontext`: orjson's canonical bytes are the standard library's for every float-free JSON value, and
`loads` reads what `json.loads` reads."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinyidai.kernel import jsontext


def _stdlib(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


# Any text, control characters, quotes, backslashes, CJK and astral characters included (no lone surrogates:
# they are not Unicode scalar values and have no UTF-8 form).
_text = st.text(st.characters(exclude_categories=["Cs"]))
_scalars = st.none() | st.booleans() | st.integers() | _text
_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_text, inner, max_size=5), max_leaves=40
)


@given(st.dictionaries(_text, _values, max_size=8))
def test_canonical_bytes_are_the_standard_librarys_for_float_free_documents(value: dict[str, Any]) -> None:
    assert jsontext.canonical_json(value) == _stdlib(value)


@given(_values)
def test_loads_reads_what_the_standard_library_reads(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    assert jsontext.loads(text) == json.loads(text)
    assert jsontext.loads(text.encode()) == json.loads(text)


def test_integers_past_64_bits_fall_back_to_the_standard_library() -> None:
    value = {"big": 2**70, "small": -(2**65), "n": 1}
    assert jsontext.canonical_json(value) == _stdlib(value)
    assert jsontext.loads('{"big":1180591620717411303424}') == {"big": 2**70}
    exact = jsontext.loads('{"big":1180591620717411303424,"low":-9223372036854775809}')
    assert exact == {"big": 2**70, "low": -(2**63) - 1}
    assert type(exact["big"]) is int
    assert type(exact["low"]) is int


def test_literals_orjson_refuses_are_read_as_the_standard_library_reads_them() -> None:
    parsed = jsontext.loads('{"a":NaN,"b":Infinity}')
    assert parsed["a"] != parsed["a"]  # NaN
    assert parsed["b"] == float("inf")


def test_what_json_cannot_hold_is_refused() -> None:
    with pytest.raises(TypeError):
        jsontext.canonical_json({"a": object()})
    with pytest.raises(TypeError):
        jsontext.canonical_json({1: "key that is not text"})  # type: ignore[dict-item]
