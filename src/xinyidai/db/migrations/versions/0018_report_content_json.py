"""report: the stored document is kept as json text on PostgreSQL (checked, not decomposed into jsonb)

A report's content is written once, as the canonical JSON its hash and signature cover, and read whole (download,
verification); nothing queries inside it in SQL. jsonb parsed every issued document into its binary form and
printed it back on every read (ADR 0013, session 7). SQLite keeps JSON text either way: nothing to do there.

The change rewrites the table (ACCESS EXCLUSIVE while it runs): run it in a maintenance window on a large store.
Documents stored before it keep their content (jsonb's text of it, whose canonical JSON — and so hash — is the same).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08 02:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE report ALTER COLUMN content TYPE json USING content::json")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE report ALTER COLUMN content TYPE jsonb USING content::jsonb")
