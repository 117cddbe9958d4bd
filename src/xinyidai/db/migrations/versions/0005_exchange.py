"""Interface calls (系统接口调用): department endpoints, the answer cache, the call log.

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-23 16:29:20.777937
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('exchange_cache',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('item', sa.String(length=60), nullable=False),
    sa.Column('uscc', sa.String(length=18), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('record_count', sa.Integer(), nullable=False),
    sa.Column('as_of', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('etag', sa.String(length=200), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_cache')),
    sa.UniqueConstraint('source', 'item', 'uscc', name=op.f('uq_exchange_cache_source_item_uscc'))
    )
    with op.batch_alter_table('exchange_cache', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_cache_uscc'), ['uscc'], unique=False)

    op.create_table('exchange_call',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('item', sa.String(length=60), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('from_cache', sa.Boolean(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('detail', sa.String(length=300), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_call'))
    )
    with op.batch_alter_table('exchange_call', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_call_source_item_started_at'), ['source', 'item', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_exchange_call_started_at'), ['started_at'], unique=False)

    op.create_table('exchange_endpoint',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('base_url', sa.String(length=500), nullable=False),
    sa.Column('token_enc', sa.String(length=500), nullable=True),
    sa.Column('timeout_ms', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('backoff_base_ms', sa.Integer(), nullable=False),
    sa.Column('backoff_cap_ms', sa.Integer(), nullable=False),
    sa.Column('deadline_ms', sa.Integer(), nullable=False),
    sa.Column('breaker_failures', sa.Integer(), nullable=False),
    sa.Column('breaker_window_s', sa.Integer(), nullable=False),
    sa.Column('breaker_cooldown_s', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_endpoint')),
    sa.UniqueConstraint('source', name=op.f('uq_exchange_endpoint_source'))
    )


def downgrade() -> None:
    op.drop_table('exchange_endpoint')
    with op.batch_alter_table('exchange_call', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_call_started_at'))
        batch_op.drop_index(batch_op.f('ix_exchange_call_source_item_started_at'))

    op.drop_table('exchange_call')
    with op.batch_alter_table('exchange_cache', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_cache_uscc'))

    op.drop_table('exchange_cache')
