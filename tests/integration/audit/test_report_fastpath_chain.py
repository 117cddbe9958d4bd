"""Concurrent appenders keep one unbroken chain: each transaction's first append takes the chain lock (PostgreSQL's
advisory lock, SQLite's writer lock) and only then reads the head — a head read without the lock, or with a snapshot
older than it, would repeat a seq (refused by its unique index) or fork the chain."""

from __future__ import annotations

import threading

from xinyidai import audit
from xinyidai.db import Database
from xinyidai.kernel.actor import ActorRef

ACTOR = ActorRef.system("test")
WRITERS = 4
TRANSACTIONS = 15


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
