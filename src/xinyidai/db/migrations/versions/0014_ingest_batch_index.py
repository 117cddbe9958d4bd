"""ingest: index ingest_record.batch_id (quality's per-batch queries) and the dispute note of a record

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-25 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ingest_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dispute_note', sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f('ix_ingest_record_batch_id'), ['batch_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ingest_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_record_batch_id'))
        batch_op.drop_column('dispute_note')
