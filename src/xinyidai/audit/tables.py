"""Audit tables: the append-only, hash-chained event log, its Merkle tree nodes and signed checkpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.db import Base


class AuditEvent(Base):
    """One audited change or read of non-public data; `hash` chains it to its predecessor."""

    __tablename__ = "audit_event"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    node_id: Mapped[str] = mapped_column(sa.String(40))
    actor_kind: Mapped[str] = mapped_column(sa.String(16))
    actor_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    actor_label: Mapped[str] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(80), index=True)
    subject: Mapped[str | None] = mapped_column(sa.String(18), index=True)
    target_type: Mapped[str | None] = mapped_column(sa.String(40))
    target_id: Mapped[str | None] = mapped_column(sa.String(64))
    reasons: Mapped[list[str]] = mapped_column()
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    data: Mapped[dict[str, Any]] = mapped_column()
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


class AuditTreeNode(Base):
    """A completed perfect subtree of the RFC 6962 tree over the events: (level, position) covers leaves
    [position·2^level, (position+1)·2^level); level 0 holds the leaf hashes. Derived from the events and
    extended by `audit.integrate`; it only speeds up proofs — verification never trusts it."""

    __tablename__ = "audit_tree_node"

    level: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))


class AuditCheckpoint(Base):
    """A signed tree head: the platform's Ed25519 signature over (origin/node, tree size, root, time)."""

    __tablename__ = "audit_checkpoint"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tree_size: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    root_hash: Mapped[str] = mapped_column(sa.String(64))
    signed_at: Mapped[datetime] = mapped_column()
    origin: Mapped[str] = mapped_column(sa.String(120))
    key_name: Mapped[str] = mapped_column(sa.String(120))
    key_id: Mapped[str] = mapped_column(sa.String(8))
    signature: Mapped[str] = mapped_column(sa.String(100))
