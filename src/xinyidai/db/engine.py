"""Engines and transactions: SQLite (WAL, foreign keys, serialised writers) or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from xinyidai.kernel import jsontext


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
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
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
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


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

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.bind.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits when the block ends, rolls back on any exception."""
        with self._factory.begin() as session:
            session.info["node_id"] = self.node_id
            yield session

    def dispose(self) -> None:
        """Close pooled connections."""
        if isinstance(self.bind, Engine):
            self.bind.dispose()
