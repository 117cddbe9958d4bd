"""evaluation: the model registry (rule tables and scorecards), push subscriptions and pushed evaluations

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    op.create_table('evaluation_model_version',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('family', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=80), nullable=False),
    sa.Column('content', _JSON, nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=True),
    sa.Column('parent_id', sa.Uuid(), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('training_snapshot_id', sa.Uuid(), nullable=True),
    sa.Column('training_as_of', sa.Date(), nullable=True),
    sa.Column('training_figures', _JSON, nullable=False),
    sa.Column('validation', _JSON, nullable=False),
    sa.Column('validation_html', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.String(length=80), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approved_by_id', sa.String(length=80), nullable=True),
    sa.Column('approved_by', sa.String(length=200), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation_model_version')),
    sa.UniqueConstraint('family', 'label', name=op.f('uq_evaluation_model_version_family_label'))
    )
    with op.batch_alter_table('evaluation_model_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evaluation_model_version_family'), ['family'], unique=False)
        batch_op.create_index(batch_op.f('ix_evaluation_model_version_status'), ['status'], unique=False)
        batch_op.create_index('uq_evaluation_model_version_family_role', ['family', 'role'], unique=True,
                              sqlite_where=sa.text('role IS NOT NULL'), postgresql_where=sa.text('role IS NOT NULL'))

    op.create_table('evaluation_subscription',
    sa.Column('institution_id', sa.Uuid(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('institution_id', name=op.f('pk_evaluation_subscription'))
    )

    op.create_table('evaluation_push',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('institution_id', sa.Uuid(), nullable=False),
    sa.Column('uscc', sa.String(length=18), nullable=False),
    sa.Column('run_id', sa.Uuid(), nullable=False),
    sa.Column('authorization_id', sa.Uuid(), nullable=False),
    sa.Column('grade', sa.String(length=4), nullable=True),
    sa.Column('rule_score', sa.Numeric(precision=10, scale=2), nullable=True),
    sa.Column('card_score', sa.Numeric(precision=10, scale=2), nullable=True),
    sa.Column('pd', sa.Numeric(precision=10, scale=6), nullable=True),
    sa.Column('outbox_id', sa.Uuid(), nullable=False),
    sa.Column('pushed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation_push')),
    sa.UniqueConstraint('institution_id', 'uscc', 'run_id', name=op.f('uq_evaluation_push_institution_id_uscc_run_id'))
    )
    with op.batch_alter_table('evaluation_push', schema=None) as batch_op:
        batch_op.create_index('ix_evaluation_push_institution_id_pushed_at', ['institution_id', 'pushed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_evaluation_push_uscc'), ['uscc'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('evaluation_push', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluation_push_uscc'))
        batch_op.drop_index('ix_evaluation_push_institution_id_pushed_at')
    op.drop_table('evaluation_push')
    op.drop_table('evaluation_subscription')
    with op.batch_alter_table('evaluation_model_version', schema=None) as batch_op:
        batch_op.drop_index('uq_evaluation_model_version_family_role')
        batch_op.drop_index(batch_op.f('ix_evaluation_model_version_status'))
        batch_op.drop_index(batch_op.f('ix_evaluation_model_version_family'))
    op.drop_table('evaluation_model_version')
