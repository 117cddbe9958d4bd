"""The columns of this domain that hold personal data encrypted with the platform's cipher (for key rotation)."""

from __future__ import annotations

from xinyidai.ingest.pipeline import PII_CONTEXT
from xinyidai.kernel.pii import EncryptedColumn

ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    EncryptedColumn("ingest_record", "id", "pii", PII_CONTEXT),
    EncryptedColumn("ingest_record_version", "record_id", "pii", PII_CONTEXT),
)
