"""Pydantic I/O models of the verification API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from xinyidai.consent import Purpose
from xinyidai.verification.model import Answer, Undetermined
from xinyidai.verification.service import VerificationAnswer, VerifiedAnswer


class VerificationCreate(BaseModel):
    """One question: whose data, under which authorization and purpose, about which item, and the predicate."""

    uscc: str = Field(min_length=18, max_length=18, description="被核验企业的统一社会信用代码")
    authorization_id: uuid.UUID
    purpose: Purpose
    item: str = Field(min_length=1, max_length=64, description="目录信息项代码")
    predicate: dict[str, Any] = Field(description="核验条件，语法见 verification/README.md")


class RemainingRead(BaseModel):
    """Questions still allowed on this field and on the authorization."""

    field: int
    total: int


class VerificationRead(BaseModel):
    """The answer, never the value: true / false / undetermined, the signed token, as-of time and the cap left."""

    question_id: uuid.UUID
    answer: Answer
    reason: Undetermined | None
    token: str
    as_of: datetime
    issued_at: datetime
    sources: list[str]
    remaining: RemainingRead
    reused: bool

    @classmethod
    def of(cls, result: VerificationAnswer) -> VerificationRead:
        """From the service result."""
        return cls(
            question_id=result.question_id,
            answer=result.answer,
            reason=result.reason,
            token=result.token,
            as_of=result.as_of,
            issued_at=result.issued_at,
            sources=list(result.sources),
            remaining=RemainingRead(field=result.remaining.field, total=result.remaining.total),
            reused=result.reused,
        )


class QuestionIO(BaseModel):
    """The question an answer should answer (optional when verifying a token)."""

    uscc: str = Field(min_length=18, max_length=18)
    item: str = Field(min_length=1, max_length=64)
    predicate: dict[str, Any]


class AnswerVerifyBody(BaseModel):
    """A signed answer to verify, and optionally the question it should answer."""

    token: str = Field(min_length=1, max_length=20_000)
    question: QuestionIO | None = None


class AnswerVerifyRead(BaseModel):
    """Whether the signature holds with the platform's published keys, the claims, and whether the question matches."""

    valid: bool
    reason: str | None = None
    kid: str | None = None
    alg: str | None = None
    claims: dict[str, Any] | None = None
    question_matches: bool | None = None

    @classmethod
    def of(cls, verified: VerifiedAnswer, *, question_matches: bool | None) -> AnswerVerifyRead:
        """From a verified answer."""
        return cls(valid=True, kid=verified.kid, alg=verified.alg, claims=verified.claims, question_matches=question_matches)
