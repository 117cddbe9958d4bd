"""Objections (异议): objections with their deadline and answer, and their attachment files.

Revision ID: 0008
Revises: 0002
Create Date: 2026-11-23 17:22:18.671311
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('objection',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.Column('item_code', sa.String(length=40), nullable=False),
    sa.Column('subject_uscc', sa.String(length=18), nullable=False),
    sa.Column('department_id', sa.Uuid(), nullable=True),
    sa.Column('department_code', sa.String(length=40), nullable=False),
    sa.Column('source_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('filed_by', sa.String(length=200), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('record_version', sa.Integer(), nullable=False),
    sa.Column('reminders_sent', sa.Integer(), nullable=False),
    sa.Column('last_reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=200), nullable=True),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('corrected_version', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('open', 'escalated', 'corrected', 'upheld', 'unresolved')", name=op.f('ck_objection_status')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_objection_department_id_department')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objection'))
    )
    with op.batch_alter_table('objection', schema=None) as batch_op:
        batch_op.create_index('ix_objection_department_status_due', ['department_id', 'status', 'due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_objection_record_id'), ['record_id'], unique=False)
        batch_op.create_index('ix_objection_status_due', ['status', 'due_on'], unique=False)
        batch_op.create_index('ix_objection_subject_filed', ['subject_uscc', 'filed_at'], unique=False)
        batch_op.create_index('uq_objection_record_pending', ['record_id'], unique=True, sqlite_where=sa.text("status IN ('open', 'escalated')"), postgresql_where=sa.text("status IN ('open', 'escalated')"))

    op.create_table('objection_attachment',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('objection_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('media_type', sa.String(length=40), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('label', sa.String(length=120), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['objection_id'], ['objection.id'], name=op.f('fk_objection_attachment_objection_id_objection'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objection_attachment'))
    )
    with op.batch_alter_table('objection_attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_objection_attachment_objection_id'), ['objection_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('objection_attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_objection_attachment_objection_id'))

    op.drop_table('objection_attachment')
    with op.batch_alter_table('objection', schema=None) as batch_op:
        batch_op.drop_index('uq_objection_record_pending', sqlite_where=sa.text("status IN ('open', 'escalated')"), postgresql_where=sa.text("status IN ('open', 'escalated')"))
        batch_op.drop_index('ix_objection_subject_filed')
        batch_op.drop_index('ix_objection_status_due')
        batch_op.drop_index(batch_op.f('ix_objection_record_id'))
        batch_op.drop_index('ix_objection_department_status_due')

    op.drop_table('objection')
