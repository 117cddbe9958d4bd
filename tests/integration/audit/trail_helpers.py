"""Helpers for the access-trail tests: a fixed checkpoint key, events, and the tampering an insider could do."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from xinyidai import audit
from xinyidai.audit.model import GENESIS_HASH, event_hash
from xinyidai.audit.service import _to_record
from xinyidai.audit.tables import AuditEvent
from xinyidai.db import Database, create_database_engine
from xinyidai.db import migrate as db_migrate
from xinyidai.kernel.actor import ActorRef

ACTOR = ActorRef.system("test")
NODE = "city-350100"
KEYS = audit.TrailKeys(audit.CheckpointSigner.from_seed(b"\x11" * 32, name=audit.origin_for(NODE)))


def append(
    db: Database, n: int, *, subject: str | None = None, action: str = "test.event", data: dict[str, Any] | None = None
) -> list[str]:
    """Append n events in one transaction; their ids."""
    ids = []
    with db.transaction() as s:
        for i in range(n):
            row = audit.record(s, actor=ACTOR, action=action, subject=subject, data={"i": i, **(data or {})})
            ids.append(str(row.id))
    return ids


def event_id(db: Database, seq: int) -> str:
    """The id of the event at seq."""
    with db.transaction() as s:
        return str(s.scalar(sa.select(AuditEvent.id).where(AuditEvent.seq == seq)))


def _rechain(s: Any, from_seq: int) -> None:
    prev = s.scalar(sa.select(AuditEvent.hash).where(AuditEvent.seq == from_seq - 1)) or GENESIS_HASH
    for row in s.scalars(sa.select(AuditEvent).where(AuditEvent.seq >= from_seq).order_by(AuditEvent.seq)).all():
        row.prev_hash = prev
        row.hash = event_hash(_to_record(row))
        prev = row.hash
    s.flush()


def rewrite_from(db: Database, seq: int, *, action: str = "forged.rewrite") -> None:
    """Change the event at `seq` and recompute every hash after it: the chain verifies again."""
    with db.transaction() as s:
        row = s.scalar(sa.select(AuditEvent).where(AuditEvent.seq == seq))
        assert row is not None
        row.action = action
        s.flush()
        _rechain(s, seq)


def insert_at(db: Database, seq: int) -> str:
    """Insert a forged event at `seq`, renumber the later ones and recompute the chain; the forged id."""
    with db.transaction() as s:
        # Two steps so that no unique seq collides on PostgreSQL (checked row by row).
        s.execute(sa.update(AuditEvent).where(AuditEvent.seq >= seq).values(seq=-(AuditEvent.seq + 1)))
        s.execute(sa.update(AuditEvent).where(AuditEvent.seq < 0).values(seq=-AuditEvent.seq))
        model = s.scalar(sa.select(AuditEvent).where(AuditEvent.seq == seq + 1))
        assert model is not None
        forged = AuditEvent(
            id=uuid.uuid4(),
            seq=seq,
            occurred_at=model.occurred_at,
            node_id=model.node_id,
            actor_kind=model.actor_kind,
            actor_id=model.actor_id,
            actor_label="伪造",
            action="forged.insert",
            subject=None,
            target_type=None,
            target_id=None,
            reasons=[],
            request_id=None,
            data={},
            prev_hash="",
            hash="",
        )
        s.add(forged)
        s.flush()
        _rechain(s, seq)
        return str(forged.id)


def execute(db: Database, sql: str) -> None:
    """Run raw SQL in a committed transaction."""
    with db.transaction() as s:
        s.execute(sa.text(sql))


@contextmanager
def fresh_database(tmp_path: Path, database_url: str, label: str) -> Iterator[tuple[str, Database]]:
    """A migrated database of its own, committed for real (for commands run as another process)."""
    admin_url = name = None
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / f'{label}.db'}"
    else:
        parsed = sa.make_url(database_url)
        name = f"{parsed.database}_{label}_{uuid.uuid4().hex[:8]}"
        admin_url = parsed.set(database="postgres").render_as_string(hide_password=False)
        admin = create_database_engine(admin_url)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = parsed.set(database=name).render_as_string(hide_password=False)
    db_migrate.upgrade(url)
    engine = create_database_engine(url)
    try:
        yield url, Database(engine, node_id=NODE)
    finally:
        engine.dispose()
        if admin_url and name:
            admin = create_database_engine(admin_url)
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
