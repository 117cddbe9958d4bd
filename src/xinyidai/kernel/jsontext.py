"""JSON text on the hot paths, through orjson (ADR 0018): canonical bytes for hashing and signing, and the decoder
the database engines use for JSON columns.

``canonical_json`` gives, for every JSON value without floats (str keys; str, int, bool, None, lists and dicts of
those), exactly the bytes of the standard library's
``json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()``, about ten times faster
(a property test holds the two to the same bytes). The documents hashed with it (reports) carry no floats by
construction — amounts are exact-decimal text — and must not: orjson writes a float in its shortest round-trip
form (``1e16`` where the standard library writes ``1e+16``) and NaN or an infinity as ``null``.

``loads`` reads what ``json.loads`` reads: orjson first, and the standard library for the few texts orjson
refuses (NaN and Infinity literals, integers past 64 bits, lone surrogates).
"""

from __future__ import annotations

import json
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


def loads(text: str | bytes) -> Any:
    """Parse JSON text as ``json.loads`` does, orjson first."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
