"""The `xinyidai ingest` contract in a real process: one JSON object, exit 0 or 2, and a hard kill midway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import PG_ENV, TEST_DATA_KEY, TEST_SECRET
from tests.integration.ingest.conftest import penalty_row, write_csv
from xinyidai.db import create_database_engine
from xinyidai.db import migrate as db_migrate

CONTRACT = {"batch_id", "accepted", "updated", "unchanged", "rejected", "rejects_file"}


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(PG_ENV) else ["sqlite"]


@pytest.fixture(params=_backends())
def cli_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A migrated database of its own (committed transactions, as a real CLI run makes) and its environment."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cli.db'}"
    else:
        base = sa.make_url(os.environ[PG_ENV]).set(drivername="postgresql+psycopg")
        name = f"{base.database or 'xinyidai_test'}_ingest_cli_{os.environ.get('PYTEST_XDIST_WORKER', 'gw0')}"
        admin = create_database_engine(base.set(database="postgres").render_as_string(hide_password=False))
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = base.set(database=name).render_as_string(hide_password=False)
    db_migrate.upgrade(url)
    return {
        **os.environ,
        "XINYIDAI_DATABASE_URL": url,
        "XINYIDAI_ENVIRONMENT": "test",
        "XINYIDAI_SECRET_KEY": TEST_SECRET,
        "XINYIDAI_DATA_KEY": TEST_DATA_KEY,
        "XINYIDAI_LOG_LEVEL": "WARNING",
        "XINYIDAI_VAR_DIR": str(tmp_path / "var"),
    }


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xinyidai.cli", *args], env=env, capture_output=True, text=True, check=False, timeout=300
    )


def _count(env: dict[str, str], table: str) -> int:
    engine = create_database_engine(env["XINYIDAI_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def test_ingest_prints_one_json_object_and_exits_zero_even_with_rejects(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", [penalty_row(1), penalty_row(2, CF_JDRQ="2025-13-01")])
    done = _cli(["ingest", str(path)], cli_env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    body = json.loads(lines[0])
    assert set(body) == CONTRACT
    assert (body["accepted"], body["updated"], body["unchanged"], body["rejected"]) == (1, 0, 0, 1)
    assert Path(body["rejects_file"]).is_file()
    again = json.loads(_cli(["ingest", str(path), "--item", "admin_penalty", "--format", "csv"], cli_env).stdout)
    assert (again["accepted"], again["unchanged"], again["rejected"]) == (0, 1, 1)


@pytest.mark.parametrize(
    ("content", "args"),
    [
        (None, []),  # no such file
        (b"", []),  # empty
        (b"foo,bar\n1,2\n", []),  # a header no catalog item has
        (b"CF_WSH,CF_CFJGDM\n1,2\n", ["--item", "no_such_item"]),
        (b"PK\x03\x04not really a workbook", ["--format", "xlsx"]),
    ],
)
def test_a_file_that_cannot_be_read_exits_2(
    cli_env: dict[str, str], tmp_path: Path, content: bytes | None, args: list[str]
) -> None:
    path = tmp_path / "input.csv"
    if content is not None:
        path.write_bytes(content)
    done = _cli(["ingest", str(path), *args], cli_env)
    assert done.returncode == 2, (done.stdout, done.stderr)
    body = json.loads(done.stdout.strip().splitlines()[-1])
    assert body["error"]
    assert _count(cli_env, "ingest_batch") == 0


def test_ingest_dir_loads_a_generator_delivery_registration_first(cli_env: dict[str, str], generated: Path) -> None:
    assert _cli(["sources", "seed"], cli_env).returncode == 0
    done = _cli(["ingest-dir", str(generated)], cli_env)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert lines[0]["file"] == "registration.csv"
    assert all(set(line) >= CONTRACT for line in lines)
    assert _count(cli_env, "subject") == 150
    pending = [json.loads(line) for line in _cli(["sources", "list", "--status", "pending"], cli_env).stdout.splitlines()]
    assert pending
    assert _cli(["sources", "confirm", pending[0]["code"]], cli_env).returncode == 0


_KILLER = """
import functools, os, signal, sys
import xinyidai.ingest
from xinyidai.ingest import pipeline

calls = {"n": 0}
original = pipeline.write_chunk

def write_then_die(*args, **kwargs):
    calls["n"] += 1
    if calls["n"] == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # a hard kill inside the batch's transaction
    return original(*args, **kwargs)

pipeline.write_chunk = write_then_die
xinyidai.ingest.ingest_file = functools.partial(xinyidai.ingest.ingest_file, chunk_rows=25)
from xinyidai.cli import app
sys.argv = ["xinyidai", "ingest", sys.argv[1]]
app()
"""


def test_a_process_killed_mid_batch_leaves_nothing_and_a_rerun_lands_every_row_once(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    rows = [penalty_row(n) for n in range(1, 121)]
    path = write_csv(tmp_path / "p.csv", rows)
    killed = subprocess.run(
        [sys.executable, "-c", _KILLER, str(path)], env=cli_env, capture_output=True, text=True, check=False, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert killed.stdout == ""
    for table in ("ingest_batch", "ingest_record", "ingest_reject", "ingest_source"):
        assert _count(cli_env, table) == 0, table
    done = _cli(["ingest", str(path)], cli_env)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert (body["accepted"], body["rejected"]) == (120, 0)
    assert _count(cli_env, "ingest_record") == 120
    again = json.loads(_cli(["ingest", str(path)], cli_env).stdout)
    assert (again["accepted"], again["unchanged"]) == (0, 120)
    assert _count(cli_env, "ingest_record") == 120
