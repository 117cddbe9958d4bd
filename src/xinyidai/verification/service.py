"""Verification use cases: answer one predicate under an authorization (decided, counted and audited through
``consent.check_access``), sign the answer, enforce the predicate cap, and verify signed answers offline."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from xinyidai import audit, catalog, consent, ingest
from xinyidai.db import Database
from xinyidai.kernel.clock import Clock, today
from xinyidai.kernel.errors import Forbidden
from xinyidai.kernel.ids import new_id
from xinyidai.principal import Principal
from xinyidai.verification.model import (
    Answer,
    Evaluation,
    FieldRef,
    Observation,
    Predicate,
    PredicateInvalid,
    Remaining,
    Scalar,
    Undetermined,
    VerificationCapReached,
    canonical_predicate,
    cap_breach,
    cap_for,
    evaluate,
    max_age_for,
    parse_predicate,
    question_key,
    question_sha256,
    remaining,
    reusable,
)
from xinyidai.verification.tables import VerificationQuestion

#: JWS `typ` of a signed answer (so an answer is never taken for an authorization artefact, nor the reverse).
ANSWER_TYPE = "xinyidai-verification+jwt"
#: Audit action of an answered question (the access itself is consent's `consent.access.verify` event).
ASK_EVENT = "verification.question.ask"
#: Audit action of a question refused by the predicate cap.
REFUSED_EVENT = "verification.question.refused"

#: Whether the source of an item can be relied on now (interface calls: circuit closed); None: always.
SourceProbe = Callable[[str], bool]


class NotAnInstitution(Forbidden):
    """Only a financial institution asks verification questions."""

    code: ClassVar[str] = "verification_institution_only"
    title: ClassVar[str] = "仅金融机构可发起数据核验"


@dataclass(frozen=True, slots=True)
class VerificationAnswer:
    """The answer an institution gets: never the value."""

    question_id: uuid.UUID
    answer: Answer
    reason: Undetermined | None
    token: str
    as_of: datetime
    issued_at: datetime
    sources: tuple[str, ...]
    remaining: Remaining
    #: True when an identical earlier question's answer was given again (the cap was not used).
    reused: bool
    question_sha256: str
    nonce: str


def _fields(item: catalog.Item) -> list[FieldRef]:
    return [FieldRef(f.name, f.type.value, tuple(f.code_list), f.personal) for f in item.record_schema]


def _item(code: str) -> catalog.Item:
    try:
        return catalog.load_catalog().item(code)
    except catalog.NotInCatalog:
        raise PredicateInvalid(f"目录中没有信息项 {code}") from None


def parse_question(*, item: str, predicate: Mapping[str, Any]) -> Predicate:
    """Validate a predicate against the catalog item's field types (422 `predicate_invalid` otherwise)."""
    return parse_predicate(predicate, _fields(_item(item)))


def _observations(records: list[ingest.RecordView]) -> list[Observation]:
    out = []
    for record in records:
        values: dict[str, Scalar | None] = ingest.typed_values(record)
        out.append(
            Observation(
                event_date=record.event_date,
                received_at=record.received_at,
                values=values,
                disputed=record.disputed,
                source=str(record.source_id) if record.source_id else None,
            )
        )
    return out


def _usage(
    session: Session, *, authorization_id: uuid.UUID, institution_id: uuid.UUID, item: str, field_key: str
) -> tuple[int, int]:
    base = (
        sa.select(sa.func.count())
        .select_from(VerificationQuestion)
        .where(VerificationQuestion.authorization_id == authorization_id, VerificationQuestion.institution_id == institution_id)
    )
    total = int(session.scalar(base) or 0)
    field = int(
        session.scalar(base.where(VerificationQuestion.item_code == item, VerificationQuestion.field_key == field_key)) or 0
    )
    return field, total


def _prior(db: Database, *, authorization_id: uuid.UUID, institution_id: uuid.UUID, key: str) -> VerificationQuestion | None:
    with db.transaction() as s:
        row = s.scalars(
            sa.select(VerificationQuestion)
            .where(
                VerificationQuestion.authorization_id == authorization_id,
                VerificationQuestion.institution_id == institution_id,
                VerificationQuestion.question_key == key,
            )
            .order_by(VerificationQuestion.asked_at.desc())
            .limit(1)
        ).first()
        if row is not None:
            s.expunge(row)
        return row


class _CapHit(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _event_data(
    *, who: Principal, authorization_id: uuid.UUID, purpose: consent.Purpose, item: str, predicate: Predicate
) -> dict[str, Any]:
    # Thresholds stay out of the audit event: it is shown to the enterprise, kept for ever and hashed into
    # signed roots; a threshold beside its answer states a bound on the hidden value. The question row keeps them.
    window = predicate.window
    return {
        "institution_id": str(who.institution_id),
        "purpose": purpose.value,
        "purpose_label": purpose.label_zh,
        "authorization_id": str(authorization_id),
        "items": [item],
        "kind": predicate.kind.value,
        "aggregate": predicate.aggregate.value,
        "field": predicate.field,
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat()} if window else None,
    }


def ask(
    db: Database,
    *,
    who: Principal,
    clock: Clock,
    keyring: consent.Keyring,
    subject_uscc: str,
    authorization_id: uuid.UUID,
    purpose: consent.Purpose,
    item: str,
    predicate: Mapping[str, Any],
    source_available: SourceProbe | None = None,
) -> VerificationAnswer:
    """Answer one predicate about `subject_uscc`'s `item` under `authorization_id`, signed by the platform.

    The access is decided, counted and audited by `consent.check_access` (action verify) in the same
    transaction as the question row and the `verification.question.ask` event. Refusals: 422
    `predicate_invalid` (grammar, field types); 404/403 from the access decision (audited
    `consent.access.denied`, committed first); 403 `verification_cap_reached` past the cap (audited
    `verification.question.refused`, committed first). An identical question asked again within the
    authorization's data life gets the first answer and token again, without using the cap (it is still
    an access: decided, counted by consent and audited).
    """
    if who.institution_id is None:
        with db.transaction() as s:
            audit.record(
                s,
                actor=who.ref,
                action=REFUSED_EVENT,
                subject=subject_uscc.strip().upper(),
                reasons=["仅金融机构可发起数据核验"],
                clock=clock,
            )
        raise NotAnInstitution()
    institution_id = who.institution_id
    uscc = subject_uscc.strip().upper()
    catalog_item = _item(item)
    question = parse_predicate(predicate, _fields(catalog_item))
    key = question_key(subject_uscc=uscc, item=item, predicate=question)
    at = clock.now()
    # Read before the transaction: the record store opens its own (nothing leaves unless the access is allowed).
    records = ingest.visible_records(db, uscc=uscc, items=[item], as_of=today(clock))
    prior = _prior(db, authorization_id=authorization_id, institution_id=institution_id, key=key)
    reuse = False
    if prior is not None:
        try:
            view = consent.get_authorization(db, actor=who, clock=clock, authorization_id=authorization_id)
        except consent.AuthorizationNotFound:
            view = None
        reuse = view is not None and reusable(asked_at=prior.asked_at, data_life_days=view.data_life_days, at=at)
    policy = cap_for(purpose.value)
    data = _event_data(who=who, authorization_id=authorization_id, purpose=purpose, item=item, predicate=question)
    denial: consent.AccessCheck | None = None
    result: VerificationAnswer | None = None
    try:
        with db.transaction() as s:
            if not reuse:
                field_used, total_used = _usage(
                    s, authorization_id=authorization_id, institution_id=institution_id, item=item, field_key=question.field_key
                )
                breach = cap_breach(policy, field_used=field_used, total_used=total_used)
                if breach:
                    raise _CapHit(breach)
            window = question.window
            check = consent.check_access(
                s,
                principal=who,
                action=consent.AccessAction.VERIFY,
                subject_uscc=uscc,
                items=[item],
                purpose=purpose,
                authorization_id=authorization_id,
                clock=clock,
                data_range=consent.DateRange(window.start, window.end) if window else None,
            )
            if not check.allowed:
                denial = check
            elif reuse and prior is not None:
                field_used, total_used = _usage(
                    s, authorization_id=authorization_id, institution_id=institution_id, item=item, field_key=question.field_key
                )
                left = remaining(policy, field_used=field_used, total_used=total_used)
                audit.record(
                    s,
                    actor=who.ref,
                    action=ASK_EVENT,
                    subject=uscc,
                    target_type="verification_question",
                    target_id=prior.id,
                    data={
                        **data,
                        "answer": prior.answer,
                        "reason": prior.reason,
                        "reused": True,
                        "access_event_id": str(check.audit_event_id),
                    },
                    clock=clock,
                )
                result = VerificationAnswer(
                    prior.id,
                    Answer(prior.answer),
                    Undetermined(prior.reason) if prior.reason else None,
                    prior.token,
                    prior.as_of,
                    prior.asked_at,
                    tuple(prior.sources),
                    left,
                    True,
                    prior.question_sha256,
                    prior.nonce,
                )
            else:
                # check_access holds the authorization's row lock now: count again, concurrent askers wait here.
                field_used, total_used = _usage(
                    s, authorization_id=authorization_id, institution_id=institution_id, item=item, field_key=question.field_key
                )
                breach = cap_breach(policy, field_used=field_used, total_used=total_used)
                if breach:
                    raise _CapHit(breach)
                result = _answer(
                    s,
                    db=db,
                    who=who,
                    clock=clock,
                    keyring=keyring,
                    check=check,
                    uscc=uscc,
                    item=catalog_item,
                    purpose=purpose,
                    question=question,
                    key=key,
                    records=records,
                    source_ok=source_available(item) if source_available else True,
                    left=remaining(policy, field_used=field_used + 1, total_used=total_used + 1),
                    data=data,
                    at=at,
                )
    except _CapHit as hit:
        with db.transaction() as s:
            audit.record(
                s,
                actor=who.ref,
                action=REFUSED_EVENT,
                subject=uscc,
                target_type="authorization",
                target_id=authorization_id,
                reasons=[hit.reason],
                data=data,
                clock=clock,
            )
        raise VerificationCapReached(hit.reason, per_field=policy.per_field, per_authorization=policy.per_authorization) from None
    if denial is not None:
        denial.raise_for_denial()
    assert result is not None
    return result


def _answer(
    s: Session,
    *,
    db: Database,
    who: Principal,
    clock: Clock,
    keyring: consent.Keyring,
    check: consent.AccessCheck,
    uscc: str,
    item: catalog.Item,
    purpose: consent.Purpose,
    question: Predicate,
    key: str,
    records: list[ingest.RecordView],
    source_ok: bool,
    left: Remaining,
    data: dict[str, Any],
    at: datetime,
) -> VerificationAnswer:
    observations = _observations(records)
    allowed_range = check.data_range
    if allowed_range is not None:
        covered = [
            o for o in observations if o.event_date is not None and allowed_range.start <= o.event_date <= allowed_range.end
        ]
    else:
        covered = observations
    # Staleness looks at every delivery for the subject (is the source still delivering?), the answer at the covered ones.
    evaluation: Evaluation = evaluate(
        question,
        covered,
        at=at,
        max_age=max_age_for(item.code),
        source_available=source_ok,
        newest_delivery=max((o.received_at for o in observations), default=None),
    )
    question_id = new_id()
    nonce = secrets.token_hex(16)
    digest = question_sha256(subject_uscc=uscc, item=item.code, predicate=question, nonce=nonce)
    payload = {
        "iss": db.node_id,
        "jti": str(question_id),
        "iat": int(at.timestamp()),
        "issued_at": at.isoformat(),
        "nonce": nonce,
        "question_sha256": digest,
        "answer": evaluation.answer.value,
        "reason": evaluation.reason.value if evaluation.reason else None,
        "as_of": evaluation.as_of.isoformat(),
        "sources": list(evaluation.sources),
        "department": item.department.code,
        "sub": uscc,
        "item": item.code,
        "institution_id": str(who.institution_id),
        "authorization_id": str(check.authorization_id),
        "purpose": purpose.value,
    }
    token = keyring.sign(payload, typ=ANSWER_TYPE)
    event = audit.record(
        s,
        actor=who.ref,
        action=ASK_EVENT,
        subject=uscc,
        target_type="verification_question",
        target_id=question_id,
        reasons=list(check.reasons),
        data={
            **data,
            "answer": evaluation.answer.value,
            "reason": evaluation.reason.value if evaluation.reason else None,
            "reused": False,
            "question_sha256": digest,
            "remaining": {"field": left.field, "total": left.total},
            "access_event_id": str(check.audit_event_id),
        },
        clock=clock,
    )
    assert who.institution_id is not None
    assert check.authorization_id is not None
    s.add(
        VerificationQuestion(
            id=question_id,
            authorization_id=check.authorization_id,
            institution_id=who.institution_id,
            subject_uscc=uscc,
            purpose=purpose.value,
            item_code=item.code,
            field_key=question.field_key,
            kind=question.kind.value,
            aggregate=question.aggregate.value,
            question=canonical_predicate(question),
            question_key=key,
            question_sha256=digest,
            nonce=nonce,
            answer=evaluation.answer.value,
            reason=evaluation.reason.value if evaluation.reason else None,
            as_of=evaluation.as_of,
            sources=list(evaluation.sources),
            token=token,
            asked_at=at,
            asked_by=str(who.id),
            audit_event_id=event.id,
        )
    )
    return VerificationAnswer(
        question_id,
        evaluation.answer,
        evaluation.reason,
        token,
        evaluation.as_of,
        at,
        evaluation.sources,
        left,
        False,
        digest,
        nonce,
    )


# --- offline verification -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifiedAnswer:
    """A signed answer whose signature verified, with its claims."""

    kid: str | None
    alg: str | None
    answer: Answer
    reason: str | None
    question_sha256: str
    nonce: str
    subject_uscc: str
    item: str
    institution_id: str
    authorization_id: str
    as_of: str
    issued_at: str
    sources: tuple[str, ...]
    claims: dict[str, Any]


_REQUIRED = ("answer", "question_sha256", "nonce", "sub", "item", "institution_id", "authorization_id", "as_of", "issued_at")


def verify_answer(token: str, jwks: Mapping[str, Any]) -> VerifiedAnswer:
    """Verify a signed answer offline against the platform's published key set (``GET /api/v1/consent/keys``).

    Raises ``consent.SignatureInvalid`` when the token is malformed, of another type, signed by an unknown
    key, altered, or lacks a claim of an answer.
    """
    verified = consent.verify_jws(token, jwks, expected_type=ANSWER_TYPE)
    claims = verified.payload
    missing = [c for c in _REQUIRED if not isinstance(claims.get(c), str)]
    if missing or claims.get("answer") not in {a.value for a in Answer}:
        raise consent.SignatureInvalid(f"核验结果缺少或含有无效的声明：{', '.join(missing) or 'answer'}")
    return VerifiedAnswer(
        kid=verified.header.get("kid"),
        alg=verified.header.get("alg"),
        answer=Answer(claims["answer"]),
        reason=claims.get("reason"),
        question_sha256=claims["question_sha256"],
        nonce=claims["nonce"],
        subject_uscc=claims["sub"],
        item=claims["item"],
        institution_id=claims["institution_id"],
        authorization_id=claims["authorization_id"],
        as_of=claims["as_of"],
        issued_at=claims["issued_at"],
        sources=tuple(str(x) for x in claims.get("sources") or ()),
        claims=dict(claims),
    )


def answer_matches(verified: VerifiedAnswer, *, subject_uscc: str, item: str, predicate: Predicate) -> bool:
    """Whether a verified answer answers this question (its salted hash recomputed with the token's nonce)."""
    expected = question_sha256(subject_uscc=subject_uscc, item=item, predicate=predicate, nonce=verified.nonce)
    return secrets.compare_digest(expected, verified.question_sha256)
