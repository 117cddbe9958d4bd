"""`xinyidai evaluate run` prints one JSON summary of the batch (no progress bar when stderr is not a terminal)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import TEST_DATA_KEY, TEST_SECRET
from xinyidai.cli.evaluate_cmd import evaluate_app
from xinyidai.cli.root import app, settings

runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XINYIDAI_ENVIRONMENT", "test")
    monkeypatch.setenv("XINYIDAI_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("XINYIDAI_DATA_KEY", TEST_DATA_KEY)
    monkeypatch.setenv("XINYIDAI_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("XINYIDAI_VAR_DIR", str(tmp_path / "var"))
    settings.cache_clear()
    yield tmp_path
    settings.cache_clear()


def test_evaluate_run_prints_a_json_summary(cli_env: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["evaluate", "run", "--as-of", "2026-06-30"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["as_of"] == "2026-06-30"
    assert summary["engine"] == "duckdb"
    assert summary["enterprises"] == 0
    assert set(summary["grades"]) == {"A", "B", "C", "D"}
    assert set(summary["stage_seconds"]) == {"snapshot", "indicators", "scoring", "write_back"}
    assert (cli_env / "var" / "evaluation" / "snapshots" / summary["snapshot_id"].replace("-", "")).is_dir()


def test_evaluate_run_refuses_an_unknown_engine_and_a_bad_date(cli_env: Path) -> None:
    assert runner.invoke(app, ["evaluate", "run", "--engine", "hadoop"]).exit_code == 2
    assert runner.invoke(app, ["evaluate", "run", "--as-of", "30/06/2026"]).exit_code == 2


def test_the_evaluate_group_is_importable_for_other_commands() -> None:
    assert any(c.name == "run" for c in evaluate_app.registered_commands)


def test_evaluate_prune_snapshots_keeps_the_latest_run(cli_env: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    first = json.loads(runner.invoke(app, ["evaluate", "run", "--as-of", "2026-06-30"]).stdout)
    result = runner.invoke(app, ["evaluate", "prune-snapshots"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary == {"deleted": 0, "kept": 1, "bytes_freed": 0, "failed": [], "deleted_ids": []}
    assert (cli_env / "var" / "evaluation" / "snapshots" / first["snapshot_id"].replace("-", "")).is_dir()
