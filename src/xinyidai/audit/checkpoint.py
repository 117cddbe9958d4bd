"""Signed checkpoints of the audit tree: the C2SP tlog-checkpoint text, Ed25519 signed-note signatures, keys.

A checkpoint (signed tree head) states "the audit log of node N had `tree_size` events with Merkle root R
at time T", signed by the platform. Its text is a C2SP checkpoint (c2sp.org/tlog-checkpoint), so that
generic transparency-log tooling can read it:

    xinyidai/city-350100/audit          ← origin: the log's identity, naming the node
    1234                                ← tree size
    q0Y7…=                              ← base64 of the RFC 6962 root hash
    timestamp 2026-06-30T02:00:00.000000Z

and the signature is a C2SP signed-note Ed25519 signature over that text: key id = the first four bytes
of SHA-256(key name || 0x0A || 0x01 || public key). Pure: no database, no clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

#: Signature type byte of Ed25519 in C2SP signed notes.
ED25519_TYPE = b"\x01"
_HKDF_INFO = b"xinyidai audit checkpoint ed25519 v1"


class CheckpointFormatError(ValueError):
    """A checkpoint or key that cannot be parsed."""


def origin_for(node_id: str) -> str:
    """The log identity of a node; also the name of its signing key."""
    return f"xinyidai/{node_id}/audit"


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("checkpoint time must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_timestamp(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise CheckpointFormatError(f"bad checkpoint timestamp {text!r}") from exc


def key_id_for(name: str, public_key: bytes) -> bytes:
    """The 4-byte signed-note key id of an Ed25519 key."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519_TYPE + public_key).digest()[:4]


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A public key trusted to sign checkpoints, identified like a signed-note verifier key."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() or c == "+" for c in self.name):
            raise CheckpointFormatError(f"bad key name {self.name!r}")
        if len(self.public_key) != 32:
            raise CheckpointFormatError("an Ed25519 public key has 32 bytes")

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id."""
        return key_id_for(self.name, self.public_key)

    def encode(self) -> str:
        """`<name>+<key id hex>+<base64(0x01 || public key)>`, the signed-note verifier key string."""
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(ED25519_TYPE + self.public_key).decode()}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Read a verifier key string (as `encode` writes it); the key id must match."""
        try:
            name, hex_id, b64 = text.strip().split("+", 2)
            raw = base64.b64decode(b64, validate=True)
            key_id = bytes.fromhex(hex_id)
        except (ValueError, binascii.Error) as exc:
            raise CheckpointFormatError("verifier key must read <name>+<hex id>+<base64 key>") from exc
        if raw[:1] != ED25519_TYPE:
            raise CheckpointFormatError("only Ed25519 verifier keys (type 0x01) are supported")
        key = cls(name, raw[1:])
        if key.key_id != key_id:
            raise CheckpointFormatError("verifier key id does not match its name and key")
        return key

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether `signature` is this key's Ed25519 signature of `message`."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def pem(self) -> str:
        """The public key as SubjectPublicKeyInfo PEM."""
        return (
            Ed25519PublicKey.from_public_bytes(self.public_key)
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )


class CheckpointSigner:
    """The platform's Ed25519 checkpoint key."""

    def __init__(self, private_key: Ed25519PrivateKey, *, name: str) -> None:
        self._key = private_key
        raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.verifier = VerifierKey(name, raw)

    @classmethod
    def from_seed(cls, seed: bytes, *, name: str) -> CheckpointSigner:
        """From the 32-byte private key (RFC 8032 seed)."""
        if len(seed) != 32:
            raise CheckpointFormatError("an Ed25519 private key seed has 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(seed), name=name)

    @classmethod
    def from_text(cls, text: str, *, name: str) -> CheckpointSigner:
        """From base64 of the 32-byte seed, or an unencrypted PKCS#8 PEM Ed25519 private key."""
        text = text.strip()
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise CheckpointFormatError("the checkpoint signing key must be Ed25519")
            return cls(key, name=name)
        try:
            seed = base64.b64decode(text, validate=True)
        except binascii.Error as exc:
            raise CheckpointFormatError("checkpoint signing key must be base64 of 32 bytes or a PEM key") from exc
        return cls.from_seed(seed, name=name)

    @classmethod
    def derived(cls, secret: str, *, name: str) -> CheckpointSigner:
        """A key derived from another secret (HKDF-SHA256, own label) when none is configured."""
        seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"xinyidai", info=_HKDF_INFO).derive(secret.encode())
        return cls.from_seed(seed, name=name)

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature of `message`."""
        return self._key.sign(message)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed tree head: the log of `origin` had `tree_size` events with Merkle root `root_hash` at `timestamp`."""

    origin: str
    tree_size: int
    root_hash: bytes
    timestamp: datetime
    key_name: str
    key_id: bytes
    signature: bytes

    @property
    def node_id(self) -> str:
        """The node named in the origin."""
        parts = self.origin.split("/")
        return parts[1] if len(parts) == 3 and parts[0] == "xinyidai" else self.origin

    def body(self) -> bytes:
        """The exact text that is signed."""
        return checkpoint_body(self.origin, self.tree_size, self.root_hash, self.timestamp)

    def note(self) -> str:
        """The C2SP signed note: the body, a blank line and the signature line."""
        sig = base64.b64encode(self.key_id + self.signature).decode()
        return f"{self.body().decode()}\n\u2014 {self.key_name} {sig}\n"

    def to_json(self) -> dict[str, Any]:
        """The checkpoint as published (`GET /api/v1/audit/checkpoints/…`) and kept by outsiders."""
        return {
            "origin": self.origin,
            "node_id": self.node_id,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp": _timestamp(self.timestamp),
            "key_name": self.key_name,
            "key_id": self.key_id.hex(),
            "signature": base64.b64encode(self.signature).decode(),
            "note": self.note(),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Checkpoint:
        """Read what `to_json` wrote; if a `note` is present it must be this checkpoint's note."""
        try:
            cp = cls(
                origin=str(obj["origin"]),
                tree_size=int(obj["tree_size"]),
                root_hash=bytes.fromhex(str(obj["root_hash"])),
                timestamp=_parse_timestamp(str(obj["timestamp"])),
                key_name=str(obj["key_name"]),
                key_id=bytes.fromhex(str(obj["key_id"])),
                signature=base64.b64decode(str(obj["signature"]), validate=True),
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise CheckpointFormatError(f"not a checkpoint: {exc}") from exc
        if len(cp.root_hash) != 32 or len(cp.key_id) != 4 or cp.tree_size < 0:
            raise CheckpointFormatError("not a checkpoint: bad root hash, key id or size")
        if "note" in obj and obj["note"] != cp.note():
            raise CheckpointFormatError("the checkpoint's note differs from its fields")
        return cp


def checkpoint_body(origin: str, tree_size: int, root_hash: bytes, timestamp: datetime) -> bytes:
    """The C2SP checkpoint text: origin, size, base64 root, and a timestamp extension line."""
    if not origin or any(c.isspace() or c == "+" for c in origin):
        raise ValueError(f"bad origin {origin!r}")
    root = base64.b64encode(root_hash).decode()
    return f"{origin}\n{tree_size}\n{root}\ntimestamp {_timestamp(timestamp)}\n".encode()


def sign_checkpoint(
    signer: CheckpointSigner, *, origin: str, tree_size: int, root_hash: bytes, timestamp: datetime
) -> Checkpoint:
    """Sign a tree head."""
    body = checkpoint_body(origin, tree_size, root_hash, timestamp)
    key = signer.verifier
    return Checkpoint(origin, tree_size, root_hash, timestamp, key.name, key.key_id, signer.sign(body))


@dataclass(frozen=True, slots=True)
class TrailKeys:
    """The key that signs new checkpoints and every key trusted to have signed older ones."""

    signer: CheckpointSigner
    retired: tuple[VerifierKey, ...] = ()

    @property
    def trusted(self) -> tuple[VerifierKey, ...]:
        """The current key first, then retired ones."""
        return (self.signer.verifier, *self.retired)

    def find(self, name: str, key_id: bytes) -> VerifierKey | None:
        """The trusted key with this name and id (both must match, as signed notes require)."""
        return next((k for k in self.trusted if k.name == name and k.key_id == key_id), None)


def verify_checkpoint(checkpoint: Checkpoint, keys: Iterable[VerifierKey]) -> bool:
    """Whether a trusted key with the checkpoint's name and id signed exactly its body."""
    key = next((k for k in keys if k.name == checkpoint.key_name and k.key_id == checkpoint.key_id), None)
    return key is not None and key.verify(checkpoint.body(), checkpoint.signature)


def keys_from_settings(settings: object) -> TrailKeys:
    """The checkpoint keys from settings.

    `audit_signing_key` (base64 seed or PEM) is the key; without it, one is derived from `secret_key`
    so that every process of a node agrees. `audit_verify_keys_old` lists retired verifier keys,
    comma- or newline-separated. Both are read with defaults until the Settings class declares them.
    """
    node_id = str(getattr(settings, "node_id", "unknown"))
    name = origin_for(node_id)
    configured = _secret(getattr(settings, "audit_signing_key", None))
    if configured:
        signer = CheckpointSigner.from_text(configured, name=name)
    else:
        signer = CheckpointSigner.derived(_secret(getattr(settings, "secret_key", None)) or "", name=name)
    retired_text = _secret(getattr(settings, "audit_verify_keys_old", None)) or ""
    retired = tuple(VerifierKey.parse(part) for part in retired_text.replace("\n", ",").split(",") if part.strip())
    return TrailKeys(signer, retired)


def _secret(value: object) -> str | None:
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if callable(getter) else value)
