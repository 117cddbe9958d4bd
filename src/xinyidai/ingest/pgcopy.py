"""PostgreSQL's binary COPY format built from whole columns (Polars → Arrow), no per-row Python.

A CSV COPY costs the server more than the rows it stores: every byte of every field goes through the CSV
state machine (the record JSON is all quotes, each one doubled) and every uuid, date and timestamp through
its text input function. In the binary format each field is a length and the value's wire form, which the
server takes nearly as is (a json value is its text, validated once; a jsonb one a version byte and its text).
On the record store's rows that cut the server's CPU for a first load by about a third (ADR 0008, session 4).

A binary row is ``int16`` field count, then per field ``int32`` length (``-1``: null) and the bytes; all
integers big-endian. ``encode`` builds each field as two Arrow columns (length, bytes) and joins them with
``binary_join_element_wise``: the joined column's data buffer *is* the COPY body, rows back to back.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

#: Starts a binary COPY stream: signature, flags, header extension length.
SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
#: Ends it: a field count of -1.
TRAILER = b"\xff\xff"
_NULL = b"\xff\xff\xff\xff"
_BINARY = pa.large_binary()
_EMPTY = pa.scalar(b"", _BINARY)
#: PostgreSQL's epoch (2000-01-01) in days since the Unix epoch.
_PG_EPOCH_DAYS = 10_957
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class Kind(StrEnum):
    """The PostgreSQL type of a column, as far as its binary wire form goes."""

    TEXT = "text"  # text, varchar
    JSON = "json"  # the text itself
    JSONB = "jsonb"
    UUID = "uuid"
    DATE = "date"
    INT4 = "int4"
    INT8 = "int8"
    BOOL = "bool"
    TIMESTAMPTZ = "timestamptz"


def constant(kind: Kind, value: Any) -> bytes:
    """One field (length and bytes) of a value the same on every row, in ``kind``'s binary form."""
    if value is None:
        return _NULL
    match kind:
        case Kind.TEXT | Kind.JSON:
            payload = str(value).encode()
        case Kind.JSONB:
            payload = b"\x01" + str(value).encode()
        case Kind.UUID:
            payload = (value if isinstance(value, uuid.UUID) else uuid.UUID(hex=str(value))).bytes
        case Kind.DATE:
            payload = struct.pack(">i", (value - date(2000, 1, 1)).days)
        case Kind.INT4:
            payload = struct.pack(">i", value)
        case Kind.INT8:
            payload = struct.pack(">q", value)
        case Kind.BOOL:
            payload = b"\x01" if value else b"\x00"
        case Kind.TIMESTAMPTZ:
            delta = value.astimezone(UTC) - _PG_EPOCH
            payload = struct.pack(">q", (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)
    return struct.pack(">i", len(payload)) + payload


def _fixed(values: np.ndarray, width: int, valid: np.ndarray | None) -> pa.Array:
    """Big-endian fixed-width values (one row each) as a binary Arrow column, null where not ``valid``."""
    buffers = [None if valid is None else pa.array(valid, pa.bool_()).buffers()[1], pa.py_buffer(values.tobytes())]
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(values), buffers).cast(_BINARY)


def _payload(series: pl.Series, kind: Kind) -> pa.Array:
    """The column's values in their binary wire form (without lengths), null where null."""
    match kind:
        case Kind.TEXT | Kind.JSON:
            return series.cast(pl.String).cast(pl.Binary).to_arrow().cast(_BINARY)
        case Kind.JSONB:
            versioned = pl.select(pl.concat_str([pl.lit("\x01"), pl.lit(series.cast(pl.String))])).to_series()
            return versioned.cast(pl.Binary).to_arrow().cast(_BINARY)
        case Kind.UUID:
            return series.cast(pl.String).str.decode("hex").to_arrow().cast(_BINARY)
        case Kind.DATE:
            days = (series.cast(pl.Date).cast(pl.Int32) - _PG_EPOCH_DAYS).fill_null(0).to_numpy().astype(">i4")
            return _fixed(days, 4, series.is_not_null().to_numpy() if series.has_nulls() else None)
        case Kind.INT4 | Kind.INT8:
            width, dtype = (4, ">i4") if kind is Kind.INT4 else (8, ">i8")
            numbers = series.cast(pl.Int64).fill_null(0).to_numpy().astype(dtype)
            return _fixed(numbers, width, series.is_not_null().to_numpy() if series.has_nulls() else None)
        case Kind.BOOL:
            flags = series.cast(pl.Boolean).fill_null(False).to_numpy().astype(np.uint8)
            return _fixed(flags, 1, series.is_not_null().to_numpy() if series.has_nulls() else None)
        case Kind.TIMESTAMPTZ:
            micros = series.dt.convert_time_zone("UTC").dt.epoch("us") - (_PG_EPOCH_DAYS * 86_400_000_000)
            values = micros.fill_null(0).to_numpy().astype(">i8")
            return _fixed(values, 8, series.is_not_null().to_numpy() if series.has_nulls() else None)
    raise ValueError(f"unknown kind {kind!r}")  # pragma: no cover - StrEnum is exhaustive


def _field(series: pl.Series, kind: Kind) -> tuple[pa.Array, pa.Array]:
    """(length, bytes) columns of one field: the length is -1 and the bytes empty where the value is null."""
    payload = _payload(series, kind)
    lengths = pc.binary_length(payload).fill_null(-1).to_numpy(zero_copy_only=False).astype(">i4")
    return _fixed(lengths, 4, None), payload.fill_null(_EMPTY)


def encode(frame: pl.DataFrame, kinds: Mapping[str, Kind], *, constants: Sequence[bytes] = ()) -> memoryview:
    """The rows of ``frame`` as a binary COPY body (no signature, no trailer).

    Each row holds first the ``constants`` (fields already in wire form, from ``constant``), then the
    columns of ``kinds`` in that order: the COPY statement must list its columns the same way.
    """
    count = len(constants) + len(kinds)
    prefix = struct.pack(">h", count) + b"".join(constants)
    if frame.height == 0:
        return memoryview(b"")
    parts: list[pa.Array] = []
    for name, kind in kinds.items():
        parts.extend(_field(frame[name], kind))
    rows = pc.binary_join_element_wise(pa.scalar(prefix, _BINARY), *parts, _EMPTY)
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64, count=frame.height + 1, offset=rows.offset * 8)
    data = rows.buffers()[2]
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])]
