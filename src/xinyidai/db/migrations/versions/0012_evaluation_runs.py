"""evaluation: runs, the current evaluation of every enterprise, the incremental watermark

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 18:48:32.352818
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('evaluation_current',
    sa.Column('uscc', sa.String(length=18), nullable=False),
    sa.Column('run_id', sa.Uuid(), nullable=False),
    sa.Column('snapshot_id', sa.Uuid(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('rules_version_id', sa.Uuid(), nullable=True),
    sa.Column('card_version_id', sa.Uuid(), nullable=True),
    sa.Column('rule_score', sa.Float(), nullable=False),
    sa.Column('grade', sa.String(length=1), nullable=False),
    sa.Column('card_score', sa.Float(), nullable=True),
    sa.Column('pd', sa.Float(), nullable=True),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('indicators', sa.Text(), nullable=False),
    sa.Column('evaluated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('uscc', name=op.f('pk_evaluation_current'))
    )
    with op.batch_alter_table('evaluation_current', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evaluation_current_grade'), ['grade'], unique=False)
        batch_op.create_index(batch_op.f('ix_evaluation_current_run_id'), ['run_id'], unique=False)

    op.create_table('evaluation_run',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('snapshot_id', sa.Uuid(), nullable=False),
    sa.Column('engine', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('rules_version_id', sa.Uuid(), nullable=True),
    sa.Column('card_version_id', sa.Uuid(), nullable=True),
    sa.Column('rules_version', sa.String(length=64), nullable=False),
    sa.Column('indicator_set_version', sa.String(length=32), nullable=False),
    sa.Column('enterprises', sa.BigInteger(), nullable=False),
    sa.Column('records', sa.BigInteger(), nullable=False),
    sa.Column('grades', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('stage_seconds', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.CheckConstraint("mode IN ('batch', 'incremental')", name=op.f('ck_evaluation_run_mode')),
    sa.CheckConstraint("status IN ('running', 'complete', 'failed')", name=op.f('ck_evaluation_run_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation_run'))
    )
    with op.batch_alter_table('evaluation_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evaluation_run_started_at'), ['started_at'], unique=False)

    op.create_table('evaluation_watermark',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_evaluation_watermark'))
    )


def downgrade() -> None:
    op.drop_table('evaluation_watermark')
    with op.batch_alter_table('evaluation_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluation_run_started_at'))

    op.drop_table('evaluation_run')
    with op.batch_alter_table('evaluation_current', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluation_current_run_id'))
        batch_op.drop_index(batch_op.f('ix_evaluation_current_grade'))

    op.drop_table('evaluation_current')
