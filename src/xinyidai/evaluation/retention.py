"""Snapshot retention: a snapshot's directory is deleted once nothing needs it any more.

Every batch run writes a snapshot (about 0.6 GB at 10M records), the incremental refresh writes one per tick that
found new records, and training writes one per model fitted. Left alone they fill the node's disk, and each holds
copies of records that the retention rules say must go when the record goes (DOMAIN.md: 5 years for negative
information; the ingest retention job deletes the records themselves). So a daily job deletes every snapshot that

- no current evaluation names (``evaluation_current.snapshot_id``: the evidence behind what institutions see now),
- no model version names as its training snapshot (``evaluation_model_version.training_snapshot_id``),
- is not the snapshot of one of the last ``keep_runs`` complete batch runs, and
- is older than ``keep_days`` (by its manifest's creation time; a directory without a manifest — a snapshot being
  written, or one whose writer died — by its modification time, so a snapshot in progress is never touched).

An older evaluation stays explainable without its snapshot: the run names its as-of date, and the record store keeps
every version with the interval it was current in (``ingest_record_version``), from which ``write_snapshot`` gives
the same records again for as long as they are retained. Each pass that deletes anything writes one audit event
(``evaluation.snapshots.prune``) with the ids, the bytes freed and any directory it could not delete.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import sqlalchemy as sa

from xinyidai import audit
from xinyidai.db import Database
from xinyidai.evaluation.batch import snapshot_directory
from xinyidai.evaluation.model_tables import EvaluationModelVersion
from xinyidai.evaluation.runs_tables import EvaluationCurrent, EvaluationRun
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock

if TYPE_CHECKING:
    from xinyidai.config import Settings

#: Snapshot ids listed in one audit event (the count and the bytes cover all of them).
AUDIT_IDS_MAX: Final = 200


def snapshot_roots(var_dir: Path) -> tuple[Path, ...]:
    """The directories snapshots are written to: batch runs, the incremental refresh, model training."""
    base = snapshot_directory(var_dir)
    return (base, base / "incremental", base / "training")


@dataclass(frozen=True, slots=True)
class PruneSummary:
    """What one pass deleted and kept."""

    deleted: tuple[uuid.UUID, ...]
    kept: int
    bytes_freed: int
    failed: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "deleted": len(self.deleted),
            "kept": self.kept,
            "bytes_freed": self.bytes_freed,
            "failed": list(self.failed),
            "deleted_ids": [str(i) for i in self.deleted[:AUDIT_IDS_MAX]],
        }


def referenced_snapshots(db: Database, *, keep_runs: int) -> set[uuid.UUID]:
    """Snapshots something still names: current evaluations, training of model versions, the last batch runs."""
    with db.transaction() as s:
        kept = set(s.scalars(sa.select(EvaluationCurrent.snapshot_id).distinct()))
        kept |= set(
            s.scalars(
                sa.select(EvaluationModelVersion.training_snapshot_id).where(
                    EvaluationModelVersion.training_snapshot_id.is_not(None)
                )
            )
        )
        kept |= set(
            s.scalars(
                sa.select(EvaluationRun.snapshot_id)
                .where(EvaluationRun.mode == "batch", EvaluationRun.status == "complete")
                .order_by(EvaluationRun.started_at.desc())
                .limit(keep_runs)
            )
        )
    return {i for i in kept if i is not None}


def _snapshot_dirs(roots: Iterable[Path]) -> Iterator[tuple[uuid.UUID, Path]]:
    """(id, directory) of every snapshot under the roots: subdirectories named by a snapshot id (32 hex digits)."""
    for root in roots:
        if not root.is_dir():
            continue
        for entry in root.iterdir():
            if len(entry.name) != 32 or not entry.is_dir() or entry.is_symlink():
                continue
            try:
                yield uuid.UUID(hex=entry.name), entry
            except ValueError:
                continue


def _created(directory: Path) -> datetime | None:
    """When the snapshot was made: its manifest's time, else (no manifest yet) the directory's modification time."""
    manifest = directory / "manifest.json"
    try:
        text = manifest.read_text(encoding="utf-8")
    except FileNotFoundError:
        try:
            return datetime.fromtimestamp(directory.stat().st_mtime).astimezone()
        except OSError:
            return None
    try:
        created = datetime.fromisoformat(json.loads(text)["created_at"])
    except (ValueError, KeyError, TypeError):
        return datetime.fromtimestamp(manifest.stat().st_mtime).astimezone()
    return created if created.tzinfo is not None else created.astimezone()


def _size(directory: Path) -> int:
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file() and not f.is_symlink())


def prune_snapshots(
    db: Database,
    *,
    roots: Iterable[Path],
    keep_days: int,
    keep_runs: int,
    actor: ActorRef,
    clock: Clock,
) -> PruneSummary:
    """Delete the snapshots nothing needs (module docstring); audit the pass if it deleted or failed anything."""
    if keep_days < 1 or keep_runs < 1:
        raise ValueError("keep_days and keep_runs must be at least 1")
    cutoff = clock.now() - timedelta(days=keep_days)
    referenced = referenced_snapshots(db, keep_runs=keep_runs)
    deleted: list[uuid.UUID] = []
    failed: list[str] = []
    kept = freed = 0
    for snapshot_id, directory in sorted(_snapshot_dirs(roots), key=lambda pair: str(pair[1])):
        created = _created(directory)
        if snapshot_id in referenced or created is None or created >= cutoff:
            kept += 1
            continue
        size = _size(directory)
        try:
            shutil.rmtree(directory)
        except OSError as exc:
            failed.append(f"{directory.name}: {exc.strerror or exc}")
            continue
        deleted.append(snapshot_id)
        freed += size
    summary = PruneSummary(tuple(deleted), kept, freed, tuple(failed))
    if deleted or failed:
        with db.transaction() as s:
            audit.record(
                s,
                actor=actor,
                action="evaluation.snapshots.prune",
                target_type="evaluation_snapshot",
                data=summary.to_dict() | {"keep_days": keep_days, "keep_runs": keep_runs},
                clock=clock,
            )
    return summary


def prune_node_snapshots(db: Database, settings: Settings, *, actor: ActorRef, clock: Clock) -> PruneSummary:
    """``prune_snapshots`` over the node's snapshot directories with its keep settings (the daily job, the CLI)."""
    return prune_snapshots(
        db,
        roots=snapshot_roots(settings.var_dir),
        keep_days=settings.evaluation_snapshot_keep_days,
        keep_runs=settings.evaluation_snapshot_keep_runs,
        actor=actor,
        clock=clock,
    )
