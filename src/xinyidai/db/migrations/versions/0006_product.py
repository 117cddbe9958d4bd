"""Products (信易贷产品), financing needs (融资需求) and idempotency records.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "product",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("institution_name", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("credit_loan", sa.Boolean(), nullable=False),
        sa.Column("amount_min", sa.Numeric(20, 6), nullable=False),
        sa.Column("amount_max", sa.Numeric(20, 6), nullable=False),
        sa.Column("term_min", sa.Integer(), nullable=False),
        sa.Column("term_max", sa.Integer(), nullable=False),
        sa.Column("rate_min", sa.Numeric(8, 4), nullable=False),
        sa.Column("rate_max", sa.Numeric(8, 4), nullable=False),
        sa.Column("repayment_methods", _JSON, nullable=False),
        sa.Column("scope_items", _JSON, nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("rules", _JSON, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product")),
    )
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_institution_id"), ["institution_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_product_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_product_type"), ["type"], unique=False)

    op.create_table(
        "financing_need",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("amount", sa.Numeric(20, 6), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("urgency", sa.String(length=20), nullable=False),
        sa.Column("shared_fields", _JSON, nullable=False),
        sa.Column("shared", _JSON, nullable=False),
        sa.Column("facts", _JSON, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_financing_need")),
    )
    with op.batch_alter_table("financing_need", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_financing_need_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_financing_need_uscc"), ["uscc"], unique=False)

    op.create_table(
        "idempotency_record",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", _JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_record")),
        sa.UniqueConstraint("owner", "scope", "key", name=op.f("uq_idempotency_record_owner_scope_key")),
    )
    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idempotency_record_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_record_created_at"))
    op.drop_table("idempotency_record")
    with op.batch_alter_table("financing_need", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_financing_need_uscc"))
        batch_op.drop_index(batch_op.f("ix_financing_need_status"))
    op.drop_table("financing_need")
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_type"))
        batch_op.drop_index(batch_op.f("ix_product_status"))
        batch_op.drop_index(batch_op.f("ix_product_institution_id"))
    op.drop_table("product")
