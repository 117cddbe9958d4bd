"""evaluation: the incremental refresh also follows the audit log (repairs change an evaluation without a new record)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 20:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('evaluation_watermark', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audit_seq', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('evaluation_watermark', schema=None) as batch_op:
        batch_op.drop_column('audit_seq')
