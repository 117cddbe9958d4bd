"""Pydantic I/O models of the lending API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from xinyidai.lending.model import (
    ApplicationStatus,
    Approval,
    DeadlineTone,
    LoanClass,
    LoanRepaymentMethod,
    LoanStatus,
    LoanTerms,
    Rejection,
    RejectionReason,
)
from xinyidai.lending.service import ApplicationView, LoanView, Overview

_Wan = Field(gt=0, max_digits=18, decimal_places=6, description="金额（万元）")
_Rate = Field(ge=0, lt=36, max_digits=9, decimal_places=4, description="年利率（%）")


class ApplicationCreate(BaseModel):
    """An enterprise applies to a product."""

    model_config = ConfigDict(extra="forbid")

    product_id: uuid.UUID
    amount_wan: Decimal = _Wan
    term_months: int = Field(ge=1, le=360)
    purpose: str = Field(min_length=1, max_length=500)


class DecisionBody(BaseModel):
    """Approve with amount, rate and term, or reject with at least one coded reason and text."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["approved", "rejected"]
    amount_wan: Decimal | None = Field(default=None, gt=0, max_digits=18, decimal_places=6)
    annual_rate_pct: Decimal | None = Field(default=None, ge=0, lt=36, max_digits=9, decimal_places=4)
    term_months: int | None = Field(default=None, ge=1, le=360)
    reasons: list[RejectionReason] = Field(default_factory=list, max_length=10)
    text: str = Field(default="", max_length=2000)

    def approval(self) -> Approval | None:
        """The approval, when approving (missing fields are refused by the rules)."""
        if self.outcome != "approved":
            return None
        return Approval(self.amount_wan or Decimal(0), self.annual_rate_pct or Decimal(-1), self.term_months or 0)

    def rejection(self) -> Rejection | None:
        """The rejection, when rejecting."""
        return Rejection(tuple(dict.fromkeys(self.reasons)), self.text) if self.outcome == "rejected" else None


class LoanTermsBody(BaseModel):
    """The terms of a loan being registered or renewed."""

    model_config = ConfigDict(extra="forbid")

    amount_wan: Decimal = _Wan
    annual_rate_pct: Decimal = _Rate
    start_on: date
    term_months: int = Field(ge=1, le=360)
    repayment_method: LoanRepaymentMethod
    credit_loan: bool
    guarantee: str = Field(default="", max_length=500)

    def terms(self) -> LoanTerms:
        """As the rules see them."""
        return LoanTerms(
            amount_wan=self.amount_wan,
            annual_rate_pct=self.annual_rate_pct,
            start_on=self.start_on,
            term_months=self.term_months,
            method=self.repayment_method,
            credit_loan=self.credit_loan,
            guarantee=self.guarantee,
        )


class LoanCreate(LoanTermsBody):
    """Register the loan an approved application became."""

    application_id: uuid.UUID


class RepaymentBody(BaseModel):
    """A repayment the institution received."""

    model_config = ConfigDict(extra="forbid")

    paid_on: date
    principal_wan: Decimal = Field(ge=0, max_digits=18, decimal_places=6)
    interest_wan: Decimal = Field(ge=0, max_digits=18, decimal_places=6)


class ClassificationBody(BaseModel):
    """The five-category classification and days past due as of a date."""

    model_config = ConfigDict(extra="forbid")

    classification: LoanClass
    days_past_due: int = Field(ge=0, le=100_000)
    as_of: date


class ApplicationRead(BaseModel):
    """An application and its deadline."""

    id: uuid.UUID
    enterprise_uscc: str
    institution_id: uuid.UUID
    product_id: uuid.UUID
    product_name: str
    authorization_id: uuid.UUID | None
    amount_wan: Decimal
    term_months: int
    purpose: str
    status: ApplicationStatus
    submitted_at: datetime
    accepted_at: datetime | None
    decision_due_on: date | None
    decided_at: datetime | None
    approved_amount_wan: Decimal | None
    approved_rate_pct: Decimal | None
    approved_term_months: int | None
    rejection_reasons: list[RejectionReason]
    rejection_text: str | None
    withdrawn_at: datetime | None
    overdue: bool
    working_days_left: int | None
    deadline_tone: DeadlineTone | None
    loan_id: uuid.UUID | None

    @classmethod
    def of(cls, v: ApplicationView) -> ApplicationRead:
        """From the service's view."""
        return cls(
            id=v.id,
            enterprise_uscc=v.enterprise_uscc,
            institution_id=v.institution_id,
            product_id=v.product_id,
            product_name=v.product_name,
            authorization_id=v.authorization_id,
            amount_wan=v.amount_wan,
            term_months=v.term_months,
            purpose=v.purpose,
            status=v.status,
            submitted_at=v.submitted_at,
            accepted_at=v.accepted_at,
            decision_due_on=v.decision_due_on,
            decided_at=v.decided_at,
            approved_amount_wan=v.approved_amount_wan,
            approved_rate_pct=v.approved_rate_pct,
            approved_term_months=v.approved_term_months,
            rejection_reasons=list(v.rejection_reasons),
            rejection_text=v.rejection_text,
            withdrawn_at=v.withdrawn_at,
            overdue=v.overdue,
            working_days_left=v.working_days_left,
            deadline_tone=v.tone,
            loan_id=v.loan_id,
        )


class ApplicationPage(BaseModel):
    """A page of applications."""

    items: list[ApplicationRead]
    total: int
    limit: int
    offset: int


class InstalmentRead(BaseModel):
    """One instalment of the schedule."""

    number: int
    due_on: date
    principal_wan: Decimal
    interest_wan: Decimal


class LoanRead(BaseModel):
    """A loan, its performance and (when asked for one loan) its schedule."""

    id: uuid.UUID
    application_id: uuid.UUID | None
    renewed_from_id: uuid.UUID | None
    enterprise_uscc: str
    institution_id: uuid.UUID
    product_id: uuid.UUID
    amount_wan: Decimal
    annual_rate_pct: Decimal
    start_on: date
    maturity_on: date
    term_months: int
    repayment_method: LoanRepaymentMethod
    credit_loan: bool
    renewal: bool
    guarantee: str
    status: LoanStatus
    classification: LoanClass
    days_past_due: int
    principal_repaid_wan: Decimal
    interest_repaid_wan: Decimal
    outstanding_wan: Decimal
    performance_as_of: date
    defaulted: bool
    schedule: list[InstalmentRead]

    @classmethod
    def of(cls, v: LoanView) -> LoanRead:
        """From the service's view."""
        return cls(
            id=v.id,
            application_id=v.application_id,
            renewed_from_id=v.renewed_from_id,
            enterprise_uscc=v.enterprise_uscc,
            institution_id=v.institution_id,
            product_id=v.product_id,
            amount_wan=v.amount_wan,
            annual_rate_pct=v.annual_rate_pct,
            start_on=v.start_on,
            maturity_on=v.maturity_on,
            term_months=v.term_months,
            repayment_method=v.repayment_method,
            credit_loan=v.credit_loan,
            renewal=v.renewal,
            guarantee=v.guarantee,
            status=v.status,
            classification=v.classification,
            days_past_due=v.days_past_due,
            principal_repaid_wan=v.principal_repaid_wan,
            interest_repaid_wan=v.interest_repaid_wan,
            outstanding_wan=v.outstanding_wan,
            performance_as_of=v.performance_as_of,
            defaulted=v.defaulted,
            schedule=[InstalmentRead(**{f: getattr(i, f) for f in InstalmentRead.model_fields}) for i in v.schedule],
        )


class LoanPage(BaseModel):
    """A page of loans."""

    items: list[LoanRead]
    total: int
    limit: int
    offset: int


class OverdueRead(BaseModel):
    """An accepted application past its decision deadline."""

    application_id: uuid.UUID
    enterprise_uscc: str
    institution_id: uuid.UUID
    product_name: str
    decision_due_on: date
    working_days_overdue: int
    escalated: bool


class OverviewRead(BaseModel):
    """The regulator's 信易贷 overview."""

    as_of: date
    applications_by_status: dict[str, int]
    applications_total: int
    approval_rate: Decimal | None
    decided_late: int
    loans_total: int
    loan_amount_wan: Decimal
    credit_loans: int
    credit_loan_amount_wan: Decimal
    credit_loan_share: Decimal | None
    credit_loan_amount_share: Decimal | None
    renewals: int
    defaulted_loans: int
    overdue_decisions: list[OverdueRead]

    @classmethod
    def of(cls, v: Overview) -> OverviewRead:
        """From the service's view."""
        data = {f: getattr(v, f) for f in cls.model_fields if f != "overdue_decisions"}
        overdue = [OverdueRead(**{f: getattr(o, f) for f in OverdueRead.model_fields}) for o in v.overdue_decisions]
        return cls(**data, overdue_decisions=overdue)
