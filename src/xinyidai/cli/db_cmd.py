"""`xinyidai db …`: migrations."""

from __future__ import annotations

import typer

from xinyidai.cli.root import emit, settings
from xinyidai.db import create_database_engine
from xinyidai.db import migrate as db_migrate

db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade(revision: str = "heads") -> None:
    """Run the migrations up to REVISION (default: head)."""
    url = settings().database_url
    create_database_engine(url).dispose()  # creates the SQLite directory if needed
    db_migrate.upgrade(url, revision)
    emit(
        {"database": url.split("@")[-1], "revision": db_migrate.head_revision(url) if revision in ("head", "heads") else revision}
    )


@db_app.command("check")
def check() -> None:
    """Fail if the models differ from what the migrations build (alembic check)."""
    db_migrate.check(settings().database_url)
    emit({"check": "ok"})


@db_app.command("current")
def current() -> None:
    """Print the current and head revisions."""
    url = settings().database_url
    engine = create_database_engine(url)
    with engine.connect() as conn:
        emit({"current": db_migrate.current_revision(conn), "head": db_migrate.head_revision(url)})
    engine.dispose()


def register(app: typer.Typer) -> None:
    """Attach the commands."""
    app.add_typer(db_app, name="db")
