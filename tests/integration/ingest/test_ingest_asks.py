"""What other domains asked of ingest: the dispute note an unresolved objection leaves, ``get_source``, and the
batch index of the record store (quality's per-batch queries)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.factories import ADMIN
from tests.integration.ingest.conftest import AUTHORITY, IngestRun, penalty_row, write_csv
from xinyidai import audit, ingest
from xinyidai.db import Database
from xinyidai.kernel.errors import InvalidInput, NotFound


@pytest.fixture
def record(db: Database, run: IngestRun, tmp_path: Path) -> ingest.RecordView:
    run(write_csv(tmp_path / "p.csv", [penalty_row(31)]))
    found = ingest.find_record(db, item="admin_penalty", key={"CF_WSH": "榕市监罚〔2025〕31号", "CF_CFJGDM": AUTHORITY})
    assert found is not None
    return found


def test_an_unresolved_objection_leaves_its_note_until_the_flag_is_cleared(db: Database, record: ingest.RecordView) -> None:
    assert record.dispute_note is None
    with db.transaction() as s:
        filed = ingest.mark_disputed(s, actor=ADMIN, record_id=record.id, reason="企业提出异议")
        assert (filed.disputed, filed.dispute_note) == (True, None)
        kept = ingest.mark_disputed(
            s, actor=ADMIN, record_id=record.id, reason="异议未决", note="  经核查无法确认，保留异议标注。 "
        )
        assert (kept.disputed, kept.dispute_note) == (True, "经核查无法确认，保留异议标注。")
    # A later filing without a note keeps the earlier one; it shows wherever the record is read.
    with db.transaction() as s:
        ingest.mark_disputed(s, actor=ADMIN, record_id=record.id, reason="企业再次提出异议")
    shown = ingest.visible_records(db, uscc=str(record.subject_uscc), as_of=record.received_at.date())
    assert [(r.disputed, r.dispute_note) for r in shown] == [(True, "经核查无法确认，保留异议标注。")]
    events = audit.recent(db, actor=ADMIN, limit=3)
    assert [(e.action, e.reasons) for e in events] == [
        ("ingest.record.dispute", ["企业再次提出异议"]),
        ("ingest.record.dispute", ["异议未决"]),
        ("ingest.record.dispute", ["企业提出异议"]),
    ]
    with db.transaction() as s:
        cleared = ingest.clear_disputed(s, actor=ADMIN, record_id=record.id, reason="异议成立，已更正")
    assert (cleared.disputed, cleared.dispute_note) == (False, None)
    assert ingest.get_record(db, record_id=record.id).dispute_note is None


@pytest.mark.parametrize("note", ["", "   ", "异" * 2001])
def test_a_dispute_note_must_say_something_and_stay_bounded(db: Database, record: ingest.RecordView, note: str) -> None:
    with pytest.raises(InvalidInput), db.transaction() as s:
        ingest.mark_disputed(s, actor=ADMIN, record_id=record.id, reason="异议未决", note=note)
    after = ingest.get_record(db, record_id=record.id)
    assert (after.disputed, after.dispute_note) == (False, None)


def test_a_new_delivery_keeps_the_flag_and_the_note(
    db: Database, record: ingest.RecordView, run: IngestRun, tmp_path: Path
) -> None:
    with db.transaction() as s:
        ingest.mark_disputed(s, actor=ADMIN, record_id=record.id, reason="异议未决", note="保留异议")
    result = run(write_csv(tmp_path / "p2.csv", [penalty_row(31, CF_NR_FK="0.3", CF_NR="罚款人民币3000元")]))
    assert result.updated == 1
    after = ingest.get_record(db, record_id=record.id)
    assert (after.version, after.disputed, after.dispute_note) == (2, True, "保留异议")


def test_get_source_by_code_or_id(db: Database, record: ingest.RecordView) -> None:
    assert record.source_id is not None
    by_id = ingest.get_source(db, record.source_id)
    assert by_id.code == AUTHORITY
    # Codes are normalised like delivered values (blanks, full-width characters, case).
    spaced = " " + AUTHORITY.lower() + " "
    assert ingest.get_source(db, spaced) == by_id
    with pytest.raises(NotFound):
        ingest.get_source(db, "91350100MA00000000")
    with pytest.raises(NotFound):
        ingest.get_source(db, uuid.uuid4())


def test_records_of_a_batch_are_found_through_the_batch_index(db: Database, run: IngestRun, tmp_path: Path) -> None:
    result = run(write_csv(tmp_path / "b.csv", [penalty_row(n) for n in range(40, 45)]))
    assert len(ingest.batch_record_dates(db, batch_id=result.batch_id)) == 5
    with db.transaction() as s:
        indexes = sa.inspect(s.connection()).get_indexes("ingest_record")
    assert any(ix["column_names"] == ["batch_id"] for ix in indexes)
