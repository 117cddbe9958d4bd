"""Evaluation pushes end to end: a subscribed institution, a batch run that enqueues `evaluation.push`, the job that
queues one signed webhook per enterprise whose active authorization covers `credit_evaluation`, delivery through the
outbox to the institution's URL, the push rows and the enterprise's access-trail event; nothing is sent twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import make_settings
from tests.integration.evaluation.evaluation_world import HOOK_SECRET, HOOK_URL, World, authorize, build_world, evaluate
from xinyidai import audit, consent, job
from xinyidai.audit.tables import AuditEvent
from xinyidai.consent import Ed25519Key, Keyring, Transition
from xinyidai.db import Database
from xinyidai.evaluation import push
from xinyidai.evaluation.model_tables import EvaluationPush
from xinyidai.http.container import Container
from xinyidai.job import JobRegistry, WebhookTransport
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.errors import Forbidden
from xinyidai.kernel.pii import PiiCipher


@pytest.fixture(scope="module")
def keyring() -> Keyring:
    """A platform signing keyring for the authorizations."""
    return Keyring(Ed25519Key.generate())


class Inbox:
    """The institution's receiving end: every request checked as the institution would (signature, timestamp)."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.accepted: list[dict[str, Any]] = []
        self.urls: list[str] = []
        self.rejected: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        try:
            job.verify_webhook(HOOK_SECRET, request.headers, request.content, now=self.clock.now())
        except job.WebhookVerificationError as exc:
            self.rejected.append(str(exc))
            return httpx.Response(401)
        self.accepted.append(json.loads(request.content))
        self.urls.append(str(request.url))
        return httpx.Response(204)


def _registry(db: Database, database_url: str, clock: FrozenClock, cipher: PiiCipher) -> JobRegistry:
    container = Container(settings=make_settings(database_url), db=db, clock=clock, cipher=cipher)
    registry = JobRegistry()
    push.register_push_jobs(registry, container)
    return registry


def _deliver(db: Database, clock: FrozenClock, cipher: PiiCipher, inbox: Inbox) -> job.DeliverySummary:
    transport = WebhookTransport(
        secret_for=consent.webhook_secret_lookup(db, cipher),
        clock=clock,
        client=httpx.Client(transport=httpx.MockTransport(inbox.handle)),
    )
    return job.deliver_outbox(db, transports={"https": transport}, clock=clock)


def _subscribe(db: Database, clock: FrozenClock, cipher: PiiCipher, w: World) -> None:
    consent.set_endpoint(db, actor=w.admin_a, clock=clock, cipher=cipher, url=HOOK_URL, secret=HOOK_SECRET)
    push.set_subscription(db, actor=w.admin_a, clock=clock, active=True)
    push.set_subscription(db, actor=w.admin_b, clock=clock, active=True)  # subscribed, but nobody authorized bank B


def _exports(db: Database) -> list[AuditEvent]:
    with db.transaction() as s:
        rows = s.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "evaluation.push.export").order_by(AuditEvent.seq)
        ).all()
        s.expunge_all()
        return list(rows)


def test_a_run_pushes_only_covered_enterprises_signed_once(
    db: Database, database_url: str, clock: FrozenClock, cipher: PiiCipher, keyring: Keyring, tmp_path: Path, unique: str
) -> None:
    w = build_world(db, clock, cipher, unique)
    _subscribe(db, clock, cipher, w)
    covered = authorize(db, clock, keyring, officer=w.officer_a, enterprise=w.enterprises[w.bad])
    # The good enterprise authorized other data only; the plain one authorized the evaluation and then revoked.
    authorize(db, clock, keyring, officer=w.officer_a, enterprise=w.enterprises[w.good], items=frozenset({"utility_payment"}))
    revoked = authorize(db, clock, keyring, officer=w.officer_a, enterprise=w.enterprises[w.plain])
    consent.change_authorization(
        db, actor=w.enterprises[w.plain], clock=clock, keyring=keyring, authorization_id=revoked, transition=Transition.REVOKE
    )
    inbox = Inbox(clock)
    _deliver(db, clock, cipher, inbox)  # the consent notices, out of the way
    inbox.accepted.clear()
    inbox.urls.clear()

    summary = evaluate(db, clock, tmp_path)
    assert summary.push_job_id is not None
    registry = _registry(db, database_url, clock, cipher)
    ran = job.run_due(db, registry, clock=clock, worker_id="t")
    assert (ran.claimed, ran.succeeded) == (1, 1)

    with db.transaction() as s:
        rows = s.scalars(sa.select(EvaluationPush).where(EvaluationPush.run_id == summary.run_id)).all()
        pushed = [(r.institution_id, r.uscc, r.authorization_id, r.grade) for r in rows]
    assert pushed == [(w.bank_a, w.bad, covered, "D")]

    delivered = _deliver(db, clock, cipher, inbox)
    assert delivered.delivered == 1
    assert inbox.rejected == []
    assert inbox.urls == [HOOK_URL]
    (message,) = inbox.accepted
    assert message["topic"] == push.PUSH_TOPIC
    body = message["data"]
    assert (body["uscc"], body["grade"], body["run_id"]) == (w.bad, "D", str(summary.run_id))
    assert body["authorization_id"] == str(covered)
    assert body["institution_id"] == str(w.bank_a)
    assert body["snapshot_id"] == str(summary.snapshot_id)
    assert body["reasons"][0]["code"] == "dishonest_debtor"  # what capped the grade comes first
    assert all(r["advice"] for r in body["reasons"])
    assert "indicators" not in body

    (event,) = _exports(db)
    assert event.subject == w.bad
    assert audit.is_access_action(event.action)  # listed on the enterprise's 谁查询了我的信息
    assert event.data["institution_id"] == str(w.bank_a)
    assert event.data["authorization_id"] == str(covered)
    assert event.data["items"] == ["credit_evaluation"]

    # Rerunning the push for the same run sends nothing twice.
    again = push.push_run(db, clock=clock, run_id=summary.run_id)
    assert (again.pushed, again.already_pushed) == (0, 1)
    assert _deliver(db, clock, cipher, inbox).delivered == 0
    assert len(inbox.accepted) == 1
    assert len(_exports(db)) == 1

    # A new run is a new evaluation: it is pushed again, once.
    second = evaluate(db, clock, tmp_path)
    assert job.run_due(db, registry, clock=clock, worker_id="t").succeeded == 1
    assert _deliver(db, clock, cipher, inbox).delivered == 1
    assert [m["data"]["run_id"] for m in inbox.accepted] == [str(summary.run_id), str(second.run_id)]


def test_no_subscription_or_no_endpoint_sends_nothing(
    db: Database, clock: FrozenClock, cipher: PiiCipher, keyring: Keyring, tmp_path: Path, unique: str
) -> None:
    w = build_world(db, clock, cipher, unique, base=9200)
    authorize(db, clock, keyring, officer=w.officer_a, enterprise=w.enterprises[w.good])
    run = evaluate(db, clock, tmp_path)
    assert push.push_run(db, clock=clock, run_id=run.run_id).pushed == 0  # nobody subscribed

    push.set_subscription(db, actor=w.admin_a, clock=clock, active=True)  # subscribed, no webhook URL
    summary = push.push_run(db, clock=clock, run_id=run.run_id)
    assert (summary.pushed, summary.skipped_no_endpoint) == (0, 1)
    with db.transaction() as s:
        skipped = s.scalars(sa.select(AuditEvent).where(AuditEvent.action == "evaluation.push.skipped")).all()
        assert [e.target_id for e in skipped] == [str(w.bank_a)]
        assert s.scalar(sa.select(sa.func.count()).select_from(EvaluationPush)) == 0

    sub = push.get_subscription(db, actor=w.admin_a)
    assert sub.active
    assert sub.endpoint_url is None
    off = push.set_subscription(db, actor=w.admin_a, clock=clock, active=False)
    assert not off.active
    with pytest.raises(Forbidden):
        push.set_subscription(db, actor=w.enterprises[w.good], clock=clock, active=True)


def test_an_institution_lists_only_its_own_pushes(
    db: Database, clock: FrozenClock, cipher: PiiCipher, keyring: Keyring, tmp_path: Path, unique: str
) -> None:
    w = build_world(db, clock, cipher, unique, base=9300)
    _subscribe(db, clock, cipher, w)
    authorize(db, clock, keyring, officer=w.officer_a, enterprise=w.enterprises[w.good])
    run = evaluate(db, clock, tmp_path)
    push.push_run(db, clock=clock, run_id=run.run_id)
    mine = push.list_pushes(db, actor=w.officer_a, clock=clock)
    assert [(p.uscc, p.grade) for p in mine.items] == [(w.good, "A")]
    theirs = push.list_pushes(db, actor=w.admin_b, clock=clock)
    assert (theirs.total, theirs.items) == (0, ())
    with pytest.raises(push.NotAnInstitution):
        push.list_pushes(db, actor=w.enterprises[w.good], clock=clock)
