"""A process's SQLite transactions queue on one lock per database file instead of SQLite's sleeping busy handler."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from xinyidai.db import engine as db_engine
from xinyidai.db.engine import Database, create_database_engine, sqlite_writer_lock


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Database]:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    database = Database(engine)
    yield database
    database.dispose()


def test_one_lock_per_file_none_for_memory_or_postgresql(tmp_path: Path) -> None:
    a = create_database_engine(f"sqlite:///{tmp_path / 'x.db'}")
    b = create_database_engine(f"sqlite:///{tmp_path / 'x.db'}")
    c = create_database_engine(f"sqlite:///{tmp_path / 'y.db'}")
    assert sqlite_writer_lock(a) is sqlite_writer_lock(b) is not None
    assert sqlite_writer_lock(c) is not sqlite_writer_lock(a)
    assert sqlite_writer_lock(create_database_engine("sqlite://")) is None
    assert sqlite_writer_lock(sa.create_engine("postgresql+psycopg://u@127.0.0.1/none")) is None


def test_a_second_thread_waits_for_the_first_transaction_then_runs(store: Database) -> None:
    holding, release = threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with store.transaction() as s:
            s.execute(sa.text("INSERT INTO t VALUES (1)"))
            order.append("first wrote")
            holding.set()
            release.wait(10)
            order.append("first commits")

    def second() -> None:
        with store.transaction() as s:
            order.append("second entered")
            s.execute(sa.text("INSERT INTO t VALUES (2)"))

    a = threading.Thread(target=first)
    a.start()
    assert holding.wait(10)
    b = threading.Thread(target=second)
    b.start()
    time.sleep(0.2)
    assert order == ["first wrote"]  # the second is queued on the lock, not inside a transaction
    release.set()
    a.join(10)
    b.join(10)
    assert order == ["first wrote", "first commits", "second entered"]
    with store.transaction() as s:
        assert s.execute(sa.text("SELECT count(*) FROM t")).scalar() == 2


def test_nested_transactions_of_one_thread_do_not_wait_on_themselves(store: Database) -> None:
    with store.transaction() as outer:
        with store.transaction() as inner:
            inner.execute(sa.text("INSERT INTO t VALUES (3)"))
        outer.execute(sa.text("SELECT 1"))


def test_a_waiter_past_the_busy_timeout_goes_on_to_sqlites_busy_handler(store: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_engine, "SQLITE_BUSY_SECONDS", 0.1)
    lock = sqlite_writer_lock(store.bind)  # type: ignore[arg-type]
    assert lock is not None
    taken = threading.Event()
    done = threading.Event()

    def hold() -> None:
        with lock:
            taken.set()
            done.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(10)
    try:
        started = time.monotonic()
        with store.transaction() as s:  # the lock is held by a thread outside any transaction: SQLite is free
            s.execute(sa.text("INSERT INTO t VALUES (4)"))
        assert time.monotonic() - started < 5
    finally:
        done.set()
        holder.join(10)
