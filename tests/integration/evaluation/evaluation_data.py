"""Test data for the evaluation engine: registry subjects and record-store rows written directly.

Records are written as the ingest pipeline stores them (normalised text values in ``data``), with full
control of ``received_at``, publication windows and the repaired flag, which the point-in-time rules read.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.factories import uscc_for
from xinyidai.db import Database, create_database_engine, migrate
from xinyidai.evaluation import snapshot as snapshot_module
from xinyidai.evaluation.snapshot import write_snapshot
from xinyidai.ingest.tables import Record, RecordVersion
from xinyidai.kernel.ids import new_id
from xinyidai.registry.tables import Subject

T0 = datetime(2020, 1, 1, tzinfo=UTC)


def add_subject(
    s: Session, n: int, *, established_on: date | None = date(2015, 3, 1), capital: str | None = "100", at: datetime = T0
) -> str:
    """A registry subject numbered ``n``; returns its USCC."""
    uscc = uscc_for(n)
    s.add(
        Subject(
            id=new_id(),
            uscc=uscc,
            name=f"测试企业{n}",
            authority_code=uscc[0],
            org_type_code=uscc[1],
            region_code=uscc[2:8],
            industry_code="C13",
            status="存续",
            registered_capital=None if capital is None else Decimal(capital),
            established_on=established_on,
            content_hash="0" * 64,
            created_at=at,
            updated_at=at,
        )
    )
    s.flush()
    return uscc


def add_record(
    s: Session,
    item: str,
    uscc: str,
    data: dict[str, Any],
    *,
    received_at: datetime = T0,
    event_date: date | None = None,
    severity: str | None = None,
    publication_end: date | None = None,
    retention_end: date | None = None,
    repaired: bool = False,
    version: int = 1,
) -> uuid.UUID:
    """One current record; returns its id."""
    rid = uuid.uuid4()
    body = {"uscc": uscc, **{k: str(v) for k, v in data.items()}}
    s.add(
        Record(
            id=rid,
            item_code=item,
            subject_uscc=uscc,
            version=version,
            content_hash=hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest(),
            data=body,
            event_date=event_date,
            severity=severity,
            publication_end=publication_end,
            retention_end=retention_end,
            disputed=False,
            repaired=repaired,
            origin="delivery",
            received_at=received_at,
        )
    )
    s.flush()
    return rid


def add_history(
    s: Session, record_id: uuid.UUID, item: str, uscc: str, data: dict[str, Any], *, version: int, received_at: datetime,
    superseded_at: datetime, event_date: date | None = None,
) -> None:  # fmt: skip
    """A superseded version of a record."""
    body = {"uscc": uscc, **{k: str(v) for k, v in data.items()}}
    s.add(
        RecordVersion(
            record_id=record_id,
            version=version,
            item_code=item,
            subject_uscc=uscc,
            content_hash="1" * 64,
            data=body,
            event_date=event_date,
            origin="delivery",
            received_at=received_at,
            superseded_at=superseded_at,
        )
    )
    s.flush()


def penalty(s: Session, uscc: str, *, decided: date, received_at: datetime, severity: str = "general", **kw: Any) -> uuid.UUID:
    """An administrative penalty on ``uscc``."""
    data = {"CF_XDR_SHXYM": uscc, "CF_WSH": f"罚{uuid.uuid4().hex[:8]}", "CF_CFLB": "罚款", "CF_JDRQ": decided.isoformat()}
    body = dict(data.items())
    rid = add_record(s, "admin_penalty", uscc, body, received_at=received_at, event_date=decided, severity=severity, **kw)
    return rid


SNAPSHOT_AS_OF = date(2026, 6, 30)
SNAPSHOT_RECEIVED = datetime(2026, 1, 10, tzinfo=UTC)


@contextmanager
def seeded_database(url: str) -> Iterator[Database]:
    """A migrated database at ``url`` on an engine of its own, holding ``seed_snapshot_subject``'s subject."""
    migrate.upgrade(url)
    engine = create_database_engine(url)
    db = Database(engine, node_id="test")
    seed_snapshot_subject(db)
    try:
        yield db
    finally:
        engine.dispose()


def seed_snapshot_subject(db: Database) -> None:
    """One subject with a penalty and a tax payment, received before the snapshot's cut."""
    with db.transaction() as s:
        first = add_subject(s, 1)
        penalty(s, first, decided=date(2026, 2, 1), received_at=SNAPSHOT_RECEIVED, severity="serious")
        add_record(
            s,
            "tax_payment",
            first,
            {"period": "2026-03", "tax_type": "增值税", "amount_paid": "2"},
            received_at=SNAPSHOT_RECEIVED,
        )


def assert_snapshot_ignores_a_writer_committing_during_it(
    db: Database, directory: Path, monkeypatch: pytest.MonkeyPatch, *, before_write: str | None = None
) -> None:
    """A writer commits a subject and its record (both before the cut) while the snapshot is being written: it
    is not blocked (``before_write``, e.g. a busy timeout, makes a block fail fast) and the snapshot does not see
    it — every query read the same database state; the next snapshot does."""
    written: list[str] = []
    original = snapshot_module._Writers.write

    def write_and_ingest(self: Any, name: str, frame: pl.DataFrame) -> None:
        if not written:
            with db.transaction() as s:
                if before_write is not None:
                    s.execute(sa.text(before_write))
                late = add_subject(s, 2, at=SNAPSHOT_RECEIVED)
                add_record(
                    s,
                    "tax_payment",
                    late,
                    {"period": "2026-04", "tax_type": "增值税", "amount_paid": "5"},
                    received_at=SNAPSHOT_RECEIVED,
                )
        written.append(name)
        original(self, name, frame)

    monkeypatch.setattr(snapshot_module._Writers, "write", write_and_ingest)
    snap = write_snapshot(db, as_of=SNAPSHOT_AS_OF, directory=directory)
    assert written
    assert pq.read_table(snap.table_path("subjects")).column("uscc").to_pylist() == [uscc_for(1)]
    assert pq.read_table(snap.table_path("tax_payment")).column("uscc").to_pylist() == [uscc_for(1)]
    monkeypatch.setattr(snapshot_module._Writers, "write", original)
    again = write_snapshot(db, as_of=SNAPSHOT_AS_OF, directory=directory)
    assert again.subjects == 2
    assert pq.read_table(again.table_path("tax_payment")).num_rows == 2
