"""Personal data: AES-256-GCM encryption at rest, keyed digests for lookup, masking for display."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class PiiCipher:
    """Encrypts personal data (ID numbers, phones) with AES-256-GCM; the key id travels with each ciphertext."""

    VERSION = "v1"

    def __init__(self, *, key: bytes, key_id: str, old_keys: dict[str, bytes] | None = None) -> None:
        if len(key) != 32:
            raise ValueError("AES-256 needs a 32-byte key")
        self._key_id = key_id
        self._keys = {**(old_keys or {}), key_id: key}
        # The lookup digest uses a key derived from, not equal to, the encryption key.
        self._digest_key = hmac.new(key, b"xinyidai-pii-digest", hashlib.sha256).digest()

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """Encrypt; `context` (e.g. the table and column) is bound as associated data."""
        nonce = os.urandom(12)
        sealed = AESGCM(self._keys[self._key_id]).encrypt(nonce, plaintext.encode(), context.encode())
        return f"{self.VERSION}:{self._key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, *, context: str) -> str:
        """Decrypt a value written by `encrypt` under any known key."""
        version, key_id, body = token.split(":", 2)
        if version != self.VERSION:
            raise ValueError(f"unknown ciphertext version {version!r}")
        raw = base64.b64decode(body)
        return AESGCM(self._keys[key_id]).decrypt(raw[:12], raw[12:], context.encode()).decode()

    def digest(self, plaintext: str) -> str:
        """A keyed digest to find a record by its personal value without storing it in clear."""
        return hmac.new(self._digest_key, plaintext.strip().upper().encode(), hashlib.sha256).hexdigest()


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
