"""Verification (数据核验): answered questions, counted against each authorization's predicate cap.

Revision ID: 0010
Revises: 0002
Create Date: 2026-11-24 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "verification_question",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("authorization_id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("subject_uscc", sa.String(length=18), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("field_key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("aggregate", sa.String(length=16), nullable=False),
        sa.Column("question", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("question_key", sa.String(length=64), nullable=False),
        sa.Column("question_sha256", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("answer", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sources", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("asked_by", sa.String(length=200), nullable=False),
        sa.Column("audit_event_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_question")),
    )
    with op.batch_alter_table("verification_question", schema=None) as batch_op:
        batch_op.create_index(
            "ix_verification_question_authorization_item_field", ["authorization_id", "item_code", "field_key"], unique=False
        )
        batch_op.create_index("ix_verification_question_authorization_key", ["authorization_id", "question_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("verification_question", schema=None) as batch_op:
        batch_op.drop_index("ix_verification_question_authorization_key")
        batch_op.drop_index("ix_verification_question_authorization_item_field")
    op.drop_table("verification_question")
