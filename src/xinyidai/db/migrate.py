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


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the database at `url` up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def check(url: str) -> None:
    """Fail (alembic.util.CommandError) if the models differ from what the migrations build."""
    command.check(alembic_config(url))


def head_revision(url: str) -> str:
    """The newest revision(s) the package ships (comma-joined if branches are not merged yet)."""
    return ",".join(sorted(ScriptDirectory.from_config(alembic_config(url)).get_heads()))


def current_revision(conn: Connection) -> str:
    """The revision(s) the database behind `conn` is at, in the same form as `head_revision`."""
    return ",".join(sorted(MigrationContext.configure(conn).get_current_heads()))
