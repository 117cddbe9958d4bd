"""Objection tables: one row per objection (异议) and one per attachment file (stored under
``var/attachments`` by its SHA-256). Records are referenced by id without a foreign key: the record store is
purged at the end of retention, while the objection and its answer are kept."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.db import Base

_STATUSES = "'open', 'escalated', 'corrected', 'upheld', 'unresolved'"


class Objection(Base):
    """An enterprise's objection to one of its records, the owning department's duty to answer, and the answer."""

    __tablename__ = "objection"
    __table_args__ = (
        sa.CheckConstraint(f"status IN ({_STATUSES})", name="status"),
        sa.Index("ix_objection_department_status_due", "department_id", "status", "due_on"),
        sa.Index("ix_objection_subject_filed", "subject_uscc", "filed_at"),
        sa.Index("ix_objection_status_due", "status", "due_on"),
        # One objection awaiting an answer per record.
        sa.Index(
            "uq_objection_record_pending",
            "record_id",
            unique=True,
            sqlite_where=sa.text("status IN ('open', 'escalated')"),
            postgresql_where=sa.text("status IN ('open', 'escalated')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    record_id: Mapped[uuid.UUID] = mapped_column(index=True)
    item_code: Mapped[str] = mapped_column(sa.String(40))
    subject_uscc: Mapped[str] = mapped_column(sa.String(18))
    #: The principal department (tenant) that must answer; None while the record's source is not linked to one.
    department_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("department.id"))
    #: Catalog department code of the record's source (``samr``, ``tax`` …).
    department_code: Mapped[str] = mapped_column(sa.String(40))
    source_id: Mapped[uuid.UUID | None] = mapped_column()
    status: Mapped[str] = mapped_column(sa.String(16))
    reasons: Mapped[str] = mapped_column(sa.Text)
    filed_at: Mapped[datetime] = mapped_column()
    filed_by: Mapped[str] = mapped_column(sa.String(200))
    received_on: Mapped[date] = mapped_column()
    due_on: Mapped[date] = mapped_column()
    record_version: Mapped[int] = mapped_column()
    reminders_sent: Mapped[int] = mapped_column(default=0)
    last_reminded_at: Mapped[datetime | None] = mapped_column()
    escalated_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    resolved_by: Mapped[str | None] = mapped_column(sa.String(200))
    #: The written answer (书面答复); for an unresolved objection it is also the dispute note kept with the record.
    answer: Mapped[str | None] = mapped_column(sa.Text)
    corrected_version: Mapped[int | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class ObjectionAttachment(Base):
    """A file attached to an objection; the bytes live at ``var/attachments/<sha256>.<ext>``."""

    __tablename__ = "objection_attachment"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    objection_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("objection.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(sa.String(64))
    media_type: Mapped[str] = mapped_column(sa.String(40))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    #: Display label cleaned from the client's file name; never used as a path.
    label: Mapped[str] = mapped_column(sa.String(120))
    uploaded_at: Mapped[datetime] = mapped_column()
