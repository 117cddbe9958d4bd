"""Pydantic I/O models of the registry API."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field


class UsccRead(BaseModel):
    """Result of validating one USCC (the same object `xinyidai uscc validate` prints)."""

    code: str
    valid: bool
    errors: list[str]
    warnings: list[str]
    authority: str | None
    org_type: str | None
    region_code: str | None
    region_name: str | None


class SubjectSummaryRead(BaseModel):
    """A subject in a list."""

    uscc: str
    name: str
    region_code: str
    region_name: str | None
    industry_code: str | None
    status: str
    established_on: date | None


class SubjectPage(BaseModel):
    """A page of subjects."""

    items: list[SubjectSummaryRead]
    total: int
    limit: int
    offset: int


class SubjectRead(BaseModel):
    """A subject's registration record; personal data masked."""

    uscc: str
    name: str
    entity_type: str | None
    authority_code: str
    org_type_code: str
    region_code: str
    region_name: str | None
    industry_code: str | None
    industry_name: str | None
    size_class: str | None
    legal_rep_name: str | None
    legal_rep_id_type: str | None
    legal_rep_id_masked: str | None = Field(description="法定代表人证件号码（脱敏）")
    registered_capital_wan: Decimal | None = Field(description="注册资本（万元）")
    established_on: date | None
    address: str | None
    business_scope: str | None
    status: str
    registration_authority: str | None
