"""On a SQLite file (an engine, not a test's rolled-back connection): the snapshot reads in a deferred transaction
that neither blocks writers nor sees their commits, and the table swap leaves the connection's pragmas as it found them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.evaluation.evaluation_data import (
    assert_snapshot_ignores_a_writer_committing_during_it,
    seed_snapshot_subject,
)
from xinyidai.db import Database, create_database_engine, migrate
from xinyidai.evaluation.batch import current_count, run_evaluation
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
    seed_snapshot_subject(db)
    yield db
    engine.dispose()


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
