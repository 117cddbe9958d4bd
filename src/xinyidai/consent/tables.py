"""Consent tables: authorizations and their history, fetches counted against caps, fair-use policies, webhook endpoints."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.db import Base


class ConsentAuthorization(Base):
    """An authorization (授权) of an enterprise to an institution: the requested terms, status and signed artefact."""

    __tablename__ = "consent_authorization"
    __table_args__ = (
        sa.Index("ix_consent_authorization_institution_status", "institution_id", "status"),
        sa.Index("ix_consent_authorization_enterprise_status", "enterprise_uscc", "status"),
        sa.Index("ix_consent_authorization_status_expires_at", "status", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    enterprise_uscc: Mapped[str] = mapped_column(sa.String(18))
    institution_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("institution.id"))
    #: The institution's code and name when it asked (shown to the enterprise, stated in the artefact).
    institution_code: Mapped[str] = mapped_column(sa.String(40))
    institution_name: Mapped[str] = mapped_column(sa.String(200))
    purpose: Mapped[str] = mapped_column(sa.String(40))
    scope_categories: Mapped[list[str]] = mapped_column()
    scope_items: Mapped[list[str]] = mapped_column()
    catalog_version: Mapped[str] = mapped_column(sa.String(8))
    data_from: Mapped[date] = mapped_column()
    data_to: Mapped[date] = mapped_column()
    fetch_type: Mapped[str] = mapped_column(sa.String(16))
    frequency_unit: Mapped[str | None] = mapped_column(sa.String(16))
    frequency_max: Mapped[int | None] = mapped_column()
    data_life_days: Mapped[int] = mapped_column()
    starts_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    note: Mapped[str | None] = mapped_column(sa.String(500))
    status: Mapped[str] = mapped_column(sa.String(16))
    requested_at: Mapped[datetime] = mapped_column()
    requested_by: Mapped[str] = mapped_column(sa.String(200))
    decided_at: Mapped[datetime | None] = mapped_column()
    approved_by: Mapped[uuid.UUID | None] = mapped_column()
    valid_from: Mapped[datetime | None] = mapped_column()
    status_changed_at: Mapped[datetime] = mapped_column()
    #: The compact JWS the platform signed on approval, and the key that signed it.
    artefact: Mapped[str | None] = mapped_column(sa.Text)
    artefact_kid: Mapped[str | None] = mapped_column(sa.String(64))
    artefact_alg: Mapped[str | None] = mapped_column(sa.String(16))
    #: SHA-256 of the consent clauses the enterprise was shown and accepted.
    clauses_sha256: Mapped[str | None] = mapped_column(sa.String(64))


class ConsentTransition(Base):
    """One change of an authorization's status, with who made it and why (the history pages show)."""

    __tablename__ = "consent_transition"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    authorization_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("consent_authorization.id"), index=True)
    transition: Mapped[str] = mapped_column(sa.String(16))
    from_status: Mapped[str | None] = mapped_column(sa.String(16))
    to_status: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    actor_kind: Mapped[str] = mapped_column(sa.String(16))
    actor_id: Mapped[str] = mapped_column(sa.String(64))
    actor_label: Mapped[str] = mapped_column(sa.String(200))
    at: Mapped[datetime] = mapped_column()


class ConsentFetch(Base):
    """A read made under an authorization; counted against its frequency cap."""

    __tablename__ = "consent_fetch"
    __table_args__ = (sa.Index("ix_consent_fetch_authorization_at", "authorization_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    authorization_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("consent_authorization.id"))
    institution_id: Mapped[uuid.UUID] = mapped_column()
    subject_uscc: Mapped[str] = mapped_column(sa.String(18))
    action: Mapped[str] = mapped_column(sa.String(16))
    purpose: Mapped[str] = mapped_column(sa.String(40))
    items: Mapped[list[str]] = mapped_column()
    actor_id: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column()


class ConsentPolicy(Base):
    """The operator's fair-use bounds for one purpose."""

    __tablename__ = "consent_policy"

    purpose: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    max_validity_days: Mapped[int] = mapped_column()
    max_data_range_days: Mapped[int] = mapped_column()
    max_frequency_unit: Mapped[str] = mapped_column(sa.String(16))
    max_frequency_fetches: Mapped[int] = mapped_column()
    max_data_life_days: Mapped[int] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    updated_by: Mapped[str] = mapped_column(sa.String(200))


class ConsentEndpoint(Base):
    """Where an institution receives authorization status pushes: a webhook URL and its secret (encrypted at rest)."""

    __tablename__ = "consent_endpoint"

    institution_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("institution.id"), primary_key=True)
    url: Mapped[str] = mapped_column(sa.String(500), unique=True)
    secret_enc: Mapped[str] = mapped_column(sa.String(600))
    updated_at: Mapped[datetime] = mapped_column()
    updated_by: Mapped[str] = mapped_column(sa.String(200))
