"""Encrypted columns of the interface-call tables, for personal-data key rotation (`xinyidai keys rotate-pii`).

Only the endpoint token is a column of ciphertext. The cache holds encrypted ID numbers inside its JSON
payload; those are not rotated: an entry whose key was retired reads as a cache miss and is refilled by
the next call (see `service._readable`).
"""

from __future__ import annotations

from xinyidai.exchange.connector import TOKEN_CONTEXT
from xinyidai.kernel.pii import EncryptedColumn

ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (EncryptedColumn("exchange_endpoint", "id", "token_enc", TOKEN_CONTEXT),)
