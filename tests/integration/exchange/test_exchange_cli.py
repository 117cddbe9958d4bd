"""The command-line path the demo takes: `simulator serve`, `exchange use-simulator`, `exchange fetch`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_DATA_KEY, TEST_SECRET
from tests.integration.exchange.conftest import subject_with
from xinyidai.db import migrate as db_migrate
from xinyidai.simulator import DataIndex

SIM_TOKEN = "cli-sim-token"


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
        [sys.executable, "-m", "xinyidai.cli", *args], env=env, capture_output=True, text=True, check=False, timeout=120
    )


@pytest.fixture
def served(delivery: Path, tmp_path: Path) -> Iterator[str]:
    """`xinyidai simulator serve` in its own process; yields its URL and stops it afterwards."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "xinyidai.cli", "simulator", "serve", "--data", str(delivery), "--port", str(port)],
        env={**_env(tmp_path), "XINYIDAI_SIMULATOR_TOKEN": SIM_TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                if httpx.get(f"{url}/_health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"simulator did not start: {process.stderr.read() if process.stderr else ''}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


def test_the_demo_path_from_the_command_line(served: str, tmp_path: Path, data_index: DataIndex) -> None:
    env = _env(tmp_path)
    db_migrate.upgrade(env["XINYIDAI_DATABASE_URL"])
    use = _run(["exchange", "use-simulator", "--url", served, "--token", SIM_TOKEN], env)
    assert use.returncode == 0, use.stderr
    endpoints = {e["source"]: e for e in json.loads(use.stdout)["endpoints"]}
    assert endpoints["tax"]["base_url"] == f"{served}/tax"
    assert endpoints["tax"]["has_token"] is True
    assert "token" not in endpoints["tax"]

    uscc = subject_with(data_index, "tax_payment")
    fetched = _run(["exchange", "fetch", "--item", "tax_payment", "--uscc", uscc, "--purpose", "演示"], env)
    assert fetched.returncode == 0, fetched.stderr
    result = json.loads(fetched.stdout)
    assert set(result) == {
        "status",
        "source",
        "item",
        "uscc",
        "records",
        "as_of",
        "fetched_at",
        "age_seconds",
        "reason",
        "detail",
    }
    assert (result["status"], result["source"], result["uscc"]) == ("fresh", "tax", uscc)
    assert len(result["records"]) == len(data_index.records("tax_payment", uscc))

    bad = _run(["exchange", "fetch", "--item", "no_such_item", "--uscc", uscc], env)
    assert bad.returncode == 2
    assert "catalog_entry_not_found" in bad.stderr
