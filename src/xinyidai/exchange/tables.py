"""Interface-call tables: department endpoints, the answer cache, and the call log data quality is measured on."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.db import Base


class ExchangeEndpoint(Base):
    """Where and how to call one source department; the token is AES-GCM encrypted (``container.cipher``)."""

    __tablename__ = "exchange_endpoint"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(40), unique=True)
    base_url: Mapped[str] = mapped_column(sa.String(500))
    token_enc: Mapped[str | None] = mapped_column(sa.String(500))
    timeout_ms: Mapped[int] = mapped_column()
    max_attempts: Mapped[int] = mapped_column()
    backoff_base_ms: Mapped[int] = mapped_column()
    backoff_cap_ms: Mapped[int] = mapped_column()
    deadline_ms: Mapped[int] = mapped_column()
    breaker_failures: Mapped[int] = mapped_column()
    breaker_window_s: Mapped[int] = mapped_column()
    breaker_cooldown_s: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class ExchangeCache(Base):
    """The last valid answer of a source about one subject and item, shared by every worker and kept over restarts.

    ``payload`` holds the records as received and normalised, personal ID numbers encrypted.
    """

    __tablename__ = "exchange_cache"
    __table_args__ = (sa.UniqueConstraint("source", "item", "uscc"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(40))
    item: Mapped[str] = mapped_column(sa.String(60))
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    payload: Mapped[list[Any]] = mapped_column()
    record_count: Mapped[int] = mapped_column()
    as_of: Mapped[datetime] = mapped_column()
    fetched_at: Mapped[datetime] = mapped_column()
    #: The department's ETag, sent back as If-None-Match when the copy goes stale.
    etag: Mapped[str | None] = mapped_column(sa.String(200))
    #: Keyed SHA-256 of the canonical records: tells a changed answer from a repeated one.
    content_hash: Mapped[str] = mapped_column(sa.String(64))


class ExchangeCall(Base):
    """One query through the interface-call service and how it ended (read by data-quality monitoring)."""

    __tablename__ = "exchange_call"
    __table_args__ = (sa.Index(None, "source", "item", "started_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(40))
    item: Mapped[str] = mapped_column(sa.String(60))
    started_at: Mapped[datetime] = mapped_column(index=True)
    duration_ms: Mapped[int] = mapped_column()
    #: ok | timeout | error | malformed | breaker_open | not_configured (``CallOutcome``).
    outcome: Mapped[str] = mapped_column(sa.String(20))
    #: fresh | cached | stale | unavailable (``FetchStatus``): what the caller got.
    status: Mapped[str] = mapped_column(sa.String(12))
    #: True when the answer served came from the cache (fresh within freshness, or stale after a failure).
    from_cache: Mapped[bool] = mapped_column()
    #: HTTP requests sent to the department (0 for cache hits and open breakers).
    attempts: Mapped[int] = mapped_column()
    http_status: Mapped[int | None] = mapped_column()
    detail: Mapped[str | None] = mapped_column(sa.String(300))
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
