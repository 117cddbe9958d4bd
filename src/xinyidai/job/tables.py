"""Job tables: the durable job queue and the transactional outbox of messages leaving the node."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.db import Base

# The partial unique index below needs this predicate as SQL text; both SQLite and
# PostgreSQL support partial indexes, and both let any number of NULL keys coexist.
_ACTIVE = sa.text("status IN ('pending', 'running')")


class Job(Base):
    """One unit of background work: due at `run_at`, leased by one worker at a time while running."""

    __tablename__ = "job"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'running', 'done', 'dead')", name="status"),
        sa.CheckConstraint("attempts >= 0", name="attempts"),
        # The claim query: pending jobs by due time, and running jobs (lease check) by status.
        sa.Index("ix_job_status_run_at", "status", "run_at"),
        # At most one active (pending or running) job per dedupe key; done and dead jobs keep
        # their key for the record without blocking the next instance.
        sa.Index(
            "uq_job_dedupe_key",
            "dedupe_key",
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(80))
    payload: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(sa.String(16))
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(200))
    run_at: Mapped[datetime] = mapped_column()
    attempts: Mapped[int] = mapped_column(default=0)
    locked_by: Mapped[str | None] = mapped_column(sa.String(100))
    locked_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column()
    # Orders the jobs page and finds finished jobs old enough to purge.
    updated_at: Mapped[datetime] = mapped_column(index=True)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class OutboxMessage(Base):
    """A message to another system, written in the transaction of the change it reports."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'delivered', 'dead')", name="status"),
        sa.CheckConstraint("attempts >= 0", name="attempts"),
        sa.Index("ix_outbox_message_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(sa.String(80), index=True)
    destination: Mapped[str] = mapped_column(sa.String(500))
    payload: Mapped[dict[str, Any]] = mapped_column()
    headers: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column()
    node_id: Mapped[str] = mapped_column(sa.String(40))
