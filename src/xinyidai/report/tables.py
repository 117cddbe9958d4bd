"""Report tables: each issued report's metadata, hash, signature and document; the daily number sequence."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.db import Base, JsonText


class Report(Base):
    """One issued report: who it is about and for, its number and verification code, hash, signature and document."""

    __tablename__ = "report"
    __table_args__ = (
        sa.Index("ix_report_owner_generated_at", "owner", "generated_at"),
        sa.Index("ix_report_subject_uscc", "subject_uscc"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(64), unique=True)
    verification_code: Mapped[str] = mapped_column(sa.String(24), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    special_type: Mapped[str | None] = mapped_column(sa.String(32))
    subject_uscc: Mapped[str] = mapped_column(sa.String(18))
    subject_name: Mapped[str | None] = mapped_column(sa.String(200))
    #: Who may fetch it again: ``institution:<id>``, ``enterprise:<USCC>``, ``user:<id>``; None: nobody (anonymous).
    owner: Mapped[str | None] = mapped_column(sa.String(80))
    requested_by: Mapped[str] = mapped_column(sa.String(200))
    authorization_id: Mapped[uuid.UUID | None] = mapped_column()
    purpose: Mapped[str | None] = mapped_column(sa.String(40))
    period_from: Mapped[date | None] = mapped_column()
    period_to: Mapped[date | None] = mapped_column()
    #: ``<USCC>:<type>:<China date>`` for a 专项信用报告 (one per type per day), else None.
    daily_key: Mapped[str | None] = mapped_column(sa.String(80), unique=True)
    generated_at: Mapped[datetime] = mapped_column()
    content_sha256: Mapped[str] = mapped_column(sa.String(64))
    signature: Mapped[str] = mapped_column(sa.Text)
    key_id: Mapped[str] = mapped_column(sa.String(64))
    #: The signed document (needed to serve the owner again in JSON, HTML or PDF), stored as the canonical JSON text
    #: its hash covers (``json`` on PostgreSQL, not ``jsonb``: checked, not decomposed and printed back).
    content: Mapped[dict[str, Any]] = mapped_column(JsonText)


class ReportSequence(Base):
    """The last report number issued by a node on a China day."""

    __tablename__ = "report_sequence"

    node_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    last: Mapped[int] = mapped_column()
