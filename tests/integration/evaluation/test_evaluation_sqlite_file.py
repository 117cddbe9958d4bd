"""On a SQLite file (an engine, not a test's rolled-back connection): the snapshot reads in a deferred transaction
that neither blocks writers nor sees their commits, and the table swap leaves the connection's pragmas as it found them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tests.integration.evaluation.evaluation_data import add_record, add_subject, penalty
from xinyidai.db import Database, create_database_engine, migrate
from xinyidai.evaluation import snapshot as snapshot_module
from xinyidai.evaluation.batch import current_count, run_evaluation
from xinyidai.evaluation.snapshot import write_snapshot
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import FrozenClock

AS_OF = date(2026, 6, 30)
RECEIVED = datetime(2026, 1, 10, tzinfo=UTC)


@pytest.fixture
def file_db(tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path / 'evaluation.db'}"
    create_database_engine(url).dispose()
    migrate.upgrade(url)
    engine = create_database_engine(url)
    db = Database(engine, node_id="test")
    with db.transaction() as s:
        first = add_subject(s, 1)
        penalty(s, first, decided=date(2026, 2, 1), received_at=RECEIVED, severity="serious")
        add_record(s, "tax_payment", first, {"period": "2026-03", "tax_type": "增值税", "amount_paid": "2"}, received_at=RECEIVED)
    yield db
    engine.dispose()


def test_snapshot_does_not_hold_the_writer_lock_and_reads_one_point_in_time(
    file_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[str] = []
    original = snapshot_module._Writers.write

    def write_and_ingest(self: Any, name: str, frame: pl.DataFrame) -> None:
        if not written:
            # A writer commits while the snapshot is being read: BEGIN IMMEDIATE would time out if the
            # snapshot held the writer lock.
            with file_db.transaction() as s:
                s.execute(sa.text("PRAGMA busy_timeout=2000"))
                late = add_subject(s, 2, at=RECEIVED)
                add_record(
                    s, "tax_payment", late, {"period": "2026-04", "tax_type": "增值税", "amount_paid": "5"}, received_at=RECEIVED
                )
        written.append(name)
        original(self, name, frame)

    monkeypatch.setattr(snapshot_module._Writers, "write", write_and_ingest)
    snap = write_snapshot(file_db, as_of=AS_OF, directory=tmp_path / "snapshots")
    assert written
    # The subject and record committed during the read are not in it: every query saw the same database state.
    subjects = pq.read_table(snap.table_path("subjects")).column("uscc").to_pylist()
    assert len(subjects) == 1
    assert pq.read_table(snap.table_path("tax_payment")).num_rows == 1
    monkeypatch.setattr(snapshot_module._Writers, "write", original)
    again = write_snapshot(file_db, as_of=AS_OF, directory=tmp_path / "snapshots")
    assert again.subjects == 2
    assert pq.read_table(again.table_path("tax_payment")).num_rows == 2


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
