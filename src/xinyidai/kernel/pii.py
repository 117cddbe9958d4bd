"""Personal data: authenticated encryption at rest (AES-256-GCM, or SM4-GCM where 国密 is required) with
rotatable keys, keyed digests for lookup, masking for display.

A ciphertext reads `<version>:<key id>:<base64(nonce || ciphertext || tag)>`. The version names the
algorithm — `v1` is AES-256-GCM (every value written before SM4 existed), `sm4gcm1` is SM4-GCM — and the
key id names the key, so a value stays readable after the platform moves to another key or algorithm as
long as its key is among `old_keys`. The context (table and column) is bound as associated data: a
value copied into another column does not decrypt. See ADR 0011.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12
_TAG_BYTES = 16
_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class CipherSuite(StrEnum):
    """The algorithm that encrypts new values."""

    AES_256_GCM = "aes-256-gcm"
    SM4_GCM = "sm4-gcm"


#: Ciphertext version tag of each suite (the first field of a stored value).
VERSION_TAGS: Mapping[CipherSuite, str] = {CipherSuite.AES_256_GCM: "v1", CipherSuite.SM4_GCM: "sm4gcm1"}
_SUITE_OF_TAG = {tag: suite for suite, tag in VERSION_TAGS.items()}


class PiiError(ValueError):
    """A personal-data value or key that cannot be used."""


class UnknownKey(PiiError):
    """The value was written under a key id this cipher does not hold (add it to the old keys)."""


class DecryptionFailed(PiiError):
    """Wrong key, wrong context, or a value that was altered."""


def _sm4_key(key: bytes) -> bytes:
    # SM4 takes 128-bit keys; derive one from the 256-bit data key with HKDF over SM3, staying within 国密.
    return HKDF(algorithm=hashes.SM3(), length=16, salt=None, info=b"xinyidai pii sm4-gcm").derive(key)


def _sm4_seal(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    return encryptor.update(plaintext) + encryptor.finalize() + encryptor.tag


def _sm4_open(key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < _TAG_BYTES:
        raise InvalidTag()
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, sealed[-_TAG_BYTES:])).decryptor()
    decryptor.authenticate_additional_data(aad)
    return decryptor.update(sealed[:-_TAG_BYTES]) + decryptor.finalize()


def sm4_gcm_available() -> bool:
    """Whether the OpenSSL under `cryptography` offers SM4-GCM."""
    try:
        _sm4_seal(b"\0" * 16, b"\0" * _NONCE_BYTES, b"", b"")
    except UnsupportedAlgorithm:
        return False
    return True


class PiiCipher:
    """Encrypts personal data (ID numbers, phones); reads values written under any key it holds.

    `key`/`key_id` encrypt new values with `suite`; `old_keys` (id → 32-byte key) are for reading only.
    Lookup digests are HMAC-SHA256 under a key derived from `digest_key` — a secret that must not change
    when data keys rotate. Without it the digest key is derived from `key`, as before rotation existed;
    set `digest_key` to the first data key's bytes before rotating and every stored digest stays valid.
    """

    #: Version tag of AES-256-GCM values (kept for callers that read it).
    VERSION = "v1"

    def __init__(
        self,
        *,
        key: bytes,
        key_id: str,
        old_keys: Mapping[str, bytes] | None = None,
        suite: CipherSuite | str = CipherSuite.AES_256_GCM,
        digest_key: bytes | None = None,
    ) -> None:
        keys = {**(old_keys or {})}
        if key_id in keys and keys[key_id] != key:
            raise ValueError(f"key id {key_id!r} names two different keys")
        keys[key_id] = key
        for kid, value in keys.items():
            if not _KEY_ID.match(kid):
                raise ValueError(f"bad key id {kid!r}: letters, digits, '_', '.', '-' (at most 32)")
            if len(value) != 32:
                raise ValueError(f"data key {kid!r} must be 32 bytes (AES-256)")
        self._suite = CipherSuite(suite)
        if self._suite is CipherSuite.SM4_GCM and not sm4_gcm_available():
            raise ValueError("SM4-GCM is not available in this OpenSSL build")
        self._key_id = key_id
        self._keys = keys
        self._sm4_keys: dict[str, bytes] = {}
        self._digest_pinned = digest_key is not None
        # The lookup digest uses a key derived from, not equal to, the secret.
        self._digest_key = hmac.new(
            digest_key if digest_key is not None else key, b"xinyidai-pii-digest", hashlib.sha256
        ).digest()

    @property
    def key_id(self) -> str:
        """Id of the key new values are written under."""
        return self._key_id

    @property
    def suite(self) -> CipherSuite:
        """Algorithm new values are written with."""
        return self._suite

    @property
    def header(self) -> str:
        """`<version>:<key id>:` — the prefix of every value this cipher writes now."""
        return f"{VERSION_TAGS[self._suite]}:{self._key_id}:"

    @property
    def digest_pinned(self) -> bool:
        """Whether digests come from a dedicated secret (so they survive rotating the data key)."""
        return self._digest_pinned

    def key_ids(self) -> list[str]:
        """Every key id this cipher can read."""
        return sorted(self._keys)

    def _sm4(self, key_id: str) -> bytes:
        if key_id not in self._sm4_keys:
            self._sm4_keys[key_id] = _sm4_key(self._keys[key_id])
        return self._sm4_keys[key_id]

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """Encrypt; `context` (e.g. the table and column) is bound as associated data."""
        nonce = os.urandom(_NONCE_BYTES)
        aad = context.encode()
        if self._suite is CipherSuite.SM4_GCM:
            sealed = _sm4_seal(self._sm4(self._key_id), nonce, plaintext.encode(), aad)
        else:
            sealed = AESGCM(self._keys[self._key_id]).encrypt(nonce, plaintext.encode(), aad)
        return f"{self.header}{base64.b64encode(nonce + sealed).decode()}"

    def encrypt_many(self, plaintexts: Sequence[str | None], *, context: str) -> list[str | None]:
        """``encrypt`` over many values (None stays None): one cipher object and one draw of random nonces
        for the whole list, so a bulk write pays the key schedule once instead of once per value."""
        count = len(plaintexts)
        if count == 0:
            return []
        nonces = os.urandom(_NONCE_BYTES * count)
        aad = context.encode()
        header = self.header
        b64 = base64.b64encode
        if self._suite is CipherSuite.SM4_GCM:
            key = self._sm4(self._key_id)

            def seal(nonce: bytes, data: bytes) -> bytes:
                return _sm4_seal(key, nonce, data, aad)

        else:
            aead = AESGCM(self._keys[self._key_id])

            def seal(nonce: bytes, data: bytes) -> bytes:
                return aead.encrypt(nonce, data, aad)

        out: list[str | None] = []
        append = out.append
        for position, text in enumerate(plaintexts):
            if text is None:
                append(None)
                continue
            nonce = nonces[position * _NONCE_BYTES : (position + 1) * _NONCE_BYTES]
            append(header + b64(nonce + seal(nonce, text.encode())).decode())
        return out

    def decrypt(self, token: str, *, context: str) -> str:
        """Decrypt a value written by `encrypt` under any key and suite this cipher knows."""
        suite, key_id, body = parse_token(token)
        if key_id not in self._keys:
            raise UnknownKey(f"unknown data key id {key_id!r}; add it to the old keys")
        try:
            raw = base64.b64decode(body, validate=True)
        except binascii.Error as exc:
            raise DecryptionFailed("ciphertext is not base64") from exc
        nonce, sealed, aad = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode()
        try:
            if suite is CipherSuite.SM4_GCM:
                plain = _sm4_open(self._sm4(key_id), nonce, sealed, aad)
            else:
                plain = AESGCM(self._keys[key_id]).decrypt(nonce, sealed, aad)
        except (InvalidTag, ValueError) as exc:
            raise DecryptionFailed("wrong key or context, or the value was altered") from exc
        return plain.decode()

    def is_current(self, token: str) -> bool:
        """Whether a value is already under the current key and suite (rotation leaves it alone)."""
        return token.startswith(self.header)

    def digest(self, plaintext: str) -> str:
        """A keyed digest to find a record by its personal value without storing it in clear."""
        return hmac.new(self._digest_key, plaintext.strip().upper().encode(), hashlib.sha256).hexdigest()


def parse_token(token: str) -> tuple[CipherSuite, str, str]:
    """(suite, key id, base64 body) of a stored value."""
    parts = token.split(":", 2)
    if len(parts) != 3:
        raise PiiError("not an encrypted value")
    tag, key_id, body = parts
    suite = _SUITE_OF_TAG.get(tag)
    if suite is None:
        raise PiiError(f"unknown ciphertext version {tag!r}")
    return suite, key_id, body


def parse_key_ring(text: str | None) -> dict[str, bytes]:
    """Retired data keys from a setting: a JSON object `{"k1": "<base64>"}` or `k1:<base64>,k2:<base64>`."""
    if not text or not text.strip():
        return {}
    text = text.strip()
    pairs: list[tuple[str, str]]
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError("old data keys: invalid JSON") from exc
        if not isinstance(loaded, dict):
            raise ValueError("old data keys: expected a JSON object of key id → base64 key")
        pairs = [(str(k), str(v)) for k, v in loaded.items()]
    else:
        pairs = []
        for part in re.split(r"[,\n]", text):
            if part.strip():
                kid, sep, value = part.strip().partition(":")
                if not sep:
                    raise ValueError("old data keys: write each as <key id>:<base64 key>")
                pairs.append((kid.strip(), value.strip()))
    ring: dict[str, bytes] = {}
    for kid, value in pairs:
        try:
            raw = base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"old data key {kid!r} is not base64") from exc
        if len(raw) != 32 or not _KEY_ID.match(kid):
            raise ValueError(f"old data key {kid!r} must be a valid id with a 32-byte key")
        ring[kid] = raw
    return ring


def _secret_text(value: object) -> str | None:
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    text = str(getter() if callable(getter) else value)
    return text or None


def cipher_from_settings(settings: object) -> PiiCipher:
    """The cipher from settings: `data_key`/`data_key_id`, and — read with defaults until the Settings
    class declares them — `data_keys_old` (retired keys), `data_cipher` (suite) and `data_digest_key`."""
    digest = _secret_text(getattr(settings, "data_digest_key", None))
    return PiiCipher(
        key=base64.b64decode(str(_secret_text(getattr(settings, "data_key", None)))),
        key_id=str(getattr(settings, "data_key_id", "k1")),
        old_keys=parse_key_ring(_secret_text(getattr(settings, "data_keys_old", None))),
        suite=str(getattr(settings, "data_cipher", CipherSuite.AES_256_GCM)),
        digest_key=base64.b64decode(digest) if digest else None,
    )


@dataclass(frozen=True, slots=True)
class EncryptedColumn:
    """A column that holds `PiiCipher` values, declared by the domain that owns the table.

    `context` is the associated data its values were encrypted with; `digest_column`, when the table keeps
    a lookup digest of the same value, lets rotation prove the digests stay valid.
    """

    table: str
    id_column: str
    column: str
    context: str
    digest_column: str | None = None

    def __post_init__(self) -> None:
        for name in (self.table, self.id_column, self.column, *([self.digest_column] if self.digest_column else [])):
            if not _IDENTIFIER.match(name):
                raise ValueError(f"bad SQL identifier {name!r}")

    @property
    def name(self) -> str:
        """`table.column`."""
        return f"{self.table}.{self.column}"


def mask_id_number(value: str | None) -> str:
    """Mask a personal ID number for display: first 6 and last 4 kept, e.g. 350102********123X."""
    if not value:
        return ""
    text = value.strip()
    if len(text) <= 8:
        return "*" * len(text)
    keep_head = 6 if len(text) >= 15 else 2
    return text[:keep_head] + "*" * (len(text) - keep_head - 4) + text[-4:]


def mask_phone(value: str | None) -> str:
    """Mask a phone number for display: 138****5678."""
    if not value:
        return ""
    text = value.strip()
    if len(text) < 7:
        return "*" * len(text)
    return text[:3] + "*" * (len(text) - 7) + text[-4:]


def mask_name(value: str | None) -> str:
    """Mask a natural person's name for public display: 张*, 欧阳**."""
    if not value:
        return ""
    return value[0] + "*" * (len(value) - 1) if len(value) > 1 else value
