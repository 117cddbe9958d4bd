"""ingest: index ingest_record.received_at (the incremental evaluation's watermark query scanned the whole table)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 20:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ingest_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_record_received_at'), ['received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ingest_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_record_received_at'))
