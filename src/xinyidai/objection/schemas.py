"""Pydantic I/O models of the objection API."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from xinyidai.objection.model import MAX_ANSWER_CHARS, DeadlineTone, ObjectionStatus, Outcome


class AttachmentRead(BaseModel):
    """An attached file; download it at ``/api/v1/objections/{id}/attachments/{attachment_id}``."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    position: int
    label: str
    media_type: str
    size: int
    sha256: str
    uploaded_at: datetime


class ObjectionRead(BaseModel):
    """An objection (异议) with its deadline and, once answered, the outcome and written answer."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    record_id: uuid.UUID
    item_code: str
    item_name: str
    subject_uscc: str
    department_id: uuid.UUID | None
    department_code: str
    department_name: str
    status: ObjectionStatus
    reasons: str
    filed_at: datetime
    received_on: date
    due_on: date
    record_version: int
    reminders_sent: int
    escalated_at: datetime | None
    resolved_at: datetime | None
    answer: str | None
    corrected_version: int | None
    days_left: int | None
    tone: DeadlineTone | None
    attachments: list[AttachmentRead]


class ObjectionPage(BaseModel):
    """One page of objections."""

    items: list[ObjectionRead]
    total: int
    limit: int
    offset: int


class ResolveBody(BaseModel):
    """The department's answer: outcome, the written answer, and for ``corrected`` the changed fields."""

    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    answer: str = Field(min_length=1, max_length=MAX_ANSWER_CHARS)
    changes: dict[str, str | None] | None = Field(default=None, max_length=100)


class StatementBody(BaseModel):
    """The enterprise's statement (情况说明) attached to the disputed record."""

    model_config = ConfigDict(extra="forbid")

    statement: str = Field(min_length=1, max_length=2000)
