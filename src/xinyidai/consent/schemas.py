"""Pydantic I/O models of the consent API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

from xinyidai.consent.model import (
    AuthorizationStatus,
    AuthorizationTerms,
    DateRange,
    FairUsePolicy,
    FetchType,
    Frequency,
    FrequencyUnit,
    Purpose,
    Scope,
)
from xinyidai.consent.service import AuthorizationView, Clause, EndpointView, TransitionView, Verification, clauses_digest


class FrequencyIO(BaseModel):
    """At most `max_fetches` fetches per calendar `unit` (China time)."""

    max_fetches: int = Field(ge=1, le=10_000)
    unit: FrequencyUnit

    @classmethod
    def of(cls, frequency: Frequency) -> FrequencyIO:
        """From the model."""
        return cls(max_fetches=frequency.max_fetches, unit=frequency.unit)

    def to_model(self) -> Frequency:
        """To the model."""
        return Frequency(self.max_fetches, self.unit)


class AuthorizationCreate(BaseModel):
    """An institution's request: enterprise, purpose, scopes, data range, fetch pattern, data life, start and expiry."""

    enterprise_uscc: str = Field(min_length=18, max_length=18, description="授权企业的统一社会信用代码")
    purpose: Purpose
    scope_categories: list[str] = Field(default_factory=list, max_length=30, description="目录信息类别代码")
    scope_items: list[str] = Field(default_factory=list, max_length=100, description="目录信息项代码")
    data_from: date = Field(description="所查数据期间起（含）")
    data_to: date = Field(description="所查数据期间止（含）")
    fetch_type: FetchType
    frequency: FrequencyIO | None = Field(None, description="周期性查询的频次上限；一次性查询不填")
    data_life_days: int = Field(ge=0, le=36_500, description="机构可保存所获数据的天数，0 表示仅可查看")
    starts_at: AwareDatetime | None = Field(None, description="生效时间；不填则自企业同意时生效")
    expires_at: AwareDatetime
    note: str | None = Field(None, max_length=500, description="申请说明")

    def terms(self) -> AuthorizationTerms:
        """The requested terms as the rules see them."""
        return AuthorizationTerms(
            purpose=self.purpose,
            scope=Scope(frozenset(self.scope_categories), frozenset(self.scope_items)),
            data_range=DateRange(self.data_from, self.data_to),
            fetch_type=self.fetch_type,
            frequency=self.frequency.to_model() if self.frequency else None,
            data_life_days=self.data_life_days,
            starts_at=self.starts_at,
            expires_at=self.expires_at,
        )


class TransitionRead(BaseModel):
    """One step of the history."""

    transition: str
    from_status: str | None
    to_status: str
    reason: str | None
    actor: str
    at: datetime

    @classmethod
    def of(cls, step: TransitionView) -> TransitionRead:
        """From the service view."""
        return cls(
            transition=step.transition,
            from_status=step.from_status,
            to_status=step.to_status,
            reason=step.reason,
            actor=step.actor_label,
            at=step.at,
        )


class InstitutionRef(BaseModel):
    """The institution an authorization is given to."""

    id: uuid.UUID
    code: str
    name: str


class ClauseRead(BaseModel):
    """One clause of the standard-form consent; `key` ones must be shown prominently."""

    text: str
    key: bool

    @classmethod
    def of(cls, clause: Clause) -> ClauseRead:
        """From the service view."""
        return cls(text=clause.text, key=clause.key)


class AuthorizationRead(BaseModel):
    """An authorization as its institution or enterprise sees it; `status` is the one in force now."""

    id: uuid.UUID
    status: AuthorizationStatus
    status_label: str
    enterprise_uscc: str
    institution: InstitutionRef
    purpose: Purpose
    purpose_label: str
    scope_categories: list[str]
    scope_items: list[str]
    catalog_version: str
    data_from: date
    data_to: date
    fetch_type: FetchType
    frequency: FrequencyIO | None
    data_life_days: int
    starts_at: datetime | None
    expires_at: datetime
    note: str | None
    requested_at: datetime
    requested_by: str
    decided_at: datetime | None
    valid_from: datetime | None
    status_changed_at: datetime
    artefact: str | None = Field(description="平台签名的授权凭证（紧凑 JWS），企业同意后才有")
    artefact_kid: str | None
    artefact_alg: str | None
    clauses_sha256: str | None = Field(description="企业同意的授权条款的 SHA-256")
    clauses: list[ClauseRead] | None = Field(None, description="授权条款（仅单条查看时给出）")
    clauses_digest: str | None = Field(None, description="当前条款的 SHA-256；同意时可随密码一并提交")
    history: list[TransitionRead] = Field(default_factory=list)

    @classmethod
    def of(cls, view: AuthorizationView, *, clauses: tuple[Clause, ...] | None = None) -> AuthorizationRead:
        """From the service view; with `clauses`, the detail form."""
        return cls(
            id=view.id,
            status=view.status,
            status_label=view.status.label_zh,
            enterprise_uscc=view.enterprise_uscc,
            institution=InstitutionRef(id=view.institution_id, code=view.institution_code, name=view.institution_name),
            purpose=view.purpose,
            purpose_label=view.purpose.label_zh,
            scope_categories=list(view.scope_categories),
            scope_items=list(view.scope_items),
            catalog_version=view.catalog_version,
            data_from=view.data_from,
            data_to=view.data_to,
            fetch_type=view.fetch_type,
            frequency=FrequencyIO.of(view.frequency) if view.frequency else None,
            data_life_days=view.data_life_days,
            starts_at=view.starts_at,
            expires_at=view.expires_at,
            note=view.note,
            requested_at=view.requested_at,
            requested_by=view.requested_by,
            decided_at=view.decided_at,
            valid_from=view.valid_from,
            status_changed_at=view.status_changed_at,
            artefact=view.artefact,
            artefact_kid=view.artefact_kid,
            artefact_alg=view.artefact_alg,
            clauses_sha256=view.clauses_sha256,
            clauses=[ClauseRead.of(c) for c in clauses] if clauses is not None else None,
            clauses_digest=clauses_digest(clauses) if clauses is not None else None,
            history=[TransitionRead.of(h) for h in view.history],
        )


class AuthorizationPage(BaseModel):
    """A page of authorizations."""

    items: list[AuthorizationRead]
    total: int
    limit: int
    offset: int


class ApproveBody(BaseModel):
    """Approval: the enterprise user's password again, and optionally the digest of the clauses it read."""

    password: str = Field(min_length=1, max_length=1024)
    clauses_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")


class ReasonBody(BaseModel):
    """Why the enterprise rejects, pauses, resumes or revokes (recorded and pushed)."""

    reason: str | None = Field(None, max_length=500)


class VerifyBody(BaseModel):
    """An artefact to verify."""

    token: str = Field(min_length=1, max_length=20_000)


class VerifyRead(BaseModel):
    """Whether the signature holds (with the platform's published keys), the claims, and the status now."""

    valid: bool
    reason: str | None
    authorization_id: str | None
    kid: str | None
    alg: str | None
    status: str | None
    claims: dict[str, Any] | None

    @classmethod
    def of(cls, result: Verification) -> VerifyRead:
        """From the service result."""
        return cls(
            valid=result.valid,
            reason=result.reason,
            authorization_id=result.authorization_id,
            kid=result.kid,
            alg=result.alg,
            status=result.status,
            claims=result.claims,
        )


class PolicyIO(BaseModel):
    """Fair-use bounds of one purpose."""

    purpose: Purpose
    purpose_label: str | None = None
    max_validity_days: int = Field(ge=1, le=36_500, description="最长授权期限（天）")
    max_data_range_days: int = Field(ge=1, le=36_500, description="最宽数据时间范围（天）")
    max_frequency: FrequencyIO = Field(description="最高查询频次")
    max_data_life_days: int = Field(ge=0, le=36_500, description="最长数据保存期限（天）")

    @classmethod
    def of(cls, policy: FairUsePolicy) -> PolicyIO:
        """From the model."""
        return cls(
            purpose=policy.purpose,
            purpose_label=policy.purpose.label_zh,
            max_validity_days=policy.max_validity_days,
            max_data_range_days=policy.max_data_range_days,
            max_frequency=FrequencyIO.of(policy.max_frequency),
            max_data_life_days=policy.max_data_life_days,
        )

    def to_model(self) -> FairUsePolicy:
        """To the model."""
        return FairUsePolicy(
            purpose=self.purpose,
            max_validity_days=self.max_validity_days,
            max_data_range_days=self.max_data_range_days,
            max_frequency=self.max_frequency.to_model(),
            max_data_life_days=self.max_data_life_days,
        )


class PoliciesIO(BaseModel):
    """Every purpose's bounds (PUT replaces those of the purposes listed)."""

    policies: list[PolicyIO] = Field(max_length=50)


class PurposeRead(BaseModel):
    """A purpose code, its Chinese name and its fair-use bounds."""

    code: Purpose
    label: str
    policy: PolicyIO


class EndpointWrite(BaseModel):
    """Where the institution receives status pushes; omit the secret to have one generated (shown once)."""

    url: str = Field(min_length=8, max_length=500)
    secret: str | None = Field(None, min_length=24, max_length=200)


class EndpointRead(BaseModel):
    """The institution's endpoint; `secret` only in the answer that generated it."""

    url: str
    secret_set: bool
    updated_at: datetime
    secret: str | None = None

    @classmethod
    def of(cls, view: EndpointView) -> EndpointRead:
        """From the service view."""
        return cls(url=view.url, secret_set=view.secret_set, updated_at=view.updated_at, secret=view.generated_secret)
