"""JSON text on the hot paths, through orjson (ADR 0018): canonical bytes for hashing and signing, and the decoder
the database engines use for JSON columns.

``canonical_json`` gives, for every JSON value without floats (str keys; str, int, bool, None, lists and dicts of
those), exactly the bytes of the standard library's
``json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()``, about ten times faster
(a property test holds the two to the same bytes). The documents hashed with it (reports) carry no floats by
construction — amounts are exact-decimal text — and must not: orjson writes a float in its shortest round-trip
form (``1e16`` where the standard library writes ``1e+16``) and NaN or an infinity as ``null``.

``loads`` reads what ``json.loads`` reads: orjson, except for the texts it refuses (NaN and Infinity literals, lone
surrogates) and those with a run of 19 or more digits, which the standard library reads — orjson reads an integer
outside 64 bits as a float, losing digits. A long digit run inside a string (an account number) only costs the
slower parser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import orjson

_SORTED = orjson.OPT_SORT_KEYS


def canonical_json(value: Mapping[str, Any] | list[Any]) -> bytes:
    """UTF-8 JSON with sorted keys and no spaces: the same bytes for the same content (see the module's note).

    Raises TypeError for what JSON cannot hold (as ``json.dumps`` does) and for keys that are not text (which
    ``json.dumps`` would have turned into text)."""
    try:
        return orjson.dumps(value, option=_SORTED)
    except TypeError as error:
        if "Integer exceeds" not in str(error):
            raise
        # Integers past 64 bits: the standard library writes them exactly.
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


#: 19 digits in a row: possibly an integer outside orjson's 64 bits (the module's note).
_LONG_DIGITS = re.compile(r"[0-9]{19}")
_LONG_DIGITS_BYTES = re.compile(rb"[0-9]{19}")


def loads(text: str | bytes) -> Any:
    """Parse JSON text as ``json.loads`` does, orjson where that gives the same value."""
    long_digits = _LONG_DIGITS_BYTES if isinstance(text, bytes) else _LONG_DIGITS
    if long_digits.search(text) is not None:  # type: ignore[arg-type]  # the pattern matches the text's type
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
