"""`xinyidai evaluate train|models|approve|validate-rules|prepare-demo`: the evaluation model registry from the command line.

The commands are attached to `evaluate_app` (from `evaluate_cmd`); each prints one JSON object.
"""

from __future__ import annotations

import getpass
import uuid
from datetime import date
from pathlib import Path

import typer

from xinyidai.cli.root import emit, settings
from xinyidai.kernel.actor import ActorRef


def _operator() -> ActorRef:
    """The person at the terminal, as the audit log records an approval (never the training actor: four-eyes)."""
    return ActorRef.system(f"cli-operator:{getpass.getuser()}")


def _as_of(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO date: {text}") from exc


def train(
    outcomes: Path | None = typer.Option(
        None, exists=True, dir_okay=False, help="outcomes.csv (uscc, loan_default); omit: institutions' loan performance."
    ),
    as_of: str | None = typer.Option(None, "--as-of", help="Indicators as of this date (YYYY-MM-DD; default today in China)."),
) -> None:
    """Train a scorecard on the indicators as of a date joined to loan outcomes; store it as a draft with its report."""
    from xinyidai.app import build_container
    from xinyidai.evaluation import training

    container = build_container(settings())
    try:
        version = training.train_scorecard(
            container,
            actor=training.TRAINING_ACTOR,
            as_of=_as_of(as_of),
            outcomes=training.read_outcomes_csv(outcomes) if outcomes else None,
        )
        emit(version.summary())
    finally:
        container.db.dispose()


def list_models() -> None:
    """Every model version (rule tables and scorecards), newest first."""
    from xinyidai.app import build_container
    from xinyidai.evaluation import models

    container = build_container(settings())
    try:
        emit({"items": [v.summary() for v in models.list_versions(container.db)]})
    finally:
        container.db.dispose()


def approve(
    version_id: str = typer.Argument(..., help="The draft version's id."),
    role: str = typer.Option("champion", help="champion or challenger."),
) -> None:
    """Approve a draft as champion or challenger (the creator may not approve their own version)."""
    from xinyidai.app import build_container
    from xinyidai.evaluation import models
    from xinyidai.evaluation.model import ModelRole

    try:
        key, chosen = uuid.UUID(version_id), ModelRole(role)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    actor = _operator()
    container = build_container(settings())
    try:
        emit(models.approve_version(container.db, actor=actor, clock=container.clock, version_id=key, role=chosen).summary())
    finally:
        container.db.dispose()


def validate_rules(
    version_id: str = typer.Argument(..., help="The rule-table version's id."),
    outcomes: Path | None = typer.Option(None, exists=True, dir_okay=False, help="outcomes.csv; omit: loan performance."),
    as_of: str | None = typer.Option(None, "--as-of", help="Indicators as of this date (YYYY-MM-DD)."),
) -> None:
    """Attach a validation report (AUC/KS/Gini of the rule score, grade distribution) to a rule-table version."""
    from xinyidai.app import build_container
    from xinyidai.evaluation import training

    try:
        key = uuid.UUID(version_id)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    container = build_container(settings())
    try:
        version = training.validate_rules(
            container,
            actor=training.TRAINING_ACTOR,
            version_id=key,
            as_of=_as_of(as_of),
            outcomes=training.read_outcomes_csv(outcomes) if outcomes else None,
        )
        emit({**version.summary(), "validation": version.validation})
    finally:
        container.db.dispose()


def prepare_demo(
    outcomes: Path = typer.Option(..., exists=True, dir_okay=False, help="The generator's outcomes.csv."),
    as_of: str | None = typer.Option(None, "--as-of", help="Evaluate as of this date (YYYY-MM-DD; default today in China)."),
) -> None:
    """For the demo: draft, validate and approve (a second actor) the default rules and a card trained on the outcomes,
    then re-evaluate every enterprise."""
    from xinyidai.app import build_container
    from xinyidai.evaluation import training
    from xinyidai.kernel.clock import today

    container = build_container(settings())
    try:
        day = _as_of(as_of) or today(container.clock)
        emit(training.prepare_demo(container, outcomes_csv=outcomes, as_of=day))
    finally:
        container.db.dispose()


def register(app: typer.Typer) -> None:
    """Attach the registry commands to `xinyidai evaluate` (the group `evaluate_cmd` defines)."""
    import importlib.util

    if importlib.util.find_spec("xinyidai.cli.evaluate_cmd") is None:
        raise RuntimeError("xinyidai.cli.evaluate_cmd (the `evaluate` group) is missing")
    from xinyidai.cli.evaluate_cmd import evaluate_app

    evaluate_app.command("train")(train)
    evaluate_app.command("models")(list_models)
    evaluate_app.command("approve")(approve)
    evaluate_app.command("validate-rules")(validate_rules)
    evaluate_app.command("prepare-demo")(prepare_demo)
