"""Encrypted columns of principals, for key rotation (`xinyidai keys rotate-pii`)."""

from xinyidai.kernel.pii import EncryptedColumn

ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (EncryptedColumn("app_user", "id", "phone_enc", "app_user.phone"),)
