"""Snapshot retention: snapshots nothing names are deleted once old; current, training, recent-run and young ones stay."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import make_settings
from tests.integration.evaluation.evaluation_data import add_record, add_subject
from xinyidai.app import build_container
from xinyidai.audit.tables import AuditEvent
from xinyidai.db import Database
from xinyidai.evaluation import models
from xinyidai.evaluation.batch import run_evaluation, snapshot_directory
from xinyidai.evaluation.incremental import refresh
from xinyidai.evaluation.jobs import PRUNE_JOB, register_jobs
from xinyidai.evaluation.model_tables import EvaluationModelVersion
from xinyidai.evaluation.retention import prune_snapshots, snapshot_roots
from xinyidai.evaluation.rules import default_rules
from xinyidai.job import JobContext, JobRegistry
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import FrozenClock

ACTOR = ActorRef.system("retention-test")


def _prune_events(db: Database) -> list[dict[str, Any]]:
    with db.transaction() as s:
        return [
            dict(data)
            for data in s.scalars(
                sa.select(AuditEvent.data).where(AuditEvent.action == "evaluation.snapshots.prune").order_by(AuditEvent.seq)
            )
        ]


def _world(db: Database) -> tuple[str, str]:
    with db.transaction() as s:
        a = add_subject(s, 1)
        b = add_subject(s, 2)
        add_record(s, "abnormal_operation", b, {"reason": "未报年报", "listed_on": "2026-02-01"})
    return a, b


def test_old_snapshots_nothing_names_are_deleted_and_the_pass_is_audited(db: Database, tmp_path: Path) -> None:
    clock = FrozenClock(datetime(2026, 6, 1, 2, tzinfo=UTC))
    _, b = _world(db)
    root = snapshot_directory(tmp_path)
    runs = []
    for _ in range(4):  # four nightly batch runs
        runs.append(run_evaluation(db, actor=ACTOR, clock=clock, directory=root))
        clock.advance(timedelta(days=1))
    # An incremental refresh after the last batch: the current row of `b` now names its snapshot.
    refresh(db, actor=ACTOR, clock=clock, directory=root / "incremental", subjects=[b])
    (incremental,) = (root / "incremental").iterdir()
    # A snapshot whose writer died (no manifest), old; and one being written now (no manifest, fresh).
    dead = root / uuid.uuid4().hex
    dead.mkdir()
    (dead / "admin_penalty.parquet").write_bytes(b"partial")
    old = (clock.now() - timedelta(days=30)).timestamp()
    os.utime(dead, (old, old))
    clock.advance(timedelta(days=10))
    writing = root / uuid.uuid4().hex
    writing.mkdir()
    (root / "not-a-snapshot").mkdir()

    before = {p.name for p in root.iterdir()}
    summary = prune_snapshots(db, roots=snapshot_roots(tmp_path), keep_days=7, keep_runs=2, actor=ACTOR, clock=clock)

    left = {p.name for p in root.iterdir()}
    gone = before - left
    assert gone == {runs[0].snapshot_id.hex, runs[1].snapshot_id.hex, dead.name}
    # The last two runs' snapshots (the last one is also what `a` is evaluated on), the incremental one (what `b` is
    # evaluated on), the one being written and the stranger stay.
    assert {runs[2].snapshot_id.hex, runs[3].snapshot_id.hex, writing.name, "not-a-snapshot"} <= left
    assert incremental.is_dir()
    assert set(summary.deleted) == {runs[0].snapshot_id, runs[1].snapshot_id, uuid.UUID(hex=dead.name)}
    assert summary.bytes_freed > 0
    assert summary.failed == ()
    events = _prune_events(db)
    assert len(events) == 1
    assert events[0]["deleted"] == 3
    assert set(events[0]["deleted_ids"]) == {str(i) for i in summary.deleted}
    assert events[0]["keep_days"] == 7

    again = prune_snapshots(db, roots=snapshot_roots(tmp_path), keep_days=7, keep_runs=2, actor=ACTOR, clock=clock)
    assert again.deleted == ()
    assert len(_prune_events(db)) == 1  # nothing deleted: no event


def test_young_current_and_training_snapshots_are_kept(db: Database, tmp_path: Path) -> None:
    clock = FrozenClock(datetime(2026, 6, 1, 2, tzinfo=UTC))
    _world(db)
    root = snapshot_directory(tmp_path)
    first = run_evaluation(db, actor=ACTOR, clock=clock, directory=root)
    clock.advance(timedelta(days=1))
    trained = run_evaluation(db, actor=ACTOR, clock=clock, directory=root / "training")
    version = models.create_rules_draft(db, actor=ACTOR, clock=clock, table=default_rules().to_dict())
    with db.transaction() as s:
        row = s.get(EvaluationModelVersion, version.id)
        assert row is not None
        row.training_snapshot_id = trained.snapshot_id
    clock.advance(timedelta(days=1))
    young = run_evaluation(db, actor=ACTOR, clock=clock, directory=root)

    # Days later, keeping one run: the first run's snapshot goes; the training one and the current one stay.
    clock.advance(timedelta(days=9))
    summary = prune_snapshots(db, roots=snapshot_roots(tmp_path), keep_days=7, keep_runs=1, actor=ACTOR, clock=clock)
    assert summary.deleted == (first.snapshot_id,)
    assert (root / "training" / trained.snapshot_id.hex).is_dir()
    assert (root / young.snapshot_id.hex).is_dir()
    manifest = json.loads((root / young.snapshot_id.hex / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["id"] == str(young.snapshot_id)

    # Two newer runs supersede `young`: nine days old and named by nothing now, it goes; the newest stays, and so
    # does the one between, which nothing names either but is younger than the keep period.
    fresh = run_evaluation(db, actor=ACTOR, clock=clock, directory=root)
    newest = run_evaluation(db, actor=ACTOR, clock=clock, directory=root)
    summary = prune_snapshots(db, roots=snapshot_roots(tmp_path), keep_days=7, keep_runs=1, actor=ACTOR, clock=clock)
    assert summary.deleted == (young.snapshot_id,)
    assert (root / fresh.snapshot_id.hex).is_dir()
    assert (root / newest.snapshot_id.hex).is_dir()
    assert (root / "training" / trained.snapshot_id.hex).is_dir()


def test_bounds_are_checked(db: Database, tmp_path: Path) -> None:
    clock = FrozenClock(datetime(2026, 6, 1, 2, tzinfo=UTC))
    with pytest.raises(ValueError, match="at least 1"):
        prune_snapshots(db, roots=snapshot_roots(tmp_path), keep_days=0, keep_runs=1, actor=ACTOR, clock=clock)


def test_the_daily_job_prunes_with_the_node_settings(db: Database, database_url: str, tmp_path: Path) -> None:
    clock = FrozenClock(datetime(2026, 6, 1, 2, tzinfo=UTC))
    _world(db)
    settings = make_settings(
        database_url, var_dir=tmp_path / "var", evaluation_snapshot_keep_days=2, evaluation_snapshot_keep_runs=1
    )
    container = build_container(settings, db=db, clock=clock)
    old = run_evaluation(container, actor=ACTOR)
    clock.advance(timedelta(days=1))
    new = run_evaluation(container, actor=ACTOR)
    clock.advance(timedelta(days=3))

    registry = JobRegistry()
    register_jobs(registry, container)
    kind = registry.get(PRUNE_JOB)
    assert kind is not None
    assert kind.every == timedelta(days=1)
    kind.handler(JobContext(db=db, clock=clock, job_id=uuid.uuid4(), attempt=1, services={}), {})
    root = snapshot_directory(settings.var_dir)
    assert not (root / old.snapshot_id.hex).exists()
    assert (root / new.snapshot_id.hex).is_dir()
