"""Registry tables: market subjects (市场主体)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.db import Base


class Subject(Base):
    """A market subject identified by its USCC; the legal representative's ID is encrypted at rest."""

    __tablename__ = "subject"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200), index=True)
    entity_type: Mapped[str | None] = mapped_column(sa.String(60))
    authority_code: Mapped[str] = mapped_column(sa.String(1))
    org_type_code: Mapped[str] = mapped_column(sa.String(1))
    region_code: Mapped[str] = mapped_column(sa.String(6), index=True)
    industry_code: Mapped[str | None] = mapped_column(sa.String(5), index=True)
    size_class: Mapped[str | None] = mapped_column(sa.String(10))
    legal_rep_name: Mapped[str | None] = mapped_column(sa.String(100))
    legal_rep_id_type: Mapped[str | None] = mapped_column(sa.String(40))
    legal_rep_id_enc: Mapped[str | None] = mapped_column(sa.String(200))
    legal_rep_id_mask: Mapped[str | None] = mapped_column(sa.String(40))
    legal_rep_id_digest: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    registered_capital: Mapped[Decimal | None] = mapped_column(sa.Numeric(20, 6))
    established_on: Mapped[date | None] = mapped_column()
    address: Mapped[str | None] = mapped_column(sa.String(300))
    business_scope: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    registration_authority: Mapped[str | None] = mapped_column(sa.String(200))
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
