"""Pydantic I/O models of the evaluation API: evaluations, distributions, model versions, subscriptions, pushes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from xinyidai.evaluation.models import ModelVersion
from xinyidai.evaluation.push import PushedEvaluation, Subscription


class ReasonRead(BaseModel):
    """One reason: what cost or earned points, what to improve, and the record behind it."""

    text: str
    points: float | None
    indicator: str | None
    indicator_name: str | None
    advice: str
    link: str | None
    source: str


class IndicatorRead(BaseModel):
    """One indicator value with its definition."""

    code: str
    name_zh: str
    name_en: str
    definition_zh: str
    unit: str
    value: Any
    items: list[str]


class EvaluationRead(BaseModel):
    """An enterprise's evaluation: grade, scores, PD, reasons, indicators and where it came from."""

    uscc: str
    grade: str | None
    grade_label: str
    rule_score: float | None
    card_score: float | None
    pd: float | None
    pd_band: str | None
    reasons: list[ReasonRead]
    indicators: list[IndicatorRead]
    run_id: uuid.UUID
    snapshot_id: uuid.UUID
    as_of: date
    rules_version_id: uuid.UUID | None
    rules_version_label: str | None
    card_version_id: uuid.UUID | None
    card_version_label: str | None
    evaluated_at: datetime


class GroupRead(BaseModel):
    """Grade counts of one region or industry."""

    code: str
    name: str
    total: int
    counts: dict[str, int]


class DistributionRead(BaseModel):
    """Grade distribution overall, by region and by industry."""

    total: int
    overall: dict[str, int]
    by_region: list[GroupRead]
    by_industry: list[GroupRead]
    as_of: date | None
    run_ids: list[str]


class ModelVersionRead(BaseModel):
    """A model version; `content` and `validation` only on the single-version read."""

    id: uuid.UUID
    family: Literal["rules", "scorecard"]
    label: str
    status: Literal["draft", "approved", "retired"]
    role: Literal["champion", "challenger"] | None
    content_sha256: str
    parent_id: uuid.UUID | None
    note: str | None
    training_snapshot_id: uuid.UUID | None
    training_as_of: date | None
    training_figures: dict[str, Any]
    headline: dict[str, Any]
    created_by: str
    created_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    retired_at: datetime | None
    content: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None

    @classmethod
    def of(cls, v: ModelVersion, *, full: bool = False) -> ModelVersionRead:
        """From the registry's view."""
        data = v.summary()
        if full:
            data.update(content=v.content, validation=v.validation)
        return cls.model_validate(data)


class ModelVersionList(BaseModel):
    """Every version, newest first."""

    items: list[ModelVersionRead]


class ModelApproveBody(BaseModel):
    """Approve a draft as champion (default) or challenger."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["champion", "challenger"] = "champion"


class RoleBody(BaseModel):
    """Promote an approved version to a role, or retire it (`role` null)."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["champion", "challenger"] | None


class RulesDraftCreate(BaseModel):
    """An operator's edited rule table (the layout of `RuleTable.to_dict()`), stored as a draft."""

    model_config = ConfigDict(extra="forbid")

    table: dict[str, Any]
    parent_id: uuid.UUID | None = None
    label: str | None = Field(default=None, max_length=80)
    note: str | None = Field(default=None, max_length=500)


class SubscriptionBody(BaseModel):
    """Turn evaluation pushes on or off."""

    model_config = ConfigDict(extra="forbid")

    active: bool


class SubscriptionRead(BaseModel):
    """The institution's subscription and where pushes go (its consent webhook endpoint)."""

    institution_id: uuid.UUID
    active: bool
    updated_by: str | None
    updated_at: datetime | None
    endpoint_url: str | None

    @classmethod
    def of(cls, s: Subscription) -> SubscriptionRead:
        """From the service's view."""
        return cls(
            institution_id=s.institution_id,
            active=s.active,
            updated_by=s.updated_by,
            updated_at=s.updated_at,
            endpoint_url=s.endpoint_url,
        )


class PushRead(BaseModel):
    """One evaluation pushed to the institution."""

    id: uuid.UUID
    uscc: str
    run_id: uuid.UUID
    authorization_id: uuid.UUID
    grade: str | None
    rule_score: Decimal | None
    card_score: Decimal | None
    pd: Decimal | None
    pushed_at: datetime

    @classmethod
    def of(cls, p: PushedEvaluation) -> PushRead:
        """From the service's view."""
        return cls(
            id=p.id,
            uscc=p.uscc,
            run_id=p.run_id,
            authorization_id=p.authorization_id,
            grade=p.grade,
            rule_score=p.rule_score,
            card_score=p.card_score,
            pd=p.pd,
            pushed_at=p.pushed_at,
        )


class PushPageRead(BaseModel):
    """A page of pushed evaluations."""

    items: list[PushRead]
    total: int
    limit: int
    offset: int
