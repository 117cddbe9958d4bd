"""Bulk writes of the record store inside the batch's transaction: binary COPY on PostgreSQL, ``executemany``
on SQLite.

The ORM is the wrong tool for a million rows: this module talks to the driver connection under the
session (so it shares the session's transaction, or the test's savepoint) and sends whole columns.
Values are written in exactly the forms SQLAlchemy's types read back (on SQLite UUIDs as 32 hex digits,
ISO dates, naive UTC datetimes; on PostgreSQL each type's binary wire form, ``pgcopy``), so ORM reads of
the same rows work unchanged.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from xinyidai.ingest import pgcopy
from xinyidai.ingest.pgcopy import Kind
from xinyidai.kernel.ids import new_id

#: Columns of ``ingest_record`` in the order bulk writes send them.
RECORD_COLUMNS: tuple[str, ...] = (
    "id",
    "item_code",
    "subject_uscc",
    "version",
    "content_hash",
    "data",
    "pii",
    "event_date",
    "severity",
    "publication_rule",
    "publication_min_end",
    "publication_end",
    "retention_end",
    "disputed",
    "repaired",
    "statement",
    "source_id",
    "batch_id",
    "origin",
    "received_at",
)
_REJECT_COLUMNS = ("id", "batch_id", "line", "field", "value", "code", "reason")
#: PostgreSQL types of the columns of a record that vary per row (the batch's constants are encoded once).
_PG_VARYING: dict[str, Kind] = {
    "id": Kind.UUID,
    "subject_uscc": Kind.TEXT,
    "content_hash": Kind.TEXT,
    "data": Kind.JSON,
    "pii": Kind.TEXT,
    "event_date": Kind.DATE,
    "severity": Kind.TEXT,
    "publication_rule": Kind.TEXT,
    "publication_min_end": Kind.DATE,
    "publication_end": Kind.DATE,
    "retention_end": Kind.DATE,
    "source_id": Kind.UUID,
}
_PG_REJECT: dict[str, Kind] = {
    "id": Kind.UUID,
    "line": Kind.INT8,
    "field": Kind.TEXT,
    "value": Kind.TEXT,
    "code": Kind.TEXT,
    "reason": Kind.TEXT,
}
#: Fields a new delivery replaces; flags, the statement and (after repair) the publication end stay.
_UPDATED = (
    "subject_uscc",
    "content_hash",
    "data",
    "pii",
    "event_date",
    "severity",
    "publication_rule",
    "publication_min_end",
    "retention_end",
    "source_id",
    "batch_id",
    "origin",
    "received_at",
)
_HISTORY_COLUMNS = (
    "record_id",
    "version",
    "item_code",
    "subject_uscc",
    "content_hash",
    "data",
    "pii",
    "event_date",
    "publication_end",
    "retention_end",
    "source_id",
    "batch_id",
    "origin",
    "received_at",
    "superseded_at",
)
#: SQLite page cache during a batch (KiB, negative = size): a batch is one transaction, and dirty pages
#: that do not fit are spilled to the WAL and re-read. 256 MiB keeps a million-row batch mostly in memory.
SQLITE_BATCH_CACHE_KIB = 262_144


def _tuples(frame: pl.DataFrame) -> Iterator[tuple[Any, ...]]:
    """The frame's rows as tuples for ``executemany``, built from whole columns (one Python list per column,
    zipped) rather than row by row: a third of the cost of ``DataFrame.iter_rows``."""
    return zip(*(column.to_list() for column in frame.get_columns()), strict=True)


#: Columns of mostly non-ASCII text (the record's JSON, Chinese) that SQLite bulk writes pass as their
#: UTF-8 bytes and store as text (``CAST(? AS TEXT)``, placeholder from ``_sqlite_mark``): the same stored
#: value, without decoding each one into a Python ``str`` that the driver then encodes back to UTF-8.
_UTF8_PASSTHROUGH = frozenset({"data"})


def _sqlite_mark(column: str) -> str:
    """The placeholder of ``column`` in a SQLite bulk INSERT (see ``_UTF8_PASSTHROUGH``)."""
    return "CAST(? AS TEXT)" if column in _UTF8_PASSTHROUGH else "?"


def _sqlite_values(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with the ``_UTF8_PASSTHROUGH`` columns as their UTF-8 bytes (Polars strings are UTF-8)."""
    return frame.with_columns([pl.col(c).cast(pl.Binary) for c in frame.columns if c in _UTF8_PASSTHROUGH])


def _sqlite_datetime(moment: datetime) -> str:
    """A datetime as SQLAlchemy stores it on SQLite: naive UTC with microseconds."""
    return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


class BulkStore:
    """Bulk reads and writes of one batch's records through the session's driver connection."""

    def __init__(self, session: Session, *, item_code: str, batch_id: uuid.UUID, received_at: datetime) -> None:
        self.session = session
        self.item_code = item_code
        self.batch_id = batch_id
        self.received_at = received_at
        self.dialect = session.get_bind().dialect.name
        self.raw: Any = session.connection().connection.driver_connection
        self._cache_before: int | None = None
        self._staged = False
        self._pg_fixed: dict[str, bytes] | None = None

    # --- lifecycle -----------------------------------------------------------------------------------

    def begin(self) -> None:
        """Serialise batches of one item (PostgreSQL) and size the page cache (SQLite)."""
        if self.dialect == "sqlite":
            self._cache_before = int(self.raw.execute("PRAGMA cache_size").fetchone()[0])
            self.raw.execute(f"PRAGMA cache_size=-{SQLITE_BATCH_CACHE_KIB}")
        else:
            with self.raw.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"xinyidai.ingest:{self.item_code}",))
            self._pg_constants()  # made here, before a worker thread reads them (``encode_new``)

    def end(self) -> None:
        """Restore connection settings changed by ``begin``."""
        if self.dialect == "sqlite" and self._cache_before is not None:
            self.raw.execute(f"PRAGMA cache_size={self._cache_before}")
            self._cache_before = None

    # --- reads ---------------------------------------------------------------------------------------

    def existing(self, ids: pl.Series) -> pl.DataFrame:
        """(id, content_hash, version) of the records among ``ids`` already in the store."""
        schema = {"id": pl.String, "old_hash": pl.String, "old_version": pl.Int64}
        if ids.is_empty():
            return pl.DataFrame(schema=schema)
        values = ids.to_list()
        if self.dialect == "sqlite":
            rows = self.raw.execute(
                "SELECT r.id, r.content_hash, r.version FROM json_each(?) AS j JOIN ingest_record AS r ON r.id = j.value",
                (json.dumps(values),),
            ).fetchall()
        else:
            with self.raw.cursor() as cur:
                cur.execute(
                    "SELECT replace(id::text, '-', ''), content_hash, version FROM ingest_record WHERE id = ANY(%s::uuid[])",
                    (values,),
                )
                rows = cur.fetchall()
        return pl.DataFrame(rows, schema=schema, orient="row")

    # --- writes --------------------------------------------------------------------------------------

    def _record_frame(self, rows: pl.DataFrame, *, version: int | None) -> pl.DataFrame:
        """The rows as ``RECORD_COLUMNS``, in the text forms SQLAlchemy reads back from SQLite."""
        received = _sqlite_datetime(self.received_at)
        false = pl.lit(0)
        return rows.select(
            pl.col("id"),
            pl.lit(self.item_code).alias("item_code"),
            pl.col("subject_uscc"),
            (pl.lit(version) if version is not None else pl.lit(1)).alias("version"),
            pl.col("content_hash"),
            pl.col("data"),
            pl.col("pii"),
            pl.col("event_date").dt.to_string("%Y-%m-%d"),
            pl.col("severity"),
            pl.col("publication_rule"),
            pl.col("publication_min_end").dt.to_string("%Y-%m-%d"),
            pl.col("publication_end").dt.to_string("%Y-%m-%d"),
            pl.col("retention_end").dt.to_string("%Y-%m-%d"),
            false.alias("disputed"),
            false.alias("repaired"),
            pl.lit(None, pl.String).alias("statement"),
            pl.col("source_id"),
            pl.lit(self.batch_id.hex).alias("batch_id"),
            pl.lit("delivery").alias("origin"),
            pl.lit(received).alias("received_at"),
        )

    def _copy(
        self,
        table: str,
        frame: pl.DataFrame,
        kinds: Mapping[str, Kind],
        constants: Mapping[str, bytes],
        *,
        body: memoryview | None = None,
    ) -> None:
        """COPY the rows in PostgreSQL's binary format (``pgcopy``): the ``constants`` (the same on every row,
        already encoded) and the ``kinds`` columns of ``frame``; ``body``: that encoding, made ahead."""
        columns = ", ".join([*constants, *kinds])
        if body is None:
            body = pgcopy.encode(frame, kinds, constants=list(constants.values()))
        with self.raw.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT binary)") as copy:
            copy.write(pgcopy.SIGNATURE)
            copy.write(body)
            copy.write(pgcopy.TRAILER)

    def _pg_constants(self) -> dict[str, bytes]:
        """The columns of a new record that are the same for the whole batch, in binary COPY form."""
        if self._pg_fixed is None:
            self._pg_fixed = {
                "item_code": pgcopy.constant(Kind.TEXT, self.item_code),
                "version": pgcopy.constant(Kind.INT4, 1),
                "disputed": pgcopy.constant(Kind.BOOL, False),
                "repaired": pgcopy.constant(Kind.BOOL, False),
                "statement": pgcopy.constant(Kind.TEXT, None),
                "batch_id": pgcopy.constant(Kind.UUID, self.batch_id),
                "origin": pgcopy.constant(Kind.TEXT, "delivery"),
                "received_at": pgcopy.constant(Kind.TIMESTAMPTZ, self.received_at),
            }
        return self._pg_fixed

    #: Columns that vary per row; the rest of a new record is the same for the whole batch.
    _VARYING = (
        "id",
        "subject_uscc",
        "content_hash",
        "data",
        "pii",
        "event_date",
        "severity",
        "publication_rule",
        "publication_min_end",
        "publication_end",
        "retention_end",
        "source_id",
    )

    def _sqlite_insert(self) -> str:
        """INSERT with the batch's constants as literals: fewer values to bind per row (all are ours, checked)."""
        item, batch, received = self.item_code, self.batch_id.hex, _sqlite_datetime(self.received_at)
        if not (item.replace("_", "").isalnum() and item.isascii()):
            raise ValueError(f"unexpected item code {item!r}")
        constants = {
            "item_code": f"'{item}'",
            "version": "1",
            "disputed": "0",
            "repaired": "0",
            "statement": "NULL",
            "batch_id": f"'{batch}'",
            "origin": "'delivery'",
            "received_at": f"'{received}'",
        }
        values = ", ".join(constants.get(c, _sqlite_mark(c)) for c in RECORD_COLUMNS)
        return f"INSERT INTO ingest_record ({', '.join(RECORD_COLUMNS)}) VALUES ({values})"

    def encode_new(self, rows: pl.DataFrame) -> memoryview | None:
        """What ``insert_new(rows)`` sends, built ahead: on PostgreSQL the COPY body (pure column work, safe in
        the worker thread, so that the server is not kept waiting for it between chunks); None on SQLite,
        whose writes bind values and whose worker is the busier thread already."""
        if self.dialect == "sqlite" or rows.is_empty():
            return None
        return pgcopy.encode(rows.sort("id"), _PG_VARYING, constants=list(self._pg_constants().values()))

    def insert_new(self, rows: pl.DataFrame, *, encoded: memoryview | None = None) -> None:
        """Insert records that are not in the store yet (version 1), in id order (the index fills in order);
        ``encoded``: ``encode_new(rows)``, made ahead."""
        if rows.is_empty():
            return
        if self.dialect == "sqlite":
            varying = self._record_frame(rows.sort("id"), version=1).select(self._VARYING)
            self.raw.executemany(self._sqlite_insert(), _tuples(_sqlite_values(varying)))
        else:
            body = encoded if encoded is not None else self.encode_new(rows)
            self._copy("ingest_record", rows, _PG_VARYING, self._pg_constants(), body=body)

    def _stage(self, rows: pl.DataFrame) -> None:
        """The changed rows of a chunk into the temporary ``ingest_stage`` (emptied first), in id order."""
        if self.dialect == "sqlite":
            if not self._staged:
                self.raw.execute("CREATE TEMP TABLE IF NOT EXISTS ingest_stage AS SELECT * FROM ingest_record WHERE 0")
            self.raw.execute("DELETE FROM ingest_stage")
            marks = ", ".join(_sqlite_mark(c) for c in RECORD_COLUMNS)
            frame = self._record_frame(rows.sort("id"), version=None)
            self.raw.executemany(
                f"INSERT INTO ingest_stage ({', '.join(RECORD_COLUMNS)}) VALUES ({marks})", _tuples(_sqlite_values(frame))
            )
        else:
            with self.raw.cursor() as cur:
                if not self._staged:
                    cur.execute("CREATE TEMP TABLE IF NOT EXISTS ingest_stage (LIKE ingest_record) ON COMMIT DROP")
                cur.execute("TRUNCATE ingest_stage")
            self._copy("ingest_stage", rows.sort("id"), _PG_VARYING, self._pg_constants())
        self._staged = True

    def update_changed(self, rows: pl.DataFrame) -> None:
        """Replace records whose content changed: the current version is kept in the history first."""
        if rows.is_empty():
            return
        self._stage(rows)
        sqlite = self.dialect == "sqlite"
        superseded = _sqlite_datetime(self.received_at) if sqlite else self.received_at.isoformat(sep=" ")
        history_source = ", ".join(
            f"r.{c}" if c not in ("record_id", "superseded_at") else ("r.id" if c == "record_id" else "?" if sqlite else "%s")
            for c in _HISTORY_COLUMNS
        )
        copy_history = (
            f"INSERT INTO ingest_record_version ({', '.join(_HISTORY_COLUMNS)}) "
            f"SELECT {history_source} FROM ingest_record AS r JOIN ingest_stage AS s ON r.id = s.id"
        )
        assignments = ", ".join(f"{c} = s.{c}" for c in _UPDATED)
        keep_repaired = (
            "publication_end = CASE WHEN ingest_record.repaired THEN ingest_record.publication_end ELSE s.publication_end END"
        )
        update = (
            f"UPDATE ingest_record SET version = ingest_record.version + 1, {assignments}, {keep_repaired} "
            "FROM ingest_stage AS s WHERE ingest_record.id = s.id"
        )
        if sqlite:
            self.raw.execute(copy_history, (superseded,))
            self.raw.execute(update)
        else:
            with self.raw.cursor() as cur:
                cur.execute(copy_history, (superseded,))
                cur.execute(update)

    def insert_rejects(self, rejects: pl.DataFrame) -> None:
        """Store a chunk's rejects (line, field, value, code, reason) under the batch."""
        if rejects.is_empty():
            return
        ids = pl.Series("id", [new_id().hex for _ in range(rejects.height)], dtype=pl.String)
        if self.dialect == "sqlite":
            frame = rejects.select(
                ids,
                pl.lit(self.batch_id.hex).alias("batch_id"),
                pl.col("line"),
                pl.col("field"),
                pl.col("value"),
                pl.col("code"),
                pl.col("reason"),
            )
            marks = ", ".join("?" for _ in _REJECT_COLUMNS)
            self.raw.executemany(f"INSERT INTO ingest_reject ({', '.join(_REJECT_COLUMNS)}) VALUES ({marks})", _tuples(frame))
        else:
            batch = {"batch_id": pgcopy.constant(Kind.UUID, self.batch_id)}
            self._copy("ingest_reject", rejects.with_columns(ids), _PG_REJECT, batch)
