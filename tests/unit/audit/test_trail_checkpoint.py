"""Signed checkpoints: the C2SP note format, Ed25519 signatures that fail on any changed byte, trusted keys."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from xinyidai.audit.checkpoint import (
    Checkpoint,
    CheckpointFormatError,
    CheckpointSigner,
    TrailKeys,
    VerifierKey,
    checkpoint_body,
    keys_from_settings,
    origin_for,
    sign_checkpoint,
    verify_checkpoint,
)

ORIGIN = origin_for("city-350100")
SIGNER = CheckpointSigner.from_seed(bytes(range(32)), name=ORIGIN)
AT = datetime(2026, 6, 30, 2, 0, 0, 123456, tzinfo=UTC)
ROOT = hashlib.sha256(b"root").digest()


def _checkpoint(size: int = 42) -> Checkpoint:
    return sign_checkpoint(SIGNER, origin=ORIGIN, tree_size=size, root_hash=ROOT, timestamp=AT)


def test_the_body_is_a_c2sp_checkpoint_and_the_note_carries_a_signed_note_signature() -> None:
    cp = _checkpoint()
    assert cp.body().decode() == (
        f"xinyidai/city-350100/audit\n42\n{base64.b64encode(ROOT).decode()}\ntimestamp 2026-06-30T02:00:00.123456Z\n"
    )
    text, sig_line = cp.note().split("\n\n")
    assert text + "\n" == cp.body().decode()
    dash, name, sig = sig_line.rstrip("\n").split(" ")
    assert dash == "\u2014"
    assert name == ORIGIN
    raw = base64.b64decode(sig)
    pub = SIGNER.verifier.public_key
    assert raw[:4] == hashlib.sha256(ORIGIN.encode() + b"\n\x01" + pub).digest()[:4]
    Ed25519PublicKey.from_public_bytes(pub).verify(raw[4:], cp.body())  # raises if not a plain RFC 8032 signature
    assert cp.node_id == "city-350100"


def test_a_checkpoint_verifies_with_the_signer_key_only() -> None:
    cp = _checkpoint()
    assert verify_checkpoint(cp, [SIGNER.verifier])
    other = CheckpointSigner.from_seed(b"\x07" * 32, name=ORIGIN)
    assert not verify_checkpoint(cp, [other.verifier])
    assert not verify_checkpoint(cp, [])


@given(data=st.data())
def test_any_changed_byte_of_the_signed_text_or_signature_fails(data: st.DataObject) -> None:
    cp = _checkpoint()
    body = bytearray(cp.body())
    i = data.draw(st.integers(0, len(body) - 1))
    body[i] ^= data.draw(st.integers(1, 255))
    assert not SIGNER.verifier.verify(bytes(body), cp.signature)
    sig = bytearray(cp.signature)
    j = data.draw(st.integers(0, len(sig) - 1))
    sig[j] ^= data.draw(st.integers(1, 255))
    assert not SIGNER.verifier.verify(cp.body(), bytes(sig))


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": 43},
        {"root_hash": hashlib.sha256(b"other").digest()},
        {"timestamp": datetime(2026, 6, 30, 2, 0, 1, tzinfo=UTC)},
        {"origin": origin_for("city-350200")},
    ],
)
def test_changing_any_signed_field_breaks_the_signature(change: dict[str, object]) -> None:
    import dataclasses

    forged = dataclasses.replace(_checkpoint(), **change)  # type: ignore[arg-type]
    assert not verify_checkpoint(forged, [SIGNER.verifier])


def test_json_round_trip_and_tampered_note_is_refused() -> None:
    cp = _checkpoint()
    assert Checkpoint.from_json(cp.to_json()) == cp
    bad = cp.to_json() | {"note": cp.note().replace("\n42\n", "\n41\n")}
    with pytest.raises(CheckpointFormatError, match="note differs"):
        Checkpoint.from_json(bad)
    with pytest.raises(CheckpointFormatError):
        Checkpoint.from_json({"tree_size": 1})


def test_verifier_keys_round_trip_and_reject_a_wrong_id() -> None:
    key = SIGNER.verifier
    assert VerifierKey.parse(key.encode()) == key
    name, _key_id, b64 = key.encode().split("+", 2)
    with pytest.raises(CheckpointFormatError, match="does not match"):
        VerifierKey.parse(f"{name}+00000000+{b64}")
    with pytest.raises(CheckpointFormatError):
        VerifierKey.parse("nonsense")
    assert "BEGIN PUBLIC KEY" in key.pem()


def test_keys_come_from_settings_or_are_derived_from_the_secret_key() -> None:
    derived = keys_from_settings(SimpleNamespace(node_id="city-350100", secret_key=SecretStr("s" * 40)))
    again = keys_from_settings(SimpleNamespace(node_id="city-350100", secret_key=SecretStr("s" * 40)))
    assert derived.signer.verifier == again.signer.verifier  # every process of a node agrees
    seed = base64.b64encode(bytes(range(32))).decode()
    retired = derived.signer.verifier.encode()
    configured = keys_from_settings(
        SimpleNamespace(
            node_id="city-350100",
            secret_key=SecretStr("s" * 40),
            audit_signing_key=SecretStr(seed),
            audit_verify_keys_old=retired,
        )
    )
    assert configured.signer.verifier == SIGNER.verifier
    assert configured.trusted == (SIGNER.verifier, derived.signer.verifier)
    old = sign_checkpoint(derived.signer, origin=ORIGIN, tree_size=1, root_hash=ROOT, timestamp=AT)
    assert verify_checkpoint(old, configured.trusted)  # older checkpoints stay verifiable after key rotation
    assert TrailKeys(SIGNER).find(ORIGIN, SIGNER.verifier.key_id) == SIGNER.verifier


def test_pem_private_keys_are_accepted() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = (
        Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    assert CheckpointSigner.from_text(pem, name=ORIGIN).verifier == SIGNER.verifier
    with pytest.raises(CheckpointFormatError):
        CheckpointSigner.from_text("not base64!", name=ORIGIN)


def test_bad_origins_are_refused() -> None:
    with pytest.raises(ValueError, match="bad origin"):
        checkpoint_body("has space", 1, ROOT, AT)
