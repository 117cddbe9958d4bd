"""`xinyidai audit checkpoint | prove | verify` as separate processes: every kind of tampering named, given a checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.audit.trail_helpers import append, event_id, execute, fresh_database, insert_at, rewrite_from
from xinyidai import audit
from xinyidai.config import Settings
from xinyidai.db import Database
from xinyidai.kernel.clock import SystemClock


@pytest.fixture
def committed(tmp_path: Path, database_url: str) -> Iterator[tuple[str, Database]]:
    """A migrated database of its own, committed for real: the CLI is another process."""
    with fresh_database(tmp_path, database_url, "trail") as made:
        yield made


def _cli(url: str, *args: str) -> tuple[int, dict[str, Any]]:
    env = {**os.environ, "XINYIDAI_DATABASE_URL": url, "XINYIDAI_LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-m", "xinyidai.cli", *args], env=env, capture_output=True, text=True, check=False)
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def _two_checkpoints(url: str, db: Database, tmp_path: Path, *, via_cli: bool = False) -> None:
    """Events 1–5, checkpoint at 5 (event 6 records it), events 7–8, checkpoint at 8 (event 9).

    Signed in this process with the key the CLI derives from the same settings (starting the CLI
    costs most of these tests' time); `via_cli` signs through `xinyidai audit checkpoint --out`.
    """
    keys = audit.keys_from_settings(Settings(database_url=url))
    for name, n, size in (("first", 5, 5), ("second", 2, 8)):
        append(db, n, subject="91350100M000100Y43" if name == "first" else None, action="registry.subject.read")
        out = tmp_path / f"{name}.json"
        if via_cli:
            code, made = _cli(url, "audit", "checkpoint", "--out", str(out))
            assert code == 0
            assert made["created"]
            assert made["checkpoint"]["tree_size"] == size
        else:
            result = audit.create_checkpoint(db, keys=keys, clock=SystemClock())
            assert result is not None
            assert result.checkpoint.tree_size == size
            out.write_text(json.dumps(result.checkpoint.to_json()))


Tamper = Callable[[Database], str | None]

SCENARIOS: dict[str, tuple[Tamper, int]] = {
    # name: (tamper → id of the event verify must name, or None when it no longer exists), first bad seq
    "alter": (lambda db: (execute(db, "UPDATE audit_event SET actor_label = '冒名' WHERE seq = 3"), event_id(db, 3))[1], 3),
    "delete-middle": (lambda db: (event_id(db, 4), execute(db, "DELETE FROM audit_event WHERE seq = 3"))[0], 4),
    "delete-tail": (lambda db: execute(db, "DELETE FROM audit_event WHERE seq >= 7"), 7),
    "rewrite-tail": (lambda db: (rewrite_from(db, 7), event_id(db, 7))[1], 7),
    "insert": (lambda db: insert_at(db, 4), 4),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_verify_names_the_first_bad_event_for_every_kind_of_tampering(
    scenario: str, committed: tuple[str, Database], tmp_path: Path
) -> None:
    url, db = committed
    _two_checkpoints(url, db, tmp_path)
    assert audit.verify_log(db, keys=audit.keys_from_settings(Settings(database_url=url)).trusted).ok
    tamper, first_bad = SCENARIOS[scenario]
    named = tamper(db)
    code, bad = _cli(url, "audit", "verify")
    assert code == 1, bad
    assert bad["ok"] is False
    assert bad["first_bad_seq"] == first_bad, bad["reason"]
    assert bad["first_bad_event"] == named


def test_prove_prints_a_verified_proof_and_fails_once_the_event_is_rewritten(
    committed: tuple[str, Database], tmp_path: Path
) -> None:
    url, db = committed
    _two_checkpoints(url, db, tmp_path, via_cli=True)
    code, ok = _cli(url, "audit", "verify")
    assert code == 0
    assert ok["ok"] is True
    assert ok["checkpoints_checked"] == 2
    assert ok["tree_size"] == 8
    target = event_id(db, 7)
    code, proof = _cli(url, "audit", "prove", target)
    assert code == 0
    assert proof["verified"] is True
    assert (proof["leaf_index"], proof["tree_size"]) == (6, 8)
    assert proof["root_hash"] == json.loads((tmp_path / "second.json").read_text())["root_hash"]
    assert len(proof["proof"]) == 3
    code, older = _cli(url, "audit", "prove", event_id(db, 2), "--tree-size", "5")
    assert code == 0
    assert older["verified"] is True
    assert older["tree_size"] == 5
    rewrite_from(db, 7)
    code, failed = _cli(url, "audit", "prove", target)
    assert code == 1
    assert failed["verified"] is False
    code, pending = _cli(url, "audit", "prove", event_id(db, 9))
    assert code == 1
    assert pending["verified"] is False
    assert "检查点" in pending["reason"]
    code, unknown = _cli(url, "audit", "prove", str(uuid.uuid4()))
    assert code == 1
    assert unknown["verified"] is False


def test_a_checkpoint_kept_outside_catches_truncation_the_platform_can_no_longer_see(
    committed: tuple[str, Database], tmp_path: Path
) -> None:
    url, db = committed
    _two_checkpoints(url, db, tmp_path)
    _, key = _cli(url, "audit", "key")
    # The insider removes the newest accesses and every trace the platform kept of them.
    execute(db, "DELETE FROM audit_event WHERE seq >= 7")
    execute(db, "DELETE FROM audit_checkpoint")
    execute(db, "DELETE FROM audit_tree_node")
    code, report = _cli(url, "audit", "verify")
    assert code == 0
    assert report["ok"] is True
    kept = str(tmp_path / "second.json")
    code, report = _cli(url, "audit", "verify", "--checkpoint", kept)
    assert code == 1
    assert report["first_bad_seq"] == 7
    assert "外部保存的检查点" in report["reason"]
    code, report = _cli(url, "audit", "verify", "--checkpoint", kept, "--public-key", key["verifier_key"])
    assert code == 1
    assert report["first_bad_seq"] == 7
    code, _ = _cli(url, "audit", "verify", "--checkpoint", str(tmp_path / "first.json"))
    assert code == 0  # the older checkpoint still holds: events 1–5 are intact
    stranger = "xinyidai/city-350100/audit+00000000+AQ" + "A" * 42 + "="
    code, report = _cli(url, "audit", "verify", "--checkpoint", kept, "--public-key", stranger)
    assert code == 2  # not a valid verifier key
    forged = json.loads((tmp_path / "second.json").read_text())
    forged.pop("note")
    forged["tree_size"] = 6
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    code, report = _cli(url, "audit", "verify", "--checkpoint", str(tmp_path / "forged.json"))
    assert code == 1
    assert "签名无效" in report["reason"]
