"""Batch re-evaluation end to end on the embedded engine: snapshot, indicators, rules, swap, run record, audit, push job."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tests.integration.evaluation.evaluation_data import add_record, add_subject, penalty
from xinyidai.db import Database
from xinyidai.evaluation import snapshot as snapshot_module
from xinyidai.evaluation.batch import PUSH_JOB, read_current, run_evaluation
from xinyidai.evaluation.engine import compute_indicators, evidence
from xinyidai.evaluation.indicators import SNAPSHOT_ITEMS
from xinyidai.evaluation.snapshot import Snapshot, write_snapshot
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import FrozenClock

ACTOR = ActorRef.system("evaluation-test")
AS_OF = date(2026, 6, 30)
RECEIVED = datetime(2026, 1, 10, tzinfo=UTC)


def _world(db: Database) -> tuple[str, str, str]:
    with db.transaction() as s:
        good = add_subject(s, 901, established_on=date(2010, 1, 1), capital="800")
        bad = add_subject(s, 902, established_on=date(2025, 12, 1))
        plain = add_subject(s, 903)
        add_record(s, "tax_credit_grade", good, {"year": 2025, "grade": "A", "evaluated_on": "2026-04-01"}, received_at=RECEIVED)
        add_record(s, "tax_credit_grade", good, {"year": 2024, "grade": "C", "evaluated_on": "2025-04-01"}, received_at=RECEIVED)
        for month in range(1, 7):
            add_record(s, "tax_payment", good, {"period": f"2026-{month:02d}", "tax_type": "增值税", "amount_paid": "1.5",
                                                "declared_on": f"2026-{month:02d}-15"}, received_at=RECEIVED)  # fmt: skip
        add_record(s, "tax_payment", good, {"period": "2025-03", "tax_type": "增值税", "amount_paid": "3",
                                            "declared_on": "2025-03-15"}, received_at=RECEIVED)  # fmt: skip
        for month in (3, 4, 5):
            bill = {
                "utility": "water",
                "period": f"2026-{month:02d}",
                "amount_due": "1",
                "amount_paid": "1",
                "paid_on_time": "false",
            }
            add_record(s, "utility_payment", bad, bill, received_at=RECEIVED)
        penalty(s, bad, decided=date(2026, 2, 1), received_at=RECEIVED, severity="serious")
        penalty(s, bad, decided=date(2026, 3, 1), received_at=RECEIVED)
        add_record(s, "dishonest_debtor", bad, {"case_no": "（2026）闽01执1号", "listed_on": "2026-03-01"}, received_at=RECEIVED)
        add_record(
            s, "court_judgment", bad, {"case_no": "c1", "party_role": "被告", "judgment_date": "2025-05-05"}, received_at=RECEIVED
        )
        add_record(
            s, "court_judgment", bad, {"case_no": "c2", "party_role": "原告", "judgment_date": "2025-05-05"}, received_at=RECEIVED
        )
    return good, bad, plain


def test_indicators_follow_their_definitions(db: Database, tmp_path: Path) -> None:
    good, bad, plain = _world(db)
    snap = write_snapshot(db, as_of=AS_OF, directory=tmp_path)
    rows = {r["uscc"]: r for r in compute_indicators(snap).to_pylist()}
    assert rows[good]["tax_credit_grade"] == "A"
    assert rows[good]["tax_paid_12m_wan"] == pytest.approx(9.0)
    assert rows[good]["tax_paid_trend"] == pytest.approx(2.0)
    assert rows[good]["registered_capital_wan"] == pytest.approx(800.0)
    assert rows[good]["years_in_business"] == pytest.approx((AS_OF - date(2010, 1, 1)).days / 365.25)
    assert rows[bad]["penalty_count"] == 2
    assert rows[bad]["penalty_max_severity"] == 3
    assert rows[bad]["penalty_days_since_latest"] == (AS_OF - date(2026, 3, 1)).days
    assert rows[bad]["dishonest_debtor_listed"] == 1
    assert rows[bad]["court_defendant_cases_3y"] == 1
    assert rows[bad]["utility_on_time_rate"] == 0.0
    assert rows[plain]["penalty_count"] == 0
    assert rows[plain]["tax_credit_grade"] is None
    assert rows[plain]["utility_on_time_rate"] is None
    trace = evidence(snap, bad)
    assert len(trace["penalty_count"]) == 2
    assert len(trace["court_defendant_cases_3y"]) == 1


def test_a_run_swaps_in_every_evaluation_audits_and_enqueues_the_push(db: Database, tmp_path: Path) -> None:
    good, bad, plain = _world(db)
    clock = FrozenClock(datetime(2026, 6, 30, 8, tzinfo=UTC))
    summary = run_evaluation(db, actor=ACTOR, as_of=AS_OF, clock=clock, directory=tmp_path)
    assert summary.enterprises == 3
    assert summary.records > 0
    assert sum(summary.grades.values()) == 3
    row_bad, row_good = read_current(db, bad), read_current(db, good)
    assert row_bad is not None
    assert row_good is not None
    assert row_bad["grade"] == "D"  # 失信被执行人 caps the grade
    assert row_good["grade"] == "A"
    assert row_bad["reasons"][0]["code"] == "dishonest_debtor"
    assert row_bad["indicators"]["penalty_count"] == 2
    with db.transaction() as s:
        run = s.execute(sa.text("SELECT status, enterprises FROM evaluation_run")).one()
        audited = s.execute(sa.text("SELECT count(*) FROM audit_event WHERE action = 'evaluation.run.complete'")).scalar_one()
        pushes = s.execute(sa.text("SELECT payload FROM job WHERE kind = :k"), {"k": PUSH_JOB}).scalars().all()
        indexes = set(s.execute(sa.text("SELECT * FROM evaluation_current")).keys())
    assert tuple(run) == ("complete", 3)
    assert audited == 1
    assert len(pushes) == 1
    assert str(summary.run_id) in str(pushes[0])
    assert "uscc" in indexes
    # A second run replaces the table again and keeps one row per enterprise.
    again = run_evaluation(db, actor=ACTOR, as_of=AS_OF, clock=clock, directory=tmp_path)
    assert again.grades == summary.grades
    current = read_current(db, plain)
    assert current is not None
    assert str(current["run_id"]).replace("-", "") == again.run_id.hex


@pytest.mark.parametrize("stage", ["scoring", "swap"])
def test_a_crash_mid_run_leaves_the_previous_evaluations(db: Database, tmp_path: Path, stage: str) -> None:
    _good, bad, _ = _world(db)
    clock = FrozenClock(datetime(2026, 6, 30, 8, tzinfo=UTC))
    first = run_evaluation(db, actor=ACTOR, as_of=AS_OF, clock=clock, directory=tmp_path)
    with pytest.raises(RuntimeError):
        run_evaluation(db, actor=ACTOR, as_of=AS_OF, clock=clock, directory=tmp_path, fail_after=stage)
    row = read_current(db, bad)
    assert row is not None
    assert str(row["run_id"]).replace("-", "") == first.run_id.hex
    with db.transaction() as s:
        statuses = sorted(s.execute(sa.text("SELECT status FROM evaluation_run")).scalars())
        names = s.execute(sa.text("SELECT count(*) FROM evaluation_current")).scalar_one()
    assert statuses == ["complete", "failed"]
    assert names == 3


def _tables(snapshot: Snapshot) -> dict[str, list[dict[str, object]]]:
    out = {}
    for name in ("subjects", *SNAPSHOT_ITEMS):
        table = pq.read_table(snapshot.table_path(name))
        out[name] = sorted(table.to_pylist(), key=lambda r: str(r.get("record_id") or r.get("uscc")))
    return out


def test_the_whole_table_read_sees_exactly_what_the_per_subject_read_sees(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subjects = _world(db)
    with db.transaction() as s:  # a record that must not count: received after the cut
        add_record(s, "tax_payment", subjects[0], {"period": "2026-06", "tax_type": "增值税", "amount_paid": "9"},
                   received_at=datetime(2026, 7, 2, tzinfo=UTC))  # fmt: skip
    monkeypatch.setattr(snapshot_module, "CHUNK_ROWS", 3)  # many rowid ranges, some empty
    whole = write_snapshot(db, as_of=AS_OF, directory=tmp_path)
    chosen = write_snapshot(db, as_of=AS_OF, directory=tmp_path, subjects=subjects)
    assert whole.records == chosen.records > 0
    assert _tables(whole) == _tables(chosen)


def test_the_read_ahead_thread_hands_over_errors_and_stops_with_its_consumer() -> None:
    def failing() -> Iterator[pl.DataFrame]:
        yield pl.DataFrame({"a": [1]})
        raise RuntimeError("read failed")

    got: list[pl.DataFrame] = []
    with pytest.raises(RuntimeError, match="read failed"):
        got.extend(snapshot_module._prefetched(failing()))
    assert len(got) == 1
    produced: list[int] = []

    def endless() -> Iterator[pl.DataFrame]:
        for i in itertools.count():
            produced.append(i)
            yield pl.DataFrame({"a": [i]})

    reader = snapshot_module._prefetched(endless(), depth=1)
    assert next(reader).item() == 0
    reader.close()  # the consumer stops: the thread ends and reads no further
    seen = len(produced)
    assert seen <= 4
    assert not [t for t in threading.enumerate() if t.name == "snapshot-reader"]


def test_the_stored_row_is_compact_and_reads_back_in_full(db: Database, tmp_path: Path) -> None:
    _good, bad, _ = _world(db)
    run_evaluation(db, actor=ACTOR, as_of=AS_OF, clock=FrozenClock(datetime(2026, 6, 30, 8, tzinfo=UTC)), directory=tmp_path)
    with db.transaction() as s:
        reasons, indicators = s.execute(
            sa.text("SELECT reasons, indicators FROM evaluation_current WHERE uscc = :u"), {"u": bad}
        ).one()
    assert reasons.startswith("r:dishonest_debtor:")
    assert len(reasons) < 120
    assert len(indicators) < 200
    row = read_current(db, bad)
    assert row is not None
    assert row["reasons"][0]["text_zh"]
    assert row["reasons"][0]["item"] == "dishonest_debtor"
    assert row["indicators"]["dishonest_debtor_listed"] == 1
