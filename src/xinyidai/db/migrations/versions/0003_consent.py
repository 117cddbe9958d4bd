"""consent: authorizations, their history, fetches, fair-use policies (seeded), institution webhook endpoints

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23 16:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Fair-use defaults per purpose (consent.model.DEFAULT_POLICIES at the time of this revision; unconfirmed,
# operators change them with PUT /api/v1/consent/policies):
# purpose, longest validity (days), widest data range (days), max fetches per month, longest data life (days).
_DEFAULT_POLICIES = [
    ('pre_loan_review', 90, 1096, 10, 180),
    ('credit_approval', 180, 1096, 10, 365),
    ('post_loan_management', 1096, 1827, 4, 1827),
    ('loan_renewal', 180, 1096, 10, 365),
    ('guarantee', 365, 1096, 4, 1096),
    ('risk_compensation', 730, 1827, 4, 1827),
    ('financing_matching', 30, 366, 5, 30),
]


def upgrade() -> None:
    policy = op.create_table('consent_policy',
    sa.Column('purpose', sa.String(length=40), nullable=False),
    sa.Column('max_validity_days', sa.Integer(), nullable=False),
    sa.Column('max_data_range_days', sa.Integer(), nullable=False),
    sa.Column('max_frequency_unit', sa.String(length=16), nullable=False),
    sa.Column('max_frequency_fetches', sa.Integer(), nullable=False),
    sa.Column('max_data_life_days', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('purpose', name=op.f('pk_consent_policy'))
    )
    op.create_table('consent_authorization',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('enterprise_uscc', sa.String(length=18), nullable=False),
    sa.Column('institution_id', sa.Uuid(), nullable=False),
    sa.Column('institution_code', sa.String(length=40), nullable=False),
    sa.Column('institution_name', sa.String(length=200), nullable=False),
    sa.Column('purpose', sa.String(length=40), nullable=False),
    sa.Column('scope_categories', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('scope_items', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('catalog_version', sa.String(length=8), nullable=False),
    sa.Column('data_from', sa.Date(), nullable=False),
    sa.Column('data_to', sa.Date(), nullable=False),
    sa.Column('fetch_type', sa.String(length=16), nullable=False),
    sa.Column('frequency_unit', sa.String(length=16), nullable=True),
    sa.Column('frequency_max', sa.Integer(), nullable=True),
    sa.Column('data_life_days', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('approved_by', sa.Uuid(), nullable=True),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('artefact', sa.Text(), nullable=True),
    sa.Column('artefact_kid', sa.String(length=64), nullable=True),
    sa.Column('artefact_alg', sa.String(length=16), nullable=True),
    sa.Column('clauses_sha256', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_consent_authorization_institution_id_institution')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_authorization'))
    )
    with op.batch_alter_table('consent_authorization', schema=None) as batch_op:
        batch_op.create_index('ix_consent_authorization_enterprise_status', ['enterprise_uscc', 'status'], unique=False)
        batch_op.create_index('ix_consent_authorization_institution_status', ['institution_id', 'status'], unique=False)
        batch_op.create_index('ix_consent_authorization_status_expires_at', ['status', 'expires_at'], unique=False)

    op.create_table('consent_endpoint',
    sa.Column('institution_id', sa.Uuid(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('secret_enc', sa.String(length=600), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_consent_endpoint_institution_id_institution')),
    sa.PrimaryKeyConstraint('institution_id', name=op.f('pk_consent_endpoint')),
    sa.UniqueConstraint('url', name=op.f('uq_consent_endpoint_url'))
    )
    op.create_table('consent_fetch',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('authorization_id', sa.Uuid(), nullable=False),
    sa.Column('institution_id', sa.Uuid(), nullable=False),
    sa.Column('subject_uscc', sa.String(length=18), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('purpose', sa.String(length=40), nullable=False),
    sa.Column('items', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['authorization_id'], ['consent_authorization.id'], name=op.f('fk_consent_fetch_authorization_id_consent_authorization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_fetch'))
    )
    with op.batch_alter_table('consent_fetch', schema=None) as batch_op:
        batch_op.create_index('ix_consent_fetch_authorization_at', ['authorization_id', 'at'], unique=False)

    op.create_table('consent_transition',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('authorization_id', sa.Uuid(), nullable=False),
    sa.Column('transition', sa.String(length=16), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=False),
    sa.Column('actor_label', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['authorization_id'], ['consent_authorization.id'], name=op.f('fk_consent_transition_authorization_id_consent_authorization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_transition'))
    )
    with op.batch_alter_table('consent_transition', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_transition_authorization_id'), ['authorization_id'], unique=False)

    seeded_at = datetime(2026, 11, 23, tzinfo=UTC)
    op.bulk_insert(
        policy,
        [
            {
                'purpose': purpose,
                'max_validity_days': validity,
                'max_data_range_days': data_range,
                'max_frequency_unit': 'month',
                'max_frequency_fetches': fetches,
                'max_data_life_days': life,
                'updated_at': seeded_at,
                'updated_by': 'migration 0003',
            }
            for purpose, validity, data_range, fetches, life in _DEFAULT_POLICIES
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table('consent_transition', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_transition_authorization_id'))

    op.drop_table('consent_transition')
    with op.batch_alter_table('consent_fetch', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_fetch_authorization_at')

    op.drop_table('consent_fetch')
    op.drop_table('consent_endpoint')
    with op.batch_alter_table('consent_authorization', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_authorization_status_expires_at')
        batch_op.drop_index('ix_consent_authorization_institution_status')
        batch_op.drop_index('ix_consent_authorization_enterprise_status')

    op.drop_table('consent_authorization')
    op.drop_table('consent_policy')
