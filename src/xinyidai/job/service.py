"""Job use cases: register kinds, enqueue in the caller's transaction, claim and run due jobs, the outbox."""

from __future__ import annotations

import json
import logging
import re
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xinyidai import audit
from xinyidai.db import Database
from xinyidai.job.model import (
    ACTIVE_STATUSES,
    JOB_BACKOFF,
    OUTBOX_BACKOFF,
    BackoffPolicy,
    ClaimDecision,
    DeliverySummary,
    JobMetrics,
    JobStatus,
    OutboundMessage,
    OutboxStatus,
    PermanentFailure,
    RunSummary,
    Transport,
    check_outbox_transition,
    check_transition,
    error_summary,
    next_periodic_run,
    on_claim,
    on_failure,
    truncate_error,
)
from xinyidai.job.tables import Job, OutboxMessage
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock
from xinyidai.kernel.errors import InvalidInput
from xinyidai.kernel.ids import new_id

log = logging.getLogger("xinyidai.job")

#: The actor that audit events of the job runner are recorded under.
WORKER_ACTOR = ActorRef.system("job-worker")

#: Built-in kind that delivers pending outbox messages.
OUTBOX_DELIVER = "outbox.deliver"

#: Built-in kind that deletes finished work past its retention.
JOB_PURGE = "job.purge"

#: Label under which outbox message outcomes are counted in `Metrics.jobs`.
OUTBOX_METRIC_KIND = "outbox.message"

_KIND_RE = re.compile(r"^[a-z][a-z0-9_.:-]{0,79}$")
_ACTIVE = tuple(sorted(s.value for s in ACTIVE_STATUSES))


# --- registry -------------------------------------------------------------------------------


@dataclass
class JobContext:
    """What a handler gets besides its payload; it opens its own transactions with `db`."""

    db: Database
    clock: Clock
    job_id: uuid.UUID
    attempt: int
    services: dict[str, Any]
    kind: str = ""
    metrics: JobMetrics | None = None


Handler = Callable[[JobContext, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class JobKind:
    """A registered kind of job and how it is run."""

    kind: str
    handler: Handler
    every: timedelta | None
    max_attempts: int
    lease: timedelta
    description: str

    @property
    def dedupe_key(self) -> str | None:
        """The dedupe key of this kind's one scheduled instance, for periodic kinds."""
        return periodic_dedupe_key(self.kind) if self.every is not None else None


def periodic_dedupe_key(kind: str) -> str:
    """The dedupe key that keeps a periodic kind to one active instance."""
    return f"periodic:{kind}"


class JobRegistry:
    """The kinds of job this process can run; built once by the composition root and passed down."""

    def __init__(
        self,
        *,
        default_max_attempts: int = 5,
        lease: timedelta = timedelta(minutes=5),
        backoff: BackoffPolicy = JOB_BACKOFF,
        services: dict[str, Any] | None = None,
    ) -> None:
        if default_max_attempts < 1:
            raise ValueError("default_max_attempts must be at least 1")
        if lease <= timedelta(0):
            raise ValueError("lease must be positive")
        self.default_max_attempts = default_max_attempts
        self.lease = lease
        self.backoff = backoff
        #: Long-lived services handlers need (a cipher, an HTTP client …), handed over in JobContext.
        self.services: dict[str, Any] = dict(services or {})
        self._kinds: dict[str, JobKind] = {}

    def register(
        self,
        kind: str,
        handler: Handler,
        *,
        every: timedelta | None = None,
        max_attempts: int | None = None,
        description: str = "",
        lease: timedelta | None = None,
    ) -> None:
        """Register a handler for `kind`; with `every`, one instance is kept scheduled at that period.

        `lease` is how long a run may take before another worker presumes this one dead and
        runs the job again; it must comfortably exceed the handler's longest run.
        """
        if not _KIND_RE.match(kind):
            raise ValueError(f"invalid job kind {kind!r}: lowercase letters, digits and . _ : - only")
        if kind in self._kinds:
            raise ValueError(f"job kind {kind!r} is already registered")
        if every is not None and every <= timedelta(0):
            raise ValueError("every must be positive")
        if max_attempts is not None and max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if lease is not None and lease <= timedelta(0):
            raise ValueError("lease must be positive")
        self._kinds[kind] = JobKind(
            kind=kind,
            handler=handler,
            every=every,
            max_attempts=max_attempts or self.default_max_attempts,
            lease=lease or self.lease,
            description=description,
        )

    def get(self, kind: str) -> JobKind | None:
        """The registered kind, or None."""
        return self._kinds.get(kind)

    def kinds(self) -> list[JobKind]:
        """Every registered kind, by name."""
        return [self._kinds[k] for k in sorted(self._kinds)]

    def periodic(self) -> list[JobKind]:
        """The kinds that run at a period."""
        return [k for k in self.kinds() if k.every is not None]

    def __contains__(self, kind: object) -> bool:
        return kind in self._kinds

    def __len__(self) -> int:
        return len(self._kinds)


# --- enqueue --------------------------------------------------------------------------------


def _check_payload(payload: dict[str, Any], what: str) -> None:
    if not isinstance(payload, dict):
        raise TypeError(f"{what} payload must be a dict")
    try:
        json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} payload must be plain JSON: {exc}") from exc


def _active_job_id(session: Session, dedupe_key: str) -> uuid.UUID | None:
    return session.scalar(sa.select(Job.id).where(Job.dedupe_key == dedupe_key, Job.status.in_(_ACTIVE)).limit(1))


def enqueue(
    session: Session,
    *,
    kind: str,
    payload: dict[str, Any],
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
    clock: Clock,
) -> uuid.UUID:
    """Add a job in the caller's transaction, so it exists exactly when the change that caused it commits.

    With `dedupe_key`, at most one pending or running job holds the key: enqueueing again
    returns the existing job's id (its payload and due time are kept). Once that job is
    done or dead, the key is free again.
    """
    if not _KIND_RE.match(kind):
        raise ValueError(f"invalid job kind {kind!r}")
    _check_payload(payload, "job")
    if run_at is not None and run_at.tzinfo is None:
        raise ValueError("run_at must be timezone-aware")
    if dedupe_key is not None and not 1 <= len(dedupe_key) <= 200:
        raise ValueError("dedupe_key must be 1 to 200 characters")
    now = clock.now()
    if dedupe_key is not None:
        existing = _active_job_id(session, dedupe_key)
        if existing is not None:
            return existing
    row = Job(
        id=new_id(),
        kind=kind,
        payload=payload,
        status=JobStatus.PENDING.value,
        dedupe_key=dedupe_key,
        run_at=run_at or now,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    if dedupe_key is None:
        session.add(row)
        session.flush()
        return row.id
    # Two transactions may both find no active job and both insert; the unique index lets
    # one win. The loser's insert runs in a savepoint so that its failure does not spoil the
    # caller's transaction, and it then returns the winner's id.
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = _active_job_id(session, dedupe_key)
        if existing is None:
            raise
        return existing
    return row.id


# --- running due jobs -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Claim:
    id: uuid.UUID
    kind: str
    payload: dict[str, Any]
    attempt: int
    run_at: datetime
    reclaimed: bool


@dataclass(frozen=True, slots=True)
class _Death:
    id: uuid.UUID
    kind: str
    attempts: int
    reason: str
    error: str
    reclaimed: bool = False


@dataclass
class _Tally:
    claimed: int = 0
    succeeded: int = 0
    retried: int = 0
    dead: int = 0
    reclaimed: int = 0
    lost: int = 0

    def summary(self) -> RunSummary:
        return RunSummary(self.claimed, self.succeeded, self.retried, self.dead, self.reclaimed, self.lost)


def _count(metrics: JobMetrics | None, kind: str, outcome: str) -> None:
    if metrics is not None:
        metrics.jobs.labels(kind, outcome).inc()


def _set_status(row: Job, new: JobStatus) -> None:
    check_transition(JobStatus(row.status), new)
    row.status = new.value


def _declare_dead(
    session: Session, row: Job, *, now: datetime, reason: str, error: str, worker_id: str, registry: JobRegistry, clock: Clock
) -> None:
    """Mark the job dead and audit it; a periodic kind gets its next instance so the period goes on."""
    _set_status(row, JobStatus.DEAD)
    row.last_error = truncate_error(error)
    row.locked_by = None
    row.locked_until = None
    row.finished_at = now
    row.updated_at = now
    audit.record(
        session,
        actor=WORKER_ACTOR,
        action="job.dead",
        target_type="job",
        target_id=row.id,
        reasons=[reason],
        data={"kind": row.kind, "attempts": row.attempts, "worker_id": worker_id, "error": error_summary(error)},
        clock=clock,
    )
    _schedule_next(session, row, registry=registry, now=now, clock=clock)


def _schedule_next(session: Session, row: Job, *, registry: JobRegistry, now: datetime, clock: Clock) -> None:
    kind = registry.get(row.kind)
    if kind is None or kind.every is None or row.dedupe_key != kind.dedupe_key:
        return
    session.flush()  # the finished row must leave the active set before its successor takes the key
    enqueue(
        session,
        kind=row.kind,
        payload=dict(row.payload),
        run_at=next_periodic_run(scheduled=row.run_at, every=kind.every, now=now),
        dedupe_key=kind.dedupe_key,
        clock=clock,
    )


def _ensure_periodic(db: Database, registry: JobRegistry, *, clock: Clock) -> int:
    """Give every periodic kind that has no active instance one, due now; returns how many were added."""
    periodic = registry.periodic()
    if not periodic:
        return 0
    keys = {k.kind: periodic_dedupe_key(k.kind) for k in periodic}
    added = 0
    with db.transaction() as session:
        present = set(
            session.scalars(sa.select(Job.dedupe_key).where(Job.dedupe_key.in_(list(keys.values())), Job.status.in_(_ACTIVE)))
        )
        for kind, key in keys.items():
            if key not in present:
                enqueue(session, kind=kind, payload={}, dedupe_key=key, clock=clock)
                added += 1
    return added


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.and_(Job.status == JobStatus.PENDING.value, Job.run_at <= now),
        sa.and_(Job.status == JobStatus.RUNNING.value, Job.locked_until <= now),
    )


def _claim_next(db: Database, registry: JobRegistry, *, clock: Clock, worker_id: str) -> _Claim | _Death | None:
    """Lock the next due job and take it (or, when it cannot run, declare it dead) in one short transaction."""
    with db.transaction() as session:
        now = clock.now()
        # PostgreSQL: concurrent workers skip each other's locked rows instead of queueing
        # behind them. SQLite renders no FOR UPDATE; its BEGIN IMMEDIATE already holds the
        # single writer lock, so claims are serialised there.
        row = session.scalars(
            sa.select(Job).where(_due(now)).order_by(Job.run_at, Job.id).limit(1).with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return None
        reclaimed = row.status == JobStatus.RUNNING.value
        if reclaimed:
            log.warning(
                "job lease expired, reclaiming: id=%s kind=%s attempts=%d previous_worker=%s worker=%s",
                row.id,
                row.kind,
                row.attempts,
                row.locked_by,
                worker_id,
            )
        kind = registry.get(row.kind)
        if kind is None:
            # Taken, then failed at once: an unknown kind is a deployment error that someone
            # must see, never a job silently left behind.
            _set_status(row, JobStatus.RUNNING)
            row.attempts += 1
            error = f"no handler registered for job kind {row.kind!r}"
            _declare_dead(
                session,
                row,
                now=now,
                reason=f"未知的任务类型: {row.kind}",
                error=error,
                worker_id=worker_id,
                registry=registry,
                clock=clock,
            )
            return _Death(row.id, row.kind, row.attempts, "unknown kind", error, reclaimed)
        if on_claim(attempts=row.attempts, max_attempts=kind.max_attempts) is ClaimDecision.DEAD:
            error = f"lease expired during final attempt {row.attempts} (worker {row.locked_by} stopped)"
            _declare_dead(
                session,
                row,
                now=now,
                reason=f"第 {row.attempts} 次（最后一次）执行时工作进程中断",
                error=error,
                worker_id=worker_id,
                registry=registry,
                clock=clock,
            )
            return _Death(row.id, row.kind, row.attempts, "attempts exhausted", error, reclaimed)
        _set_status(row, JobStatus.RUNNING)
        row.attempts += 1
        row.locked_by = worker_id
        row.locked_until = now + kind.lease
        row.started_at = now
        row.updated_at = now
        return _Claim(row.id, row.kind, dict(row.payload), row.attempts, row.run_at, reclaimed)


def _fenced_row(session: Session, claim: _Claim, worker_id: str) -> Job | None:
    """The job row if this worker still holds this attempt; None if another worker took it over."""
    row = session.get(Job, claim.id, with_for_update=True, populate_existing=True)
    if row is None or row.status != JobStatus.RUNNING.value or row.locked_by != worker_id or row.attempts != claim.attempt:
        return None
    return row


def _finish_success(db: Database, registry: JobRegistry, claim: _Claim, *, clock: Clock, worker_id: str) -> bool:
    with db.transaction() as session:
        row = _fenced_row(session, claim, worker_id)
        if row is None:
            return False
        now = clock.now()
        _set_status(row, JobStatus.DONE)
        row.locked_by = None
        row.locked_until = None
        row.finished_at = now
        row.updated_at = now
        _schedule_next(session, row, registry=registry, now=now, clock=clock)
        return True


def _finish_failure(
    db: Database,
    registry: JobRegistry,
    claim: _Claim,
    kind: JobKind,
    *,
    error: str,
    permanent: bool,
    clock: Clock,
    worker_id: str,
) -> str:
    """Record a failed attempt; returns 'retried', 'dead' or 'lost'."""
    with db.transaction() as session:
        row = _fenced_row(session, claim, worker_id)
        if row is None:
            return "lost"
        now = clock.now()
        outcome = on_failure(
            attempt=claim.attempt,
            max_attempts=kind.max_attempts,
            now=now,
            seed=claim.id,
            policy=registry.backoff,
            permanent=permanent,
        )
        if outcome.dead:
            reason = "任务报告了无法重试的错误" if permanent else f"已执行 {claim.attempt} 次，均失败"
            _declare_dead(session, row, now=now, reason=reason, error=error, worker_id=worker_id, registry=registry, clock=clock)
            return "dead"
        assert outcome.retry_at is not None
        _set_status(row, JobStatus.PENDING)
        row.run_at = outcome.retry_at
        row.last_error = truncate_error(error)
        row.locked_by = None
        row.locked_until = None
        row.updated_at = now
        return "retried"


def _run_one(
    db: Database, registry: JobRegistry, claim: _Claim, *, clock: Clock, worker_id: str, metrics: JobMetrics | None
) -> str:
    """Run the handler outside any transaction of ours, then record the result; returns the outcome."""
    kind = registry.get(claim.kind)
    assert kind is not None  # checked when claimed
    ctx = JobContext(
        db=db,
        clock=clock,
        job_id=claim.id,
        attempt=claim.attempt,
        services=registry.services,
        kind=claim.kind,
        metrics=metrics,
    )
    started = time.monotonic()
    try:
        kind.handler(ctx, dict(claim.payload))
    except Exception as exc:  # noqa: BLE001 - any failure of a handler is recorded on its job and retried
        error = truncate_error(traceback.format_exc())
        outcome = _finish_failure(
            db,
            registry,
            claim,
            kind,
            error=error,
            permanent=isinstance(exc, PermanentFailure),
            clock=clock,
            worker_id=worker_id,
        )
        if outcome == "retried":
            log.warning(
                "job attempt failed, will retry: id=%s kind=%s attempt=%d/%d error=%s",
                claim.id,
                claim.kind,
                claim.attempt,
                kind.max_attempts,
                error_summary(error),
            )
        elif outcome == "dead":
            log.error(
                "job dead: id=%s kind=%s attempts=%d error=%s",
                claim.id,
                claim.kind,
                claim.attempt,
                error_summary(error),
            )
    else:
        outcome = "succeeded" if _finish_success(db, registry, claim, clock=clock, worker_id=worker_id) else "lost"
        if outcome == "succeeded":
            log.debug(
                "job done: id=%s kind=%s attempt=%d ms=%.1f",
                claim.id,
                claim.kind,
                claim.attempt,
                (time.monotonic() - started) * 1000,
            )
    if outcome == "lost":
        log.warning(
            "job result discarded, another worker took it over: id=%s kind=%s attempt=%d worker=%s",
            claim.id,
            claim.kind,
            claim.attempt,
            worker_id,
        )
    return outcome


def run_due(
    db: Database,
    registry: JobRegistry,
    *,
    clock: Clock,
    worker_id: str,
    limit: int = 100,
    metrics: JobMetrics | None = None,
) -> RunSummary:
    """Run up to `limit` due jobs, one at a time, and report what happened.

    Each job is claimed in a short transaction of its own (status running, this worker's
    lease), its handler runs outside it and opens its own transactions, and the result is
    recorded in a third. The lease starts when the job starts, not when a batch was taken,
    so a long batch never lets a waiting job's lease run out. A job whose worker died keeps
    status running until its lease expires, then any worker claims it again.

    Jobs run at least once: a handler must tolerate running again after a crash between
    its own commit and the job being marked done.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    tally = _Tally()
    _ensure_periodic(db, registry, clock=clock)
    for _ in range(limit):
        claim = _claim_next(db, registry, clock=clock, worker_id=worker_id)
        if claim is None:
            break
        tally.claimed += 1
        tally.reclaimed += int(claim.reclaimed)
        if isinstance(claim, _Death):
            log.error(
                "job dead: id=%s kind=%s attempts=%d reason=%s error=%s",
                claim.id,
                claim.kind,
                claim.attempts,
                claim.reason,
                claim.error,
            )
            tally.dead += 1
            _count(metrics, claim.kind, "dead")
            continue
        outcome = _run_one(db, registry, claim, clock=clock, worker_id=worker_id, metrics=metrics)
        if outcome == "succeeded":
            tally.succeeded += 1
        elif outcome == "retried":
            tally.retried += 1
        elif outcome == "dead":
            tally.dead += 1
        else:
            tally.lost += 1
        _count(metrics, claim.kind, outcome)
    summary = tally.summary()
    if summary.claimed:
        # Routine passes (everything succeeded) are counted in /metrics and logged at DEBUG: the server runs a
        # pass every few seconds (the evaluation refresh is periodic), and INFO would log one line per pass.
        routine = summary.succeeded == summary.claimed and not summary.reclaimed
        log.log(
            logging.DEBUG if routine else logging.INFO,
            "jobs run: worker=%s claimed=%d succeeded=%d retried=%d dead=%d reclaimed=%d lost=%d",
            worker_id,
            summary.claimed,
            summary.succeeded,
            summary.retried,
            summary.dead,
            summary.reclaimed,
            summary.lost,
        )
    return summary


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobView:
    """A job for display."""

    id: uuid.UUID
    kind: str
    status: str
    attempts: int
    run_at: datetime
    dedupe_key: str | None
    locked_by: str | None
    locked_until: datetime | None
    error: str
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


def job_counts(db: Database) -> dict[str, int]:
    """How many jobs are in each status (every status present, zeros included)."""
    counts = {s.value: 0 for s in JobStatus}
    with db.transaction() as session:
        for status, n in session.execute(sa.select(Job.status, sa.func.count()).group_by(Job.status)):
            counts[status] = int(n)
    return counts


def list_jobs(db: Database, *, status: str | None = None, limit: int = 50) -> list[JobView]:
    """Jobs, most recently changed first; optionally only those in one status."""
    if status is not None and status not in {s.value for s in JobStatus}:
        raise InvalidInput(f"未知的任务状态: {status}")
    if limit < 1:
        raise InvalidInput("条数至少为 1")
    query = sa.select(Job).order_by(Job.updated_at.desc(), Job.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Job.status == status)
    with db.transaction() as session:
        return [
            JobView(
                id=r.id,
                kind=r.kind,
                status=r.status,
                attempts=r.attempts,
                run_at=r.run_at,
                dedupe_key=r.dedupe_key,
                locked_by=r.locked_by,
                locked_until=r.locked_until,
                error=error_summary(r.last_error),
                last_error=r.last_error,
                created_at=r.created_at,
                updated_at=r.updated_at,
                finished_at=r.finished_at,
            )
            for r in session.scalars(query)
        ]


# --- outbox ---------------------------------------------------------------------------------


def enqueue_outbox(
    session: Session,
    *,
    topic: str,
    destination: str,
    payload: dict[str, Any],
    clock: Clock,
    headers: Mapping[str, str] | None = None,
    node_id: str | None = None,
) -> uuid.UUID:
    """Write a message for another system in the caller's transaction; it is sent only if that commits.

    `destination` is a URL whose scheme picks the transport (https://… → the webhook
    transport). The node id defaults to the session's `info["node_id"]`, like audit events.
    """
    if not topic or len(topic) > 80:
        raise ValueError("topic must be 1 to 80 characters")
    if len(destination) > 500:
        raise ValueError("destination must be at most 500 characters")
    if not urlsplit(destination).scheme:
        raise ValueError(f"destination needs a scheme: {destination!r}")
    _check_payload(payload, "outbox")
    now = clock.now()
    row = OutboxMessage(
        id=new_id(),
        topic=topic,
        destination=destination,
        payload=payload,
        headers=dict(headers or {}),
        status=OutboxStatus.PENDING.value,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        node_id=node_id or str(session.info.get("node_id", "unknown")),
    )
    session.add(row)
    session.flush()
    return row.id


def _declare_message_dead(session: Session, row: OutboxMessage, *, now: datetime, reason: str, error: str, clock: Clock) -> None:
    check_outbox_transition(OutboxStatus(row.status), OutboxStatus.DEAD)
    row.status = OutboxStatus.DEAD.value
    row.last_error = truncate_error(error)
    audit.record(
        session,
        actor=WORKER_ACTOR,
        action="outbox.dead",
        target_type="outbox_message",
        target_id=row.id,
        reasons=[reason],
        data={"topic": row.topic, "destination": row.destination, "attempts": row.attempts, "error": error_summary(error)},
        clock=clock,
    )


def _claim_message(
    db: Database, *, clock: Clock, lease: timedelta, max_attempts: int
) -> OutboundMessage | tuple[uuid.UUID, str] | None:
    """Take the next due message for `lease` (by moving its next attempt past the lease), or declare it dead."""
    with db.transaction() as session:
        now = clock.now()
        row = session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING.value, OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return None
        if on_claim(attempts=row.attempts, max_attempts=max_attempts) is ClaimDecision.DEAD:
            error = f"delivery interrupted during final attempt {row.attempts}"
            _declare_message_dead(
                session, row, now=now, reason=f"第 {row.attempts} 次（最后一次）投递时进程中断", error=error, clock=clock
            )
            return (row.id, error)
        row.attempts += 1
        row.next_attempt_at = now + lease
        return OutboundMessage(
            id=row.id,
            topic=row.topic,
            destination=row.destination,
            payload=dict(row.payload),
            headers={str(k): str(v) for k, v in row.headers.items()},
            attempt=row.attempts,
            created_at=row.created_at,
            node_id=row.node_id,
        )


def _fenced_message(session: Session, message: OutboundMessage) -> OutboxMessage | None:
    row = session.get(OutboxMessage, message.id, with_for_update=True, populate_existing=True)
    if row is None or row.status != OutboxStatus.PENDING.value or row.attempts != message.attempt:
        return None
    return row


def _record_delivery(db: Database, message: OutboundMessage, *, clock: Clock) -> bool:
    with db.transaction() as session:
        row = _fenced_message(session, message)
        if row is None:
            return False
        check_outbox_transition(OutboxStatus(row.status), OutboxStatus.DELIVERED)
        row.status = OutboxStatus.DELIVERED.value
        row.delivered_at = clock.now()
        return True


def _record_delivery_failure(
    db: Database,
    message: OutboundMessage,
    *,
    error: str,
    permanent: bool,
    clock: Clock,
    max_attempts: int,
    backoff: BackoffPolicy,
) -> str:
    with db.transaction() as session:
        row = _fenced_message(session, message)
        if row is None:
            return "lost"
        now = clock.now()
        outcome = on_failure(
            attempt=message.attempt, max_attempts=max_attempts, now=now, seed=message.id, policy=backoff, permanent=permanent
        )
        if outcome.dead:
            reason = "接收方拒绝或无法投递，不再重试" if permanent else f"已投递 {message.attempt} 次，均失败"
            _declare_message_dead(session, row, now=now, reason=reason, error=error, clock=clock)
            return "dead"
        assert outcome.retry_at is not None
        check_outbox_transition(OutboxStatus(row.status), OutboxStatus.PENDING)
        row.next_attempt_at = outcome.retry_at
        row.last_error = truncate_error(error)
        return "retried"


def deliver_outbox(
    db: Database,
    *,
    transports: Mapping[str, Transport],
    clock: Clock,
    max_attempts: int = 12,
    backoff: BackoffPolicy = OUTBOX_BACKOFF,
    limit: int = 100,
    lease: timedelta = timedelta(minutes=5),
    budget_seconds: float = 60.0,
    metrics: JobMetrics | None = None,
) -> DeliverySummary:
    """Deliver due outbox messages, each through the transport for its destination's scheme.

    Messages are taken one at a time for `lease` and sent outside any transaction (a slow
    receiver never holds a database lock); the pass stops after `limit` messages or
    `budget_seconds`, so it always ends well inside the lease of the job that runs it.
    Delivery is at least once: receivers drop replays by the message id.
    """
    delivered = retried = dead = lost = 0
    deadline = time.monotonic() + budget_seconds
    for _ in range(limit):
        if time.monotonic() > deadline:
            break
        message = _claim_message(db, clock=clock, lease=lease, max_attempts=max_attempts)
        if message is None:
            break
        if isinstance(message, tuple):
            log.error("outbox message dead: id=%s error=%s", message[0], message[1])
            dead += 1
            _count(metrics, OUTBOX_METRIC_KIND, "dead")
            continue
        scheme = urlsplit(message.destination).scheme.lower()
        transport = transports.get(scheme)
        try:
            if transport is None:
                raise PermanentFailure(f"no transport for destination scheme {scheme!r}")
            transport.deliver(message)
        except Exception as exc:  # noqa: BLE001 - any failure of a transport is recorded on its message and retried
            error = truncate_error("".join(traceback.format_exception_only(exc)).strip())
            outcome = _record_delivery_failure(
                db,
                message,
                error=error,
                permanent=isinstance(exc, PermanentFailure),
                clock=clock,
                max_attempts=max_attempts,
                backoff=backoff,
            )
            if outcome == "dead":
                log.error(
                    "outbox message dead: id=%s topic=%s destination=%s attempts=%d error=%s",
                    message.id,
                    message.topic,
                    message.destination,
                    message.attempt,
                    error_summary(error),
                )
                dead += 1
            elif outcome == "retried":
                log.warning(
                    "outbox delivery failed, will retry: id=%s topic=%s destination=%s attempt=%d/%d error=%s",
                    message.id,
                    message.topic,
                    message.destination,
                    message.attempt,
                    max_attempts,
                    error_summary(error),
                )
                retried += 1
            else:
                lost += 1
        else:
            outcome = "delivered" if _record_delivery(db, message, clock=clock) else "lost"
            if outcome == "delivered":
                delivered += 1
            else:
                lost += 1
        _count(metrics, OUTBOX_METRIC_KIND, outcome)
    return DeliverySummary(delivered=delivered, retried=retried, dead=dead, lost=lost)


def outbox_counts(db: Database) -> dict[str, int]:
    """How many outbox messages are in each status (zeros included)."""
    counts = {s.value: 0 for s in OutboxStatus}
    with db.transaction() as session:
        for status, n in session.execute(sa.select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status)):
            counts[status] = int(n)
    return counts


def purge_finished(db: Database, *, clock: Clock, older_than: timedelta) -> dict[str, int]:
    """Delete done jobs and delivered outbox messages finished more than `older_than` ago.

    Dead jobs and dead messages are kept: they are reports someone still has to act on.
    Periodic kinds leave one done row per run, so without this the table only grows.
    """
    if older_than <= timedelta(0):
        raise ValueError("older_than must be positive")
    cutoff = clock.now() - older_than
    with db.transaction() as session:
        jobs = session.execute(
            sa.delete(Job).where(Job.status == JobStatus.DONE.value, Job.updated_at < cutoff),
            execution_options={"synchronize_session": False},
        )
        messages = session.execute(
            sa.delete(OutboxMessage).where(
                OutboxMessage.status == OutboxStatus.DELIVERED.value, OutboxMessage.delivered_at < cutoff
            ),
            execution_options={"synchronize_session": False},
        )
        return {"jobs": _rowcount(jobs), "outbox": _rowcount(messages)}


def _rowcount(result: sa.Result[Any]) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def register_builtin_jobs(
    registry: JobRegistry,
    transports: Mapping[str, Transport],
    *,
    every: timedelta = timedelta(seconds=10),
    max_attempts: int = 12,
    backoff: BackoffPolicy = OUTBOX_BACKOFF,
    limit: int = 100,
    retention: timedelta = timedelta(days=7),
) -> None:
    """Register the platform's own periodic kinds.

    `outbox.deliver` (every `every`) sends pending outbox messages through `transports`,
    keyed by destination URL scheme; `job.purge` (hourly) deletes done jobs and delivered
    messages older than `retention`.
    """
    chosen = {scheme.lower(): t for scheme, t in transports.items()}

    def deliver(ctx: JobContext, payload: dict[str, Any]) -> None:
        deliver_outbox(
            ctx.db,
            transports=chosen,
            clock=ctx.clock,
            max_attempts=max_attempts,
            backoff=backoff,
            limit=limit,
            metrics=ctx.metrics,
        )

    def purge(ctx: JobContext, payload: dict[str, Any]) -> None:
        purged = purge_finished(ctx.db, clock=ctx.clock, older_than=retention)
        if purged["jobs"] or purged["outbox"]:
            log.info("purged finished work: jobs=%d outbox=%d", purged["jobs"], purged["outbox"])

    registry.register(OUTBOX_DELIVER, deliver, every=every, description="投递发件箱中待发送的消息（Webhook 等）")
    registry.register(JOB_PURGE, purge, every=timedelta(hours=1), description="清理已完成的任务和已投递的消息")
