"""Data-quality tables: one snapshot per measured batch, daily aggregates per source and item, operator-set
thresholds, and alerts.

Figures are stored as their mergeable parts (counts and histograms, ``model.Figures``), never as rates, so a
period of any length is the sum of its days.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.db import Base


class BatchSnapshot(Base):
    """The quality figures of one ingest batch, computed once it has committed (by the job or on demand)."""

    __tablename__ = "quality_batch_snapshot"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    #: The batch's source code (数据来源单位代码), or ``*`` when its rows name several units.
    source: Mapped[str] = mapped_column(sa.String(40))
    item: Mapped[str] = mapped_column(sa.String(60))
    delivered_at: Mapped[datetime] = mapped_column()
    #: China date of the delivery: the day whose aggregate includes this batch.
    day: Mapped[date] = mapped_column()
    figures: Mapped[dict[str, Any]] = mapped_column()
    computed_at: Mapped[datetime] = mapped_column()

    __table_args__ = (sa.Index(None, "source", "item", "delivered_at"), sa.Index(None, "day"))


class DailyFigures(Base):
    """A day's figures of one channel, source and item (deliveries of that day, or calls made that day)."""

    __tablename__ = "quality_daily"
    __table_args__ = (
        sa.UniqueConstraint("day", "channel", "source", "item"),
        sa.CheckConstraint("channel IN ('bulk', 'interface')", name="channel"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(index=True)
    channel: Mapped[str] = mapped_column(sa.String(12))
    #: Bulk: the ingest source code; interface: the exchange source (catalog department code).
    source: Mapped[str] = mapped_column(sa.String(40))
    item: Mapped[str] = mapped_column(sa.String(60))
    figures: Mapped[dict[str, Any]] = mapped_column()
    computed_at: Mapped[datetime] = mapped_column()


class Threshold(Base):
    """Operator-set alert limits of one source and item; ``*`` in either matches every one (defaults)."""

    __tablename__ = "quality_threshold"
    __table_args__ = (sa.UniqueConstraint("source", "item"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(40))
    item: Mapped[str] = mapped_column(sa.String(60))
    cadence_days: Mapped[int | None] = mapped_column()
    min_validity: Mapped[float] = mapped_column(sa.Float)
    min_success: Mapped[float] = mapped_column(sa.Float)
    min_calls: Mapped[int] = mapped_column()
    window_hours: Mapped[int] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    updated_by: Mapped[str] = mapped_column(sa.String(200))


class Alert(Base):
    """A late or degraded source: open until acknowledged, resolved when the condition clears.

    At most one alert per condition (``dedupe_key``) is active (open or acknowledged): a partial unique index.
    """

    __tablename__ = "quality_alert"
    __table_args__ = (
        sa.CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name="status"),
        sa.Index(
            "uq_quality_alert_active_key",
            "dedupe_key",
            unique=True,
            sqlite_where=sa.text("status IN ('open', 'acknowledged')"),
            postgresql_where=sa.text("status IN ('open', 'acknowledged')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(24))
    channel: Mapped[str] = mapped_column(sa.String(12))
    source: Mapped[str] = mapped_column(sa.String(40))
    item: Mapped[str] = mapped_column(sa.String(60))
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    message: Mapped[str] = mapped_column(sa.String(500))
    value: Mapped[float | None] = mapped_column(sa.Float)
    opened_at: Mapped[datetime] = mapped_column()
    #: Last time the job saw the condition still true.
    seen_at: Mapped[datetime] = mapped_column()
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String(200))
    resolved_at: Mapped[datetime | None] = mapped_column()
