"""ingest: the record store keeps `data` as json text on PostgreSQL (checked, not decomposed into jsonb)

The record JSON is written in bulk and read whole (reports, views, the evaluation snapshot); nothing queries inside
it in SQL. jsonb parsed every value into its binary form on the bulk load and printed it back to text on every
read (ADR 0008, session 6). SQLite keeps JSON text either way: nothing to do there.

The change rewrites both tables (ACCESS EXCLUSIVE while it runs): run it in a maintenance window on a large store.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 23:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("ingest_record", "ingest_record_version")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN data TYPE json USING data::json")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN data TYPE jsonb USING data::jsonb")
