"""Point-in-time snapshots: the records an evaluation as of a date may see, flattened to typed Parquet.

An evaluation as of date D sees a record only if it was received by the end of D in China Standard Time
(the zone dates are stated in, ``kernel.clock.today``), is inside its publication and retention windows on
D, and is not repaired. Where a record changed after D, the version current at the end of D is read from
the history (``ingest_record_version``: received before the cut, superseded after it).

Reading is one streaming query per table, all in one database state, straight into Arrow: on a SQLite file two
reader processes (``adbc_reader.py``, the ADBC SQLite driver; processes because the driver carries its own copy of
SQLite, ADR 0017) each read half of the records and decode them, their read transactions started together while
the writer lock is held for a moment; ``COPY … TO STDOUT`` on PostgreSQL; a cursor read in large chunks where the
database is in memory or bound to a test's connection. DuckDB takes each item's rows out of a chunk and decodes
their JSON ``data`` into the item's typed fields (dates, exact decimals, integers, booleans; personal fields are
left out) in one query per item, and each result is appended to one Parquet file per item under
``directory/<snapshot id>/``, beside ``subjects.parquet`` (the registry) and ``manifest.json``.
"""

from __future__ import annotations

import io
import json
import queue
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Collection, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any, Final, TypeVar, cast

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.engine import Engine

from xinyidai.catalog import FieldType, load_catalog
from xinyidai.db import Database
from xinyidai.evaluation.indicators import INDICATOR_SET_VERSION, SNAPSHOT_ITEMS
from xinyidai.kernel.clock import Clock, SystemClock
from xinyidai.kernel.ids import new_id

#: China Standard Time: the end of an as-of date is midnight here.
CST: Final = timezone(timedelta(hours=8))
#: Rows fetched per round trip / decoded per Polars chunk.
CHUNK_ROWS: Final = 250_000
#: Parquet compression of snapshot tables: LZ4 costs a fraction of zstd's CPU on write and read.
COMPRESSION: Final = "lz4"
#: Columns every item table has before its own fields.
COMMON: Final = {"record_id": pl.String, "uscc": pl.String, "event_date": pl.Date, "severity": pl.String}
#: Columns of ``subjects.parquet``.
SUBJECT_SCHEMA: Final = {
    "uscc": pl.String,
    "name": pl.String,
    "region_code": pl.String,
    "industry_code": pl.String,
    "size_class": pl.String,
    "status": pl.String,
    "registered_capital": pl.Decimal(20, 6),
    "established_on": pl.Date,
}
_DECIMAL: Final = pl.Decimal(20, 6)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A written snapshot: its id, as-of date, directory, how many records and subjects it holds."""

    id: uuid.UUID
    as_of: date
    path: Path
    records: int
    subjects: int
    created_at: datetime

    def table_path(self, name: str) -> Path:
        """The Parquet file of ``subjects`` or of a catalog item."""
        return self.path / f"{name}.parquet"

    @classmethod
    def open(cls, path: Path) -> Snapshot:
        """Read a snapshot back from its directory's manifest."""
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        return cls(
            id=uuid.UUID(manifest["id"]),
            as_of=date.fromisoformat(manifest["as_of"]),
            path=path,
            records=int(manifest["records"]),
            subjects=int(manifest["subjects"]),
            created_at=datetime.fromisoformat(manifest["created_at"]),
        )


def cut_instant(as_of: date) -> datetime:
    """The first instant after the as-of date ends in China Standard Time (UTC)."""
    return datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=CST).astimezone(UTC)


@cache
def item_schema(item_code: str) -> dict[str, pl.DataType]:
    """Typed columns of one item's table: the common ones, then the item's non-personal fields."""
    item = load_catalog().item(item_code)
    types: dict[FieldType, pl.DataType] = {
        FieldType.DATE: pl.Date(),
        FieldType.DECIMAL_WAN: _DECIMAL,
        FieldType.INTEGER: pl.Int64(),
        FieldType.BOOLEAN: pl.Boolean(),
    }
    schema: dict[str, pl.DataType] = {k: v() if isinstance(v, type) else v for k, v in COMMON.items()}
    for f in item.record_schema:
        if f.personal or f.name in schema:
            continue
        schema[f.name] = types.get(f.type, pl.String())
    return schema


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


#: How ``json_transform`` reads each field type: casting as it decodes (a value that does not parse is NULL);
#: booleans are read as text and compared with ``true``, as the ingest pipeline writes them.
_JSON_TYPES: Final = {FieldType.DATE: "DATE", FieldType.DECIMAL_WAN: "DECIMAL(20, 6)", FieldType.INTEGER: "BIGINT"}


@cache
def _flatten_sql(item_code: str) -> str:
    """The DuckDB query that takes one item's rows out of a chunk and decodes their ``data`` JSON into the item's
    typed columns: DuckDB's JSON reader (yyjson) casts each field to its type as it decodes (ISO dates, exact
    decimals, integers; a value that does not parse is NULL, as the ingest pipeline has already rejected such
    values), and booleans are the text ``true``."""
    item = load_catalog().item(item_code)
    types = {f.name: f.type for f in item.record_schema}
    fields = [n for n in item_schema(item_code) if n not in COMMON]
    spec = {n: "VARCHAR" if types[n] == FieldType.BOOLEAN else _JSON_TYPES.get(types[n], "VARCHAR") for n in fields}
    columns = ["record_id", "uscc", "TRY_CAST(left(event_date, 10) AS DATE) AS event_date", "NULLIF(severity, '') AS severity"]
    for name in fields:
        value = f"j.{_ident(name)}"
        columns.append(
            f"({value} = 'true') AS {_ident(name)}" if types[name] == FieldType.BOOLEAN else f"{value} AS {_ident(name)}"
        )
    return (
        f"SELECT {', '.join(columns)} FROM (SELECT record_id, uscc, event_date, severity, "
        f"json_transform(data, {_literal(json.dumps(spec, ensure_ascii=False))}) AS j FROM chunk "
        f"WHERE item_code = {_literal(item_code)})"
    )


def _flatten(item_code: str, duck: Any) -> pa.Table:
    """One item's rows of the chunk registered as ``chunk`` in ``duck``, with their typed columns (column-wise,
    in DuckDB, no per-row Python)."""
    return duck.sql(_flatten_sql(item_code)).to_arrow_table()


class _Writers:
    """One Parquet writer per item, opened on its first rows."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.open: dict[str, pq.ParquetWriter] = {}
        self.rows: dict[str, int] = {}

    def write(self, name: str, table: pa.Table) -> None:
        writer = self.open.get(name)
        if writer is None:
            # Record ids are unique: a dictionary or min/max statistics of them cost CPU and buy nothing.
            others = [n for n in table.column_names if n != "record_id"]
            writer = self.open[name] = pq.ParquetWriter(
                self.root / f"{name}.parquet",
                table.schema,
                compression=COMPRESSION,
                use_dictionary=others,
                write_statistics=others,
            )
        writer.write_table(table)
        self.rows[name] = self.rows.get(name, 0) + table.num_rows

    def close(self, required: Collection[str]) -> None:
        for writer in self.open.values():
            writer.close()
        for name in required:
            if name not in self.open:
                empty = pl.DataFrame(schema=item_schema(name)).to_arrow()
                pq.write_table(empty, self.root / f"{name}.parquet")
                self.rows[name] = 0


_RECORD_COLUMNS: Final = ("record_id", "item_code", "uscc", "data", "event_date", "severity")
#: Columns of the snapshot's queries that are never NULL (the rest are read through ``coalesce``).
_NEVER_NULL: Final = frozenset({"record_id", "item_code", "uscc", "data"})


def _record_queries(dialect: str, *, subjects: bool) -> tuple[str, str]:
    """The SQL for current versions and for historical versions current at the cut."""
    if dialect == "sqlite":
        key, text_id, hist_id = "?", "r.id", "h.record_id"
        subject_filter = " AND {a}.subject_uscc IN (SELECT value FROM json_each(?))" if subjects else ""
        false = "0"
    else:
        key, text_id, hist_id = "%s", "replace(r.id::text, '-', '')", "replace(h.record_id::text, '-', '')"
        subject_filter = " AND {a}.subject_uscc = ANY(%s)" if subjects else ""
        false = "false"
    windows = (
        "({a}.publication_end IS NULL OR {a}.publication_end >= {k}) AND ({a}.retention_end IS NULL OR {a}.retention_end >= {k})"
    )
    current = (
        f"SELECT {text_id}, r.item_code, r.subject_uscc, r.data, r.event_date, r.severity FROM ingest_record AS r "
        f"WHERE r.received_at < {key} AND r.repaired = {false} AND r.subject_uscc IS NOT NULL AND "
        + windows.format(a="r", k=key)
        + subject_filter.format(a="r")
    )
    history = (
        f"SELECT {hist_id}, h.item_code, h.subject_uscc, h.data, h.event_date, r.severity "
        "FROM ingest_record_version AS h JOIN ingest_record AS r ON r.id = h.record_id "
        f"WHERE h.received_at < {key} AND h.superseded_at >= {key} AND r.received_at >= {key} AND r.repaired = {false} "
        "AND h.subject_uscc IS NOT NULL AND " + windows.format(a="h", k=key) + subject_filter.format(a="h")
    )
    return current, history


def _params(dialect: str, as_of: date, subjects: list[str] | None, *, history: bool) -> tuple[Any, ...]:
    cut = cut_instant(as_of)
    cut_value: Any = cut.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else cut
    day: Any = as_of.isoformat() if dialect == "sqlite" else as_of
    values: list[Any] = [cut_value, cut_value, cut_value] if history else [cut_value]
    values += [day, day]
    if subjects is not None:
        values.append(json.dumps(subjects) if dialect == "sqlite" else subjects)
    return tuple(values)


def _sqlite_chunks(raw: Any, sql: str, params: tuple[Any, ...], names: tuple[str, ...]) -> Iterator[pa.Table]:
    cursor = raw.execute(sql, params)
    schema = dict.fromkeys(names, pl.String)
    while rows := cursor.fetchmany(CHUNK_ROWS):
        yield pl.DataFrame(rows, schema=schema, orient="row").to_arrow()


#: Rows per Arrow batch the ADBC SQLite driver builds (it also infers each column's type from a batch).
ADBC_BATCH_ROWS: Final = 65_536


class _ReaderProcess:
    """A child process reading the SQLite file through the ADBC SQLite driver (``adbc_reader.py``): every query
    it answers reads in its one read transaction, and the answer comes back as Arrow IPC streams, the records
    decoded per item by DuckDB in the process when it is given the items' queries."""

    def __init__(self, path: str) -> None:
        script = Path(__file__).with_name("adbc_reader.py")
        self.process = subprocess.Popen(  # noqa: S603 - our own script, run by the running interpreter
            [sys.executable, str(script), path, str(ADBC_BATCH_ROWS), str(CHUNK_ROWS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def query(
        self, sql: str, params: tuple[Any, ...], names: tuple[str, ...], items: dict[str, str] | None = None
    ) -> Iterator[tuple[str, pa.Table]]:
        """The parts of one query's answer: (``*``, rows) or, with ``items``, (item code, decoded rows)."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        request = {"sql": sql, "params": list(params), "names": list(names), "items": items}
        stdin.write(json.dumps(request, ensure_ascii=False).encode() + b"\n")
        stdin.flush()
        while True:
            label = stdout.readline()
            if label == b"\n":
                return
            if not label:
                raise RuntimeError(f"snapshot reader failed: {self._error()}")
            yield label.decode().rstrip("\n"), pa.ipc.open_stream(stdout).read_all()

    def _error(self) -> str:
        self.process.wait(timeout=30)
        assert self.process.stderr is not None
        return self.process.stderr.read().decode(errors="replace").strip() or f"exit status {self.process.returncode}"

    def close(self) -> None:
        """End the read (end of input) and wait for the process; kill it if it does not end."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.close()
            self.process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            for pipe in (self.process.stdout, self.process.stderr):
                if pipe is not None:
                    pipe.close()


#: Reader processes of a whole-table snapshot on a SQLite file: each reads its share of the records' rowids.
READERS: Final = 2


class _Readers:
    """Reader processes whose read transactions all see one database state.

    The processes start (and connect) first; then, while a pooled connection of the platform holds SQLite's
    writer lock for a moment (``BEGIN IMMEDIATE``: no commit can land in between), each runs its first read,
    which fixes its WAL snapshot, and the records' rowid range is read; then the lock is released. From there on
    nothing is locked: writers go on while the processes read."""

    def __init__(self, bind: Engine, path: str, count: int) -> None:
        self.processes = [_ReaderProcess(path) for _ in range(count)]
        try:
            pooled = bind.raw_connection()
            try:
                gate: Any = pooled.driver_connection
                gate.execute("BEGIN IMMEDIATE")
                try:
                    for process in self.processes:
                        for _ in process.query("SELECT count(*) FROM sqlite_master", (), ("tables",)):
                            pass
                    low, high = gate.execute("SELECT min(rowid), max(rowid) FROM ingest_record").fetchone()
                finally:
                    gate.execute("ROLLBACK")
            finally:
                pooled.close()
        except BaseException:
            self.close()
            raise
        self.rowids: tuple[int, int] | None = None if low is None else (int(low), int(high))

    @property
    def first(self) -> _ReaderProcess:
        """The process that reads everything but the other processes' shares of the records."""
        return self.processes[0]

    def close(self) -> None:
        for process in self.processes:
            process.close()


#: A chunk of a snapshot read: (None, rows still to decode) or (item code, that item's decoded rows).
Part = tuple[str | None, pa.Table]


def _adbc_chunks(readers: _Readers, sql: str, params: tuple[Any, ...], names: tuple[str, ...]) -> Iterator[pa.Table]:
    """A query read by the first reader process, undecoded."""
    for _, table in readers.first.query(_texts(sql, names), params, names):
        yield table


def _adbc_records(
    readers: _Readers, sql: str, params: tuple[Any, ...], *, whole: bool, items: dict[str, str]
) -> list[Iterator[Part]]:
    """A records query read and decoded by the reader processes: for the whole-table read of the current records,
    one rowid share per process, in parallel; otherwise by the first process."""
    text = _texts(sql, _RECORD_COLUMNS)
    if not whole:
        return [_parts(readers.first, text, params, items)]
    if readers.rowids is None:
        return []
    low, high = readers.rowids
    step = (high - low) // len(readers.processes) + 1
    ranged = text + " AND r.rowid >= ? AND r.rowid < ?"
    return [
        _parts(process, ranged, (*params, low + i * step, low + (i + 1) * step), items)
        for i, process in enumerate(readers.processes)
    ]


def _parts(reader: _ReaderProcess, sql: str, params: tuple[Any, ...], items: dict[str, str]) -> Iterator[Part]:
    yield from reader.query(sql, params, _RECORD_COLUMNS, items)


def _texts(sql: str, names: tuple[str, ...]) -> str:
    """``sql`` with every column but the never-null ones read as ``coalesce(…, '')``.

    The ADBC driver infers a column's type from each batch, and a batch whose values are all NULL would come out
    as integers; the empty text counts as NULL downstream (no column read here holds a meaningful empty text).
    """
    select, _, rest = sql.partition(" FROM ")
    fields = select.removeprefix("SELECT ").split(", ")
    texts = ", ".join(f if n in _NEVER_NULL else f"coalesce({f}, '')" for f, n in zip(fields, names, strict=True))
    return f"SELECT {texts} FROM {rest}"


def _pg_chunks(raw: Any, sql: str, params: tuple[Any, ...], names: tuple[str, ...]) -> Iterator[pa.Table]:
    """``COPY (query) TO STDOUT`` as CSV, parsed by Polars in chunks cut at line ends."""
    import psycopg

    schema = dict.fromkeys(names, pl.String)
    query = psycopg.ClientCursor(raw).mogrify(sql, params)
    with raw.cursor() as cur:
        pending = bytearray()
        with cur.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)") as copy:
            for block in copy:
                pending += block
                if len(pending) >= 32 << 20:
                    end = pending.rfind(b"\n") + 1
                    yield pl.read_csv(
                        io.BytesIO(bytes(pending[:end])), has_header=False, new_columns=list(names), schema=schema
                    ).to_arrow()
                    del pending[:end]
        if pending:
            yield pl.read_csv(io.BytesIO(bytes(pending)), has_header=False, new_columns=list(names), schema=schema).to_arrow()


_DONE: Final = object()
_T = TypeVar("_T")


def _prefetched(*sources: Iterator[_T], depth: int = 2) -> Generator[_T]:
    """Run chunk readers ahead in threads (one per source, ``depth`` chunks each), so the database reads (the
    reader processes, SQLite and psycopg work without the GIL) overlap the decoding and Parquet writing of the
    chunks before. Chunks come in whichever order the sources deliver them.

    A reader's error is raised here; when the consumer stops early the readers stop at their next chunk, and
    their threads have ended before this generator returns (the connections are then free again).
    """
    handoff: queue.Queue[object] = queue.Queue(maxsize=depth * len(sources))
    stop = threading.Event()

    def produce(chunks: Iterator[_T]) -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        handoff.put(chunk, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(_DONE)
        except Exception as exc:  # noqa: BLE001 - not swallowed: handed to the consumer, which raises it
            handoff.put(exc)

    workers = [threading.Thread(target=produce, args=(source,), name="snapshot-reader", daemon=True) for source in sources]
    for worker in workers:
        worker.start()
    try:
        running = len(workers)
        while running:
            item = handoff.get()
            if item is _DONE:
                running -= 1
                continue
            if isinstance(item, BaseException):
                raise item
            yield cast("_T", item)
    finally:
        stop.set()
        while any(worker.is_alive() for worker in workers):
            try:
                handoff.get(timeout=0.1)
            except queue.Empty:
                continue
        for worker in workers:
            worker.join()


def _subjects_query(dialect: str, *, subjects: bool) -> str:
    if dialect == "sqlite":
        capital, established = "CAST(registered_capital AS TEXT)", "established_on"
        where = "created_at < ?" + (" AND uscc IN (SELECT value FROM json_each(?))" if subjects else "")
    else:
        capital, established = "registered_capital::text", "established_on::text"
        where = "created_at < %s" + (" AND uscc = ANY(%s)" if subjects else "")
    return (
        f"SELECT uscc, name, region_code, industry_code, size_class, status, {capital}, {established} "
        f"FROM subject WHERE {where} ORDER BY uscc"
    )


ChunkReader = Callable[[Any, str, tuple[Any, ...], tuple[str, ...]], Iterator[pa.Table]]


def _sqlite_file(bind: Engine) -> str | None:
    """The file of a SQLite engine (None for an in-memory database)."""
    database = bind.url.database
    if not database or database == ":memory:" or database.startswith("file:") or bind.url.query.get("mode") == "memory":
        return None
    return database


@contextmanager
def _read_transaction(db: Database) -> Iterator[tuple[str, Any, ChunkReader]]:
    """The dialect, driver connection and chunk reader of one transaction every query of the snapshot reads in.

    On a SQLite file it is the connection of a reader process using the ADBC SQLite driver (``_ReaderProcess``,
    ``adbc_reader.py``: a process of its own, as the driver carries its own copy of SQLite): the driver opens a
    deferred transaction, and WAL mode gives it a consistent snapshot from its first read without holding the
    writer lock, so ingestion goes on while a snapshot is written. The process also reads on a core of its own,
    with no lock shared with the decoding here. On an in-memory SQLite engine it is the same kind of
    deferred read transaction on a pooled connection (``BEGIN``, not the engine's ``BEGIN IMMEDIATE``). On a
    PostgreSQL engine it is a REPEATABLE READ, READ ONLY transaction (one snapshot for every query). A database
    bound to a test's connection reads in ``db.transaction()``.
    """
    bind = db.bind
    if isinstance(bind, Engine) and bind.dialect.name == "sqlite":
        path = _sqlite_file(bind)
        if path is not None:
            readers = _Readers(bind, path, READERS)
            try:
                yield "sqlite", readers, _adbc_chunks
            finally:
                readers.close()
            return
        pooled = bind.raw_connection()
        try:
            raw: Any = pooled.driver_connection
            raw.execute("BEGIN DEFERRED")
            try:
                yield "sqlite", raw, _sqlite_chunks
            finally:
                if raw.in_transaction:
                    raw.execute("ROLLBACK")
        finally:
            pooled.close()
        return
    if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
        # REPEATABLE READ: the snapshot's queries (records, historical versions, subjects) see one database
        # state, as SQLite's WAL read does; READ ONLY, and nothing is locked, so writers go on.
        options = bind.connect().execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with options as conn, conn.begin():
            yield "postgresql", conn.connection.driver_connection, _pg_chunks
        return
    with db.transaction() as session:
        dialect = session.get_bind().dialect.name
        yield dialect, session.connection().connection.driver_connection, _sqlite_chunks if dialect == "sqlite" else _pg_chunks


def write_snapshot(
    engine_or_db: Engine | Database,
    *,
    as_of: date,
    directory: Path,
    subjects: Collection[str] | None = None,
    clock: Clock | None = None,
) -> Snapshot:
    """Write the snapshot of every record an evaluation as of ``as_of`` may see (only ``subjects``' if given)."""
    db = engine_or_db if isinstance(engine_or_db, Database) else Database(engine_or_db)
    chosen = sorted(set(subjects)) if subjects is not None else None
    snapshot_id = new_id()
    root = directory / snapshot_id.hex
    root.mkdir(parents=True, exist_ok=False)
    created_at = (clock or SystemClock()).now()
    writers = _Writers(root)
    catalog_items = {item.code for item in load_catalog().items}
    items = {code: _flatten_sql(code) for code in sorted(catalog_items)}
    duck = duckdb.connect()
    with duck, _read_transaction(db) as (dialect, raw, chunks):
        current, history = _record_queries(dialect, subjects=chosen is not None)
        for sql, is_history in ((current, False), (history, True)):
            params = _params(dialect, as_of, chosen, history=is_history)
            if isinstance(raw, _Readers):  # decoded in the reader processes
                whole = chosen is None and not is_history
                sources = _adbc_records(raw, sql, params, whole=whole, items=items)
            else:
                sources = [((None, t) for t in chunks(raw, sql, params, _RECORD_COLUMNS))]
            for decoded, chunk in _prefetched(*sources):
                if decoded is not None:
                    writers.write(decoded, chunk)
                    continue
                duck.register("chunk", chunk)
                try:
                    present = duck.sql("SELECT DISTINCT item_code FROM chunk").fetchall()
                    for (item_code,) in present:
                        if item_code in catalog_items:
                            writers.write(str(item_code), _flatten(str(item_code), duck))
                finally:
                    duck.unregister("chunk")
        cut = cut_instant(as_of)
        subject_params: tuple[Any, ...] = (
            cut.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else cut,
        )
        if chosen is not None:
            subject_params += (json.dumps(chosen) if dialect == "sqlite" else chosen,)
        frames = list(chunks(raw, _subjects_query(dialect, subjects=chosen is not None), subject_params, tuple(SUBJECT_SCHEMA)))
    writers.close(SNAPSHOT_ITEMS)
    read = pl.from_arrow(pa.concat_tables(frames)) if frames else pl.DataFrame(schema=dict.fromkeys(SUBJECT_SCHEMA, pl.String))
    assert isinstance(read, pl.DataFrame)
    text = [
        pl.when(pl.col(n) != "").then(pl.col(n)).alias(n)
        for n in ("name", "region_code", "industry_code", "size_class", "status")
    ]
    subject_frame = read.select(
        pl.col("uscc"),
        *text,
        pl.col("registered_capital").cast(_DECIMAL, strict=False),
        pl.col("established_on").str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False),
    )
    pq.write_table(subject_frame.to_arrow(), root / "subjects.parquet", compression=COMPRESSION)
    records = sum(writers.rows.values())
    manifest = {
        "id": str(snapshot_id),
        "as_of": as_of.isoformat(),
        "cut": cut_instant(as_of).isoformat(),
        "created_at": created_at.isoformat(),
        "indicator_set_version": INDICATOR_SET_VERSION,
        "records": records,
        "subjects": subject_frame.height,
        "selected_subjects": chosen,
        "tables": {"subjects": {"file": "subjects.parquet", "rows": subject_frame.height}}
        | {name: {"file": f"{name}.parquet", "rows": rows} for name, rows in sorted(writers.rows.items())},
    }
    (root / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return Snapshot(snapshot_id, as_of, root, records, subject_frame.height, created_at)
