"""quality: batch snapshots, daily figures, thresholds and alerts

Revision ID: 0009
Revises: 0002
Create Date: 2026-11-24 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_ACTIVE = "status IN ('open', 'acknowledged')"


def upgrade() -> None:
    op.create_table(
        "quality_alert",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("item", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name=op.f("ck_quality_alert_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_alert")),
    )
    with op.batch_alter_table("quality_alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quality_alert_status"), ["status"], unique=False)
        batch_op.create_index(
            "uq_quality_alert_active_key",
            ["dedupe_key"],
            unique=True,
            sqlite_where=sa.text(_ACTIVE),
            postgresql_where=sa.text(_ACTIVE),
        )

    op.create_table(
        "quality_batch_snapshot",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("item", sa.String(length=60), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("figures", _JSON, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_batch_snapshot")),
        sa.UniqueConstraint("batch_id", name=op.f("uq_quality_batch_snapshot_batch_id")),
    )
    with op.batch_alter_table("quality_batch_snapshot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quality_batch_snapshot_day"), ["day"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_quality_batch_snapshot_source_item_delivered_at"), ["source", "item", "delivered_at"], unique=False
        )

    op.create_table(
        "quality_daily",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("item", sa.String(length=60), nullable=False),
        sa.Column("figures", _JSON, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("channel IN ('bulk', 'interface')", name=op.f("ck_quality_daily_channel")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_daily")),
        sa.UniqueConstraint("day", "channel", "source", "item", name=op.f("uq_quality_daily_day_channel_source_item")),
    )
    with op.batch_alter_table("quality_daily", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quality_daily_day"), ["day"], unique=False)

    op.create_table(
        "quality_threshold",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("item", sa.String(length=60), nullable=False),
        sa.Column("cadence_days", sa.Integer(), nullable=True),
        sa.Column("min_validity", sa.Float(), nullable=False),
        sa.Column("min_success", sa.Float(), nullable=False),
        sa.Column("min_calls", sa.Integer(), nullable=False),
        sa.Column("window_hours", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_threshold")),
        sa.UniqueConstraint("source", "item", name=op.f("uq_quality_threshold_source_item")),
    )


def downgrade() -> None:
    op.drop_table("quality_threshold")
    with op.batch_alter_table("quality_daily", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quality_daily_day"))
    op.drop_table("quality_daily")
    with op.batch_alter_table("quality_batch_snapshot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quality_batch_snapshot_source_item_delivered_at"))
        batch_op.drop_index(batch_op.f("ix_quality_batch_snapshot_day"))
    op.drop_table("quality_batch_snapshot")
    with op.batch_alter_table("quality_alert", schema=None) as batch_op:
        batch_op.drop_index("uq_quality_alert_active_key", sqlite_where=sa.text(_ACTIVE), postgresql_where=sa.text(_ACTIVE))
        batch_op.drop_index(batch_op.f("ix_quality_alert_status"))
    op.drop_table("quality_alert")
