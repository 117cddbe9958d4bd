"""Identifiers generated in Python (UUIDv7: time-ordered, so SQLite and PostgreSQL behave alike)."""

from __future__ import annotations

import uuid

import uuid_utils


def new_id() -> uuid.UUID:
    """A new time-ordered UUIDv7 as a standard-library UUID."""
    return uuid.UUID(bytes=uuid_utils.uuid7().bytes)
