"""Status pushes reach the institution: signed webhooks through the outbox, delivered to a real local HTTP receiver,
for approval, revocation and the expiry job."""

from __future__ import annotations

from datetime import timedelta

from tests.factories import PASSWORD
from tests.integration.consent.consent_support import RECEIVER_SECRET, SUBJECT, People, Receiver, terms
from xinyidai import consent, job
from xinyidai.config import Settings
from xinyidai.consent import AccessAction, Keyring, Purpose, Transition
from xinyidai.consent.jobs import CONSENT_EXPIRE, register_jobs
from xinyidai.consent.service import KEYRING_SERVICE
from xinyidai.consent.signing import NOTICE_TYPE
from xinyidai.db import Database
from xinyidai.http.container import Container
from xinyidai.job import JobRegistry, WebhookTransport
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher


def _transports(db: Database, cipher: PiiCipher, clock: FrozenClock) -> dict[str, WebhookTransport]:
    # What the lead plugs into app.build_job_registry: the consent endpoints' secrets, looked up by URL.
    webhooks = WebhookTransport(secret_for=consent.webhook_secret_lookup(db, cipher), clock=clock)
    return {"http": webhooks, "https": webhooks}


def test_approval_and_revocation_are_pushed_with_valid_signatures(
    db: Database, clock: FrozenClock, cipher: PiiCipher, people: People, keyring: Keyring, consent_receiver: Receiver
) -> None:
    consent.set_endpoint(
        db,
        actor=people.admin_a,
        clock=clock,
        cipher=cipher,
        url=consent_receiver.url,
        secret=RECEIVER_SECRET,
        allow_insecure=True,
    )
    requested = consent.request_authorization(
        db, actor=people.officer_a, clock=clock, enterprise_uscc=SUBJECT, terms=terms(clock)
    )
    active = consent.approve_authorization(
        db, actor=people.enterprise, clock=clock, keyring=keyring, authorization_id=requested.id, password=PASSWORD
    )
    clock.advance(timedelta(minutes=3))
    consent.change_authorization(
        db,
        actor=people.enterprise,
        clock=clock,
        keyring=keyring,
        authorization_id=requested.id,
        transition=Transition.REVOKE,
        reason="不再需要",
    )
    # Effective at once: the very next request is refused, before any push is delivered.
    with db.transaction() as s:
        check = consent.check_access(
            s,
            principal=people.officer_a,
            action=AccessAction.REPORT,
            subject_uscc=SUBJECT,
            items=["tax_payment"],
            purpose=Purpose.CREDIT_APPROVAL,
            authorization_id=requested.id,
            clock=clock,
        )
    assert not check.allowed
    summary = job.deliver_outbox(db, transports=_transports(db, cipher, clock), clock=clock)
    assert summary.delivered == 2
    assert consent_receiver.rejected == []
    approved, revoked = consent_receiver.accepted
    assert approved["topic"] == "consent.authorization.approved"
    assert revoked["topic"] == "consent.authorization.revoked"
    assert consent_receiver.headers[1]["x-xinyidai-topic"] == "consent.authorization.revoked"
    assert revoked["data"]["authorization_id"] == str(requested.id)
    assert revoked["data"]["status"] == "revoked"
    assert revoked["data"]["previous_status"] == "active"
    assert revoked["data"]["reason"] == "不再需要"
    # The institution can check the notice and the artefact offline with the platform's published keys.
    notice = consent.verify_jws(revoked["data"]["notice"], keyring.jwks(), expected_type=NOTICE_TYPE).payload
    assert notice["status"] == "revoked"
    assert notice["authorization_id"] == str(requested.id)
    assert approved["data"]["artefact"] == active.artefact
    assert consent.verify_jws(approved["data"]["artefact"], keyring.jwks()).payload["jti"] == str(requested.id)


def test_no_endpoint_no_push_but_still_audited(db: Database, clock: FrozenClock, people: People, keyring: Keyring) -> None:
    requested = consent.request_authorization(
        db, actor=people.officer_b, clock=clock, enterprise_uscc=SUBJECT, terms=terms(clock)
    )
    before = job.outbox_counts(db)["pending"]
    consent.change_authorization(
        db, actor=people.enterprise, clock=clock, keyring=keyring, authorization_id=requested.id, transition=Transition.REJECT
    )
    assert job.outbox_counts(db)["pending"] == before


def test_expiry_job_expires_and_pushes(
    db: Database,
    clock: FrozenClock,
    cipher: PiiCipher,
    settings: Settings,
    people: People,
    keyring: Keyring,
    consent_receiver: Receiver,
) -> None:
    consent.set_endpoint(
        db,
        actor=people.admin_a,
        clock=clock,
        cipher=cipher,
        url=consent_receiver.url,
        secret=RECEIVER_SECRET,
        allow_insecure=True,
    )
    requested = consent.request_authorization(
        db,
        actor=people.officer_a,
        clock=clock,
        enterprise_uscc=SUBJECT,
        terms=terms(clock, expires_at=clock.now() + timedelta(hours=1)),
    )
    consent.approve_authorization(
        db, actor=people.enterprise, clock=clock, keyring=keyring, authorization_id=requested.id, password=PASSWORD
    )
    container = Container(settings=settings, db=db, clock=clock, cipher=cipher, services={KEYRING_SERVICE: keyring})
    registry = JobRegistry()
    register_jobs(registry, container)
    job.register_builtin_jobs(registry, transports=_transports(db, cipher, clock))
    assert CONSENT_EXPIRE in registry
    clock.advance(timedelta(hours=2))
    for _ in range(3):
        job.run_due(db, registry, clock=clock, worker_id="test")
    view = consent.get_authorization(db, actor=people.officer_a, clock=clock, authorization_id=requested.id)
    assert view.history[-1].transition == "expire"
    topics = [m["topic"] for m in consent_receiver.accepted]
    assert topics == ["consent.authorization.approved", "consent.authorization.expired"]
