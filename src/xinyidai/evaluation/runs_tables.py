"""Tables of evaluation runs and of the current evaluation of every enterprise.

``evaluation_current`` is replaced as a whole by each batch run (a new table loaded and swapped in, see
``batch.py``) and upserted row by row by the incremental refresh; it has no foreign keys, so the swap
needs none recreated, and every row names its run, snapshot and model versions.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.db import Base


class EvaluationRun(Base):
    """One evaluation run: a batch over every enterprise or an incremental refresh of a few."""

    __tablename__ = "evaluation_run"
    __table_args__ = (
        sa.CheckConstraint("status IN ('running', 'complete', 'failed')", name="status"),
        sa.CheckConstraint("mode IN ('batch', 'incremental')", name="mode"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    mode: Mapped[str] = mapped_column(sa.String(16))
    as_of: Mapped[date] = mapped_column()
    snapshot_id: Mapped[uuid.UUID] = mapped_column()
    engine: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16))
    #: Model versions used (B2's registry); no foreign key, so a run outlives a deleted draft.
    rules_version_id: Mapped[uuid.UUID | None] = mapped_column()
    card_version_id: Mapped[uuid.UUID | None] = mapped_column()
    rules_version: Mapped[str] = mapped_column(sa.String(64))
    indicator_set_version: Mapped[str] = mapped_column(sa.String(32))
    enterprises: Mapped[int] = mapped_column(sa.BigInteger)
    records: Mapped[int] = mapped_column(sa.BigInteger)
    #: Enterprises per grade, e.g. ``{"A": 10, "B": 5, …}``.
    grades: Mapped[dict[str, Any]] = mapped_column()
    #: Seconds per stage (snapshot, indicators, scoring, write_back).
    stage_seconds: Mapped[dict[str, Any]] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None] = mapped_column()
    actor: Mapped[str] = mapped_column(sa.String(200))


class EvaluationCurrent(Base):
    """The current evaluation of one enterprise, with what produced it."""

    __tablename__ = "evaluation_current"

    uscc: Mapped[str] = mapped_column(sa.String(18), primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(index=True)
    snapshot_id: Mapped[uuid.UUID] = mapped_column()
    as_of: Mapped[date] = mapped_column()
    rules_version_id: Mapped[uuid.UUID | None] = mapped_column()
    card_version_id: Mapped[uuid.UUID | None] = mapped_column()
    rule_score: Mapped[float] = mapped_column(sa.Float)
    grade: Mapped[str] = mapped_column(sa.String(1), index=True)
    card_score: Mapped[float | None] = mapped_column(sa.Float)
    pd: Mapped[float | None] = mapped_column(sa.Float)
    #: Compact codes of the top reasons (rule deductions with points, card features with bin index), e.g.
    #: ``r:dishonest_debtor:-150;c:tax_paid_12m_wan:0``; ``batch.stored_reasons`` expands them with the rule
    #: table and card versions named here (texts, advice, catalog items). Older rows hold JSON, read as is.
    reasons: Mapped[str] = mapped_column(sa.Text)
    #: The indicator values the evaluation used, packed (``kernel.pack_indicators``: set version, then values).
    indicators: Mapped[str] = mapped_column(sa.Text)
    evaluated_at: Mapped[datetime] = mapped_column()


class EvaluationWatermark(Base):
    """How far the incremental refresh has read the record store (``received_at`` of the latest record seen) and the
    audit log (``seq`` of the latest event read for changes that receive no record, such as a repair)."""

    __tablename__ = "evaluation_watermark"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    received_at: Mapped[datetime] = mapped_column()
    #: None until the first tick after the column was added (migration 0016) reads the log's head.
    audit_seq: Mapped[int | None] = mapped_column(sa.BigInteger)
    updated_at: Mapped[datetime] = mapped_column()


#: The indexes of ``evaluation_current`` the swap recreates, named by the naming convention.
CURRENT_INDEXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ix_evaluation_current_run_id", ("run_id",)),
    ("ix_evaluation_current_grade", ("grade",)),
)
