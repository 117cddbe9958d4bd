"""Single-enterprise mode: re-evaluate a few enterprises through the batch's own code path and upsert them.

``refresh`` takes the same steps as a batch run — ``write_snapshot(subjects=…)``, the same Ibis indicator
expressions, the same ``score_batch`` kernel — and upserts the rows into ``evaluation_current`` under a
run of mode ``incremental``, so a refreshed evaluation is indistinguishable from a batch one for the same
records. ``refresh_changed`` finds the subjects whose records were received since the watermark, and those whose
records were repaired since (a repair receives no record: the audit log, read by ``seq``, is the change feed).

The watermark must never pass a record that is still to be committed. A delivery stamps its records'
``received_at`` when its transaction begins, and commits when it ends: on SQLite writers are serialised
(``BEGIN IMMEDIATE``), so nothing stamped earlier can commit after a later stamp is seen; on PostgreSQL two
deliveries overlap, and a long one stamped at t0 may commit after a short one stamped at t10 was seen and the
watermark moved to t10 — its records would be missed until the next batch. So on PostgreSQL the watermark moves
at most to the start of the oldest other transaction still writing (``pg_stat_activity``), less a margin for the
clocks of the platform's servers and the database server; subjects received after it are refreshed again at the
next tick (a refresh is idempotent).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa

from xinyidai import audit
from xinyidai.db import Database
from xinyidai.evaluation.batch import (
    _Constants,
    _fail_run,
    _finish_run,
    _start_run,
    grade_counts,
    load_models,
    result_frame,
    upsert_current,
)
from xinyidai.evaluation.engine import compute_indicators
from xinyidai.evaluation.kernel import score_batch
from xinyidai.evaluation.runs_tables import EvaluationWatermark
from xinyidai.evaluation.snapshot import write_snapshot
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock, today

#: Name of the record-store watermark row.
WATERMARK: Final = "records"
#: At most this many subjects per refresh; the rest wait for the next tick (the batch covers everyone).
MAX_SUBJECTS: Final = 5_000
#: Audit actions after which an enterprise's evaluation changes though no record is received: a repair (信用修复)
#: ends the record's publication at once, and the enterprise should not wait for the nightly batch to see it.
CHANGE_ACTIONS: Final = ("ingest.record.repair",)
#: How far the clocks of the platform's servers (``received_at``) and of PostgreSQL (transaction starts) may differ.
CLOCK_MARGIN: Final = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class RefreshSummary:
    """What one incremental refresh did."""

    run_id: uuid.UUID | None
    subjects: tuple[str, ...]
    grades: dict[str, int]
    seconds: float


def refresh(
    db: Database, *, actor: ActorRef, clock: Clock, directory: Path, subjects: Collection[str], as_of: date | None = None
) -> RefreshSummary:
    """Re-evaluate ``subjects`` as of ``as_of`` (default today) and upsert their current evaluations."""
    chosen = tuple(sorted(set(subjects)))
    if not chosen:
        return RefreshSummary(None, (), {}, 0.0)
    started = time.perf_counter()
    as_of = as_of or today(clock)
    run_id = _start_run(db, mode="incremental", as_of=as_of, engine="duckdb", actor=actor, clock=clock)
    try:
        with db.transaction() as s:
            models = load_models(s)
        snapshot = write_snapshot(db, as_of=as_of, directory=directory, subjects=chosen, clock=clock)
        indicators = compute_indicators(snapshot)
        evaluations = score_batch(indicators, rules=models.rules, card=models.card)
        frame = result_frame(evaluations, indicators)
        grades = grade_counts(evaluations)
        seconds = {"whole": round(time.perf_counter() - started, 4)}
        with db.transaction() as s:
            constants = _Constants(run_id, snapshot.id, as_of, models.rules_version_id, models.card_version_id, clock.now())
            upsert_current(s, frame, constants)
            _finish_run(
                s, run_id, snapshot=snapshot, models=models, enterprises=frame.height, grades=grades, seconds=seconds, clock=clock
            )
            audit.record(
                s,
                actor=actor,
                action="evaluation.run.incremental",
                target_type="evaluation_run",
                target_id=run_id,
                data={"subjects": list(chosen[:100]), "count": len(chosen), "snapshot_id": str(snapshot.id)},
                clock=clock,
            )
    except BaseException:
        _fail_run(db, run_id, clock)
        raise
    return RefreshSummary(run_id, tuple(frame.get_column("uscc").to_list()), grades, time.perf_counter() - started)


def _cut_text(dialect: str, moment: datetime) -> Any:
    return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else moment


def write_horizon(session: Any) -> datetime | None:
    """PostgreSQL: the start of the oldest other transaction of this database that has written and not ended, less
    ``CLOCK_MARGIN`` — no record stamped later than that can still be uncommitted. None when there is none, and on
    SQLite (writers are serialised). Sessions of the platform's own database role are visible to it in
    ``pg_stat_activity`` without extra privileges."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    # A backend reads pg_stat_activity once per transaction and keeps it: clear that, or a caller's longer
    # transaction would see writers that have long ended.
    session.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
    oldest = session.execute(
        sa.text(
            "SELECT min(xact_start) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
        )
    ).scalar()
    return None if oldest is None else _aware(oldest) - CLOCK_MARGIN


def changed_subjects(db: Database, *, since: datetime | None, limit: int = MAX_SUBJECTS) -> tuple[list[str], datetime | None]:
    """Subjects with records received after ``since`` (all with records if None), and how far the watermark may move:
    the newest receipt seen, or (PostgreSQL) the write horizon if that is earlier (module docstring)."""
    with db.transaction() as s:
        dialect = s.get_bind().dialect.name
        horizon = write_horizon(s)  # before the read: a writer that starts after it stamps later than the horizon
        where = "subject_uscc IS NOT NULL" + (" AND received_at > :since" if since is not None else "")
        params = {"since": _cut_text(dialect, since)} if since is not None else {}
        # The range on the receipt index: SQLite's planner would rather walk the subject index for the GROUP BY, and
        # look up every row of the table (40 CPU-s at 10M records, every tick).
        ranged = dialect == "sqlite" and since is not None
        table = "ingest_record INDEXED BY ix_ingest_record_received_at" if ranged else "ingest_record"
        rows = s.execute(
            sa.text(
                f"SELECT subject_uscc, max(received_at) AS latest FROM {table} WHERE {where} "
                "GROUP BY subject_uscc ORDER BY max(received_at) LIMIT :limit"
            ),
            {**params, "limit": limit},
        ).all()
    if not rows:
        return [], since
    latest = max(_aware(r[1]) for r in rows)
    if horizon is not None:  # the watermark never moves back: a horizon before it leaves it where it is
        latest = min(latest, horizon)
    return [str(r[0]) for r in rows], latest


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _watermarks(db: Database) -> tuple[datetime, int | None] | None:
    """(receipt time, audit seq) the refresh has read up to; None before its first tick."""
    with db.transaction() as s:
        row = s.get(EvaluationWatermark, WATERMARK)
        return None if row is None else (row.received_at, row.audit_seq)


def read_watermark(db: Database) -> datetime | None:
    """The incremental refresh's watermark, if it has run."""
    marks = _watermarks(db)
    return None if marks is None else marks[0]


def read_audit_watermark(db: Database) -> int | None:
    """The ``seq`` of the last audit event the incremental refresh has read (None before its first tick)."""
    marks = _watermarks(db)
    return None if marks is None else marks[1]


def changed_by_events(db: Database, *, after: int | None, limit: int = MAX_SUBJECTS) -> tuple[list[str], int]:
    """Subjects of ``CHANGE_ACTIONS`` events after ``after`` (none when None: the log's head is where to start), and
    the ``seq`` the watermark may move to (``audit.subject_events``: the log is a change feed in commit order)."""
    with db.transaction() as s:
        if after is None:
            return [], audit.head(s)
        page = audit.subject_events(s, after=after, actions=CHANGE_ACTIONS, limit=limit)
    return list(page.subjects), page.next_after


def _move_watermark(db: Database, to: datetime, clock: Clock, *, audit_seq: int | None = None) -> None:
    with db.transaction() as s:
        row = s.get(EvaluationWatermark, WATERMARK, with_for_update=True)
        if row is None:
            s.add(EvaluationWatermark(name=WATERMARK, received_at=to, audit_seq=audit_seq, updated_at=clock.now()))
            return
        if to > row.received_at:
            row.received_at, row.updated_at = to, clock.now()
        if audit_seq is not None and (row.audit_seq is None or audit_seq > row.audit_seq):
            row.audit_seq, row.updated_at = audit_seq, clock.now()


def refresh_changed(db: Database, *, actor: ActorRef, clock: Clock, directory: Path) -> RefreshSummary:
    """Refresh the subjects whose records arrived since the watermark, or whose records were repaired since (audit
    log), then move the watermarks.

    The first tick (no watermark) only sets the watermarks to now and to the log's head: evaluating everyone is the
    batch's job.
    """
    marks = _watermarks(db)
    if marks is None:
        _, head = changed_by_events(db, after=None)
        _move_watermark(db, clock.now(), clock, audit_seq=head)
        return RefreshSummary(None, (), {}, 0.0)
    since, after = marks
    subjects, latest = changed_subjects(db, since=since)
    repaired, seq = changed_by_events(db, after=after)
    chosen = sorted(set(subjects) | set(repaired))
    summary = refresh(db, actor=actor, clock=clock, directory=directory, subjects=chosen)
    _move_watermark(db, latest if latest is not None else since, clock, audit_seq=seq)
    return summary
