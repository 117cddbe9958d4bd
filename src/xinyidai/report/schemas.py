"""Report I/O models."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from xinyidai.consent import Purpose
from xinyidai.report.service import ReportDocument, ReportSummary, ReportVerification


class PublicReportCreate(BaseModel):
    """Ask for the 公共信用信息报告 of a subject."""

    model_config = ConfigDict(extra="forbid")
    uscc: str = Field(min_length=18, max_length=18)


class AuthorizedReportCreate(BaseModel):
    """Pull a report under an authorization, for its purpose."""

    model_config = ConfigDict(extra="forbid")
    uscc: str = Field(min_length=18, max_length=18)
    authorization_id: uuid.UUID
    purpose: Purpose


class SpecialReportCreate(BaseModel):
    """An enterprise's request for its own 专项信用报告."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field("general", min_length=1, max_length=32)
    period_from: date
    period_to: date


class ReportEnvelope(BaseModel):
    """A report as JSON: the signed document, its SHA-256 and the platform's signature (compact JWS)."""

    report: dict[str, Any]
    sha256: str
    signature: str
    signature_type: str
    key_id: str

    @classmethod
    def of(cls, doc: ReportDocument) -> ReportEnvelope:
        """From the service's document."""
        return cls(**doc.envelope())


class ReportSummaryRead(BaseModel):
    """One of the caller's reports."""

    number: str
    kind: str
    title: str
    subject_uscc: str
    subject_name: str | None
    generated_at: datetime
    verification_code: str

    @classmethod
    def of(cls, s: ReportSummary) -> ReportSummaryRead:
        """From the service's summary."""
        return cls(
            number=s.number,
            kind=s.kind.value,
            title=s.title,
            subject_uscc=s.subject_uscc,
            subject_name=s.subject_name,
            generated_at=s.generated_at,
            verification_code=s.verification_code,
        )


class ReportVerificationRead(BaseModel):
    """The public facts of a report behind a verification code, and whether a presented copy matches."""

    number: str
    kind: str
    title: str
    subject_uscc: str
    subject_name: str | None
    generated_at: datetime
    sha256: str
    key_id: str
    signature: str
    signature_valid: bool
    matches: bool | None
    presented_sha256: str | None
    keys_url: str = "/api/v1/consent/keys"

    @classmethod
    def of(cls, v: ReportVerification) -> ReportVerificationRead:
        """From the service's verification."""
        return cls(
            number=v.number,
            kind=v.kind.value,
            title=v.title,
            subject_uscc=v.subject_uscc,
            subject_name=v.subject_name,
            generated_at=v.generated_at,
            sha256=v.sha256,
            key_id=v.key_id,
            signature=v.signature,
            signature_valid=v.signature_valid,
            matches=v.matches,
            presented_sha256=v.presented_sha256,
        )
