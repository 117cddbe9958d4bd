"""`xinyidai audit …`: verify the log (chain, Merkle tree, checkpoints), sign a checkpoint, prove an event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from xinyidai import audit
from xinyidai.cli.root import emit, settings
from xinyidai.db import Database, create_database_engine
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import SystemClock
from xinyidai.kernel.errors import DomainError

audit_app = typer.Typer(help="Audit log.", no_args_is_help=True)
CLI_ACTOR = ActorRef.system("cli")


def _database() -> Database:
    s = settings()
    return Database(create_database_engine(s.database_url), node_id=s.node_id)


def _read_checkpoint(path: Path) -> audit.Checkpoint:
    try:
        return audit.Checkpoint.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, audit.CheckpointFormatError) as exc:
        emit({"ok": False, "reason": f"无法读取检查点文件 {path}: {exc}"})
        raise typer.Exit(2) from exc


@audit_app.command("verify")
def verify(
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option("--checkpoint", help="A checkpoint JSON kept outside the platform; may be given more than once."),
    ] = None,
    public_key: Annotated[
        list[str] | None,
        typer.Option("--public-key", help="Trust only this verifier key (<name>+<id>+<base64>) for --checkpoint files."),
    ] = None,
) -> None:
    """Recompute chain, tree and checkpoints; exit 1 naming the first bad event if the log was altered,
    deleted from, inserted into, truncated or rewritten since a checkpoint."""
    keys = audit.keys_from_settings(settings())
    external = [_read_checkpoint(p) for p in checkpoint or []]
    try:
        outside = [audit.VerifierKey.parse(k) for k in public_key] if public_key else None
    except audit.CheckpointFormatError as exc:
        emit({"ok": False, "reason": f"无法读取验证公钥: {exc}"})
        raise typer.Exit(2) from exc
    db = _database()
    try:
        report = audit.verify_log(db, keys=keys.trusted, external=external, external_keys=outside)
    finally:
        db.dispose()
    out: dict[str, Any] = {
        "events": report.events,
        "head_hash": report.head_hash,
        "tree_size": report.tree_size,
        "checkpoints_checked": report.checkpoints,
    }
    if report.ok:
        emit({"ok": True, **out})
        return
    problem = report.problem
    assert problem is not None
    emit(
        {
            "ok": False,
            "events_checked": report.events,
            "first_bad_seq": problem.seq,
            "first_bad_event": problem.event_id,
            "reason": problem.reason,
            "checkpoint_size": problem.checkpoint_size,
            **out,
        }
    )
    raise typer.Exit(1)


@audit_app.command("checkpoint")
def checkpoint(
    out: Annotated[Path | None, typer.Option("--out", help="Also write the checkpoint JSON to this file.")] = None,
) -> None:
    """Integrate new events into the Merkle tree and sign a checkpoint now (also done every 10 minutes)."""
    keys = audit.keys_from_settings(settings())
    db = _database()
    try:
        result = audit.create_checkpoint(db, keys=keys, clock=SystemClock(), actor=CLI_ACTOR)
    except DomainError as exc:
        emit({"ok": False, "reason": exc.detail})
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    if result is None:
        emit({"ok": True, "created": False, "reason": "审计日志为空，无需签署检查点"})
        return
    body = result.checkpoint.to_json()
    if out is not None:
        out.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    emit({"ok": True, "created": result.created, "checkpoint": body})


@audit_app.command("prove")
def prove(
    event_id: Annotated[str, typer.Argument(help="Id of the audit event.")],
    tree_size: Annotated[int | None, typer.Option("--tree-size", help="Prove against the checkpoint of this size.")] = None,
) -> None:
    """Print the event's inclusion proof against the latest (or given) signed checkpoint; exit 1 unless it verifies."""
    keys = audit.keys_from_settings(settings())
    db = _database()
    try:
        proof = audit.prove_event(db, actor=CLI_ACTOR, keys=keys, event_id=event_id, tree_size=tree_size, can_read_all=True)
    except DomainError as exc:
        emit({"event_id": event_id, "verified": False, "reason": exc.detail})
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    emit(proof.to_json())
    if not proof.verified:
        raise typer.Exit(1)


@audit_app.command("key")
def key() -> None:
    """Print the checkpoint verification key (publish it; outsiders verify checkpoints with it)."""
    keys = audit.keys_from_settings(settings())
    emit({"verifier_key": keys.signer.verifier.encode(), "retired": [k.encode() for k in keys.retired]})


def register(app: typer.Typer) -> None:
    """Attach the commands."""
    app.add_typer(audit_app, name="audit")
