"""Alembic migrations driven from Python: upgrade, check, and the current/head revisions."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the migrations shipped inside the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(str(resources.files("xinyidai.db") / "migrations"))))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def check(url: str) -> None:
    """Fail (alembic.util.CommandError) if the models differ from what the migrations build."""
    command.check(alembic_config(url))


def head_revision(url: str) -> str | None:
    """The newest revision the package ships."""
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def current_revision(conn: Connection) -> str | None:
    """The revision the database behind `conn` is at."""
    return MigrationContext.configure(conn).get_current_revision()
