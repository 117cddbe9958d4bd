"""Encrypted columns of the consent tables, for personal-data key rotation (`xinyidai keys rotate-pii`)."""

from __future__ import annotations

from xinyidai.consent.service import SECRET_CONTEXT
from xinyidai.kernel.pii import EncryptedColumn

#: The institutions' webhook secrets (HMAC keys of the status pushes), encrypted with `container.cipher`.
ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    EncryptedColumn("consent_endpoint", "institution_id", "secret_enc", SECRET_CONTEXT),
)
