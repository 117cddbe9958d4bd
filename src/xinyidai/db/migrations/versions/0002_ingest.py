"""ingest: data sources, batches, rejects, the record store and its history

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ingest_record',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('item_code', sa.String(length=40), nullable=False),
    sa.Column('subject_uscc', sa.String(length=18), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('pii', sa.Text(), nullable=True),
    sa.Column('event_date', sa.Date(), nullable=True),
    sa.Column('severity', sa.String(length=20), nullable=True),
    sa.Column('publication_rule', sa.String(length=40), nullable=True),
    sa.Column('publication_min_end', sa.Date(), nullable=True),
    sa.Column('publication_end', sa.Date(), nullable=True),
    sa.Column('retention_end', sa.Date(), nullable=True),
    sa.Column('disputed', sa.Boolean(), nullable=False),
    sa.Column('repaired', sa.Boolean(), nullable=False),
    sa.Column('statement', sa.Text(), nullable=True),
    sa.Column('source_id', sa.Uuid(), nullable=True),
    sa.Column('batch_id', sa.Uuid(), nullable=True),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_record'))
    )
    with op.batch_alter_table('ingest_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_record_subject_uscc'), ['subject_uscc'], unique=False)

    op.create_table('ingest_record_version',
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('item_code', sa.String(length=40), nullable=False),
    sa.Column('subject_uscc', sa.String(length=18), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('pii', sa.Text(), nullable=True),
    sa.Column('event_date', sa.Date(), nullable=True),
    sa.Column('publication_end', sa.Date(), nullable=True),
    sa.Column('retention_end', sa.Date(), nullable=True),
    sa.Column('source_id', sa.Uuid(), nullable=True),
    sa.Column('batch_id', sa.Uuid(), nullable=True),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('superseded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('record_id', 'version', name=op.f('pk_ingest_record_version'))
    )
    op.create_table('ingest_source',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('department_code', sa.String(length=40), nullable=False),
    sa.Column('department_id', sa.Uuid(), nullable=True),
    sa.Column('items', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('modes', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('confirmed_by', sa.String(length=200), nullable=True),
    sa.CheckConstraint("status IN ('active', 'pending')", name=op.f('ck_ingest_source_status')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_ingest_source_department_id_department')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_source')),
    sa.UniqueConstraint('code', name=op.f('uq_ingest_source_code'))
    )
    with op.batch_alter_table('ingest_source', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_source_department_code'), ['department_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_ingest_source_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ingest_source_status'), ['status'], unique=False)

    op.create_table('ingest_batch',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('item_code', sa.String(length=40), nullable=False),
    sa.Column('source_id', sa.Uuid(), nullable=True),
    sa.Column('department_id', sa.Uuid(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('file_name', sa.String(length=300), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('file_size', sa.BigInteger(), nullable=False),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('encoding', sa.String(length=16), nullable=True),
    sa.Column('layout', sa.String(length=16), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('accepted', sa.BigInteger(), nullable=False),
    sa.Column('updated', sa.BigInteger(), nullable=False),
    sa.Column('unchanged', sa.BigInteger(), nullable=False),
    sa.Column('rejected', sa.BigInteger(), nullable=False),
    sa.Column('duplicates', sa.BigInteger(), nullable=False),
    sa.Column('rejects_file', sa.String(length=300), nullable=True),
    sa.Column('replay_of', sa.Uuid(), nullable=True),
    sa.Column('summary', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=False),
    sa.Column('actor_label', sa.String(length=200), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_ingest_batch_department_id_department')),
    sa.ForeignKeyConstraint(['replay_of'], ['ingest_batch.id'], name=op.f('fk_ingest_batch_replay_of_ingest_batch')),
    sa.ForeignKeyConstraint(['source_id'], ['ingest_source.id'], name=op.f('fk_ingest_batch_source_id_ingest_source')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_batch'))
    )
    with op.batch_alter_table('ingest_batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_batch_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ingest_batch_file_sha256'), ['file_sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_ingest_batch_finished_at'), ['finished_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ingest_batch_item_code'), ['item_code'], unique=False)

    op.create_table('ingest_reject',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('batch_id', sa.Uuid(), nullable=False),
    sa.Column('line', sa.BigInteger(), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=500), nullable=True),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['ingest_batch.id'], name=op.f('fk_ingest_reject_batch_id_ingest_batch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_reject'))
    )
    with op.batch_alter_table('ingest_reject', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_reject_batch_id'), ['batch_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ingest_reject', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_reject_batch_id'))

    op.drop_table('ingest_reject')
    with op.batch_alter_table('ingest_batch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_batch_item_code'))
        batch_op.drop_index(batch_op.f('ix_ingest_batch_finished_at'))
        batch_op.drop_index(batch_op.f('ix_ingest_batch_file_sha256'))
        batch_op.drop_index(batch_op.f('ix_ingest_batch_department_id'))

    op.drop_table('ingest_batch')
    with op.batch_alter_table('ingest_source', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_source_status'))
        batch_op.drop_index(batch_op.f('ix_ingest_source_department_id'))
        batch_op.drop_index(batch_op.f('ix_ingest_source_department_code'))

    op.drop_table('ingest_source')
    op.drop_table('ingest_record_version')
    with op.batch_alter_table('ingest_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_record_subject_uscc'))

    op.drop_table('ingest_record')
