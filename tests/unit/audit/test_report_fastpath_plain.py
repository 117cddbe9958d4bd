"""`audit.record` normalises event data without a JSON round trip when it is plain JSON already: the result must be
exactly what `jsonable` (the round trip) makes of any value."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Any

import pytest

from xinyidai.audit.model import jsonable
from xinyidai.audit.service import _plain


class _Colour(StrEnum):
    RED = "red"


class _Level(IntEnum):
    HIGH = 3


VALUES: list[Any] = [
    {},
    {"a": 1, "b": "文字", "c": None, "d": True, "e": 1.5, "f": [1, "x", None, {"g": []}]},
    {"nested": {"deep": {"deeper": [[1, 2], {"k": "v"}]}}},
    {"id": uuid.UUID(int=1), "when": datetime(2026, 6, 30, 2, 0, tzinfo=UTC), "day": date(2026, 6, 30)},
    {"pair": (1, 2), "set_like": ["a", ("b", "c")]},
    {"colour": _Colour.RED, "level": _Level.HIGH, "amount": Decimal("1.50")},
    {1: "int key", "s": "str key"},
    {"inner": {None: 1, True: 2}},
    {"big": 10**30, "neg": -0.0, "inf": math.inf},
    ["top", "level", {"list": 1}],
    "scalar",
    3,
]


@pytest.mark.parametrize("value", VALUES)
def test_plain_is_what_the_json_round_trip_makes(value: Any) -> None:
    plain, expected = _plain(value), jsonable(value)
    assert plain == expected
    assert repr(plain) == repr(expected)  # the same types all the way down (str, not an enum; lists, not tuples)


def test_plain_copies_containers() -> None:
    value = {"a": [1, {"b": 2}]}
    plain = _plain(value)
    assert plain == value
    assert plain is not value
    assert plain["a"] is not value["a"]
    assert plain["a"][1] is not value["a"][1]


def test_nan_stays_nan() -> None:
    assert math.isnan(_plain({"x": math.nan})["x"])
