"""On a SQLite file (an engine, not a test's rolled-back connection): the snapshot reads in a deferred transaction
that neither blocks writers nor sees their commits, and the table swap leaves the connection's pragmas as it found them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tests.integration.evaluation.evaluation_data import (
    add_record,
    add_subject,
    assert_snapshot_ignores_a_writer_committing_during_it,
    seeded_database,
)
from xinyidai.db import Database, create_database_engine
from xinyidai.evaluation import snapshot as snapshot_module
from xinyidai.evaluation.batch import current_count, run_evaluation
from xinyidai.evaluation.indicators import SNAPSHOT_ITEMS
from xinyidai.evaluation.snapshot import Snapshot, write_snapshot
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import FrozenClock

AS_OF = date(2026, 6, 30)
RECEIVED = datetime(2026, 1, 10, tzinfo=UTC)


@pytest.fixture
def file_db(tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path / 'evaluation.db'}"
    create_database_engine(url).dispose()
    with seeded_database(url) as db:
        yield db


def test_snapshot_does_not_hold_the_writer_lock_and_reads_one_point_in_time(
    file_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # BEGIN IMMEDIATE would time out if the snapshot held the writer lock.
    assert_snapshot_ignores_a_writer_committing_during_it(
        file_db, tmp_path / "snapshots", monkeypatch, before_write="PRAGMA busy_timeout=2000"
    )


def test_table_swap_restores_the_connection_pragmas(file_db: Database, tmp_path: Path) -> None:
    clock = FrozenClock(datetime(2026, 6, 30, 8, tzinfo=UTC))
    engine = file_db.bind
    assert isinstance(engine, sa.Engine)
    with engine.connect() as conn:
        before = [conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in ("secure_delete", "cache_size")]
    for _ in range(2):  # the second run drops a populated table
        run_evaluation(file_db, actor=ActorRef.system("test"), as_of=AS_OF, clock=clock, directory=tmp_path / "snaps")
    assert current_count(file_db) == 1
    with engine.connect() as conn:
        after = [conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in ("secure_delete", "cache_size")]
        indexes = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE tbl_name = 'evaluation_current'")}
    assert after == before
    assert {"ix_evaluation_current_run_id", "ix_evaluation_current_grade"} <= indexes


def _contents(snapshot: Snapshot) -> dict[str, list[dict[str, object]]]:
    out = {}
    for name in ("subjects", *SNAPSHOT_ITEMS):
        rows = pq.read_table(snapshot.table_path(name)).to_pylist()
        out[name] = sorted(rows, key=lambda r: str(r.get("record_id") or r.get("uscc")))
    return out


def test_the_file_read_through_adbc_sees_what_a_connection_read_sees(file_db: Database, tmp_path: Path) -> None:
    # The engine's read goes through the ADBC driver (NULLs come back as empty text and are turned back);
    # a database bound to one connection reads through the standard driver. Both must give the same tables.
    with file_db.transaction() as s:
        bare = add_subject(s, 7, established_on=None, capital=None)
        add_record(s, "tax_credit_grade", bare, {"year": 2025, "grade": "A", "evaluated_on": "2026-04-01"}, received_at=RECEIVED)
        bill = {"utility": "water", "period": "2026-03", "amount_due": "1.5", "amount_paid": "1", "paid_on_time": "false"}
        add_record(s, "utility_payment", bare, bill, received_at=RECEIVED)
        fund = {"period": "2026-01", "depositor_count": "12", "arrears_months": "不详"}  # a value that does not parse
        add_record(s, "housing_fund", bare, fund, received_at=RECEIVED, event_date=date(2026, 1, 31))
        add_record(s, "honour", bare, {"title": "守合同重信用", "granted_on": "2025-09-01"}, received_at=RECEIVED)
    through_adbc = write_snapshot(file_db, as_of=AS_OF, directory=tmp_path / "a")
    engine = file_db.bind
    assert isinstance(engine, sa.Engine)
    with engine.connect() as conn:
        through_connection = write_snapshot(Database(conn, node_id="test"), as_of=AS_OF, directory=tmp_path / "b")
    got = _contents(through_adbc)
    assert got == _contents(through_connection)
    assert through_adbc.records == 6
    assert through_adbc.subjects == 2
    [fund_row] = got["housing_fund"]
    assert fund_row["depositor_count"] == 12
    assert fund_row["arrears_months"] is None
    assert fund_row["severity"] is None
    [bill_row] = got["utility_payment"]
    assert bill_row["paid_on_time"] is False
    assert bill_row["event_date"] is None
    assert [r["established_on"] for r in got["subjects"]].count(None) == 1


def test_a_reader_process_error_is_raised_with_its_message(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    create_database_engine(url).dispose()
    reader = snapshot_module._ReaderProcess(str(tmp_path / "empty.db"))
    try:
        with pytest.raises(RuntimeError, match="no such table: missing"):
            list(reader.query("SELECT a FROM missing", (), ("a",)))
    finally:
        reader.close()
    assert reader.process.returncode == 1
