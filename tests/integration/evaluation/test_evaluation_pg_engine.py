"""On a PostgreSQL engine (not a test's rolled-back connection): every query of a snapshot reads one database
state — a writer committing while the snapshot is read is neither blocked nor seen."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest

from tests.conftest import PG_ENV, _pg_create, _pg_drop
from tests.integration.evaluation.evaluation_data import add_record, add_subject, penalty
from xinyidai.db import Database, create_database_engine, migrate
from xinyidai.evaluation import snapshot as snapshot_module
from xinyidai.evaluation.snapshot import write_snapshot

AS_OF = date(2026, 6, 30)
RECEIVED = datetime(2026, 1, 10, tzinfo=UTC)

pytestmark = pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"{PG_ENV} is not set: no PostgreSQL to test against")


@pytest.fixture
def pg_db() -> Iterator[Database]:
    url = _pg_create(os.environ[PG_ENV], f"snap_{os.getpid()}")
    migrate.upgrade(url)
    engine = create_database_engine(url)
    db = Database(engine, node_id="test")
    with db.transaction() as s:
        first = add_subject(s, 1)
        penalty(s, first, decided=date(2026, 2, 1), received_at=RECEIVED, severity="serious")
        add_record(s, "tax_payment", first, {"period": "2026-03", "tax_type": "增值税", "amount_paid": "2"}, received_at=RECEIVED)
    yield db
    engine.dispose()
    _pg_drop(url)


def test_snapshot_reads_one_point_in_time_while_a_writer_commits(
    pg_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[str] = []
    original = snapshot_module._Writers.write

    def write_and_ingest(self: Any, name: str, frame: pl.DataFrame) -> None:
        if not written:
            with pg_db.transaction() as s:
                late = add_subject(s, 2, at=RECEIVED)
                add_record(
                    s, "tax_payment", late, {"period": "2026-04", "tax_type": "增值税", "amount_paid": "5"}, received_at=RECEIVED
                )
        written.append(name)
        original(self, name, frame)

    monkeypatch.setattr(snapshot_module._Writers, "write", write_and_ingest)
    snap = write_snapshot(pg_db, as_of=AS_OF, directory=tmp_path / "snapshots")
    assert written
    assert pq.read_table(snap.table_path("subjects")).column("uscc").to_pylist() == [
        pq.read_table(snap.table_path("tax_payment")).column("uscc").to_pylist()[0]
    ]
    assert pq.read_table(snap.table_path("tax_payment")).num_rows == 1
    monkeypatch.setattr(snapshot_module._Writers, "write", original)
    again = write_snapshot(pg_db, as_of=AS_OF, directory=tmp_path / "snapshots")
    assert again.subjects == 2
    assert pq.read_table(again.table_path("tax_payment")).num_rows == 2
