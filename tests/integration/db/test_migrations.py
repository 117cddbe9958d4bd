"""Migrations build exactly the models (alembic check), and run down and up again, on every backend."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from xinyidai.db import Database
from xinyidai.db import migrate as db_migrate
from xinyidai.db.engine import create_database_engine


def test_models_match_migrations(database_url: str) -> None:
    db_migrate.check(database_url)  # raises if autogenerate would produce any operation


def test_database_is_at_head(database_url: str) -> None:
    engine = create_database_engine(database_url)
    with engine.connect() as conn:
        assert db_migrate.current_revision(conn) == db_migrate.head_revision(database_url)
    engine.dispose()


def test_downgrade_to_base_and_back(database_url: str) -> None:
    db_migrate.upgrade(database_url)
    from alembic import command

    cfg = db_migrate.alembic_config(database_url)
    command.downgrade(cfg, "base")
    engine = create_database_engine(database_url)
    assert "audit_event" not in sa.inspect(engine).get_table_names()
    command.upgrade(cfg, "heads")
    assert "audit_event" in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_datetimes_come_back_aware_in_utc(db: Database) -> None:
    from xinyidai import audit
    from xinyidai.audit.tables import AuditEvent
    from xinyidai.kernel.actor import ActorRef
    from xinyidai.kernel.clock import FrozenClock

    at = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    with db.transaction() as s:
        audit.record(s, actor=ActorRef.system("t"), action="t", clock=FrozenClock(at))
    with db.transaction() as s:
        s.expire_all()
        value = s.scalars(sa.select(AuditEvent.occurred_at)).one()
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)
    assert value == at


def test_naive_datetimes_are_refused(db: Database) -> None:
    from xinyidai.audit.tables import AuditEvent

    with pytest.raises(sa.exc.StatementError, match="naive datetime"), db.transaction() as s:
        s.add(
            AuditEvent(
                id=__import__("uuid").uuid4(),
                seq=1,
                occurred_at=datetime(2026, 1, 1),
                node_id="n",
                actor_kind="system",
                actor_id="t",
                actor_label="t",
                action="t",
                reasons=[],
                data={},
                prev_hash="0" * 64,
                hash="0" * 64,
            )
        )
        s.flush()
