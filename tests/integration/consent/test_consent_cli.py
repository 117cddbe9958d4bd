"""`xinyidai consent …`: keys, offline verification, key generation and expiry from the command line."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import TEST_DATA_KEY, TEST_SECRET
from xinyidai.cli import app
from xinyidai.cli.root import settings
from xinyidai.consent import ARTEFACT_TYPE, Keyring, SigningAlgorithm, key_from_private

runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XINYIDAI_ENVIRONMENT", "test")
    monkeypatch.setenv("XINYIDAI_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("XINYIDAI_DATA_KEY", TEST_DATA_KEY)
    monkeypatch.setenv("XINYIDAI_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    settings.cache_clear()
    yield tmp_path
    settings.cache_clear()


@pytest.mark.parametrize("algorithm", list(SigningAlgorithm), ids=lambda a: a.value)
def test_generate_key_then_verify_offline_with_a_saved_key_set(cli_env: Path, algorithm: SigningAlgorithm) -> None:
    generated = runner.invoke(app, ["consent", "generate-key", "--algorithm", algorithm.value])
    assert generated.exit_code == 0, generated.output
    doc = json.loads(generated.stdout)
    key = key_from_private(algorithm, base64.b64decode(doc["private_key"]))
    keyring = Keyring(key)
    assert doc["public_jwk"]["kid"] == keyring.kid
    token = keyring.sign({"jti": "x", "sub": "91350100M000100Y43"}, typ=ARTEFACT_TYPE)
    saved = cli_env / "keys.json"
    saved.write_text(json.dumps({"keys": [doc["public_jwk"]]}), encoding="utf-8")
    ok = runner.invoke(app, ["consent", "verify", token, "--keys", str(saved)])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["claims"]["sub"] == "91350100M000100Y43"
    head, body, sig = token.split(".")
    tampered = f"{head}.{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{sig}"
    bad = runner.invoke(app, ["consent", "verify", tampered, "--keys", str(saved)])
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["valid"] is False


def test_keys_and_expire_use_this_nodes_settings(cli_env: Path) -> None:
    keys = runner.invoke(app, ["consent", "keys"])
    assert keys.exit_code == 0, keys.output
    assert json.loads(keys.stdout)["keys"][0]["alg"] == "EdDSA"
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    expire = runner.invoke(app, ["consent", "expire"])
    assert expire.exit_code == 0, expire.output
    assert json.loads(expire.stdout) == {"expired": 0}
    assert runner.invoke(app, ["consent", "generate-key", "--algorithm", "RS256"]).exit_code == 2
