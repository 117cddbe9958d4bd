"""Settings: the one pydantic-settings class (prefix XINYIDAI_), built once in the composition root."""

from __future__ import annotations

import base64
from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Values that mark a secret as "not set for real"; refused outside development.
PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "secret",
        "dev-insecure-secret-key-do-not-use-in-production",
        "ZGV2LWluc2VjdXJlLWRhdGEta2V5LTMyLWJ5dGVzISE=",
    }
)


class Environment(StrEnum):
    """Where the platform runs; only development tolerates placeholder secrets."""

    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class DataCipher(StrEnum):
    """Ciphers for personal data at rest."""

    AES_256_GCM = "aes-256-gcm"
    SM4_GCM = "sm4-gcm"


class NodeLevel(StrEnum):
    """The node's place in the national network (全国一体化融资信用服务平台网络)."""

    CITY = "city"
    PROVINCE = "province"
    NATIONAL = "national"


class Settings(BaseSettings):
    """Every setting of the platform; each field's description is its documentation."""

    model_config = SettingsConfigDict(env_prefix="XINYIDAI_", env_file=None, extra="ignore")

    environment: Environment = Field(
        Environment.DEVELOPMENT,
        description="development, test or production; placeholder secrets are refused outside development.",
    )
    database_url: str = Field(
        "sqlite:///var/xinyidai.db",
        description="SQLAlchemy URL of the database: a SQLite file (embedded default) or postgresql+psycopg://… (production).",
    )
    node_id: str = Field(
        "city-350100",
        pattern=r"^[a-z]+-[0-9A-Za-z]{1,16}$",
        description=(
            "This node's identity in the platform network, '<level>-<region code>'; stamped on audit events and outbox messages."
        ),
    )
    node_level: NodeLevel = Field(NodeLevel.CITY, description="city, province or national node.")
    node_region_code: str = Field("350100", pattern=r"^\d{6}$", description="GB/T 2260 code of the region this node serves.")
    secret_key: SecretStr = Field(
        SecretStr("dev-insecure-secret-key-do-not-use-in-production"),
        description="Key that signs access tokens and session ids; at least 32 characters in production.",
    )
    data_key: SecretStr = Field(
        SecretStr("ZGV2LWluc2VjdXJlLWRhdGEta2V5LTMyLWJ5dGVzISE="),
        description="Base64 of the 32-byte AES-256-GCM key that encrypts personal data at rest.",
    )
    data_key_id: str = Field("k1", description="Identifier of data_key, written beside each ciphertext for rotation.")
    data_cipher: DataCipher = Field(
        DataCipher.AES_256_GCM,
        description="Cipher for new personal-data values: aes-256-gcm, or sm4-gcm where 国密 algorithms are required.",
    )
    data_keys_old: SecretStr = Field(
        SecretStr(""),
        description="Retired data keys, still read after a rotation: 'k1:<base64>,k2:<base64>' or a JSON object.",
    )
    data_digest_key: SecretStr | None = Field(
        None,
        description=(
            "Base64 secret for lookup digests of personal data; never rotates. Unset: derived from data_key — "
            "set it to the first data key's value before the first rotation."
        ),
    )
    audit_signing_key: SecretStr | None = Field(
        None,
        description="Ed25519 key (base64 seed or PKCS#8 PEM) that signs audit checkpoints; unset: derived from secret_key.",
    )
    audit_verify_keys_old: str = Field(
        "", description="Verifier keys of retired checkpoint signing keys, comma-separated, so old checkpoints still verify."
    )
    report_verify_rate_per_minute: int = Field(
        30,
        ge=0,
        description=(
            "Requests a minute one client IP may make to the public report verification (API and page), "
            "per server process (a token bucket); 0 turns the limit off."
        ),
    )
    report_verify_burst: int = Field(
        10, ge=1, description="Requests one client IP may make to the report verification at once before the rate applies."
    )
    audit_checkpoint_minutes: int = Field(10, ge=1, le=1440, description="How often a signed audit checkpoint is made.")
    consent_signing_algorithm: str = Field(
        "EdDSA",
        pattern=r"^(EdDSA|SM2SM3)$",
        description="Algorithm signing authorization artefacts: EdDSA (Ed25519) or SM2SM3 (国密 SM2 with SM3).",
    )
    consent_signing_key: SecretStr | None = Field(
        None,
        description=(
            "Base64 private key signing authorization artefacts ('xinyidai consent generate-key'); required in "
            "production, derived from secret_key elsewhere."
        ),
    )
    consent_verify_keys_old: str = Field(
        "", description="JSON list of public JWKs of retired artefact signing keys, still published so old artefacts verify."
    )
    access_token_minutes: int = Field(15, ge=1, le=120, description="Lifetime of OAuth2 client-credentials access tokens.")
    token_audience: str = Field("xinyidai-api", description="'aud' claim required in access tokens.")
    session_hours: int = Field(8, ge=1, le=72, description="Lifetime of a web login session.")
    cookie_secure: bool | None = Field(None, description="Mark cookies Secure (HTTPS only); default: on except in development.")
    login_max_failures: int = Field(5, ge=1, description="Failed logins per account within the window before throttling.")
    login_window_minutes: int = Field(15, ge=1, description="Window, in minutes, of the login throttle.")
    jobs_poll_seconds: float = Field(5.0, gt=0, description="How often the server's background worker looks for due jobs.")
    jobs_in_server: bool = Field(True, description="Run due jobs inside the web server process.")
    job_max_attempts: int = Field(5, ge=1, description="Attempts before a failing job is declared dead and reported.")
    max_upload_mb: int = Field(200, ge=1, description="Largest accepted upload, in MiB.")
    evaluation_snapshot_keep_days: int = Field(
        7,
        ge=1,
        description="Evaluation snapshots younger than this many days are kept; older ones nothing names are deleted daily.",
    )
    evaluation_snapshot_keep_runs: int = Field(
        3, ge=1, description="Snapshots of this many latest complete batch runs are kept whatever their age."
    )
    log_level: str = Field("INFO", description="Root log level (DEBUG, INFO, WARNING, ERROR).")
    log_json: bool = Field(True, description="Emit structured JSON logs (otherwise human-readable console logs).")
    host: str = Field("127.0.0.1", description="Address the server binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port the server listens on.")
    var_dir: Path = Field(Path("var"), description="Directory for the embedded database, demo data and reject files.")

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Self:
        if self.environment is Environment.DEVELOPMENT:
            return self
        for name in ("secret_key", "data_key"):
            value: SecretStr = getattr(self, name)
            if value.get_secret_value() in PLACEHOLDER_SECRETS:
                raise ValueError(f"XINYIDAI_{name.upper()} must be set to a real secret outside development")
        if len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("XINYIDAI_SECRET_KEY must be at least 32 characters outside development")
        return self

    @model_validator(mode="after")
    def _check_data_key(self) -> Self:
        try:
            raw = base64.b64decode(self.data_key.get_secret_value(), validate=True)
        except ValueError as exc:
            raise ValueError("XINYIDAI_DATA_KEY must be base64") from exc
        if len(raw) != 32:
            raise ValueError("XINYIDAI_DATA_KEY must decode to 32 bytes (AES-256)")
        return self

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies carry the Secure flag."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.environment is not Environment.DEVELOPMENT

    @property
    def data_key_bytes(self) -> bytes:
        """The decoded AES-256 key."""
        return base64.b64decode(self.data_key.get_secret_value())
