"""Tables of the evaluation model registry and of pushes: model versions (rule tables and scorecards), institutions'
push subscriptions, and every evaluation pushed to an institution."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.db import Base


class EvaluationModelVersion(Base):
    """One version of a model: `content` is `RuleTable.to_dict()` or `Scorecard.to_dict()`; at most one champion and
    one challenger per family (partial unique index on family + role)."""

    __tablename__ = "evaluation_model_version"
    __table_args__ = (
        sa.Index(
            "uq_evaluation_model_version_family_role",
            "family",
            "role",
            unique=True,
            sqlite_where=sa.text("role IS NOT NULL"),
            postgresql_where=sa.text("role IS NOT NULL"),
        ),
        sa.UniqueConstraint("family", "label"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    family: Mapped[str] = mapped_column(sa.String(16), index=True)
    label: Mapped[str] = mapped_column(sa.String(80))
    content: Mapped[dict[str, Any]] = mapped_column()
    content_sha256: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    role: Mapped[str | None] = mapped_column(sa.String(16))
    parent_id: Mapped[uuid.UUID | None] = mapped_column()
    note: Mapped[str | None] = mapped_column(sa.String(500))
    training_snapshot_id: Mapped[uuid.UUID | None] = mapped_column()
    training_as_of: Mapped[date | None] = mapped_column()
    training_figures: Mapped[dict[str, Any]] = mapped_column()
    validation: Mapped[dict[str, Any]] = mapped_column()
    validation_html: Mapped[str | None] = mapped_column(sa.Text)
    created_by_id: Mapped[str] = mapped_column(sa.String(80))
    created_by: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column()
    approved_by_id: Mapped[str | None] = mapped_column(sa.String(80))
    approved_by: Mapped[str | None] = mapped_column(sa.String(200))
    approved_at: Mapped[datetime | None] = mapped_column()
    retired_at: Mapped[datetime | None] = mapped_column()


class EvaluationSubscription(Base):
    """An institution's choice to receive evaluation pushes (toggled by its admin)."""

    __tablename__ = "evaluation_subscription"

    institution_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    active: Mapped[bool] = mapped_column()
    updated_by: Mapped[str] = mapped_column(sa.String(200))
    updated_at: Mapped[datetime] = mapped_column()


class EvaluationPush(Base):
    """One evaluation sent to one institution: which enterprise, from which run, what it said, under which authorization."""

    __tablename__ = "evaluation_push"
    __table_args__ = (
        sa.UniqueConstraint("institution_id", "uscc", "run_id"),
        sa.Index("ix_evaluation_push_institution_id_pushed_at", "institution_id", "pushed_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    institution_id: Mapped[uuid.UUID] = mapped_column()
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    run_id: Mapped[uuid.UUID] = mapped_column()
    authorization_id: Mapped[uuid.UUID] = mapped_column()
    grade: Mapped[str | None] = mapped_column(sa.String(4))
    rule_score: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2))
    card_score: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2))
    pd: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 6))
    outbox_id: Mapped[uuid.UUID] = mapped_column()
    pushed_at: Mapped[datetime] = mapped_column()
