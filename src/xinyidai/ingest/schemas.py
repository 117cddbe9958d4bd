"""Pydantic I/O models of the ingest API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class SourceRead(BaseModel):
    """A data source (数据来源单位)."""

    id: uuid.UUID
    code: str
    name: str
    department_code: str
    department_name: str
    department_id: uuid.UUID | None
    items: list[str]
    modes: list[str]
    status: str
    created_at: datetime
    created_by: str
    confirmed_at: datetime | None
    confirmed_by: str | None


class SourcePage(BaseModel):
    """A page of sources."""

    items: list[SourceRead]
    total: int
    limit: int
    offset: int


class SourceCreate(BaseModel):
    """An active source registered by an operator."""

    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    department_code: str = Field(min_length=1, max_length=40)
    items: list[str] = Field(min_length=1, max_length=40)
    modes: list[str] = Field(default_factory=lambda: ["bulk"], max_length=3)
    department_id: uuid.UUID | None = None


class BatchRead(BaseModel):
    """A batch and what became of its rows (``accepted + updated + unchanged + rejected == rows``)."""

    id: uuid.UUID
    item_code: str
    item_name: str
    source_code: str | None
    department_id: uuid.UUID | None
    channel: str
    file_name: str
    file_sha256: str
    file_size: int
    format: str
    encoding: str | None
    layout: str
    rows: int
    accepted: int
    updated: int
    unchanged: int
    rejected: int
    duplicates: int
    has_rejects: bool
    replay_of: uuid.UUID | None
    summary: dict[str, Any]
    actor_label: str
    started_at: datetime
    finished_at: datetime


class BatchPage(BaseModel):
    """A page of batches."""

    items: list[BatchRead]
    total: int
    limit: int
    offset: int


class RejectRead(BaseModel):
    """One reject: line, field, value (personal values masked), machine code and reason."""

    line: int
    field: str
    value: str | None
    code: str
    reason: str


class RejectPage(BaseModel):
    """A page of a batch's rejects."""

    batch_id: uuid.UUID
    items: list[RejectRead]
    total: int
    limit: int
    offset: int
