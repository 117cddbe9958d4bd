"""Shared fixtures: settings, a migrated database per backend (SQLite always, PostgreSQL when configured),
and a rolled-back transaction per test."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import Engine

from xinyidai.config import Settings
from xinyidai.db import Database, create_database_engine
from xinyidai.db import migrate as db_migrate
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher

# Tests never assert timings: Hypothesis' per-example deadline would, and fails on a busy shared machine.
hypothesis_settings.register_profile("xinyidai", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("xinyidai")

PG_ENV = "XINYIDAI_TEST_POSTGRES_URL"
TEST_SECRET = "test-secret-key-0123456789abcdef-0123456789"
TEST_DATA_KEY = base64.b64encode(b"T" * 32).decode()


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(PG_ENV) else ["sqlite"]


def _pg_admin(base: str) -> tuple[sa.URL, Engine]:
    url = sa.make_url(base)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url, create_database_engine(url.set(database="postgres").render_as_string(hide_password=False))


def _pg_create(base: str, suffix: str) -> str:
    """A new, empty database named after the configured one plus a suffix unique to this run."""
    url, admin = _pg_admin(base)
    name = f"{url.database or 'xinyidai_test'}_{suffix}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _pg_drop(url_text: str) -> None:
    url, admin = _pg_admin(url_text)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A freshly migrated database URL for this test session, one per backend.

    PostgreSQL databases are named per run and worker, so concurrent runs on one server never
    drop each other's databases; each is dropped when the session ends.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    else:
        url = _pg_create(os.environ[PG_ENV], f"{worker}_{uuid.uuid4().hex[:8]}")
    create_database_engine(url).dispose()
    db_migrate.upgrade(url)
    yield url
    if request.param == "postgresql":
        _pg_drop(url)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """The engine of the migrated database."""
    eng = create_database_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Database]:
    """A Database whose every transaction is a savepoint inside one outer transaction rolled back after the test."""
    with engine.connect() as conn:
        outer = conn.begin()
        yield Database(conn, node_id="city-350100")
        outer.rollback()


@pytest.fixture
def clock() -> FrozenClock:
    """A clock frozen at a known instant."""
    return FrozenClock(datetime(2026, 6, 30, 2, 0, tzinfo=UTC))


@pytest.fixture
def cipher() -> PiiCipher:
    """The personal-data cipher with the test key."""
    return PiiCipher(key=base64.b64decode(TEST_DATA_KEY), key_id="t1")


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for tests: test environment, real-looking secrets, no background worker."""
    values: dict[str, object] = {
        "environment": "test",
        "database_url": database_url,
        "secret_key": TEST_SECRET,
        "data_key": TEST_DATA_KEY,
        "data_key_id": "t1",
        "jobs_in_server": False,
        "log_json": True,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Test settings pointing at the migrated database."""
    return make_settings(database_url)


@pytest.fixture
def unique() -> str:
    """A short unique suffix for names that must not collide."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def tmp_var(tmp_path: Path) -> Path:
    """A scratch var/ directory."""
    path = tmp_path / "var"
    path.mkdir()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def own_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database of its own, SQLite and PostgreSQL (skipped without `XINYIDAI_TEST_POSTGRES_URL`), for
    tests whose concurrent transactions really commit; dropped afterwards."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'own.db'}"
    elif os.environ.get(PG_ENV):
        url = _pg_create(os.environ[PG_ENV], f"own_{uuid.uuid4().hex[:8]}")
    else:
        pytest.skip(f"{PG_ENV} is not set")
    db_migrate.upgrade(url)
    engine = create_database_engine(url)
    yield Database(engine, node_id="city-350100")
    engine.dispose()
    if request.param == "postgresql":
        _pg_drop(url)
