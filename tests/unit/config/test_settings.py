"""Settings: documented, refuse placeholder secrets outside development, never read at import."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from xinyidai.config import Settings

REAL_KEY = base64.b64encode(b"k" * 32).decode()
REAL_SECRET = "s" * 40


def test_every_setting_has_a_description_and_is_in_the_docs() -> None:
    docs = (Path(__file__).parents[3] / "docs" / "configuration.md").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"
        assert f"XINYIDAI_{name.upper()}" in docs, f"XINYIDAI_{name.upper()} missing from docs/configuration.md"


def test_development_accepts_the_shipped_placeholders() -> None:
    s = Settings(environment="development")
    assert s.environment == "development"
    assert not s.secure_cookies


@pytest.mark.parametrize("environment", ["test", "production"])
def test_placeholder_secrets_are_refused_outside_development(environment: str) -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment=environment, data_key=REAL_KEY)
    with pytest.raises(ValidationError, match="DATA_KEY"):
        Settings(environment=environment, secret_key=REAL_SECRET)
    s = Settings(environment=environment, secret_key=REAL_SECRET, data_key=REAL_KEY)
    assert s.secure_cookies


def test_short_secret_and_bad_data_key_are_refused() -> None:
    with pytest.raises(ValidationError, match="32 characters"):
        Settings(environment="production", secret_key="short-but-not-placeholder", data_key=REAL_KEY)
    with pytest.raises(ValidationError, match="32 bytes"):
        Settings(data_key=base64.b64encode(b"x" * 16).decode())


def test_environment_variables_use_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINYIDAI_PORT", "9001")
    monkeypatch.setenv("XINYIDAI_NODE_ID", "province-350000")
    s = Settings()
    assert s.port == 9001
    assert s.node_id == "province-350000"


def test_no_module_reads_settings_at_import_time() -> None:
    src = Path(__file__).parents[3] / "src" / "xinyidai"
    offenders = [
        str(p.relative_to(src))
        for p in src.rglob("*.py")
        if re.search(r"^\S.*\bSettings\(\)", p.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert offenders == []
