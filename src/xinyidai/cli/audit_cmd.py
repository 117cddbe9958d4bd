"""`xinyidai audit …`: verify the hash-chained audit log."""

from __future__ import annotations

import typer

from xinyidai import audit
from xinyidai.cli.root import emit, settings
from xinyidai.db import Database, create_database_engine

audit_app = typer.Typer(help="Audit log.", no_args_is_help=True)


@audit_app.command("verify")
def verify() -> None:
    """Recompute the chain; exit 1 naming the first bad event if a row was altered, deleted or inserted."""
    s = settings()
    db = Database(create_database_engine(s.database_url), node_id=s.node_id)
    report = audit.verify(db)
    db.dispose()
    if report.ok:
        emit({"ok": True, "events": report.events, "head_hash": report.head_hash})
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
        }
    )
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Attach the commands."""
    app.add_typer(audit_app, name="audit")
