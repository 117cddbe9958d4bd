"""The binary COPY encoder writes every field exactly as psycopg's own binary dumpers do, nulls included."""

from __future__ import annotations

import struct
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import polars as pl
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg.adapt import PyFormat
from psycopg.types.json import Json, Jsonb
from psycopg.types.numeric import Int4, Int8

from xinyidai.ingest import pgcopy
from xinyidai.ingest.pgcopy import Kind

_NULL = b"\xff\xff\xff\xff"


def _dump(kind: Kind, value: Any) -> bytes:
    """One field as psycopg's binary dumper of the type writes it (the reference)."""
    if value is None:
        return _NULL
    if kind is Kind.JSONB:
        # The JSON text is sent as built (the server parses it); psycopg adds the jsonb version byte.
        as_is = Jsonb(value, dumps=lambda text: str(text))
        payload = bytes(psycopg.adapters.get_dumper(Jsonb, PyFormat.BINARY)(Jsonb).dump(as_is))
        return struct.pack(">i", len(payload)) + payload
    if kind is Kind.JSON:
        # json's binary form is its text.
        text = Json(value, dumps=lambda text: str(text))
        payload = bytes(psycopg.adapters.get_dumper(Json, PyFormat.BINARY)(Json).dump(text))
        return struct.pack(">i", len(payload)) + payload
    python: Any = {
        Kind.TEXT: str,
        Kind.UUID: uuid.UUID,
        Kind.DATE: date,
        Kind.INT4: Int4,
        Kind.INT8: Int8,
        Kind.BOOL: bool,
        Kind.TIMESTAMPTZ: datetime,
    }[kind]
    if kind is Kind.UUID:
        value = uuid.UUID(hex=value)
    elif kind in (Kind.INT4, Kind.INT8):
        value = python(value)
    payload = bytes(psycopg.adapters.get_dumper(python, PyFormat.BINARY)(python).dump(value))
    return struct.pack(">i", len(payload)) + payload


def _expected(rows: list[dict[str, Any]], kinds: dict[str, Kind], constants: list[bytes]) -> bytes:
    out = b""
    for row in rows:
        out += struct.pack(">h", len(constants) + len(kinds)) + b"".join(constants)
        out += b"".join(_dump(kind, row[name]) for name, kind in kinds.items())
    return out


KINDS = {
    "id": Kind.UUID,
    "name": Kind.TEXT,
    "data": Kind.JSONB,
    "doc": Kind.JSON,
    "day": Kind.DATE,
    "version": Kind.INT4,
    "line": Kind.INT8,
    "flag": Kind.BOOL,
    "at": Kind.TIMESTAMPTZ,
}
SCHEMA = {
    "id": pl.String,
    "name": pl.String,
    "data": pl.String,
    "doc": pl.String,
    "day": pl.Date,
    "version": pl.Int32,
    "line": pl.Int64,
    "flag": pl.Boolean,
    "at": pl.Datetime("us", "UTC"),
}


def test_each_kind_and_null_is_written_as_psycopg_writes_it() -> None:
    rows = [
        {
            "id": "0123456789abcdef0123456789abcdef",
            "name": '福州,引号"公司\\',
            "data": '{"CF_XDR_MC":"福州市测试公司","CF_NR_FK":"0.2"}',
            "doc": '{"CF_XDR_MC":"福州市测试公司","CF_NR_FK":"0.2"}',
            "day": date(1999, 12, 31),
            "version": 3,
            "line": 5_000_000_000,
            "flag": True,
            "at": datetime(2026, 6, 30, 2, 0, 0, 123456, tzinfo=UTC),
        },
        dict.fromkeys(KINDS),
        {
            "id": "ffffffffffffffffffffffffffffffff",
            "name": "",
            "data": "{}",
            "doc": "[]",
            "day": date(2026, 1, 1),
            "version": -1,
            "line": 1,
            "flag": False,
            "at": datetime(1970, 1, 1, tzinfo=UTC),
        },
    ]
    frame = pl.DataFrame(rows, schema=SCHEMA, orient="row")
    constants = [pgcopy.constant(Kind.TEXT, "admin_penalty"), pgcopy.constant(Kind.TEXT, None)]
    body = bytes(pgcopy.encode(frame, KINDS, constants=constants))
    assert body == _expected(rows, KINDS, constants)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (Kind.TEXT, "行政处罚"),
        (Kind.JSON, '{"a":"中"}'),
        (Kind.UUID, "01a2514af0847132b4edc44dba3db5c8"),
        (Kind.DATE, date(2030, 4, 2)),
        (Kind.INT4, 1),
        (Kind.INT8, -7),
        (Kind.BOOL, False),
        (Kind.TIMESTAMPTZ, datetime(2026, 12, 7, 16, 16, 34, 987183, tzinfo=timezone(timedelta(hours=8)))),
        (Kind.TEXT, None),
    ],
)
def test_constants_are_written_as_psycopg_writes_them(kind: Kind, value: Any) -> None:
    assert pgcopy.constant(kind, value) == _dump(kind, value)


@given(st.lists(st.tuples(st.one_of(st.none(), st.text()), st.one_of(st.none(), st.dates())), min_size=1, max_size=30))
def test_any_text_and_dates_are_written_as_psycopg_writes_them(rows: list[tuple[str | None, date | None]]) -> None:
    frame = pl.DataFrame(rows, schema={"t": pl.String, "d": pl.Date}, orient="row")
    kinds = {"t": Kind.TEXT, "d": Kind.DATE}
    assert bytes(pgcopy.encode(frame, kinds)) == _expected(frame.to_dicts(), kinds, [])


def test_an_empty_frame_is_an_empty_body() -> None:
    assert bytes(pgcopy.encode(pl.DataFrame(schema={"t": pl.String}), {"t": Kind.TEXT})) == b""


def test_a_slice_of_a_frame_encodes_only_its_rows() -> None:
    frame = pl.DataFrame({"t": ["a", "bb", "ccc", None]})
    expected = _expected([{"t": "bb"}, {"t": "ccc"}], {"t": Kind.TEXT}, [])
    assert bytes(pgcopy.encode(frame.slice(1, 2), {"t": Kind.TEXT})) == expected


def test_the_record_store_sends_every_record_column_once() -> None:
    from xinyidai.ingest import store

    assert tuple(store._PG_VARYING) == store.BulkStore._VARYING
    constants = ("item_code", "version", "disputed", "repaired", "statement", "batch_id", "origin", "received_at")
    assert sorted([*constants, *store._PG_VARYING]) == sorted(store.RECORD_COLUMNS)
