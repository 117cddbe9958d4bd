"""Encrypted columns of the registry, for key rotation (`xinyidai keys rotate-pii`)."""

from xinyidai.kernel.pii import EncryptedColumn

ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    EncryptedColumn("subject", "id", "legal_rep_id_enc", "subject.legal_rep_id", digest_column="legal_rep_id_digest"),
)
