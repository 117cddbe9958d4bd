"""An objection's whole life on the database: filed (record flagged in the same transaction) → reminded on
day 15 by the job runner → escalated after day 20 → resolved with each outcome; tenancy; attachments; audit."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import make_settings
from tests.integration.objection.conftest import World
from xinyidai import audit, ingest, objection
from xinyidai.app import build_container
from xinyidai.db import Database
from xinyidai.job import JobRegistry, run_due
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kernel.pii import PiiCipher
from xinyidai.objection.jobs import register_jobs
from xinyidai.objection.tables import Objection

PDF = b"%PDF-1.4\n% test\n" + b"0" * 100


def _registry(database_url: str) -> JobRegistry:
    registry = JobRegistry()
    register_jobs(registry, build_container(make_settings(database_url)))
    return registry


def _actions(db: Database, world: World, n: int = 30) -> list[str]:
    return [e.action for e in audit.recent(db, actor=world.operator.ref, limit=n)]


def _file(db: Database, clock: FrozenClock, world: World, **kw: object) -> objection.ObjectionView:
    options: dict[str, object] = {"record_id": world.record.id, "reasons": "该处罚已撤销，记录有误。"}
    options.update(kw)
    return objection.file_objection(db, actor=world.enterprise, clock=clock, var_dir=world.var_dir, **options)  # type: ignore[arg-type]


def test_whole_life_remind_on_day_15_escalate_after_day_20_then_corrected(
    db: Database, database_url: str, clock: FrozenClock, cipher: PiiCipher, world: World
) -> None:
    filed = _file(db, clock, world, attachments=[objection.AttachmentUpload("../../缴款凭证.pdf", io.BytesIO(PDF))])
    assert filed.status is objection.ObjectionStatus.OPEN
    assert filed.department_id == world.dept_a
    assert (filed.received_on.isoformat(), filed.due_on.isoformat()) == ("2026-06-30", "2026-07-20")
    assert filed.attachments[0].label == "缴款凭证.pdf"
    assert (world.var_dir / "attachments" / f"{filed.attachments[0].sha256}.pdf").read_bytes() == PDF
    # Flagged at once, wherever the record is shown.
    assert ingest.get_record(db, record_id=world.record.id).disputed
    assert [
        r.disputed
        for r in ingest.visible_records(db, uscc=str(world.record.subject_uscc), as_of=filed.received_on)
        if r.id == world.record.id
    ] == [True]

    registry = _registry(database_url)
    clock.set(datetime(2026, 7, 14, 12, 0, tzinfo=UTC))  # day 14: nothing due
    assert run_due(db, registry, clock=clock, worker_id="t").claimed == 0
    clock.set(datetime(2026, 7, 15, 1, 0, tzinfo=UTC))  # day 15, 09:00 China time
    assert run_due(db, registry, clock=clock, worker_id="t").succeeded == 1
    seen = objection.get_objection(db, actor=world.clerk_a, clock=clock, objection_id=filed.id)
    assert (seen.reminders_sent, seen.tone, seen.days_left) == (1, objection.DeadlineTone.AMBER, 5)
    clock.set(datetime(2026, 7, 20, 15, 59, tzinfo=UTC))  # day 20, 23:59 China time: one more reminder, no escalation
    assert run_due(db, registry, clock=clock, worker_id="t").succeeded == 1
    assert (
        objection.get_objection(db, actor=world.clerk_a, clock=clock, objection_id=filed.id).status
        is objection.ObjectionStatus.OPEN
    )
    clock.set(datetime(2026, 7, 20, 16, 0, tzinfo=UTC))  # day 21 begins in China
    assert run_due(db, registry, clock=clock, worker_id="t").succeeded == 1
    late = objection.get_objection(db, actor=world.regulator, clock=clock, objection_id=filed.id)
    assert (late.status, late.tone, late.reminders_sent) == (objection.ObjectionStatus.ESCALATED, objection.DeadlineTone.RED, 2)
    assert objection.escalate(db, clock=clock, objection_id=filed.id) is False  # once
    overdue = objection.list_objections(db, actor=world.operator, clock=clock, status=objection.ObjectionStatus.ESCALATED)
    assert [o.id for o in overdue.items] == [filed.id]

    done = objection.resolve(
        db,
        actor=world.clerk_a,
        clock=clock,
        cipher=cipher,
        objection_id=filed.id,
        outcome=objection.Outcome.CORRECTED,
        answer="经核查，罚款金额登记有误，已更正为0.15万元。",
        changes={"CF_NR_FK": "0.15"},
    )
    assert (done.status, done.corrected_version, done.tone) == (objection.ObjectionStatus.CORRECTED, 2, None)
    record = ingest.get_record(db, record_id=world.record.id)
    assert (record.version, record.disputed, record.origin, record.data["CF_NR_FK"]) == (2, False, "correction", "0.15")
    assert [v.version for v in ingest.record_history(db, record_id=world.record.id)] == [1, 2]
    # Terminal: no second answer, and the reminder/escalation jobs left nothing to do.
    with pytest.raises(objection.InvalidTransition):
        objection.resolve(
            db,
            actor=world.clerk_a,
            clock=clock,
            cipher=cipher,
            objection_id=filed.id,
            outcome=objection.Outcome.UPHELD,
            answer="再次",
        )
    actions = _actions(db, world, 60)
    for wanted in (
        "objection.file",
        "objection.remind",
        "objection.escalate",
        "objection.resolve",
        "ingest.record.dispute",
        "ingest.record.correct",
        "ingest.record.dispute_clear",
    ):
        assert wanted in actions, wanted
    assert actions.count("objection.remind") == 2


def test_upheld_clears_the_mark_and_keeps_the_record(db: Database, clock: FrozenClock, cipher: PiiCipher, world: World) -> None:
    filed = _file(db, clock, world)
    done = objection.resolve(
        db,
        actor=world.clerk_a,
        clock=clock,
        cipher=cipher,
        objection_id=filed.id,
        outcome=objection.Outcome.UPHELD,
        answer="经核查记录无误。",
    )
    record = ingest.get_record(db, record_id=world.record.id)
    assert (done.status, record.version, record.disputed) == (objection.ObjectionStatus.UPHELD, 1, False)
    assert done.dispute_note is None
    # A new objection may be filed once the first is answered.
    again = _file(db, clock, world, reasons="补充新证据。")
    assert again.status is objection.ObjectionStatus.OPEN


def test_unresolved_keeps_the_mark_with_a_note_and_a_statement_can_be_attached(
    db: Database, clock: FrozenClock, cipher: PiiCipher, world: World
) -> None:
    filed = _file(db, clock, world)
    objection.add_statement(db, actor=world.enterprise, clock=clock, objection_id=filed.id, statement="罚款已于2025年6月缴清。")
    done = objection.resolve(
        db,
        actor=world.clerk_a,
        clock=clock,
        cipher=cipher,
        objection_id=filed.id,
        outcome=objection.Outcome.UNRESOLVED,
        answer="原始卷宗缺失，无法核实，保留异议标注。",
    )
    record = ingest.get_record(db, record_id=world.record.id)
    assert (record.disputed, record.version, record.statement) == (True, 1, "罚款已于2025年6月缴清。")
    assert done.dispute_note == "原始卷宗缺失，无法核实，保留异议标注。"
    notes = objection.latest_by_record(db, uscc=world.enterprise.enterprise_uscc or "", clock=clock)
    assert notes[world.record.id].dispute_note == done.answer
    # A statement is still allowed after the answer.
    objection.add_statement(db, actor=world.enterprise, clock=clock, objection_id=filed.id, statement="补充说明。")
    assert "objection.statement" in _actions(db, world)


def test_outcome_rules(db: Database, clock: FrozenClock, cipher: PiiCipher, world: World) -> None:
    filed = _file(db, clock, world)
    with pytest.raises(InvalidInput):
        objection.resolve(
            db,
            actor=world.clerk_a,
            clock=clock,
            cipher=cipher,
            objection_id=filed.id,
            outcome=objection.Outcome.CORRECTED,
            answer="更正",
        )
    with pytest.raises(InvalidInput):
        objection.resolve(
            db,
            actor=world.clerk_a,
            clock=clock,
            cipher=cipher,
            objection_id=filed.id,
            outcome=objection.Outcome.UPHELD,
            answer="x",
            changes={"CF_NR_FK": "1"},
        )
    with pytest.raises(InvalidInput):
        objection.resolve(
            db,
            actor=world.clerk_a,
            clock=clock,
            cipher=cipher,
            objection_id=filed.id,
            outcome=objection.Outcome.UPHELD,
            answer="  ",
        )
    # A correction that breaks the catalog rules rolls back the whole answer.
    with pytest.raises(InvalidInput):
        objection.resolve(
            db,
            actor=world.clerk_a,
            clock=clock,
            cipher=cipher,
            objection_id=filed.id,
            outcome=objection.Outcome.CORRECTED,
            answer="更正",
            changes={"CF_JDRQ": "不是日期"},
        )
    still = objection.get_objection(db, actor=world.clerk_a, clock=clock, objection_id=filed.id)
    assert still.status is objection.ObjectionStatus.OPEN
    assert ingest.get_record(db, record_id=world.record.id).disputed
    with pytest.raises(Conflict):
        _file(db, clock, world, reasons="重复提出")


def test_tenancy_other_enterprise_and_other_department_get_not_found(
    db: Database, clock: FrozenClock, cipher: PiiCipher, world: World
) -> None:
    with pytest.raises(NotFound):
        objection.file_objection(
            db, actor=world.other, clock=clock, var_dir=world.var_dir, record_id=world.record.id, reasons="不是我的"
        )
    assert not ingest.get_record(db, record_id=world.record.id).disputed
    with pytest.raises(Forbidden):
        objection.file_objection(
            db, actor=world.clerk_a, clock=clock, var_dir=world.var_dir, record_id=world.record.id, reasons="x"
        )
    filed = _file(db, clock, world)
    for who in (world.other, world.clerk_b):
        with pytest.raises(NotFound):
            objection.get_objection(db, actor=who, clock=clock, objection_id=filed.id)
        assert objection.list_objections(db, actor=who, clock=clock).total == 0
    with pytest.raises(NotFound):
        objection.resolve(
            db,
            actor=world.clerk_b,
            clock=clock,
            cipher=cipher,
            objection_id=filed.id,
            outcome=objection.Outcome.UPHELD,
            answer="x",
        )
    with pytest.raises(NotFound):
        objection.add_statement(db, actor=world.other, clock=clock, objection_id=filed.id, statement="x")
    with pytest.raises(Forbidden):
        objection.resolve(
            db,
            actor=world.operator,
            clock=clock,
            cipher=cipher,
            objection_id=filed.id,
            outcome=objection.Outcome.UPHELD,
            answer="x",
        )
    assert [o.id for o in objection.list_objections(db, actor=world.clerk_a, clock=clock).items] == [filed.id]
    assert [o.id for o in objection.list_objections(db, actor=world.enterprise, clock=clock).items] == [filed.id]
    assert objection.list_objections(db, actor=world.regulator, clock=clock).total >= 1
    actions = _actions(db, world, 40)
    for denied in ("objection.file.denied", "objection.read.denied", "objection.resolve.denied", "objection.statement.denied"):
        assert denied in actions, denied


def test_attachment_limits(db: Database, clock: FrozenClock, world: World) -> None:
    big = io.BytesIO(b"%PDF-" + b"0" * objection.MAX_ATTACHMENT_BYTES)
    with pytest.raises(objection.AttachmentTooLarge):
        _file(db, clock, world, attachments=[objection.AttachmentUpload("big.pdf", big)])
    with pytest.raises(objection.AttachmentRefused, match="类型"):
        _file(db, clock, world, attachments=[objection.AttachmentUpload("fake.pdf", io.BytesIO(b"<script>alert(1)</script>"))])
    with pytest.raises(objection.AttachmentRefused, match="空文件"):
        _file(db, clock, world, attachments=[objection.AttachmentUpload("empty.pdf", io.BytesIO(b""))])
    many = [objection.AttachmentUpload(f"{n}.pdf", io.BytesIO(PDF)) for n in range(objection.MAX_ATTACHMENTS + 1)]
    with pytest.raises(objection.AttachmentRefused, match="最多"):
        _file(db, clock, world, attachments=many)
    # Nothing was filed, nothing flagged, no temporary file left behind.
    assert not ingest.get_record(db, record_id=world.record.id).disputed
    assert list((world.var_dir / "attachments").glob("upload-*")) == []
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Objection).where(Objection.record_id == world.record.id)) == 0
    png = b"\x89PNG\r\n\x1a\n" + b"1" * 50
    ok = _file(
        db,
        clock,
        world,
        attachments=[objection.AttachmentUpload("a.png", io.BytesIO(png)), objection.AttachmentUpload(None, io.BytesIO(PDF))],
    )
    assert [(a.media_type, a.label) for a in ok.attachments] == [("image/png", "a.png"), ("application/pdf", "附件2")]
    got = objection.attachment_file(
        db, actor=world.clerk_a, clock=clock, var_dir=world.var_dir, objection_id=ok.id, attachment_id=ok.attachments[0].id
    )
    assert got.path.read_bytes() == png
    with pytest.raises(NotFound):
        objection.attachment_file(
            db, actor=world.clerk_b, clock=clock, var_dir=world.var_dir, objection_id=ok.id, attachment_id=ok.attachments[0].id
        )
    assert "objection.attachment.read" in _actions(db, world)


def test_flag_and_objection_roll_back_together(db: Database, clock: FrozenClock, world: World) -> None:
    """A filing that fails after flagging (a pending objection already exists) leaves the other record unflagged."""
    _file(db, clock, world)
    with pytest.raises(Conflict):
        _file(db, clock, world)
    assert not ingest.get_record(db, record_id=world.second.id).disputed
    second = _file(db, clock, world, record_id=world.second.id)
    assert second.due_on == second.received_on + timedelta(days=objection.RESPONSE_DAYS)
