"""Incremental mode: a newly ingested penalty changes the enterprise's grade after the periodic job runs."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings
from tests.integration.evaluation.evaluation_data import add_record, add_subject, penalty
from tests.integration.ingest.conftest import penalty_row, write_csv
from xinyidai import ingest
from xinyidai.app import build_container
from xinyidai.db import Database
from xinyidai.evaluation.batch import read_current, run_evaluation
from xinyidai.evaluation.incremental import read_audit_watermark, read_watermark, refresh
from xinyidai.evaluation.jobs import REFRESH_EVERY, REFRESH_JOB, register_jobs
from xinyidai.job import JobContext, JobRegistry
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher

ACTOR = ActorRef.system("evaluation-test")


def test_a_new_penalty_lowers_the_grade_once_the_refresh_job_runs(
    db: Database, database_url: str, cipher: PiiCipher, tmp_path: Path
) -> None:
    clock = FrozenClock(datetime(2026, 6, 30, 2, tzinfo=UTC))
    target_n = 20_000_000 + 7
    with db.transaction() as s:
        uscc = add_subject(s, target_n, established_on=date(2012, 1, 1), capital="600")
        add_record(s, "tax_credit_grade", uscc, {"year": 2025, "grade": "A", "evaluated_on": "2026-04-01"},
                   received_at=datetime(2026, 5, 1, tzinfo=UTC))  # fmt: skip
    container = build_container(make_settings(database_url, var_dir=tmp_path / "var"), db=db, clock=clock)
    run_evaluation(container, actor=ACTOR)
    before = read_current(db, uscc)
    assert before is not None
    assert before["grade"] == "A"

    registry = JobRegistry()
    register_jobs(registry, container)
    kind = registry.get(REFRESH_JOB)
    assert kind is not None
    assert kind.every == REFRESH_EVERY
    context: dict[str, Any] = {"db": db, "clock": clock, "job_id": uuid.uuid4(), "attempt": 1, "services": {}}
    kind.handler(JobContext(**context), {})  # first tick: sets the watermark
    assert read_watermark(db) == clock.now()

    clock.advance(timedelta(seconds=3))
    row = penalty_row(7, CF_JDRQ="2026-06-20", CF_CFLB="罚款;吊销许可证")
    path = write_csv(tmp_path / "p.csv", [row])
    result = ingest.ingest_file(db, actor=ACTOR, clock=clock, cipher=cipher, var_dir=tmp_path / "var", path=path,
                                channel=ingest.Channel.CLI, register_unknown=True)  # fmt: skip
    assert result.accepted == 1
    clock.advance(REFRESH_EVERY)
    kind.handler(JobContext(**context), {})
    after = read_current(db, uscc)
    assert after is not None
    assert after["indicators"]["penalty_count"] == 1
    assert after["grade"] != "A"
    assert after["rule_score"] < before["rule_score"]
    assert after["run_id"] != before["run_id"]
    assert any(r["item"] == "admin_penalty" for r in after["reasons"])


def test_single_enterprise_mode_gives_the_batch_result(db: Database, tmp_path: Path) -> None:
    clock = FrozenClock(datetime(2026, 6, 30, 2, tzinfo=UTC))
    with db.transaction() as s:
        a = add_subject(s, 1)
        b = add_subject(s, 2, established_on=date(2026, 1, 1))
        add_record(s, "abnormal_operation", b, {"reason": "未报年报", "listed_on": "2026-02-01"})
    run_evaluation(db, actor=ACTOR, clock=clock, directory=tmp_path)
    batch = {u: read_current(db, u) for u in (a, b)}
    summary = refresh(db, actor=ACTOR, clock=clock, directory=tmp_path, subjects=[b])
    assert summary.subjects == (b,)
    single = read_current(db, b)
    assert single is not None
    assert batch[b] is not None
    for key in ("rule_score", "grade", "reasons", "indicators"):
        assert single[key] == batch[b][key]
    assert single["run_id"] != batch[b]["run_id"]
    assert read_current(db, a) == batch[a]


def test_a_delivery_still_writing_holds_the_watermark_back_on_postgresql(db: Database, database_url: str, tmp_path: Path) -> None:
    """A long delivery stamped at t+1 s commits after a short one stamped at t+5 s was refreshed: the watermark must
    not have passed t+1 s, or the long one's enterprise would wait for the nightly batch."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): a delivery cannot commit behind a later one")
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from xinyidai.db import create_database_engine
    from xinyidai.evaluation.incremental import refresh_changed

    start = datetime.now(UTC)  # the database's clock dates transactions: the test's clock starts at real time
    clock = FrozenClock(start)
    with db.transaction() as s:
        long_one = add_subject(s, 31)
        short_one = add_subject(s, 32)
    refresh_changed(db, actor=ACTOR, clock=clock, directory=tmp_path)  # first tick: the watermark is now
    assert read_watermark(db) == start

    other = create_database_engine(database_url)
    conn = other.connect()
    try:
        writing = conn.begin()  # the long delivery: stamped at start + 1 s, still writing
        rid = add_record(Session(bind=conn), "abnormal_operation", long_one,
                         {"reason": "未报年报", "listed_on": "2026-02-01"}, received_at=start + timedelta(seconds=1))  # fmt: skip
        conn.execute(sa.text("SELECT 1"))
        with db.transaction() as s:  # the short delivery, stamped later, already committed
            add_record(s, "abnormal_operation", short_one, {"reason": "未报年报", "listed_on": "2026-02-01"},
                       received_at=start + timedelta(seconds=5))  # fmt: skip
        clock.advance(timedelta(seconds=10))
        first = refresh_changed(db, actor=ACTOR, clock=clock, directory=tmp_path)
        assert first.subjects == (short_one,)
        assert read_watermark(db) == start  # held back by the delivery still writing
        writing.commit()

        clock.advance(REFRESH_EVERY)
        second = refresh_changed(db, actor=ACTOR, clock=clock, directory=tmp_path)
        assert long_one in second.subjects
        refreshed = read_current(db, long_one)
        assert refreshed is not None
        assert refreshed["indicators"]["abnormal_operation_listed"] == 1
        assert read_watermark(db) == start + timedelta(seconds=5)
    finally:
        if conn.in_transaction():
            conn.rollback()
        with conn.begin():
            conn.execute(sa.text("DELETE FROM ingest_record WHERE id = :id"), {"id": rid})
        conn.close()
        other.dispose()


def test_a_repair_raises_the_grade_at_the_next_tick(db: Database, database_url: str, tmp_path: Path) -> None:
    """A repair receives no record; the refresh reads it from the audit log and re-evaluates within seconds."""
    clock = FrozenClock(datetime(2026, 6, 30, 2, tzinfo=UTC))
    with db.transaction() as s:
        uscc = add_subject(s, 41, established_on=date(2012, 1, 1), capital="600")
        add_subject(s, 42)  # repaired nothing: not refreshed
        rid = penalty(s, uscc, decided=date(2026, 3, 1), received_at=datetime(2026, 3, 5, tzinfo=UTC), severity="serious")
    container = build_container(make_settings(database_url, var_dir=tmp_path / "var"), db=db, clock=clock)
    run_evaluation(container, actor=ACTOR)
    before = read_current(db, uscc)
    assert before is not None
    assert before["indicators"]["penalty_count"] == 1

    registry = JobRegistry()
    register_jobs(registry, container)
    kind = registry.get(REFRESH_JOB)
    assert kind is not None
    context: dict[str, Any] = {"db": db, "clock": clock, "job_id": uuid.uuid4(), "attempt": 1, "services": {}}
    kind.handler(JobContext(**context), {})  # first tick: both watermarks set, nothing refreshed
    seq = read_audit_watermark(db)
    assert seq is not None

    clock.advance(timedelta(days=1))
    with db.transaction() as s:
        ingest.mark_repaired(s, actor=ACTOR, clock=clock, record_id=rid, reason="已完成信用修复")
    clock.advance(REFRESH_EVERY)
    kind.handler(JobContext(**context), {})
    after = read_current(db, uscc)
    assert after is not None
    assert after["indicators"]["penalty_count"] == 0
    assert after["rule_score"] > before["rule_score"]
    assert after["run_id"] != before["run_id"]
    moved = read_audit_watermark(db)
    assert moved is not None
    assert moved > seq

    clock.advance(REFRESH_EVERY)  # read once: the next tick refreshes nobody
    kind.handler(JobContext(**context), {})
    assert read_current(db, uscc) == after
