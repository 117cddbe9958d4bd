"""The background worker inside an event loop: runs due jobs every poll, survives failing passes, stops cleanly."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from xinyidai.audit import tables as audit_tables
from xinyidai.db import Base, Database, create_database_engine
from xinyidai.http.observability import Metrics
from xinyidai.job import BackgroundWorker, JobContext, JobRegistry, enqueue, job_counts
from xinyidai.job import tables as job_tables
from xinyidai.kernel.clock import FrozenClock


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def test_worker_runs_jobs_enqueued_while_it_polls(db: Database, clock: FrozenClock) -> None:
    ran: list[uuid.UUID] = []
    threads: set[str] = set()

    def handler(ctx: JobContext, payload: dict[str, Any]) -> None:
        threads.add(threading.current_thread().name)
        ran.append(ctx.job_id)

    registry = JobRegistry()
    registry.register("test.bg", handler)
    metrics = Metrics()
    worker = BackgroundWorker(db, registry, clock=clock, poll_seconds=0.02, metrics=metrics, worker_id="server-1")

    async def scenario() -> list[uuid.UUID]:
        await worker.start()
        await worker.start()  # idempotent
        assert worker.running
        ids = []
        for i in range(3):
            with db.transaction() as s:
                ids.append(enqueue(s, kind="test.bg", payload={"i": i}, clock=clock))
            await _until(lambda n=i + 1: len(ran) == n)
        await worker.stop()
        assert not worker.running
        return ids

    ids = asyncio.run(scenario())
    assert ran == ids
    assert threading.current_thread().name not in threads  # handlers ran off the event loop
    assert job_counts(db)["done"] == 3
    assert metrics.registry.get_sample_value("xinyidai_jobs_total", {"kind": "test.bg", "outcome": "succeeded"}) == 3


def test_worker_loop_survives_failing_passes(tmp_sqlite_url: str, clock: FrozenClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="xinyidai.job")
    engine = create_database_engine(tmp_sqlite_url)
    db = Database(engine)
    ran: list[uuid.UUID] = []
    registry = JobRegistry()
    registry.register("test.bg", lambda ctx, payload: ran.append(ctx.job_id))
    worker = BackgroundWorker(db, registry, clock=clock, poll_seconds=0.02, worker_id="server-1")

    async def scenario() -> uuid.UUID:
        await worker.start()
        # No tables yet: every pass fails, is logged, and the loop carries on.
        await _until(lambda: worker.failed_passes >= 3)
        assert worker.running
        tables = [
            Base.metadata.tables[t.__tablename__] for t in (audit_tables.AuditEvent, job_tables.Job, job_tables.OutboxMessage)
        ]
        await asyncio.to_thread(Base.metadata.create_all, engine, tables=tables)
        with db.transaction() as s:
            job_id = enqueue(s, kind="test.bg", payload={}, clock=clock)
        await _until(lambda: ran == [job_id])
        await worker.stop()
        return job_id

    try:
        asyncio.run(scenario())
    finally:
        engine.dispose()
    failures = [r for r in caplog.records if "job worker pass failed" in r.getMessage()]
    assert len(failures) >= 3
    assert all(r.exc_info is not None and isinstance(r.exc_info[1], sa.exc.OperationalError) for r in failures)
    assert worker.last_summary is not None


def test_stop_waits_for_the_pass_in_progress(db: Database, clock: FrozenClock) -> None:
    started = threading.Event()
    release = threading.Event()

    def handler(ctx: JobContext, payload: dict[str, Any]) -> None:
        started.set()
        release.wait(10)

    registry = JobRegistry()
    registry.register("test.slow", handler)
    with db.transaction() as s:
        enqueue(s, kind="test.slow", payload={}, clock=clock)
    worker = BackgroundWorker(db, registry, clock=clock, poll_seconds=60, worker_id="server-1")

    async def scenario() -> None:
        await worker.start()
        await _until(started.is_set)
        stopping = asyncio.create_task(worker.stop())
        await asyncio.sleep(0.05)
        assert not stopping.done()
        release.set()
        await stopping

    asyncio.run(scenario())
    # The job finished and was recorded, rather than being left running until its lease expired.
    assert job_counts(db) == {"pending": 0, "running": 0, "done": 1, "dead": 0}
