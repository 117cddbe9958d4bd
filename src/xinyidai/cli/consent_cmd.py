"""`xinyidai consent …`: the published keys, offline verification of artefacts, signing-key generation, expiry."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import typer

from xinyidai.cli.root import emit, settings

consent_app = typer.Typer(help="Authorizations (授权): keys, verification, expiry.", no_args_is_help=True)


@consent_app.command("keys")
def keys() -> None:
    """Print this node's public key set (the document GET /api/v1/consent/keys serves)."""
    from xinyidai import consent

    emit(consent.keyring_from_settings(settings()).jwks())


@consent_app.command("verify")
def verify(
    token: str = typer.Argument(..., help="The artefact (compact JWS); '-' reads it from standard input."),
    keys_file: Path | None = typer.Option(None, "--keys", help="A saved key set (JSON); default: this node's keys."),
) -> None:
    """Verify an artefact offline; print its claims, exit 1 when the signature does not hold."""
    from xinyidai import consent

    text = sys.stdin.read().strip() if token == "-" else token  # noqa: S105 - "-" means standard input
    jwks = json.loads(keys_file.read_text(encoding="utf-8")) if keys_file else consent.keyring_from_settings(settings()).jwks()
    try:
        verified = consent.verify_jws(text, jwks)
    except consent.SignatureInvalid as exc:
        emit({"valid": False, "reason": exc.detail})
        raise typer.Exit(code=1) from None
    emit({"valid": True, "kid": verified.header.get("kid"), "alg": verified.header.get("alg"), "claims": verified.payload})


@consent_app.command("generate-key")
def generate_key(
    algorithm: str = typer.Option("EdDSA", help="EdDSA (Ed25519) or SM2SM3 (国密 SM2 with SM3)."),
) -> None:
    """Print a new signing key for XINYIDAI_CONSENT_SIGNING_KEY (keep it secret) and its public JWK."""
    from xinyidai import consent

    try:
        chosen = consent.SigningAlgorithm(algorithm)
    except ValueError:
        emit({"error": f"unknown algorithm {algorithm!r}", "choices": [a.value for a in consent.SigningAlgorithm]})
        raise typer.Exit(code=2) from None
    key = consent.generate_key(chosen)
    keyring = consent.Keyring(key)
    emit(
        {
            "algorithm": chosen.value,
            "private_key": base64.b64encode(key.private_bytes()).decode("ascii"),
            "public_jwk": keyring.jwks()["keys"][0],
        }
    )


@consent_app.command("expire")
def expire() -> None:
    """Record the expiry of every authorization past its time (what the periodic job does); print how many."""
    from xinyidai import consent
    from xinyidai.app import build_container

    container = build_container(settings())
    expired = consent.expire_due(container.db, clock=container.clock, keyring=consent.keyring_for(container))
    emit({"expired": expired})
    container.db.dispose()


def register(app: typer.Typer) -> None:
    """Attach the commands."""
    app.add_typer(consent_app, name="consent")
