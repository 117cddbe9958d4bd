"""Lending tables: applications, enterprise notifications, loans with their schedules and repayments,
and the idempotency keys of API calls."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from xinyidai.db import Base


class ScaledDecimal(sa.types.TypeDecorator[Decimal]):
    """An exact decimal stored as an integer count of 10^-places: exact on SQLite (which has no decimal type) and
    PostgreSQL alike, and summable in SQL. Values with more places than the column holds are refused."""

    impl = sa.BigInteger
    cache_ok = True

    def __init__(self, places: int) -> None:
        super().__init__()
        self.places = places

    def process_bind_param(self, value: Decimal | None, dialect: sa.Dialect) -> int | None:
        if value is None:
            return None
        scaled = Decimal(value).scaleb(self.places)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has more than {self.places} decimal places")
        return int(scaled)

    def process_result_value(self, value: int | None, dialect: sa.Dialect) -> Decimal | None:
        return None if value is None else Decimal(value).scaleb(-self.places)


#: Amounts in 万元 to the fen (0.000001 万元).
_WAN = ScaledDecimal(6)
#: Annual rates in percent to four places (0.0001 %).
_RATE = ScaledDecimal(4)


class LendingApplication(Base):
    """An enterprise's application (融资申请) to one product of one institution, and its decision."""

    __tablename__ = "lending_application"
    __table_args__ = (
        sa.CheckConstraint("status IN ('submitted', 'accepted', 'approved', 'rejected', 'withdrawn')", name="status"),
        sa.CheckConstraint("amount_wan > 0", name="amount_positive"),
        sa.Index("ix_lending_application_institution_status", "institution_id", "status"),
        sa.Index("ix_lending_application_enterprise", "enterprise_uscc", "submitted_at"),
        sa.Index("ix_lending_application_status_due", "status", "decision_due_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    enterprise_uscc: Mapped[str] = mapped_column(sa.String(18))
    #: The product applied to: a plain reference (the product domain owns products).
    product_id: Mapped[uuid.UUID] = mapped_column()
    product_name: Mapped[str] = mapped_column(sa.String(200))
    institution_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("institution.id"))
    #: The authorization the product needs, when the enterprise has one (filled by the consent hook).
    authorization_id: Mapped[uuid.UUID | None] = mapped_column()
    amount_wan: Mapped[Decimal] = mapped_column(_WAN)
    term_months: Mapped[int] = mapped_column()
    purpose: Mapped[str] = mapped_column(sa.String(500))
    status: Mapped[str] = mapped_column(sa.String(16))
    submitted_at: Mapped[datetime] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()
    decision_due_on: Mapped[date | None] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_by: Mapped[str | None] = mapped_column(sa.String(200))
    approved_amount_wan: Mapped[Decimal | None] = mapped_column(_WAN)
    approved_rate_pct: Mapped[Decimal | None] = mapped_column(_RATE)
    approved_term_months: Mapped[int | None] = mapped_column()
    rejection_reasons: Mapped[list[str]] = mapped_column(default=list)
    rejection_text: Mapped[str | None] = mapped_column(sa.String(2000))
    withdrawn_at: Mapped[datetime | None] = mapped_column()
    #: Set when the decision deadline passed undecided (escalated to the regulator's overdue list).
    overdue_at: Mapped[datetime | None] = mapped_column()
    reminded_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class LendingNotification(Base):
    """An in-app message to an enterprise about its application or loan."""

    __tablename__ = "lending_notification"
    __table_args__ = (sa.Index("ix_lending_notification_enterprise_created", "enterprise_uscc", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    enterprise_uscc: Mapped[str] = mapped_column(sa.String(18))
    application_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("lending_application.id"))
    loan_id: Mapped[uuid.UUID | None] = mapped_column()
    kind: Mapped[str] = mapped_column(sa.String(40))
    message: Mapped[str] = mapped_column(sa.String(1000))
    created_at: Mapped[datetime] = mapped_column()
    read_at: Mapped[datetime | None] = mapped_column()


class LendingLoan(Base):
    """A loan (贷款) registered by an institution, from an approval or by renewing an earlier loan, with its performance."""

    __tablename__ = "lending_loan"
    __table_args__ = (
        sa.CheckConstraint("status IN ('active', 'repaid', 'renewed')", name="status"),
        sa.CheckConstraint(
            "classification IN ('normal', 'special_mention', 'substandard', 'doubtful', 'loss')", name="classification"
        ),
        sa.CheckConstraint("amount_wan > 0", name="amount_positive"),
        sa.CheckConstraint("days_past_due >= 0", name="dpd"),
        sa.Index("ix_lending_loan_institution_status", "institution_id", "status"),
        sa.Index("ix_lending_loan_enterprise", "enterprise_uscc"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    #: One loan per approved application; renewals have none.
    application_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("lending_application.id"), unique=True)
    renewed_from_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("lending_loan.id"), unique=True)
    enterprise_uscc: Mapped[str] = mapped_column(sa.String(18))
    institution_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("institution.id"))
    product_id: Mapped[uuid.UUID] = mapped_column()
    amount_wan: Mapped[Decimal] = mapped_column(_WAN)
    annual_rate_pct: Mapped[Decimal] = mapped_column(_RATE)
    start_on: Mapped[date] = mapped_column()
    maturity_on: Mapped[date] = mapped_column()
    term_months: Mapped[int] = mapped_column()
    repayment_method: Mapped[str] = mapped_column(sa.String(24))
    credit_loan: Mapped[bool] = mapped_column()
    renewal: Mapped[bool] = mapped_column()
    guarantee: Mapped[str] = mapped_column(sa.String(500))
    status: Mapped[str] = mapped_column(sa.String(16))
    classification: Mapped[str] = mapped_column(sa.String(16))
    days_past_due: Mapped[int] = mapped_column()
    principal_repaid_wan: Mapped[Decimal] = mapped_column(_WAN)
    interest_repaid_wan: Mapped[Decimal] = mapped_column(_WAN)
    #: The date of the latest performance report (repayment, classification, days past due).
    performance_as_of: Mapped[date] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class LendingInstalment(Base):
    """One instalment of a loan's repayment schedule."""

    __tablename__ = "lending_instalment"

    loan_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("lending_loan.id"), primary_key=True)
    number: Mapped[int] = mapped_column(primary_key=True)
    due_on: Mapped[date] = mapped_column()
    principal_wan: Mapped[Decimal] = mapped_column(_WAN)
    interest_wan: Mapped[Decimal] = mapped_column(_WAN)


class LendingRepayment(Base):
    """A repayment an institution reported."""

    __tablename__ = "lending_repayment"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    loan_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("lending_loan.id"), index=True)
    paid_on: Mapped[date] = mapped_column()
    principal_wan: Mapped[Decimal] = mapped_column(_WAN)
    interest_wan: Mapped[Decimal] = mapped_column(_WAN)
    recorded_at: Mapped[datetime] = mapped_column()
    recorded_by: Mapped[str] = mapped_column(sa.String(200))


class LendingIdempotencyKey(Base):
    """An `Idempotency-Key` a caller used on a POST: the request's fingerprint and the stored answer."""

    __tablename__ = "lending_idempotency_key"
    __table_args__ = (sa.UniqueConstraint("caller", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    #: "kind:id" of the principal: keys are scoped per caller, so two clients never collide.
    caller: Mapped[str] = mapped_column(sa.String(80))
    key: Mapped[str] = mapped_column(sa.String(200))
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    #: Null while the first request with the key is still running.
    status_code: Mapped[int | None] = mapped_column()
    response: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(index=True)
