"""On a PostgreSQL engine (not a test's rolled-back connection): every query of a snapshot reads one database
state — a writer committing while the snapshot is read is neither blocked nor seen."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PG_ENV, _pg_create, _pg_drop
from tests.integration.evaluation.evaluation_data import (
    assert_snapshot_ignores_a_writer_committing_during_it,
    seeded_database,
)
from xinyidai.db import Database

pytestmark = pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"{PG_ENV} is not set: no PostgreSQL to test against")


@pytest.fixture
def pg_db() -> Iterator[Database]:
    url = _pg_create(os.environ[PG_ENV], f"snap_{os.getpid()}")
    with seeded_database(url) as db:
        yield db
    _pg_drop(url)


def test_snapshot_reads_one_point_in_time_while_a_writer_commits(
    pg_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under READ COMMITTED the subject committed mid-read showed up in the snapshot's subjects.
    assert_snapshot_ignores_a_writer_committing_during_it(
        pg_db, tmp_path / "snapshots", monkeypatch, before_write="SET LOCAL lock_timeout = '2s'"
    )
