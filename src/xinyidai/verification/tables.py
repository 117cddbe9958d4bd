"""Verification tables: every answered question, counted against its authorization's predicate cap."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.db import Base


class VerificationQuestion(Base):
    """One question an institution asked under an authorization, its answer and the signed token.

    ``question`` holds the canonical predicate with its thresholds: they are the institution's own input,
    kept to find identical questions and to investigate probing; the hidden value is never stored here.
    Repeats answered from an earlier row are not stored (they are audited).
    """

    __tablename__ = "verification_question"
    __table_args__ = (
        sa.Index("ix_verification_question_authorization_item_field", "authorization_id", "item_code", "field_key"),
        sa.Index("ix_verification_question_authorization_key", "authorization_id", "question_key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # No foreign key to consent_authorization: domains meet through their public APIs only.
    authorization_id: Mapped[uuid.UUID] = mapped_column()
    institution_id: Mapped[uuid.UUID] = mapped_column()
    subject_uscc: Mapped[str] = mapped_column(sa.String(18))
    purpose: Mapped[str] = mapped_column(sa.String(40))
    item_code: Mapped[str] = mapped_column(sa.String(64))
    #: The field asked about, or ``*`` (count, field-less exists): the cap counts per (item, field_key).
    field_key: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(16))
    aggregate: Mapped[str] = mapped_column(sa.String(16))
    question: Mapped[dict[str, Any]] = mapped_column()
    #: Unsalted SHA-256 of the question (subject, item, predicate): finds identical questions; never published.
    question_key: Mapped[str] = mapped_column(sa.String(64))
    #: Salted SHA-256 the token carries (see model.question_sha256).
    question_sha256: Mapped[str] = mapped_column(sa.String(64))
    nonce: Mapped[str] = mapped_column(sa.String(32))
    answer: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.String(32))
    as_of: Mapped[datetime] = mapped_column()
    sources: Mapped[list[str]] = mapped_column()
    token: Mapped[str] = mapped_column(sa.Text)
    asked_at: Mapped[datetime] = mapped_column()
    asked_by: Mapped[str] = mapped_column(sa.String(200))
    audit_event_id: Mapped[uuid.UUID] = mapped_column()
