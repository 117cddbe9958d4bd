"""Verification routes: an authorized institution asks a predicate (数据核验); anyone verifies a signed answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from xinyidai.consent import SignatureInvalid, keyring_for
from xinyidai.http.container import Container, get_container
from xinyidai.principal import PUBLIC, Permission, Principal, require
from xinyidai.verification import service
from xinyidai.verification.schemas import AnswerVerifyBody, AnswerVerifyRead, VerificationCreate, VerificationRead

router = APIRouter(tags=["verification"])
ContainerDep = Annotated[Container, Depends(get_container)]
Asker = Annotated[Principal, Depends(require(Permission.VERIFICATION_ASK))]


@router.post("/verifications", response_model=VerificationRead, summary="数据核验：提出核验条件")
def ask(body: VerificationCreate, container: ContainerDep, who: Asker) -> VerificationRead:
    """Answer one predicate with true / false / undetermined, signed by the platform; never the value."""
    result = service.ask(
        container.db,
        who=who,
        clock=container.clock,
        keyring=keyring_for(container),
        subject_uscc=body.uscc,
        authorization_id=body.authorization_id,
        purpose=body.purpose,
        item=body.item,
        predicate=body.predicate,
    )
    return VerificationRead.of(result)


@router.post("/verifications/verify", response_model=AnswerVerifyRead, dependencies=[Depends(PUBLIC)], summary="验证核验结果签名")
def verify_answer(body: AnswerVerifyBody, container: ContainerDep) -> AnswerVerifyRead:
    """Check a signed answer with the published keys (the same as `verify_answer` offline), and its question."""
    try:
        verified = service.verify_answer(body.token, keyring_for(container).jwks())
    except SignatureInvalid as exc:
        return AnswerVerifyRead(valid=False, reason=exc.detail)
    matches: bool | None = None
    if body.question is not None:
        predicate = service.parse_question(item=body.question.item, predicate=body.question.predicate)
        matches = service.answer_matches(verified, subject_uscc=body.question.uscc, item=body.question.item, predicate=predicate)
    return AnswerVerifyRead.of(verified, question_matches=matches)
