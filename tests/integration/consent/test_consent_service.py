"""Consent use cases on a real database: the life cycle with its audit trail, the password re-entry, fair use,
tenancy, expiry, the access check with its fetch counting, policies and endpoints."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.factories import PASSWORD
from tests.integration.consent.consent_support import OTHER_SUBJECT, SUBJECT, People, terms
from xinyidai import audit, consent
from xinyidai.audit.tables import AuditEvent
from xinyidai.consent import (
    DEFAULT_POLICIES,
    AccessAction,
    AuthorizationStateConflict,
    AuthorizationStatus,
    DateRange,
    FairUseExceeded,
    FairUsePolicy,
    FetchType,
    Frequency,
    FrequencyUnit,
    Keyring,
    Purpose,
    Transition,
)
from xinyidai.consent.tables import ConsentEndpoint
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.errors import Forbidden, InvalidInput
from xinyidai.kernel.pii import PiiCipher


def _events(db: Database, action_prefix: str) -> list[AuditEvent]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(AuditEvent).where(AuditEvent.action.like(f"{action_prefix}%")).order_by(AuditEvent.seq)))


def _request(db: Database, clock: FrozenClock, people: People, **changes: object) -> consent.AuthorizationView:
    return consent.request_authorization(
        db, actor=people.officer_a, clock=clock, enterprise_uscc=SUBJECT, terms=terms(clock, **changes), note="流动资金贷款授信"
    )


def _approve(
    db: Database, clock: FrozenClock, people: People, keyring: Keyring, view: consent.AuthorizationView
) -> consent.AuthorizationView:
    return consent.approve_authorization(
        db, actor=people.enterprise, clock=clock, keyring=keyring, authorization_id=view.id, password=PASSWORD
    )


def test_life_cycle_with_history_and_audit(db: Database, clock: FrozenClock, people: People, keyring: Keyring) -> None:
    requested = _request(db, clock, people)
    assert requested.status is AuthorizationStatus.REQUESTED
    assert requested.institution_name == "闽信银行福州分行"
    assert requested.catalog_version == "2024"
    assert requested.artefact is None
    clock.advance(timedelta(hours=1))
    active = _approve(db, clock, people, keyring, requested)
    assert active.status is AuthorizationStatus.ACTIVE
    assert active.valid_from == clock.now()
    assert active.artefact
    assert active.artefact_kid == keyring.kid
    claims = keyring.verify(active.artefact).payload
    assert claims["jti"] == str(active.id)
    assert claims["authorization"]["purpose"] == {"code": "credit_approval", "name": "授信审批"}
    assert claims["authorization"]["clauses_sha256"] == active.clauses_sha256
    assert claims["exp"] == int(active.expires_at.timestamp())
    for transition, expected in (
        (Transition.PAUSE, AuthorizationStatus.PAUSED),
        (Transition.RESUME, AuthorizationStatus.ACTIVE),
        (Transition.REVOKE, AuthorizationStatus.REVOKED),
    ):
        clock.advance(timedelta(minutes=5))
        view = consent.change_authorization(
            db,
            actor=people.enterprise,
            clock=clock,
            keyring=keyring,
            authorization_id=requested.id,
            transition=transition,
            reason="经营调整",
        )
        assert view.status is expected
    assert [(h.transition, h.to_status) for h in view.history] == [
        ("request", "requested"),
        ("approve", "active"),
        ("pause", "paused"),
        ("resume", "active"),
        ("revoke", "revoked"),
    ]
    assert view.history[-1].reason == "经营调整"
    actions = [e.action for e in _events(db, "consent.authorization.")]
    assert actions == [
        "consent.authorization.request",
        "consent.authorization.approve",
        "consent.authorization.pause",
        "consent.authorization.resume",
        "consent.authorization.revoke",
    ]
    revoke = _events(db, "consent.authorization.revoke")[0]
    assert revoke.subject == SUBJECT
    assert revoke.reasons == ["经营调整"]
    assert revoke.data["from"] == "active"
    assert revoke.data["to"] == "revoked"
    assert audit.verify(db).ok
    # Revoking again: a stable 409, and the refusal is audited too.
    with pytest.raises(AuthorizationStateConflict) as caught:
        consent.change_authorization(
            db, actor=people.enterprise, clock=clock, keyring=keyring, authorization_id=requested.id, transition=Transition.REVOKE
        )
    assert caught.value.code == "authorization_state_conflict"
    assert caught.value.extra == {"current_status": "revoked", "transition": "revoke"}
    assert _events(db, "consent.authorization.revoke.refused")


def test_approval_needs_the_password_again(db: Database, clock: FrozenClock, people: People, keyring: Keyring) -> None:
    requested = _request(db, clock, people)
    with pytest.raises(consent.PasswordConfirmationFailed) as caught:
        consent.approve_authorization(
            db, actor=people.enterprise, clock=clock, keyring=keyring, authorization_id=requested.id, password="Wrong-Horse-9"
        )
    assert caught.value.status == 403
    assert caught.value.code == "password_confirmation_failed"
    assert [e.reasons for e in _events(db, "principal.reauth.failed")] == [[f"同意授权 {requested.id}"]]
    refused = _events(db, "consent.authorization.approve.refused")
    assert refused
    assert refused[0].reasons == ["确认密码错误"]
    assert consent.get_authorization(db, actor=people.enterprise, clock=clock, authorization_id=requested.id).status is (
        AuthorizationStatus.REQUESTED
    )
    # Another enterprise's password does not approve this one either: it does not even see it.
    with pytest.raises(consent.AuthorizationNotFound):
        consent.approve_authorization(
            db, actor=people.other_enterprise, clock=clock, keyring=keyring, authorization_id=requested.id, password=PASSWORD
        )


def test_clauses_digest_binds_what_was_read(db: Database, clock: FrozenClock, people: People, keyring: Keyring) -> None:
    requested = _request(db, clock, people)
    clauses = consent.consent_clauses(requested)
    assert any(c.key for c in clauses)
    assert "授信审批" in clauses[0].text
    assert "闽信银行福州分行" in clauses[0].text
    with pytest.raises(consent.ClausesChanged):
        consent.approve_authorization(
            db,
            actor=people.enterprise,
            clock=clock,
            keyring=keyring,
            authorization_id=requested.id,
            password=PASSWORD,
            clauses_sha256="0" * 64,
        )
    view = consent.approve_authorization(
        db,
        actor=people.enterprise,
        clock=clock,
        keyring=keyring,
        authorization_id=requested.id,
        password=PASSWORD,
        clauses_sha256=consent.clauses_digest(clauses),
    )
    assert view.clauses_sha256 == consent.clauses_digest(clauses)


def test_fair_use_refuses_over_broad_requests_naming_the_bound(db: Database, clock: FrozenClock, people: People) -> None:
    with pytest.raises(FairUseExceeded) as caught:
        _request(db, clock, people, expires_at=clock.now() + timedelta(days=181))
    assert caught.value.extra["bound"] == "max_validity_days"
    with pytest.raises(FairUseExceeded) as caught:
        _request(db, clock, people, frequency=Frequency(1, FrequencyUnit.DAY), data_life_days=400)
    assert [b["bound"] for b in caught.value.extra["bounds"]] == ["max_frequency", "max_data_life_days"]
    refused = _events(db, "consent.authorization.request.refused")
    assert len(refused) == 2
    assert refused[1].data["bounds"] == ["max_frequency", "max_data_life_days"]
    # Operators tighten a bound: the next request is measured against it.
    tighter = FairUsePolicy(Purpose.CREDIT_APPROVAL, 30, 400, Frequency(1, FrequencyUnit.WEEK), 30)
    consent.set_policies(db, actor=people.operator, clock=clock, policies=[tighter])
    with pytest.raises(FairUseExceeded) as caught:
        _request(db, clock, people, data_life_days=31, expires_at=clock.now() + timedelta(days=20))
    assert {b["bound"] for b in caught.value.extra["bounds"]} == {"max_data_range_days", "max_frequency", "max_data_life_days"}
    assert _events(db, "consent.policy.update")[0].data["changes"][0]["before"]["max_validity_days"] == 180


def test_unsound_requests_list_every_problem(db: Database, clock: FrozenClock, people: People) -> None:
    with pytest.raises(InvalidInput) as caught:
        consent.request_authorization(
            db,
            actor=people.officer_a,
            clock=clock,
            enterprise_uscc="91350100M000100Y44",
            terms=terms(clock, scope=consent.Scope(frozenset({"nope"}), frozenset({"tax_payment", "ghost"}))),
        )
    problems = caught.value.extra["problems"]
    assert any("统一社会信用代码无效" in p for p in problems)
    assert any("信息类别 nope" in p for p in problems)
    assert any("信息项 ghost" in p for p in problems)
    with pytest.raises(Forbidden):
        consent.request_authorization(db, actor=people.enterprise, clock=clock, enterprise_uscc=SUBJECT, terms=terms(clock))


def test_policies_are_seeded_with_the_defaults(db: Database) -> None:
    assert {p.purpose: p for p in consent.list_policies(db)} == dict(DEFAULT_POLICIES)


def test_tenancy_other_institution_sees_nothing_and_is_audited(
    db: Database, clock: FrozenClock, people: People, keyring: Keyring
) -> None:
    mine = _request(db, clock, people)
    with pytest.raises(consent.AuthorizationNotFound) as caught:
        consent.get_authorization(db, actor=people.officer_b, clock=clock, authorization_id=mine.id)
    assert caught.value.status == 404
    with pytest.raises(consent.AuthorizationNotFound) as missing:
        consent.get_authorization(db, actor=people.officer_b, clock=clock, authorization_id=uuid.uuid4())
    assert missing.value.detail == caught.value.detail  # a foreign one looks exactly like a missing one
    denied = _events(db, "consent.authorization.read.denied")
    assert denied[0].target_id == str(mine.id)
    assert denied[0].actor_id == str(people.officer_b.id)
    assert consent.list_authorizations(db, actor=people.officer_b, clock=clock).total == 0
    assert consent.list_authorizations(db, actor=people.officer_a, clock=clock).total == 1
    assert consent.list_authorizations(db, actor=people.admin_a, clock=clock).items[0].id == mine.id
    assert consent.list_authorizations(db, actor=people.enterprise, clock=clock).total == 1
    assert consent.list_authorizations(db, actor=people.other_enterprise, clock=clock).total == 0
    with pytest.raises(Forbidden):
        consent.list_authorizations(db, actor=people.operator, clock=clock)
    # Only the enterprise decides: the institution cannot approve or revoke, not even its own request.
    with pytest.raises(consent.AuthorizationNotFound):
        consent.change_authorization(
            db, actor=people.officer_a, clock=clock, keyring=keyring, authorization_id=mine.id, transition=Transition.REJECT
        )


def test_list_filters_and_pages(db: Database, clock: FrozenClock, people: People, keyring: Keyring) -> None:
    first = _request(db, clock, people)
    clock.advance(timedelta(seconds=1))
    second = _request(db, clock, people, purpose=Purpose.PRE_LOAN_REVIEW, expires_at=clock.now() + timedelta(days=30))
    _approve(db, clock, people, keyring, second)
    page = consent.list_authorizations(db, actor=people.officer_a, clock=clock, limit=1, offset=0)
    assert (page.total, page.limit, page.offset, [v.id for v in page.items]) == (2, 1, 0, [second.id])
    assert [v.id for v in consent.list_authorizations(db, actor=people.officer_a, clock=clock, limit=1, offset=1).items] == [
        first.id
    ]
    active = consent.list_authorizations(db, actor=people.officer_a, clock=clock, status=AuthorizationStatus.ACTIVE)
    assert [v.id for v in active.items] == [second.id]
    clock.advance(timedelta(days=31))
    expired = consent.list_authorizations(db, actor=people.enterprise, clock=clock, status=AuthorizationStatus.EXPIRED)
    assert [v.id for v in expired.items] == [second.id]
    assert consent.list_authorizations(db, actor=people.enterprise, clock=clock, status=AuthorizationStatus.ACTIVE).total == 0


def test_expiry_is_time_driven_and_recorded_by_the_job(
    db: Database, clock: FrozenClock, people: People, keyring: Keyring
) -> None:
    view = _approve(db, clock, people, keyring, _request(db, clock, people, expires_at=clock.now() + timedelta(days=1)))
    pending = _request(db, clock, people, expires_at=clock.now() + timedelta(days=2))
    clock.advance(timedelta(days=1))
    # Before the job runs, reads already see it expired and refuse.
    assert consent.get_authorization(db, actor=people.officer_a, clock=clock, authorization_id=view.id).status is (
        AuthorizationStatus.EXPIRED
    )
    with db.transaction() as s:
        check = consent.check_access(
            s,
            principal=people.officer_a,
            action=AccessAction.REPORT,
            subject_uscc=SUBJECT,
            items=["tax_payment"],
            purpose=Purpose.CREDIT_APPROVAL,
            authorization_id=view.id,
            clock=clock,
        )
    assert not check.allowed
    assert "已到期" in check.reasons[0]
    assert consent.expire_due(db, clock=clock, keyring=keyring) == 1
    assert consent.expire_due(db, clock=clock, keyring=keyring) == 0
    expired = _events(db, "consent.authorization.expire")
    assert len(expired) == 1
    assert expired[0].actor_id == "consent-expiry"
    clock.advance(timedelta(days=1))
    # A request never approved expires too; the enterprise's late approval is refused with 409 and records the expiry.
    with pytest.raises(AuthorizationStateConflict):
        _approve(db, clock, people, keyring, pending)
    assert consent.get_authorization(db, actor=people.enterprise, clock=clock, authorization_id=pending.id).history[
        -1
    ].to_status == ("expired")


def _check(
    db: Database, clock: FrozenClock, who: object, auth: uuid.UUID | None, items: list[str], **kw: object
) -> consent.AccessCheck:
    args: dict[str, object] = {
        "principal": who,
        "action": AccessAction.REPORT,
        "subject_uscc": SUBJECT,
        "items": items,
        "purpose": Purpose.CREDIT_APPROVAL,
        "authorization_id": auth,
        "clock": clock,
    }
    args.update(kw)
    with db.transaction() as s:
        return consent.check_access(s, **args)  # type: ignore[arg-type]


def test_check_access_counts_fetches_and_audits_every_decision(
    db: Database, clock: FrozenClock, people: People, keyring: Keyring
) -> None:
    view = _approve(db, clock, people, keyring, _request(db, clock, people))
    first = _check(db, clock, people.officer_a, view.id, ["tax_payment", "admin_penalty", "utility_payment", "self_reported"])
    assert first.allowed_items == ("tax_payment", "admin_penalty", "utility_payment")
    assert first.denied_items == ("self_reported",)
    assert first.fetch_id is not None
    assert first.data_range == DateRange(view.data_from, view.data_to)
    with pytest.raises(consent.AccessDenied) as caught:
        first.raise_for_denial()
    assert caught.value.extra["items"] == ["self_reported"]
    second = _check(db, clock, people.officer_a, view.id, ["tax_payment"])
    assert second.allowed
    third = _check(db, clock, people.officer_a, view.id, ["tax_payment", "admin_penalty"])  # 2 a week: used up
    assert third.allowed_items == ("admin_penalty",)
    assert "频次上限" in third.decision("tax_payment").reasons[0]
    assert third.fetch_id is None  # a fetch of public items only does not count
    clock.advance(timedelta(days=7))
    assert _check(db, clock, people.officer_a, view.id, ["tax_payment"]).allowed  # a new week
    events = _events(db, "consent.access.")
    assert [e.action for e in events] == ["consent.access.pull"] * 4
    assert events[0].data["purpose_label"] == "授信审批"
    assert events[0].data["institution_name"] == "闽信银行福州分行"
    assert events[0].data["items"] == ["tax_payment", "admin_penalty", "utility_payment"]
    assert events[0].subject == SUBJECT
    assert events[0].target_id == str(view.id)
    assert events[0].data["denied"] == ["self_reported"]
    assert any("依据授权" in r for r in events[0].reasons)
    assert events[2].data["fetch_count_before"] == 2


def test_revocation_takes_effect_on_the_next_request(db: Database, clock: FrozenClock, people: People, keyring: Keyring) -> None:
    view = _approve(db, clock, people, keyring, _request(db, clock, people))
    assert _check(db, clock, people.officer_a, view.id, ["tax_payment"]).allowed
    consent.change_authorization(
        db, actor=people.enterprise, clock=clock, keyring=keyring, authorization_id=view.id, transition=Transition.PAUSE
    )
    paused = _check(db, clock, people.officer_a, view.id, ["tax_payment"])
    assert not paused.allowed
    assert "已暂停" in paused.reasons[0]
    consent.change_authorization(
        db, actor=people.enterprise, clock=clock, keyring=keyring, authorization_id=view.id, transition=Transition.RESUME
    )
    assert _check(db, clock, people.officer_a, view.id, ["tax_payment"]).allowed
    consent.change_authorization(
        db, actor=people.enterprise, clock=clock, keyring=keyring, authorization_id=view.id, transition=Transition.REVOKE
    )
    revoked = _check(db, clock, people.officer_a, view.id, ["tax_payment", "admin_penalty"])
    assert revoked.allowed_items == ("admin_penalty",)
    assert "已撤销" in revoked.decision("tax_payment").reasons[0]


def test_check_access_then_runs_only_when_allowed_and_its_outcome_is_the_events(
    db: Database, clock: FrozenClock, people: People, keyring: Keyring
) -> None:
    view = _approve(db, clock, people, keyring, _request(db, clock, people))
    seen: list[consent.AccessCheck] = []

    def then(check: consent.AccessCheck) -> dict[str, object]:
        seen.append(check)
        return {"report": {"number": "R-1"}}

    allowed = _check(db, clock, people.officer_a, view.id, ["tax_payment"], then=then)
    assert seen == [allowed]
    pulled = _events(db, "consent.access.pull")[-1]
    assert str(pulled.id) == str(allowed.audit_event_id)
    assert pulled.data["outcome"] == {"report": {"number": "R-1"}}
    # Denied: not called, and the denial is recorded without an outcome.
    refused = _check(db, clock, people.officer_b, view.id, ["tax_payment"], then=then)
    assert seen == [allowed]
    denied = _events(db, "consent.access.denied")[-1]
    assert str(denied.id) == str(refused.audit_event_id)
    assert "outcome" not in denied.data

    # When it fails, the transaction rolls back: no event, no fetch counted.
    def failing(_check: consent.AccessCheck) -> dict[str, object]:
        raise RuntimeError("boom")

    count = len(_events(db, "consent.access."))
    with pytest.raises(RuntimeError):
        _check(db, clock, people.officer_a, view.id, ["tax_payment"], then=failing)
    assert len(_events(db, "consent.access.")) == count
    assert _check(db, clock, people.officer_a, view.id, ["tax_payment"]).allowed  # the cap (2 a week) was not used up


def test_check_access_tenancy_purpose_and_own_data(db: Database, clock: FrozenClock, people: People, keyring: Keyring) -> None:
    view = _approve(db, clock, people, keyring, _request(db, clock, people))
    foreign = _check(db, clock, people.officer_b, view.id, ["tax_payment"])
    assert not foreign.allowed
    assert foreign.hidden
    with pytest.raises(consent.AuthorizationNotFound):
        foreign.raise_for_denial()
    missing = _check(db, clock, people.officer_a, uuid.uuid4(), ["tax_payment"])
    assert missing.hidden
    assert not _check(db, clock, people.officer_a, view.id, ["tax_payment"], purpose=Purpose.GUARANTEE).allowed
    assert not _check(db, clock, people.officer_a, view.id, ["tax_payment"], subject_uscc=OTHER_SUBJECT).allowed
    assert not _check(db, clock, people.officer_a, view.id, ["ghost_item"]).allowed
    outside = DateRange(view.data_from - timedelta(days=1), view.data_to)
    assert not _check(db, clock, people.officer_a, view.id, ["tax_payment"], data_range=outside).allowed
    own = _check(db, clock, people.enterprise, None, ["tax_payment", "self_reported"], purpose=None)
    assert own.allowed
    assert own.fetch_id is None
    assert not _check(db, clock, people.other_enterprise, None, ["tax_payment"], purpose=None).allowed
    anonymous = _check(db, clock, None, None, ["admin_penalty", "tax_payment"], purpose=None)
    assert anonymous.allowed_items == ("admin_penalty",)
    denied = [e for e in _events(db, "consent.access.denied") if e.actor_id == str(people.officer_b.id)]
    assert denied
    assert denied[0].reasons == ["tax_payment: 该授权不属于本机构"]


def test_one_time_authorization_allows_one_fetch(db: Database, clock: FrozenClock, people: People, keyring: Keyring) -> None:
    view = _approve(db, clock, people, keyring, _request(db, clock, people, fetch_type=FetchType.ONE_TIME, frequency=None))
    assert _check(db, clock, people.officer_a, view.id, ["tax_payment", "utility_payment"]).allowed
    again = _check(db, clock, people.officer_a, view.id, ["tax_payment"])
    assert not again.allowed
    assert "一次性" in again.reasons[0]


def test_endpoint_secret_is_encrypted_at_rest_and_looked_up_by_url(
    db: Database, clock: FrozenClock, people: People, cipher: PiiCipher
) -> None:
    secret = "s" * 30
    view = consent.set_endpoint(
        db, actor=people.admin_a, clock=clock, cipher=cipher, url="https://bank-a.example/hooks/consent", secret=secret
    )
    assert view.generated_secret is None
    with db.transaction() as s:
        stored = s.get(ConsentEndpoint, people.bank_a)
        assert stored is not None
        assert secret not in stored.secret_enc
    # Declared for key rotation with the table, column and associated data the secrets really use.
    from xinyidai.consent.encrypted import ENCRYPTED_COLUMNS

    (column,) = ENCRYPTED_COLUMNS
    assert (column.table, column.id_column, column.column) == ("consent_endpoint", "institution_id", "secret_enc")
    assert cipher.decrypt(stored.secret_enc, context=column.context) == secret
    lookup = consent.webhook_secret_lookup(db, cipher)
    assert lookup("https://bank-a.example/hooks/consent") == secret
    assert lookup("https://elsewhere.example/") is None
    generated = consent.set_endpoint(db, actor=people.admin_a, clock=clock, cipher=cipher, url="https://bank-a.example/hooks/v2")
    assert generated.generated_secret
    assert len(generated.generated_secret) >= 32
    assert lookup("https://bank-a.example/hooks/v2") == generated.generated_secret
    for bad in (
        "http://bank-a.example/h",
        "https://10.0.0.5/h",
        "https://127.0.0.1/h",
        "ftp://x.example/",
        "https://u:p@x.example/",
    ):
        with pytest.raises(InvalidInput):
            consent.set_endpoint(db, actor=people.admin_a, clock=clock, cipher=cipher, url=bad, secret=secret)
    # Bank B cannot take over bank A's URL (the route checks the admin permission, the service the institution).
    with pytest.raises(InvalidInput, match="其他机构"):
        consent.set_endpoint(
            db, actor=people.officer_b, clock=clock, cipher=cipher, url="https://bank-a.example/hooks/v2", secret=secret
        )
    with pytest.raises(Forbidden):
        consent.set_endpoint(db, actor=people.operator, clock=clock, cipher=cipher, url="https://x.example/h", secret=secret)
