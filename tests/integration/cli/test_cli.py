"""The command-line contracts other tools drive the platform through."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import TEST_DATA_KEY, TEST_SECRET
from xinyidai.cli import app

runner = CliRunner()
KEYS = {"code", "valid", "errors", "warnings", "authority", "org_type", "region_code", "region_name"}


def test_uscc_validate_prints_one_json_object_per_code_and_exits_zero_when_all_valid() -> None:
    result = runner.invoke(app, ["uscc", "validate", "91350100M000100Y43", "914403001922038216"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [set(obj) for obj in lines] == [KEYS, KEYS]
    first = lines[0]
    assert first["code"] == "91350100M000100Y43"
    assert first["valid"] is True
    assert first["region_code"] == "350100"
    assert first["region_name"] == "福建省福州市"
    assert first["org_type"] == "企业"


def test_uscc_validate_exits_one_if_any_is_invalid_and_lenient_accepts_legacy() -> None:
    result = runner.invoke(app, ["uscc", "validate", "91350100M000100Y43", "91350100M0001TGQXM"])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [x["valid"] for x in lines] == [True, False]
    assert lines[1]["errors"]
    lenient = runner.invoke(app, ["uscc", "validate", "--lenient", "91350100M0001TGQXM"])
    assert lenient.exit_code == 0
    obj = json.loads(lenient.stdout)
    assert obj["valid"] is True
    assert obj["warnings"]


def test_catalog_show_versions() -> None:
    for version, categories in (("2021", 11), ("2022", 12), ("2024", 13)):
        result = runner.invoke(app, ["catalog", "show", "--version", version])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert doc["version"] == version
        assert len(doc["categories"]) == categories
        penalty = next(i for i in doc["items"] if i["code"] == "admin_penalty")
        assert penalty["disclosure"] == "public"
        assert "CF_WSH" in [f["name"] for f in penalty["fields"]]


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "XINYIDAI_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "XINYIDAI_ENVIRONMENT": "test",
        "XINYIDAI_SECRET_KEY": TEST_SECRET,
        "XINYIDAI_DATA_KEY": TEST_DATA_KEY,
        "XINYIDAI_LOG_LEVEL": "WARNING",
        "XINYIDAI_VAR_DIR": str(tmp_path / "var"),
    }


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xinyidai.cli", *args], env=env, capture_output=True, text=True, check=False, timeout=300
    )


def test_db_upgrade_jobs_run_due_and_demo_without_serving(tmp_path: Path) -> None:
    env = _env(tmp_path)
    up = _run(["db", "upgrade"], env)
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout)["revision"]
    check = _run(["db", "check"], env)
    assert check.returncode == 0, check.stderr
    jobs = _run(["jobs", "run-due"], env)
    assert jobs.returncode == 0, jobs.stderr
    summary = json.loads(jobs.stdout)
    assert set(summary) >= {"claimed", "succeeded", "retried", "dead"}
    demo = _run(["demo", "--enterprises", "40", "--seed", "7", "--no-serve"], env)
    assert demo.returncode == 0, demo.stderr
    assert "operator" in demo.stdout
    assert "operator-Demo2026" in demo.stdout
    again = _run(["demo", "--enterprises", "40", "--seed", "7", "--no-serve"], env)
    assert again.returncode == 0, again.stderr
    assert "新增 0" in again.stdout  # a re-run duplicates nothing
    verify = _run(["audit", "verify"], env)
    assert verify.returncode == 0, verify.stdout
    assert json.loads(verify.stdout)["ok"] is True


def test_demo_data_generate_is_deterministic(tmp_path: Path) -> None:
    env = _env(tmp_path)
    outs = []
    for name in ("a", "b"):
        r = _run(["demo-data", "generate", "--enterprises", "30", "--seed", "11", "--out", str(tmp_path / name)], env)
        assert r.returncode == 0, r.stderr
        outs.append(json.loads((tmp_path / name / "manifest.json").read_text(encoding="utf-8")))
    assert outs[0] == outs[1]
    assert any(f.get("item") == "admin_penalty" or "admin_penalty" in json.dumps(f) for f in outs[0]["files"])
