"""Concurrent fetches under one authorization never slip past its frequency cap: the authorization's row lock orders
them, and the count that decides each one (on PostgreSQL made in the same statement that records the fetch) sees every
fetch committed before it. Real concurrent transactions on a database of their own, SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import threading
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from tests.conftest import TEST_DATA_KEY
from tests.factories import PASSWORD
from tests.integration.consent.conftest import _seed_people
from tests.integration.consent.consent_support import SUBJECT, terms
from xinyidai import consent
from xinyidai.audit.tables import AuditEvent
from xinyidai.consent import AccessAction, Purpose
from xinyidai.consent.signing import Ed25519Key, Keyring
from xinyidai.consent.tables import ConsentFetch
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher

READERS = 6
CAP = 2  # the terms' frequency: 2 a week


def test_concurrent_fetches_stop_at_the_cap(own_database: Database) -> None:
    db = own_database
    clock = FrozenClock(datetime(2026, 6, 30, 2, 0, tzinfo=UTC))
    cipher = PiiCipher(key=base64.b64decode(TEST_DATA_KEY), key_id="t1")
    keyring = Keyring(Ed25519Key.generate())
    people = _seed_people(db, clock, cipher, uuid.uuid4().hex[:8])
    view = consent.request_authorization(db, actor=people.officer_a, clock=clock, enterprise_uscc=SUBJECT, terms=terms(clock))
    consent.approve_authorization(
        db, actor=people.enterprise, clock=clock, keyring=keyring, authorization_id=view.id, password=PASSWORD
    )
    start = threading.Barrier(READERS)
    checks: list[consent.AccessCheck] = []
    failures: list[BaseException] = []

    def read() -> None:
        try:
            start.wait()
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
            checks.append(check)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)

    threads = [threading.Thread(target=read) for _ in range(READERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    allowed = [c for c in checks if c.allowed]
    assert len(allowed) == CAP
    assert all(c.fetch_id is not None for c in allowed)
    assert all(c.fetch_id is None and "频次上限" in c.reasons[0] for c in checks if not c.allowed)
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ConsentFetch)) == CAP
        events = list(s.scalars(sa.select(AuditEvent).where(AuditEvent.action.like("consent.access.%")).order_by(AuditEvent.seq)))
    # Each decision counted the fetches committed before it: 0 and 1 for the two allowed, the cap for the others.
    assert sorted(e.data["fetch_count_before"] for e in events if e.action == "consent.access.pull") == [0, 1]
    assert [e.data["fetch_count_before"] for e in events if e.action == "consent.access.denied"] == [CAP] * (READERS - CAP)
