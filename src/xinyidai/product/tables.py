"""Product tables: products (信易贷产品), financing needs (融资需求) and idempotency records of POST requests."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.db import Base


class LoanProduct(Base):
    """A product an institution offers; eligibility rules are data (`model.EligibilityRules.to_json`)."""

    __tablename__ = "product"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    institution_id: Mapped[uuid.UUID] = mapped_column(index=True)
    institution_name: Mapped[str] = mapped_column(sa.String(200))
    name: Mapped[str] = mapped_column(sa.String(200))
    type: Mapped[str] = mapped_column(sa.String(40), index=True)
    credit_loan: Mapped[bool] = mapped_column()
    amount_min: Mapped[Decimal] = mapped_column(sa.Numeric(20, 6))
    amount_max: Mapped[Decimal] = mapped_column(sa.Numeric(20, 6))
    term_min: Mapped[int] = mapped_column()
    term_max: Mapped[int] = mapped_column()
    rate_min: Mapped[Decimal] = mapped_column(sa.Numeric(8, 4))
    rate_max: Mapped[Decimal] = mapped_column(sa.Numeric(8, 4))
    repayment_methods: Mapped[list[str]] = mapped_column()
    scope_items: Mapped[list[str]] = mapped_column()
    purpose: Mapped[str] = mapped_column(sa.String(40))
    rules: Mapped[dict[str, Any]] = mapped_column()
    description: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    published_at: Mapped[datetime | None] = mapped_column()
    withdrawn_at: Mapped[datetime | None] = mapped_column()


class FinancingNeed(Base):
    """A need an enterprise posted: `shared` holds only the fields it chose to share; `facts` (never shown to
    institutions) is the snapshot used to decide which products could serve it."""

    __tablename__ = "financing_need"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    amount: Mapped[Decimal] = mapped_column(sa.Numeric(20, 6))
    term_months: Mapped[int] = mapped_column()
    purpose: Mapped[str] = mapped_column(sa.String(200))
    urgency: Mapped[str] = mapped_column(sa.String(20))
    shared_fields: Mapped[list[str]] = mapped_column()
    shared: Mapped[dict[str, Any]] = mapped_column()
    facts: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    created_at: Mapped[datetime] = mapped_column()


class IdempotencyRecord(Base):
    """One `Idempotency-Key` of one caller on one route: the request digest and, once done, the response."""

    __tablename__ = "idempotency_record"
    __table_args__ = (sa.UniqueConstraint("owner", "scope", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(sa.String(80))
    scope: Mapped[str] = mapped_column(sa.String(200))
    key: Mapped[str] = mapped_column(sa.String(200))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(10))
    response_status: Mapped[int | None] = mapped_column()
    response_body: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(index=True)
    completed_at: Mapped[datetime | None] = mapped_column()
