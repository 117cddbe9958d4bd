"""Concurrent appenders keep one unbroken chain: each transaction's first append takes the chain lock (PostgreSQL's
advisory lock, SQLite's writer lock) and only then reads the head — a head read without the lock, or with a snapshot
older than it, would repeat a seq (refused by its unique index) or fork the chain."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PG_ENV, _pg_create, _pg_drop
from xinyidai import audit
from xinyidai.db import Database, create_database_engine
from xinyidai.db import migrate as db_migrate
from xinyidai.kernel.actor import ActorRef

ACTOR = ActorRef.system("test")
WRITERS = 4
TRANSACTIONS = 15


@pytest.fixture(params=["sqlite", "postgresql"])
def own_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database of its own (the appends commit), migrated; dropped afterwards."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'chain.db'}"
    elif os.environ.get(PG_ENV):
        url = _pg_create(os.environ[PG_ENV], f"chain_{uuid.uuid4().hex[:8]}")
    else:
        pytest.skip(f"{PG_ENV} is not set")
    db_migrate.upgrade(url)
    engine = create_database_engine(url)
    yield Database(engine, node_id="city-350100")
    engine.dispose()
    if request.param == "postgresql":
        _pg_drop(url)


def test_concurrent_appenders_keep_one_chain(own_database: Database) -> None:
    db = own_database
    start = threading.Barrier(WRITERS)
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            start.wait()
            for n in range(TRANSACTIONS):
                with db.transaction() as s:
                    audit.record(s, actor=ACTOR, action="test.concurrent", data={"writer": writer, "n": n})
                    audit.record(s, actor=ACTOR, action="test.concurrent.second", data={"writer": writer, "n": n})
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    report = audit.verify(db)
    assert report.ok
    assert report.events == WRITERS * TRANSACTIONS * 2
