"""The record store's API for other domains: reads, the changes objections and repair make, the retention job."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import make_settings
from tests.factories import ADMIN
from tests.integration.ingest.conftest import AUTHORITY, IngestRun, penalty_row, write_csv
from xinyidai import audit, ingest
from xinyidai.app import build_container
from xinyidai.db import Database
from xinyidai.ingest.jobs import RETENTION_JOB, register_jobs
from xinyidai.ingest.tables import Record
from xinyidai.job import JobContext, JobRegistry
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.errors import Conflict, InvalidInput
from xinyidai.kernel.pii import PiiCipher

AS_OF = date(2026, 6, 30)


@pytest.fixture
def penalty(db: Database, run: IngestRun, tmp_path: Path) -> ingest.RecordView:
    run(write_csv(tmp_path / "p.csv", [penalty_row(7), penalty_row(8)]))
    found = ingest.find_record(db, item="admin_penalty", key={"CF_WSH": "榕市监罚〔2025〕7号", "CF_CFJGDM": AUTHORITY})
    assert found is not None
    return found


def test_find_record_normalises_the_key_and_get_record_reads_by_id(db: Database, penalty: ingest.RecordView) -> None:
    dirty = ingest.find_record(db, item="admin_penalty", key={"CF_WSH": " 榕市监罚〔2025〕7号 ", "CF_CFJGDM": AUTHORITY.lower()})
    assert dirty is not None
    assert dirty.id == penalty.id == ingest.record_id("admin_penalty", ["榕市监罚〔2025〕7号", AUTHORITY])
    assert ingest.get_record(db, record_id=penalty.id).data == penalty.data
    assert ingest.find_record(db, item="admin_penalty", key={"CF_WSH": "无此文号", "CF_CFJGDM": AUTHORITY}) is None
    typed = ingest.typed_values(penalty)
    assert typed["CF_JDRQ"] == date(2025, 5, 20)
    assert str(typed["CF_NR_FK"]) == "0.200000"


def test_dispute_statement_and_clear_are_audited_in_the_callers_transaction(db: Database, penalty: ingest.RecordView) -> None:
    objection = uuid.uuid4()
    with db.transaction() as s:
        flagged = ingest.mark_disputed(s, actor=ADMIN, record_id=penalty.id, reason="企业提出异议", objection_id=objection)
        assert flagged.disputed
        ingest.attach_statement(s, actor=ADMIN, record_id=penalty.id, statement="该处罚已履行完毕。")
    shown = ingest.visible_records(db, uscc=str(penalty.subject_uscc), as_of=AS_OF)
    assert [(r.disputed, r.statement) for r in shown] == [(True, "该处罚已履行完毕。")]
    with db.transaction() as s:
        assert not ingest.clear_disputed(s, actor=ADMIN, record_id=penalty.id, reason="异议不成立").disputed
    actions = [e.action for e in audit.recent(db, actor=ADMIN, limit=5)]
    assert actions[:3] == ["ingest.record.dispute_clear", "ingest.record.statement", "ingest.record.dispute"]
    # A failed transaction takes its flag with it.
    with pytest.raises(RuntimeError), db.transaction() as s:
        ingest.mark_disputed(s, actor=ADMIN, record_id=penalty.id, reason="x")
        raise RuntimeError("rolled back")
    assert not ingest.get_record(db, record_id=penalty.id).disputed


def test_correct_record_validates_like_a_delivery_and_keeps_the_old_version(
    db: Database, cipher: PiiCipher, clock: FrozenClock, penalty: ingest.RecordView, run: IngestRun, tmp_path: Path
) -> None:
    with db.transaction() as s:
        corrected = ingest.correct_record(
            s,
            actor=ADMIN,
            clock=clock,
            cipher=cipher,
            record_id=penalty.id,
            changes={"CF_NR_FK": "0.15", "CF_FRDB": "王五"},
            reason="异议成立",
        )
    assert (corrected.version, corrected.origin, corrected.data["CF_NR_FK"], corrected.data["CF_FRDB"]) == (
        2,
        "correction",
        "0.15",
        "王*",
    )
    assert ingest.reveal_personal(db, actor=ADMIN, cipher=cipher, record_id=penalty.id)["CF_FRDB"] == "王五"
    history = ingest.record_history(db, record_id=penalty.id)
    assert [(v.version, v.data["CF_NR_FK"], v.origin) for v in history] == [(1, "0.2", "delivery"), (2, "0.15", "correction")]
    with pytest.raises(InvalidInput), db.transaction() as s:
        ingest.correct_record(
            s, actor=ADMIN, clock=clock, cipher=cipher, record_id=penalty.id, changes={"CF_JDRQ": "not a date"}, reason="x"
        )
    with pytest.raises(InvalidInput, match="自然键"), db.transaction() as s:
        ingest.correct_record(
            s, actor=ADMIN, clock=clock, cipher=cipher, record_id=penalty.id, changes={"CF_WSH": "别的文号"}, reason="x"
        )
    with pytest.raises(Conflict), db.transaction() as s:
        ingest.correct_record(
            s, actor=ADMIN, clock=clock, cipher=cipher, record_id=penalty.id, changes={"CF_NR_FK": "0.150"}, reason="x"
        )
    # A later delivery of the corrected content is unchanged; of the old content, a new version.
    same = run(write_csv(tmp_path / "same.csv", [penalty_row(7, CF_NR_FK="0.15", CF_FRDB="王五")]))
    assert same.unchanged == 1
    old = run(write_csv(tmp_path / "old.csv", [penalty_row(7)]))
    assert old.updated == 1
    assert ingest.get_record(db, record_id=penalty.id).version == 3


def test_a_repaired_record_stops_being_published_and_stays_so_on_redelivery(
    db: Database, clock: FrozenClock, penalty: ingest.RecordView, run: IngestRun, tmp_path: Path
) -> None:
    uscc = str(penalty.subject_uscc)
    assert ingest.visible_records(db, uscc=uscc, as_of=AS_OF)
    with db.transaction() as s:
        repaired = ingest.mark_repaired(s, actor=ADMIN, clock=clock, record_id=penalty.id, reason="信用修复通过")
    assert repaired.repaired
    assert repaired.publication_end == AS_OF - timedelta(days=1)
    assert ingest.visible_records(db, uscc=uscc, as_of=AS_OF) == []
    own = ingest.my_records(db, actor=ADMIN, uscc=uscc, as_of=AS_OF)
    assert [(r.repaired, r.published_on(AS_OF)) for r in own] == [(True, False)]
    run(write_csv(tmp_path / "again.csv", [penalty_row(7, CF_NR_FK="0.3")]))
    again = ingest.get_record(db, record_id=penalty.id)
    assert (again.version, again.repaired, again.publication_end) == (2, True, AS_OF - timedelta(days=1))


def test_visible_records_filters_by_item(db: Database, penalty: ingest.RecordView) -> None:
    uscc = str(penalty.subject_uscc)
    assert [r.item_code for r in ingest.visible_records(db, uscc=uscc, items=["admin_penalty"], as_of=AS_OF)] == ["admin_penalty"]
    assert ingest.visible_records(db, uscc=uscc, items=["tax_payment"], as_of=AS_OF) == []
    assert ingest.record_count(db, uscc=uscc) == 1


def test_the_daily_retention_job_is_registered_and_purges_with_an_audit_event(
    db: Database, database_url: str, clock: FrozenClock, penalty: ingest.RecordView, tmp_path: Path
) -> None:
    container = build_container(make_settings(database_url, var_dir=tmp_path / "var"), db=db, clock=clock)
    registry = JobRegistry()
    register_jobs(registry, container)
    kind = registry.get(RETENTION_JOB)
    assert kind is not None
    assert kind.every == timedelta(days=1)
    # Past the publication end the record is simply not visible; it is still stored.
    clock.set(datetime(2028, 6, 1, tzinfo=UTC))
    assert ingest.visible_records(db, uscc=str(penalty.subject_uscc), as_of=date(2028, 6, 1)) == []
    context: dict[str, Any] = {"db": db, "clock": clock, "job_id": uuid.uuid4(), "attempt": 1, "services": {}}
    kind.handler(JobContext(**context), {})
    assert ingest.record_count(db) == 2
    # Past the retention end (5 years from the decision) it is deleted, and the purge is audited.
    clock.set(datetime(2030, 5, 21, tzinfo=UTC))
    kind.handler(JobContext(**context), {})
    assert ingest.record_count(db) == 0
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Record)) == 0
    event = next(e for e in audit.recent(db, actor=ADMIN, limit=5) if e.action == "ingest.record.purge")
    assert event.actor_label == "ingest-retention"


def test_batch_record_dates_lists_every_version_a_batch_wrote(
    db: Database, penalty: ingest.RecordView, run: IngestRun, tmp_path: Path
) -> None:
    assert penalty.batch_id is not None
    first = ingest.batch_record_dates(db, batch_id=penalty.batch_id)
    assert sorted(event for event, _received, _source in first) == [date(2025, 5, 20), date(2025, 5, 20)]
    assert all(source == penalty.source_id for _e, _r, source in first)
    run(write_csv(tmp_path / "v2.csv", [penalty_row(7, CF_NR_FK="0.9")]))
    # The superseded version still counts for the batch that delivered it.
    assert len(ingest.batch_record_dates(db, batch_id=penalty.batch_id)) == 2


def _as_report_records(views: list[ingest.RecordView]) -> list[ingest.ReportRecord]:
    return [
        ingest.ReportRecord(
            id=str(v.id),
            item_code=v.item_code,
            item_name=v.item_name,
            negative=v.negative,
            data=v.data,
            event_date=v.event_date,
            disputed=v.disputed,
            repaired=v.repaired,
            statement=v.statement,
        )
        for v in views
    ]


@pytest.mark.parametrize("items", [None, ["admin_penalty"], ["tax_payment"], ["admin_penalty", "tax_payment"]])
def test_report_records_are_the_visible_records_a_report_reads(
    db: Database, clock: FrozenClock, penalty: ingest.RecordView, items: list[str] | None
) -> None:
    uscc = str(penalty.subject_uscc)
    for day in (date(2025, 5, 19), AS_OF, AS_OF + timedelta(days=365 * 6)):
        shown = ingest.report_records(db, uscc=f" {uscc.lower()} ", items=items, as_of=day)
        assert shown == _as_report_records(ingest.visible_records(db, uscc=uscc, items=items, as_of=day))
    assert ingest.report_records(db, uscc=uscc, items=items, as_of=AS_OF) == (
        [] if items == ["tax_payment"] else _as_report_records([ingest.get_record(db, record_id=penalty.id)])
    )
    with db.transaction() as s:
        ingest.mark_repaired(s, actor=ADMIN, clock=clock, record_id=penalty.id, reason="信用修复通过")
    assert ingest.report_records(db, uscc=uscc, items=items, as_of=AS_OF) == []
