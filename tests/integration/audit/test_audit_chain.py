"""The audit log on a real database: appended in the caller's transaction, verified, tampering caught."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import _pg_drop
from xinyidai import audit
from xinyidai.db import Database, create_database_engine
from xinyidai.db import migrate as db_migrate
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.errors import Conflict

ACTOR = ActorRef.system("test")


def test_events_chain_and_verify(db: Database) -> None:
    with db.transaction() as s:
        for i in range(3):
            audit.record(s, actor=ACTOR, action="test.event", data={"i": i, "名称": "值"})
    report = audit.verify(db)
    assert report.ok
    assert report.events == 3


def test_event_rolls_back_with_the_change(db: Database) -> None:
    with pytest.raises(Conflict), db.transaction() as s:
        audit.record(s, actor=ACTOR, action="test.doomed")
        raise Conflict("boom")
    assert audit.verify(db).events == 0


def test_node_identity_is_stamped(db: Database) -> None:
    with db.transaction() as s:
        row = audit.record(s, actor=ACTOR, action="test.node")
        assert row.node_id == "city-350100"


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        ("UPDATE audit_event SET action = 'forged' WHERE seq = 2", 2),
        ("DELETE FROM audit_event WHERE seq = 2", 3),
        ("UPDATE audit_event SET data = '{\"i\": 99}' WHERE seq = 3", 3),
    ],
)
def test_tampering_is_caught_at_the_first_bad_event(db: Database, tamper: str, first_bad: int) -> None:
    with db.transaction() as s:
        for i in range(4):
            audit.record(s, actor=ACTOR, action="test.event", data={"i": i})
    with db.transaction() as s:
        s.execute(sa.text(tamper))
    report = audit.verify(db)
    assert not report.ok
    assert report.problem is not None
    assert report.problem.seq == first_bad


def test_cli_verify_exits_nonzero_naming_the_bad_event(tmp_path: Path, database_url: str) -> None:
    # A committed database of its own: the CLI is a separate process.
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'cli.db'}"
    else:
        url = database_url.rsplit("/", 1)[0] + "/" + database_url.rsplit("/", 1)[1] + "_cli"
        admin = create_database_engine(database_url)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            name = url.rsplit("/", 1)[1]
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    engine: sa.Engine | None = None
    try:
        create_database_engine(url).dispose()
        db_migrate.upgrade(url)
        engine = create_database_engine(url)
        db = Database(engine, node_id="city-350100")
        with db.transaction() as s:
            for i in range(3):
                audit.record(s, actor=ACTOR, action="test.event", data={"i": i})
        env = {**os.environ, "XINYIDAI_DATABASE_URL": url, "XINYIDAI_LOG_LEVEL": "WARNING"}
        cmd = [sys.executable, "-m", "xinyidai.cli", "audit", "verify"]
        ok = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        assert ok.returncode == 0, ok.stderr
        assert '"ok": true' in ok.stdout
        with db.transaction() as s:
            bad_id = s.scalar(sa.text("SELECT id FROM audit_event WHERE seq = 2"))
            s.execute(sa.text("UPDATE audit_event SET actor_label = '冒名' WHERE seq = 2"))
        bad = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        assert bad.returncode == 1
        assert '"first_bad_seq": 2' in bad.stdout
        assert str(bad_id).replace("-", "") in bad.stdout.replace("-", "")
    finally:
        if engine is not None:
            engine.dispose()
        if not url.startswith("sqlite"):
            _pg_drop(url)  # a database of its own per run: leave none behind on the shared server
