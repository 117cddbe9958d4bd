"""Engines and transactions: SQLite (WAL, foreign keys, serialised writers) or PostgreSQL."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from xinyidai.kernel import jsontext

#: How long a SQLite transaction waits for the file's write lock before failing ("database is locked").
SQLITE_BUSY_SECONDS = 30


def _prepare_sqlite_file(url: sa.URL) -> None:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def create_database_engine(url: str, *, echo: bool = False) -> Engine:
    """Build an engine for `url`; SQLite gets WAL, foreign keys, a busy timeout and IMMEDIATE transactions."""
    parsed = sa.make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver we ship
    # JSON columns are decoded by orjson (falling back to the standard library for what it refuses): a credit
    # report decodes tens of records' data per request (ADR 0018).
    kwargs: dict[str, Any] = {"echo": echo, "json_deserializer": jsontext.loads}
    if parsed.get_backend_name() == "sqlite":
        _prepare_sqlite_file(parsed)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS}
    else:
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=10)
    engine = sa.create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and cannot take the write lock up front.
    # We switch it off and emit BEGIN IMMEDIATE ourselves: every transaction that may write
    # (and the audit chain always does) holds the single writer lock from its first statement,
    # so two writers can never read the same chain head; WAL keeps readers unblocked.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


#: One writer lock per SQLite database file in this process (`sqlite_writer_lock`).
_SQLITE_WRITERS: dict[str, threading.RLock] = {}
_SQLITE_WRITERS_GUARD = threading.Lock()


def sqlite_writer_lock(engine: Engine) -> threading.RLock | None:
    """The process's lock for the SQLite file behind `engine` (None for PostgreSQL and in-memory databases).

    Every transaction on SQLite takes the file's single write lock (``BEGIN IMMEDIATE``), so a process's
    transactions run one at a time whatever happens. Left to SQLite, the threads that find the file locked wait in
    its busy handler, which sleeps and polls with growing back-off (up to 100 ms a nap): under load the lock sits
    free while waiters sleep and a request can wait seconds behind later arrivals (issue 4's benchmark saw p99 near
    2 s at saturation). Queueing on a lock in the process first hands the database over as soon as it is released;
    the busy handler stays for other processes (the CLI, a second server)."""
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        return None
    key = os.path.abspath(path)
    with _SQLITE_WRITERS_GUARD:
        return _SQLITE_WRITERS.setdefault(key, threading.RLock())


class Database:
    """Opens transactions; services run each use case inside exactly one `transaction()`."""

    def __init__(self, bind: Engine | Connection, *, node_id: str = "unknown") -> None:
        self.bind = bind
        #: This node's identity, stamped on audit events and outbox messages via the session info.
        self.node_id = node_id
        extra: dict[str, Any] = {}
        if isinstance(bind, Connection):
            # Tests bind to an outer connection whose transaction is rolled back afterwards.
            extra["join_transaction_mode"] = "create_savepoint"
        self._factory = sessionmaker(bind=bind, expire_on_commit=False, **extra)
        self._writer = sqlite_writer_lock(bind) if isinstance(bind, Engine) else None

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.bind.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits when the block ends, rolls back on any exception.

        On a SQLite file, transactions of this process queue on its writer lock (`sqlite_writer_lock`); one that
        waits longer than SQLite's own busy timeout goes on without it, to SQLite's busy handler as before."""
        writer = self._writer
        held = writer is not None and writer.acquire(timeout=SQLITE_BUSY_SECONDS)
        try:
            with self._factory.begin() as session:
                session.info["node_id"] = self.node_id
                yield session
        finally:
            if held:
                assert writer is not None
                writer.release()

    def dispose(self) -> None:
        """Close pooled connections."""
        if isinstance(self.bind, Engine):
            self.bind.dispose()
