"""Jobs on a real database: enqueued atomically, claimed, retried with backoff, declared dead and audited."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from xinyidai import audit
from xinyidai.audit.tables import AuditEvent
from xinyidai.db import Database
from xinyidai.http.observability import Metrics
from xinyidai.job import (
    JobContext,
    JobRegistry,
    PermanentFailure,
    enqueue,
    job_counts,
    list_jobs,
    purge_finished,
    run_due,
)
from xinyidai.job.tables import Job
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.errors import InvalidInput

ACTOR = ActorRef.system("test")


class Crash(BaseException):
    """Stands in for the process dying mid-job: nothing in the runner catches it."""


def _job(db: Database, job_id: uuid.UUID) -> Job:
    with db.transaction() as s:
        row = s.get(Job, job_id)
        assert row is not None
        s.expunge(row)
        return row


def _events(db: Database, action: str) -> list[AuditEvent]:
    with db.transaction() as s:
        rows = list(s.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))
        s.expunge_all()
        return rows


def _enqueue(db: Database, clock: FrozenClock, kind: str, payload: dict[str, Any] | None = None, **kw: Any) -> uuid.UUID:
    with db.transaction() as s:
        return enqueue(s, kind=kind, payload=payload or {}, clock=clock, **kw)


def _jobs_total(metrics: Metrics, kind: str, outcome: str) -> float:
    return metrics.registry.get_sample_value("xinyidai_jobs_total", {"kind": kind, "outcome": outcome}) or 0.0


def test_enqueued_job_runs_once_in_its_own_transactions(db: Database, clock: FrozenClock) -> None:
    seen: list[tuple[uuid.UUID, int, dict[str, Any], str]] = []

    def handler(ctx: JobContext, payload: dict[str, Any]) -> None:
        seen.append((ctx.job_id, ctx.attempt, payload, ctx.services["greeting"]))
        with ctx.db.transaction() as s:
            audit.record(s, actor=ACTOR, action="test.handled", target_type="job", target_id=ctx.job_id)

    registry = JobRegistry(services={"greeting": "你好"})
    registry.register("test.echo", handler)
    job_id = _enqueue(db, clock, "test.echo", {"n": 1, "名称": "值"})

    summary = run_due(db, registry, clock=clock, worker_id="w1")

    assert (summary.claimed, summary.succeeded, summary.retried, summary.dead) == (1, 1, 0, 0)
    assert seen == [(job_id, 1, {"n": 1, "名称": "值"}, "你好")]
    assert [e.target_id for e in _events(db, "test.handled")] == [str(job_id)]
    row = _job(db, job_id)
    assert (row.status, row.attempts, row.locked_by, row.locked_until) == ("done", 1, None, None)
    assert row.finished_at == clock.now()
    assert job_counts(db) == {"pending": 0, "running": 0, "done": 1, "dead": 0}
    assert run_due(db, registry, clock=clock, worker_id="w1").claimed == 0
    assert len(seen) == 1


def test_enqueue_rolls_back_with_the_change_that_caused_it(db: Database, clock: FrozenClock) -> None:
    def failing_change() -> None:
        with db.transaction() as s:
            enqueue(s, kind="test.echo", payload={}, clock=clock)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    assert job_counts(db)["pending"] == 0


def test_job_waits_for_its_run_at(db: Database, clock: FrozenClock) -> None:
    ran: list[uuid.UUID] = []
    registry = JobRegistry()
    registry.register("test.later", lambda ctx, payload: ran.append(ctx.job_id))
    job_id = _enqueue(db, clock, "test.later", run_at=clock.now() + timedelta(hours=1))

    assert run_due(db, registry, clock=clock, worker_id="w1").claimed == 0
    clock.advance(timedelta(minutes=59, seconds=59))
    assert run_due(db, registry, clock=clock, worker_id="w1").claimed == 0
    clock.advance(timedelta(seconds=1))
    assert run_due(db, registry, clock=clock, worker_id="w1").succeeded == 1
    assert ran == [job_id]


def test_enqueue_refuses_bad_input(db: Database, clock: FrozenClock) -> None:
    with db.transaction() as s:
        with pytest.raises(ValueError, match="plain JSON"):
            enqueue(s, kind="test.x", payload={"at": clock.now()}, clock=clock)
        with pytest.raises(ValueError, match="invalid job kind"):
            enqueue(s, kind="Not A Kind", payload={}, clock=clock)
        with pytest.raises(ValueError, match="timezone-aware"):
            enqueue(s, kind="test.x", payload={}, run_at=clock.now().replace(tzinfo=None), clock=clock)
        with pytest.raises(ValueError, match="dedupe_key"):
            enqueue(s, kind="test.x", payload={}, dedupe_key="k" * 201, clock=clock)


def test_failing_job_is_retried_with_growing_backoff_then_dead_audited_logged_counted(
    db: Database, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="xinyidai.job")
    calls: list[int] = []

    def handler(ctx: JobContext, payload: dict[str, Any]) -> None:
        calls.append(ctx.attempt)
        raise ValueError(f"boom on attempt {ctx.attempt}")

    registry = JobRegistry()
    registry.register("test.fail", handler, max_attempts=3)
    metrics = Metrics()
    job_id = _enqueue(db, clock, "test.fail")

    delays: list[timedelta] = []
    for attempt in (1, 2):
        started = clock.now()
        summary = run_due(db, registry, clock=clock, worker_id="w1", metrics=metrics)
        assert (summary.claimed, summary.retried, summary.dead) == (1, 1, 0)
        row = _job(db, job_id)
        assert (row.status, row.attempts, row.locked_by) == ("pending", attempt, None)
        assert row.last_error is not None
        assert f"ValueError: boom on attempt {attempt}" in row.last_error
        assert "Traceback" in row.last_error
        delay = row.run_at - started
        assert delay == registry.backoff.delay(attempt, job_id)
        delays.append(delay)
        # Not due again until its backoff has passed.
        clock.advance(delay - timedelta(microseconds=1))
        assert run_due(db, registry, clock=clock, worker_id="w1", metrics=metrics).claimed == 0
        clock.advance(timedelta(microseconds=1))
    assert delays[1] > delays[0]

    summary = run_due(db, registry, clock=clock, worker_id="w1", metrics=metrics)
    assert (summary.claimed, summary.retried, summary.dead) == (1, 0, 1)
    assert calls == [1, 2, 3]
    row = _job(db, job_id)
    assert (row.status, row.attempts) == ("dead", 3)
    assert row.finished_at == clock.now()

    [event] = _events(db, "job.dead")
    assert event.target_type == "job"
    assert event.target_id == str(job_id)
    assert event.reasons == ["已执行 3 次，均失败"]
    assert event.data["kind"] == "test.fail"
    assert event.data["error"] == "ValueError: boom on attempt 3"
    assert audit.verify(db).ok

    dead_logs = [r for r in caplog.records if r.levelno == logging.ERROR and "job dead" in r.getMessage()]
    assert len(dead_logs) == 1
    assert str(job_id) in dead_logs[0].getMessage()
    assert sum("will retry" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING) == 2
    assert _jobs_total(metrics, "test.fail", "retried") == 2
    assert _jobs_total(metrics, "test.fail", "dead") == 1

    # Dead is final: nothing runs it again.
    clock.advance(timedelta(days=1))
    assert run_due(db, registry, clock=clock, worker_id="w1").claimed == 0


def test_permanent_failure_goes_dead_at_once(db: Database, clock: FrozenClock) -> None:
    def handler(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise PermanentFailure("the application was withdrawn")

    registry = JobRegistry()
    registry.register("test.permanent", handler, max_attempts=5)
    job_id = _enqueue(db, clock, "test.permanent")
    assert run_due(db, registry, clock=clock, worker_id="w1").dead == 1
    assert _job(db, job_id).attempts == 1
    [event] = _events(db, "job.dead")
    assert event.reasons == ["任务报告了无法重试的错误"]


def test_unknown_kind_goes_dead_with_reason_never_skipped(
    db: Database, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="xinyidai.job")
    registry = JobRegistry()
    job_id = _enqueue(db, clock, "test.nobody.handles.this")
    metrics = Metrics()

    summary = run_due(db, registry, clock=clock, worker_id="w1", metrics=metrics)

    assert (summary.claimed, summary.dead) == (1, 1)
    row = _job(db, job_id)
    assert row.status == "dead"
    assert row.last_error == "no handler registered for job kind 'test.nobody.handles.this'"
    [event] = _events(db, "job.dead")
    assert event.reasons == ["未知的任务类型: test.nobody.handles.this"]
    assert any(str(job_id) in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    assert _jobs_total(metrics, "test.nobody.handles.this", "dead") == 1


def test_dedupe_key_returns_the_active_job(db: Database, clock: FrozenClock) -> None:
    registry = JobRegistry()
    registry.register("test.remind", lambda ctx, payload: None)

    first = _enqueue(db, clock, "test.remind", {"v": 1}, dedupe_key="remind:application:42")
    again = _enqueue(db, clock, "test.remind", {"v": 2}, dedupe_key="remind:application:42")
    other = _enqueue(db, clock, "test.remind", {"v": 3}, dedupe_key="remind:application:43")
    with db.transaction() as s:
        same_txn = [enqueue(s, kind="test.remind", payload={}, dedupe_key="remind:x", clock=clock) for _ in range(2)]
    assert again == first
    assert other != first
    assert same_txn[0] == same_txn[1]
    assert _job(db, first).payload == {"v": 1}
    assert job_counts(db)["pending"] == 3

    run_due(db, registry, clock=clock, worker_id="w1")
    # Once done, the key is free for the next job.
    fresh = _enqueue(db, clock, "test.remind", {"v": 4}, dedupe_key="remind:application:42")
    assert fresh != first
    assert job_counts(db) == {"pending": 1, "running": 0, "done": 3, "dead": 0}


def test_concurrent_enqueues_of_one_dedupe_key_yield_one_job(db: Database, clock: FrozenClock) -> None:
    # A holds its transaction open after enqueueing; B enqueues the same key meanwhile. On
    # PostgreSQL B's insert waits on the unique index and then loses (savepoint, returns A's
    # id); on SQLite B waits for the writer lock and then finds A's job.
    a_enqueued = threading.Event()
    b_started = threading.Event()

    def a() -> uuid.UUID:
        try:
            with db.transaction() as s:
                job_id = enqueue(s, kind="test.once", payload={}, dedupe_key="once", clock=clock)
                a_enqueued.set()
                b_started.wait(5)
                time.sleep(0.3)
            return job_id
        finally:
            a_enqueued.set()

    def b() -> uuid.UUID:
        a_enqueued.wait(5)
        b_started.set()
        with db.transaction() as s:
            return enqueue(s, kind="test.once", payload={}, dedupe_key="once", clock=clock)

    with ThreadPoolExecutor(max_workers=2) as pool:
        fa, fb = pool.submit(a), pool.submit(b)
        ids = {"a": fa.result(timeout=30), "b": fb.result(timeout=30)}
    assert ids["a"] == ids["b"]
    assert job_counts(db)["pending"] == 1


def test_running_job_with_expired_lease_is_reclaimed(db: Database, clock: FrozenClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="xinyidai.job")
    ran: list[tuple[uuid.UUID, int]] = []
    registry = JobRegistry(lease=timedelta(minutes=5))
    registry.register("test.durable", lambda ctx, payload: ran.append((ctx.job_id, ctx.attempt)))
    job_id = _enqueue(db, clock, "test.durable")
    # A worker took the job, then its process died: the row stays running under its lease.
    with db.transaction() as s:
        row = s.get(Job, job_id)
        assert row is not None
        row.status, row.attempts, row.locked_by = "running", 1, "worker-that-died"
        row.locked_until = clock.now() + timedelta(minutes=5)

    assert run_due(db, registry, clock=clock, worker_id="w2").claimed == 0
    clock.advance(timedelta(minutes=5))
    summary = run_due(db, registry, clock=clock, worker_id="w2")

    assert (summary.claimed, summary.reclaimed, summary.succeeded) == (1, 1, 1)
    assert ran == [(job_id, 2)]
    assert _job(db, job_id).status == "done"
    assert any("worker-that-died" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_worker_dying_mid_job_leaves_it_to_be_taken_over(db: Database, clock: FrozenClock) -> None:
    attempts: list[int] = []

    def handler(ctx: JobContext, payload: dict[str, Any]) -> None:
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            raise Crash

    registry = JobRegistry(lease=timedelta(minutes=2))
    registry.register("test.crashy", handler)
    job_id = _enqueue(db, clock, "test.crashy")

    with pytest.raises(Crash):
        run_due(db, registry, clock=clock, worker_id="w1")
    row = _job(db, job_id)
    assert (row.status, row.locked_by, row.locked_until) == ("running", "w1", clock.now() + timedelta(minutes=2))

    # A restarted process finds it once the lease has run out.
    clock.advance(timedelta(minutes=2, seconds=1))
    summary = run_due(db, registry, clock=clock, worker_id="w1-restarted")
    assert (summary.reclaimed, summary.succeeded) == (1, 1)
    assert attempts == [1, 2]


def test_worker_dying_on_the_final_attempt_makes_the_job_dead(db: Database, clock: FrozenClock) -> None:
    def handler(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise Crash

    registry = JobRegistry(lease=timedelta(minutes=1))
    registry.register("test.killer", handler, max_attempts=2)
    job_id = _enqueue(db, clock, "test.killer")
    for _ in range(2):
        with pytest.raises(Crash):
            run_due(db, registry, clock=clock, worker_id="w1")
        clock.advance(timedelta(minutes=1))
    # Attempts are counted when taken, so a job that kills its worker still runs out of them.
    summary = run_due(db, registry, clock=clock, worker_id="w1")
    assert (summary.claimed, summary.dead, summary.reclaimed) == (1, 1, 1)
    assert _job(db, job_id).status == "dead"
    [event] = _events(db, "job.dead")
    assert event.reasons == ["第 2 次（最后一次）执行时工作进程中断"]


def test_result_of_a_worker_whose_job_was_taken_over_is_discarded(db: Database, clock: FrozenClock) -> None:
    registry = JobRegistry(lease=timedelta(minutes=1))
    inner: list[Any] = []

    def handler(ctx: JobContext, payload: dict[str, Any]) -> None:
        if ctx.attempt == 1:
            # This run is so slow that its lease expires and worker B takes the job over.
            clock.advance(timedelta(minutes=2))
            inner.append(run_due(ctx.db, registry, clock=clock, worker_id="B"))

    registry.register("test.slow", handler)
    job_id = _enqueue(db, clock, "test.slow")
    summary = run_due(db, registry, clock=clock, worker_id="A")

    assert (summary.claimed, summary.succeeded, summary.lost) == (1, 0, 1)
    assert (inner[0].reclaimed, inner[0].succeeded) == (1, 1)
    row = _job(db, job_id)
    assert (row.status, row.attempts) == ("done", 2)


def test_concurrent_workers_run_each_job_exactly_once(db: Database, clock: FrozenClock) -> None:
    lock = threading.Lock()
    ran: list[uuid.UUID] = []

    def handler(ctx: JobContext, payload: dict[str, Any]) -> None:
        time.sleep(0.005)
        with lock:
            ran.append(ctx.job_id)

    registry = JobRegistry()
    registry.register("test.parallel", handler)
    with db.transaction() as s:
        ids = [enqueue(s, kind="test.parallel", payload={"i": i}, clock=clock) for i in range(40)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(run_due, db, registry, clock=clock, worker_id=f"w{i}") for i in range(4)]
        summaries = [f.result(timeout=60) for f in futures]
    assert sum(x.claimed for x in summaries) == 40
    assert sorted(ran) == sorted(ids)
    assert job_counts(db) == {"pending": 0, "running": 0, "done": 40, "dead": 0}


def test_periodic_kind_keeps_one_instance_scheduled(db: Database, clock: FrozenClock) -> None:
    start = clock.now()
    ran: list[Any] = []
    registry = JobRegistry()
    registry.register("test.tick", lambda ctx, payload: ran.append(clock.now()), every=timedelta(minutes=1))

    def pending() -> list[Job]:
        with db.transaction() as s:
            rows = list(s.scalars(sa.select(Job).where(Job.kind == "test.tick", Job.status.in_(["pending", "running"]))))
            s.expunge_all()
            return rows

    # The first pass schedules the kind and, since it is due at once, runs it.
    assert run_due(db, registry, clock=clock, worker_id="w1").succeeded == 1
    [nxt] = pending()
    assert (nxt.dedupe_key, nxt.run_at) == ("periodic:test.tick", start + timedelta(minutes=1))

    # Passes before it is due add nothing: still one instance.
    for _ in range(3):
        assert run_due(db, registry, clock=clock, worker_id="w1").claimed == 0
    assert [r.id for r in pending()] == [nxt.id]

    clock.advance(timedelta(minutes=1))
    assert run_due(db, registry, clock=clock, worker_id="w1").succeeded == 1
    [nxt] = pending()
    assert nxt.run_at == start + timedelta(minutes=2)

    # After an outage the missed periods are skipped, not replayed, and the grid is kept.
    clock.advance(timedelta(minutes=10, seconds=30))
    assert run_due(db, registry, clock=clock, worker_id="w1").succeeded == 1
    [nxt] = pending()
    assert nxt.run_at == start + timedelta(minutes=12)
    assert len(ran) == 3


def test_periodic_kind_goes_on_after_an_instance_dies(db: Database, clock: FrozenClock) -> None:
    def handler(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise RuntimeError("upstream down")

    registry = JobRegistry()
    registry.register("test.flaky.tick", handler, every=timedelta(hours=1), max_attempts=1)
    assert run_due(db, registry, clock=clock, worker_id="w1").dead == 1
    counts = job_counts(db)
    assert (counts["dead"], counts["pending"]) == (1, 1)
    [view] = list_jobs(db, status="pending", limit=10)
    assert view.run_at == clock.now() + timedelta(hours=1)
    assert view.dedupe_key == "periodic:test.flaky.tick"


def test_job_counts_and_list_jobs(db: Database, clock: FrozenClock) -> None:
    def handler(ctx: JobContext, payload: dict[str, Any]) -> None:
        if payload["fail"]:
            raise PermanentFailure("nope")

    registry = JobRegistry()
    registry.register("test.mix", handler)
    ok = _enqueue(db, clock, "test.mix", {"fail": False})
    bad = _enqueue(db, clock, "test.mix", {"fail": True})
    later = _enqueue(db, clock, "test.mix", {"fail": False}, run_at=clock.now() + timedelta(days=1))
    run_due(db, registry, clock=clock, worker_id="w1")

    assert job_counts(db) == {"pending": 1, "running": 0, "done": 1, "dead": 1}
    assert [v.id for v in list_jobs(db, status="done", limit=10)] == [ok]
    [dead] = list_jobs(db, status="dead", limit=10)
    assert (dead.id, dead.error) == (bad, "xinyidai.job.model.PermanentFailure: nope")
    assert {v.id for v in list_jobs(db, status=None, limit=10)} == {ok, bad, later}
    assert len(list_jobs(db, status=None, limit=2)) == 2
    with pytest.raises(InvalidInput):
        list_jobs(db, status="sleeping", limit=10)


def test_purge_deletes_old_done_jobs_and_keeps_dead_ones(db: Database, clock: FrozenClock) -> None:
    def handler(ctx: JobContext, payload: dict[str, Any]) -> None:
        if payload["fail"]:
            raise PermanentFailure("kept for the record")

    registry = JobRegistry()
    registry.register("test.old", handler)
    _enqueue(db, clock, "test.old", {"fail": False})
    dead = _enqueue(db, clock, "test.old", {"fail": True})
    run_due(db, registry, clock=clock, worker_id="w1")
    clock.advance(timedelta(days=8))
    recent = _enqueue(db, clock, "test.old", {"fail": False})
    run_due(db, registry, clock=clock, worker_id="w1")

    assert purge_finished(db, clock=clock, older_than=timedelta(days=7)) == {"jobs": 1, "outbox": 0}
    assert {v.id for v in list_jobs(db, status=None, limit=10)} == {dead, recent}


def test_a_routine_pass_logs_at_debug_and_one_with_a_retry_at_info(
    db: Database, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="xinyidai.job")
    registry = JobRegistry()
    registry.register("test.ok", lambda ctx, payload: None)

    def flaky(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise ValueError("not yet")

    registry.register("test.flaky", flaky, max_attempts=3)

    def pass_lines() -> list[int]:
        return [r.levelno for r in caplog.records if r.getMessage().startswith("jobs run:")]

    _enqueue(db, clock, "test.ok")
    assert run_due(db, registry, clock=clock, worker_id="w1").succeeded == 1
    assert pass_lines() == [logging.DEBUG]
    caplog.clear()
    _enqueue(db, clock, "test.flaky")
    assert run_due(db, registry, clock=clock, worker_id="w1").retried == 1
    assert pass_lines() == [logging.INFO]
    caplog.clear()
    assert run_due(db, registry, clock=clock, worker_id="w1").claimed == 0
    assert pass_lines() == []
