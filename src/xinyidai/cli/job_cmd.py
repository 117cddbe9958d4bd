"""`xinyidai jobs …`: run due background work once (what the server does on a timer)."""

from __future__ import annotations

import socket

import typer

from xinyidai.cli.root import emit, settings

jobs_app = typer.Typer(help="Background jobs.", no_args_is_help=True)


@jobs_app.command("run-due")
def run_due(limit: int = typer.Option(100, help="Most jobs to run in this pass.")) -> None:
    """Run every job that is due, once; print a JSON summary."""
    from xinyidai import job
    from xinyidai.app import build_container, build_job_registry

    container = build_container(settings())
    registry = build_job_registry(container)
    summary = job.run_due(container.db, registry, clock=container.clock, worker_id=f"cli-{socket.gethostname()}", limit=limit)
    emit({"claimed": summary.claimed, "succeeded": summary.succeeded, "retried": summary.retried, "dead": summary.dead})
    container.db.dispose()


def register(app: typer.Typer) -> None:
    """Attach the commands."""
    app.add_typer(jobs_app, name="jobs")
