"""Verification end to end on the record store: answers true / false / undetermined, signed answers that verify
offline and fail when changed, the predicate cap with identical-question reuse, and audited refusals."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.factories import ADMIN
from tests.integration.consent.consent_support import SUBJECT
from tests.integration.verification.conftest import World, approved_authorization
from xinyidai import consent, ingest, verification
from xinyidai.audit.tables import AuditEvent
from xinyidai.consent import AuthorizationNotFound, Transition
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.principal import Principal
from xinyidai.verification import Answer, CapPolicy, Undetermined, VerificationCapReached
from xinyidai.verification import model as vmodel
from xinyidai.verification.tables import VerificationQuestion

WINDOW = {"start": "2025-01-01", "end": "2025-12-31"}


def ask(db: Database, clock: FrozenClock, world: World, predicate: dict[str, Any], **kw: Any) -> verification.VerificationAnswer:
    """Bank A asks about the subject's tax payments under its authorization."""
    options: dict[str, Any] = {
        "who": world.people.officer_a,
        "authorization_id": world.authorization_id,
        "item": "tax_payment",
        "subject_uscc": SUBJECT,
    }
    options.update(kw)
    return verification.ask(
        db, clock=clock, keyring=world.keyring, purpose=consent.Purpose.CREDIT_APPROVAL, predicate=predicate, **options
    )


def events(db: Database, action: str) -> list[AuditEvent]:
    """Audit events of one action, oldest first."""
    with db.transaction() as s:
        rows = list(s.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))
        s.expunge_all()
        return rows


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        ({"kind": "at_least", "field": "amount_paid", "value": "30"}, Answer.TRUE),
        ({"kind": "at_least", "field": "amount_paid", "value": "30.01"}, Answer.FALSE),
        ({"kind": "within", "field": "amount_paid", "low": 25, "high": 35}, Answer.TRUE),
        ({"kind": "equals", "aggregate": "sum", "field": "amount_paid", "window": WINDOW, "value": "60.5"}, Answer.TRUE),
        ({"kind": "at_most", "aggregate": "count", "window": WINDOW, "value": 2}, Answer.FALSE),
        ({"kind": "exists"}, Answer.TRUE),
        (
            {
                "kind": "at_least",
                "aggregate": "sum",
                "field": "amount_paid",
                "window": {"start": "2024-07-01", "end": "2024-12-31"},
                "value": 0,
            },
            Answer.UNDETERMINED,
        ),
    ],
)
def test_answers_are_true_false_or_undetermined_and_signed(
    db: Database, clock: FrozenClock, world: World, predicate: dict[str, Any], expected: Answer
) -> None:
    result = ask(db, clock, world, predicate)
    assert result.answer is expected
    verified = verification.verify_answer(result.token, world.keyring.jwks())
    assert verified.answer is expected
    assert (verified.subject_uscc, verified.item, verified.authorization_id) == (
        SUBJECT,
        "tax_payment",
        str(world.authorization_id),
    )
    assert verified.institution_id == str(world.people.bank_a)
    # The value is nowhere in the token: only the answer, the salted question hash and where it came from.
    assert set(verified.claims) == {
        "iss", "jti", "iat", "issued_at", "nonce", "question_sha256", "answer", "reason", "as_of", "sources",
        "department", "sub", "item", "institution_id", "authorization_id", "purpose",
    }  # fmt: skip
    for hidden in ("10.5", "20", "30", "60.5"):
        assert hidden not in {str(v) for v in verified.claims.values()}
    parsed = verification.parse_question(item="tax_payment", predicate=predicate)
    assert verification.answer_matches(verified, subject_uscc=SUBJECT, item="tax_payment", predicate=parsed)
    other = verification.parse_question(item="tax_payment", predicate={"kind": "at_least", "field": "amount_paid", "value": "1"})
    assert not verification.answer_matches(verified, subject_uscc=SUBJECT, item="tax_payment", predicate=other)


def test_a_changed_answer_or_foreign_key_fails_offline_verification(db: Database, clock: FrozenClock, world: World) -> None:
    result = ask(db, clock, world, {"kind": "at_least", "field": "amount_paid", "value": "31"})
    assert result.answer is Answer.FALSE
    header, payload, signature = result.token.split(".")
    forged_payload = consent.signing.b64url(
        consent.signing.b64url_decode(payload).replace(b'"answer":"false"', b'"answer":"true"')
    )
    with pytest.raises(consent.SignatureInvalid):
        verification.verify_answer(f"{header}.{forged_payload}.{signature}", world.keyring.jwks())
    with pytest.raises(consent.SignatureInvalid):
        verification.verify_answer(result.token, consent.Keyring(consent.Ed25519Key.generate()).jwks())
    # An authorization artefact is not an answer, nor the reverse.
    with pytest.raises(consent.SignatureInvalid):
        consent.verify_jws(result.token, world.keyring.jwks())


def test_each_question_is_an_audited_access_and_the_threshold_stays_out_of_the_trail(
    db: Database, clock: FrozenClock, world: World
) -> None:
    result = ask(db, clock, world, {"kind": "at_least", "field": "amount_paid", "value": "27.75"})
    access = events(db, "consent.access.verify")[-1]
    asked = events(db, "verification.question.ask")[-1]
    assert access.subject == SUBJECT
    assert access.data["items"] == ["tax_payment"]
    assert access.data["authorization_id"] == str(world.authorization_id)
    assert asked.data["access_event_id"] == str(access.id)
    assert (asked.data["kind"], asked.data["field"], asked.data["answer"]) == ("at_least", "amount_paid", "true")
    assert "27.75" not in str(asked.data)
    assert "27.75" not in str(access.data)
    with db.transaction() as s:
        row = s.get(VerificationQuestion, result.question_id)
        assert row is not None
        assert row.question["value"] == "27.75"
        assert row.audit_event_id == asked.id


def test_a_disputed_record_makes_the_answer_undetermined(db: Database, clock: FrozenClock, world: World) -> None:
    latest = max(
        ingest.visible_records(db, uscc=SUBJECT, items=["tax_payment"], as_of=clock.now().date()), key=lambda r: r.event_date or 0
    )
    with db.transaction() as s:
        ingest.mark_disputed(s, actor=ADMIN, record_id=latest.id, reason="企业提出异议")
    result = ask(db, clock, world, {"kind": "at_least", "field": "amount_paid", "value": "1"})
    assert (result.answer, result.reason) == (Answer.UNDETERMINED, Undetermined.DISPUTED)
    assert verification.verify_answer(result.token, world.keyring.jwks()).reason == "disputed"


def test_no_data_stale_data_and_an_unavailable_source_are_undetermined(db: Database, clock: FrozenClock, world: World) -> None:
    nothing = ask(db, clock, world, {"kind": "at_least", "field": "amount_paid", "value": "1"}, item="utility_payment")
    assert nothing.reason is Undetermined.NO_DATA
    down = ask(db, clock, world, {"kind": "exists"}, source_available=lambda item: False)
    assert down.reason is Undetermined.SOURCE_UNAVAILABLE
    later = FrozenClock(clock.now() + vmodel.MAX_AGE_BY_ITEM["tax_payment"] + timedelta(days=1))
    stale = ask(db, later, world, {"kind": "at_most", "field": "amount_paid", "value": "100"})
    assert stale.reason is Undetermined.STALE


def test_the_per_field_cap_refuses_past_it_and_an_identical_question_reuses_its_answer(
    db: Database, clock: FrozenClock, world: World
) -> None:
    first = ask(db, clock, world, {"kind": "at_least", "field": "amount_paid", "value": "16"})
    assert (first.remaining.field, first.remaining.total) == (2, 19)
    again = ask(db, clock, world, {"kind": "at_least", "field": "amount_paid", "value": "16.000"})
    assert again.reused
    assert (again.token, again.question_id, again.remaining) == (first.token, first.question_id, first.remaining)
    ask(db, clock, world, {"kind": "at_least", "field": "amount_paid", "value": "24"})
    third = ask(db, clock, world, {"kind": "at_least", "field": "amount_paid", "value": "28"})
    assert third.remaining.field == 0
    with pytest.raises(VerificationCapReached) as refused:
        ask(db, clock, world, {"kind": "at_least", "field": "amount_paid", "value": "29"})
    assert refused.value.code == "verification_cap_reached"
    assert refused.value.status == 403
    refusal = events(db, "verification.question.refused")[-1]
    assert refusal.data["field"] == "amount_paid"
    assert "同一字段" in refusal.reasons[0]
    # The refusal is committed, the access is not: nothing was answered.
    assert len(events(db, "verification.question.ask")) == 4
    # Another field still has its own budget; a repeat of an answered question is still answered.
    assert ask(db, clock, world, {"kind": "at_most", "field": "overdue_days", "value": 0}).answer is Answer.TRUE
    assert ask(db, clock, world, {"kind": "at_least", "field": "amount_paid", "value": "24"}).reused


def test_the_total_cap_per_authorization(db: Database, clock: FrozenClock, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vmodel, "CAPS_BY_PURPOSE", {"credit_approval": CapPolicy(per_field=3, per_authorization=2)})
    ask(db, clock, world, {"kind": "exists"})
    ask(db, clock, world, {"kind": "at_least", "field": "amount_paid", "value": "1"})
    with pytest.raises(VerificationCapReached, match="2 次"):
        ask(db, clock, world, {"kind": "at_most", "field": "overdue_days", "value": 0})


def test_a_repeat_is_not_reused_when_the_authorization_keeps_no_data(db: Database, clock: FrozenClock, world: World) -> None:
    view_only = approved_authorization(db, clock, world.keyring, world.people, data_life_days=0)
    question = {"kind": "at_least", "field": "amount_paid", "value": "5"}
    first = ask(db, clock, world, question, authorization_id=view_only)
    second = ask(db, clock, world, question, authorization_id=view_only)
    assert not second.reused
    assert second.remaining.field == first.remaining.field - 1


def _refused(db: Database, clock: FrozenClock, world: World, error: type[Exception], **kw: Any) -> None:
    before = len(events(db, "consent.access.denied"))
    with pytest.raises(error):
        ask(db, clock, world, {"kind": "exists"}, **kw)
    assert len(events(db, "consent.access.denied")) == before + 1
    assert events(db, "verification.question.ask") == []


def test_no_authorization_another_institutions_and_a_revoked_one_are_refused_with_an_audit_event(
    db: Database, clock: FrozenClock, world: World
) -> None:
    _refused(db, clock, world, AuthorizationNotFound, authorization_id=uuid.uuid4())
    officer_b: Principal = world.people.officer_b
    _refused(db, clock, world, AuthorizationNotFound, who=officer_b)
    consent.change_authorization(
        db,
        actor=world.people.enterprise,
        clock=clock,
        keyring=world.keyring,
        authorization_id=world.authorization_id,
        transition=Transition.REVOKE,
        reason="不再合作",
    )
    _refused(db, clock, world, consent.AccessDenied)


def test_a_window_outside_the_authorized_data_range_is_refused(db: Database, clock: FrozenClock, world: World) -> None:
    with pytest.raises(consent.AccessDenied, match="超出授权数据范围"):
        ask(
            db,
            clock,
            world,
            {"kind": "at_least", "aggregate": "count", "window": {"start": "2020-01-01", "end": "2020-12-31"}, "value": 0},
        )


def test_an_invalid_predicate_is_refused_before_any_access(db: Database, clock: FrozenClock, world: World) -> None:
    before = len(events(db, "consent.access.verify")) + len(events(db, "consent.access.denied"))
    with pytest.raises(verification.PredicateInvalid):
        ask(db, clock, world, {"kind": "at_least", "field": "tax_type", "value": "x"})
    assert len(events(db, "consent.access.verify")) + len(events(db, "consent.access.denied")) == before


def test_only_an_institution_asks(db: Database, clock: FrozenClock, world: World) -> None:
    with pytest.raises(verification.NotAnInstitution):
        ask(db, clock, world, {"kind": "exists"}, who=world.people.enterprise)
    assert events(db, "verification.question.refused")
