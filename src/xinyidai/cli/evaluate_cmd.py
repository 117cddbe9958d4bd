"""`xinyidai evaluate …`: re-evaluate every enterprise (batch), on the embedded engine or on Spark.

``evaluate_app`` is the ``evaluate`` sub-command group; other modules (the model registry's commands)
attach their commands to it.
"""

from __future__ import annotations

import sys
from datetime import date
from typing import Any

import typer

from xinyidai.cli.root import emit, settings
from xinyidai.kernel.actor import ActorRef

CLI_ACTOR = ActorRef.system("cli.evaluate")

evaluate_app = typer.Typer(help="Credit evaluation (信用评价): batch runs and models.", no_args_is_help=True)


@evaluate_app.command("run")
def run(
    as_of: str | None = typer.Option(None, "--as-of", help="Evaluate as of this date (YYYY-MM-DD); default today (CST)."),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (embedded) or spark."),
) -> None:
    """Re-evaluate every enterprise and swap the results in; print one JSON summary (progress bar on a terminal)."""
    from xinyidai.app import build_container
    from xinyidai.evaluation.batch import run_evaluation

    if engine not in ("duckdb", "spark"):
        raise typer.BadParameter("engine must be duckdb or spark", param_hint="--engine")
    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError as exc:
        raise typer.BadParameter("expected YYYY-MM-DD", param_hint="--as-of") from exc
    container = build_container(settings())
    try:
        if sys.stderr.isatty():
            with typer.progressbar(length=100, label="评价中", file=sys.stderr) as bar:
                done = [0]

                def progress(_stage: str, fraction: float) -> None:
                    target = int(fraction * 100)
                    bar.update(max(0, target - done[0]))
                    done[0] = max(done[0], target)

                summary = run_evaluation(container, actor=CLI_ACTOR, as_of=day, engine=engine, progress=progress)  # type: ignore[arg-type]
        else:
            summary = run_evaluation(container, actor=CLI_ACTOR, as_of=day, engine=engine)  # type: ignore[arg-type]
    finally:
        container.db.dispose()
    out: dict[str, Any] = summary.to_dict()
    emit(out)


@evaluate_app.command("prune-snapshots")
def prune_snapshots_command() -> None:
    """Delete the evaluation snapshots nothing needs any more (what the daily job does); print one JSON summary."""
    from xinyidai.app import build_container
    from xinyidai.evaluation.retention import prune_node_snapshots

    config = settings()
    container = build_container(config)
    try:
        summary = prune_node_snapshots(container.db, config, actor=CLI_ACTOR, clock=container.clock)
    finally:
        container.db.dispose()
    emit(summary.to_dict())


def register(app: typer.Typer) -> None:
    """Attach the ``evaluate`` group."""
    app.add_typer(evaluate_app, name="evaluate")
