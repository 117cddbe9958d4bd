"""report: issued credit reports (metadata, hash, signature, document) and the daily number sequence

Revision ID: 0011
Revises: 0002
Create Date: 2026-11-24 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('report',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('verification_code', sa.String(length=24), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('special_type', sa.String(length=32), nullable=True),
    sa.Column('subject_uscc', sa.String(length=18), nullable=False),
    sa.Column('subject_name', sa.String(length=200), nullable=True),
    sa.Column('owner', sa.String(length=80), nullable=True),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('authorization_id', sa.Uuid(), nullable=True),
    sa.Column('purpose', sa.String(length=40), nullable=True),
    sa.Column('period_from', sa.Date(), nullable=True),
    sa.Column('period_to', sa.Date(), nullable=True),
    sa.Column('daily_key', sa.String(length=80), nullable=True),
    sa.Column('generated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.Text(), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('content', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report')),
    sa.UniqueConstraint('daily_key', name=op.f('uq_report_daily_key')),
    sa.UniqueConstraint('number', name=op.f('uq_report_number')),
    sa.UniqueConstraint('verification_code', name=op.f('uq_report_verification_code'))
    )
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.create_index('ix_report_owner_generated_at', ['owner', 'generated_at'], unique=False)
        batch_op.create_index('ix_report_subject_uscc', ['subject_uscc'], unique=False)

    op.create_table('report_sequence',
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('node_id', 'day', name=op.f('pk_report_sequence'))
    )


def downgrade() -> None:
    op.drop_table('report_sequence')
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.drop_index('ix_report_subject_uscc')
        batch_op.drop_index('ix_report_owner_generated_at')

    op.drop_table('report')
