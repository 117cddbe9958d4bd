"""Ingest tables: data sources, delivered batches and their rejects, and the record store with its history.

The record store is written in bulk by the pipeline (COPY on PostgreSQL, ``executemany`` on SQLite), so
``ingest_record`` carries only the indexes its readers need: the primary key, derived from the item and
natural key (one index serves identity and dedupe), and the subject. It has no foreign keys to sources or
batches: both are append-only here, and per-row foreign-key checks would double the cost of a bulk load.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.db import Base, JsonText


class Source(Base):
    """A data source (数据来源单位): a unit of a department that delivers catalog items."""

    __tablename__ = "ingest_source"
    __table_args__ = (sa.CheckConstraint("status IN ('active', 'pending')", name="status"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    #: 数据来源单位代码, usually the unit's own USCC.
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    #: Catalog department code (``samr``, ``tax`` …).
    department_code: Mapped[str] = mapped_column(sa.String(40), index=True)
    #: The principal department (tenant) whose clerks and clients deliver for this source, if linked.
    department_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("department.id"), index=True)
    items: Mapped[list[str]] = mapped_column()
    modes: Mapped[list[str]] = mapped_column()
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    created_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(sa.String(200))
    confirmed_at: Mapped[datetime | None] = mapped_column()
    confirmed_by: Mapped[str | None] = mapped_column(sa.String(200))


class Batch(Base):
    """One delivered file and what became of every row in it; only committed batches exist."""

    __tablename__ = "ingest_batch"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    item_code: Mapped[str] = mapped_column(sa.String(40), index=True)
    #: The source named for the whole file (``--source`` or the uploading department's), if any.
    source_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("ingest_source.id"))
    #: Tenant that may see the batch (the uploading department, or the named source's department).
    department_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("department.id"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    file_name: Mapped[str] = mapped_column(sa.String(300))
    file_sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    file_size: Mapped[int] = mapped_column(sa.BigInteger)
    format: Mapped[str] = mapped_column(sa.String(8))
    encoding: Mapped[str | None] = mapped_column(sa.String(16))
    layout: Mapped[str] = mapped_column(sa.String(16))
    rows: Mapped[int] = mapped_column(sa.BigInteger)
    accepted: Mapped[int] = mapped_column(sa.BigInteger)
    updated: Mapped[int] = mapped_column(sa.BigInteger)
    unchanged: Mapped[int] = mapped_column(sa.BigInteger)
    rejected: Mapped[int] = mapped_column(sa.BigInteger)
    #: Rows superseded by a later row of the same natural key in the same file (counted in ``rejected``).
    duplicates: Mapped[int] = mapped_column(sa.BigInteger)
    #: Path of the rejects CSV, relative to the var directory.
    rejects_file: Mapped[str | None] = mapped_column(sa.String(300))
    #: The earlier batch of the identical file this one replays (nothing was re-applied).
    replay_of: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("ingest_batch.id"))
    summary: Mapped[dict[str, Any]] = mapped_column()
    actor_id: Mapped[str] = mapped_column(sa.String(64))
    actor_label: Mapped[str] = mapped_column(sa.String(200))
    started_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime] = mapped_column(index=True)


class Reject(Base):
    """One refused value of a batch: line, field, value (masked if personal) and reason."""

    __tablename__ = "ingest_reject"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("ingest_batch.id", ondelete="CASCADE"), index=True)
    line: Mapped[int] = mapped_column(sa.BigInteger)
    field: Mapped[str] = mapped_column(sa.String(64))
    value: Mapped[str | None] = mapped_column(sa.String(500))
    code: Mapped[str] = mapped_column(sa.String(40))
    reason: Mapped[str] = mapped_column(sa.String(500))


class Record(Base):
    """The current version of one record, keyed by (item, natural key); personal fields masked in ``data``."""

    __tablename__ = "ingest_record"

    #: UUIDv8 derived from the item code and the natural key (``model.record_id``).
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    item_code: Mapped[str] = mapped_column(sa.String(40))
    #: The subject's USCC: the link to the registry subject, whether it is registered yet or not.
    subject_uscc: Mapped[str | None] = mapped_column(sa.String(18), index=True)
    version: Mapped[int] = mapped_column()
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    #: Normalised values of the non-empty fields; personal ones masked. Stored as its JSON text (``JsonText``).
    data: Mapped[dict[str, Any]] = mapped_column(JsonText)
    #: Ciphertext (``kernel.pii``) of a JSON object holding the personal fields in clear.
    pii: Mapped[str | None] = mapped_column(sa.Text)
    event_date: Mapped[date | None] = mapped_column()
    severity: Mapped[str | None] = mapped_column(sa.String(20))
    publication_rule: Mapped[str | None] = mapped_column(sa.String(40))
    #: Last day of the minimum publication period (repair possible after it).
    publication_min_end: Mapped[date | None] = mapped_column()
    #: Last day the record is shown, shared or used; None: no publication limit.
    publication_end: Mapped[date | None] = mapped_column()
    #: Last day the record may be kept; the retention job deletes it afterwards. None: kept.
    retention_end: Mapped[date | None] = mapped_column()
    disputed: Mapped[bool] = mapped_column(default=False)
    repaired: Mapped[bool] = mapped_column(default=False)
    statement: Mapped[str | None] = mapped_column(sa.Text)
    #: The note kept with a disputed record (an objection that ended unresolved); cleared with the flag.
    dispute_note: Mapped[str | None] = mapped_column(sa.Text)
    source_id: Mapped[uuid.UUID | None] = mapped_column()
    #: Indexed for the per-batch queries of data quality (timeliness); a batch's rows share one key, so the
    #: index grows at one end during a bulk load.
    batch_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    #: ``delivery`` or ``correction``.
    origin: Mapped[str] = mapped_column(sa.String(16))
    #: Indexed for the incremental evaluation's watermark (records received since the last tick): a batch's rows
    #: share one time, later than the batches before it, so the index grows at one end during a bulk load.
    received_at: Mapped[datetime] = mapped_column(index=True)


class RecordVersion(Base):
    """A superseded version of a record, kept when a delivery or a correction replaced it.

    Keyed by (record, version), so a set-based copy from ``ingest_record`` needs no new ids.
    """

    __tablename__ = "ingest_record_version"

    record_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    item_code: Mapped[str] = mapped_column(sa.String(40))
    subject_uscc: Mapped[str | None] = mapped_column(sa.String(18))
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JsonText)
    pii: Mapped[str | None] = mapped_column(sa.Text)
    event_date: Mapped[date | None] = mapped_column()
    publication_end: Mapped[date | None] = mapped_column()
    retention_end: Mapped[date | None] = mapped_column()
    source_id: Mapped[uuid.UUID | None] = mapped_column()
    batch_id: Mapped[uuid.UUID | None] = mapped_column()
    origin: Mapped[str] = mapped_column(sa.String(16))
    received_at: Mapped[datetime] = mapped_column()
    superseded_at: Mapped[datetime] = mapped_column()
