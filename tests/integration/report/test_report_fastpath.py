"""The authorized report's cheaper path (issue 4, session 5) keeps its guarantees: one transaction per pull, the records
read in it (before the access decision, whose locks it does not lengthen); the records read in a caller's transaction
see that transaction; an appended audit event is returned as stored."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date
from enum import StrEnum
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.integration.consent.consent_support import SUBJECT, People
from tests.integration.report.report_support import ADMIN, audit_events, authorize, pull
from xinyidai import audit, consent, ingest, report
from xinyidai.audit.service import AppendedEvent
from xinyidai.audit.tables import AuditEvent
from xinyidai.consent import AccessDenied, Keyring, Purpose
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.report.tables import Report

AS_OF = date(2026, 6, 30)


def _counting(monkeypatch: pytest.MonkeyPatch, db: Database) -> list[int]:
    """Count the transactions `db` opens from now on."""
    opened: list[int] = []
    original: Callable[[], AbstractContextManager[Session]] = db.transaction

    def transaction() -> AbstractContextManager[Session]:
        opened.append(1)
        return original()

    monkeypatch.setattr(db, "transaction", transaction)
    return opened


def test_an_authorized_pull_is_one_transaction_with_one_event_recording_access_and_report(
    db: Database, clock: FrozenClock, people: People, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth_id = authorize(db, clock, people, keyring)
    before = audit_events(db, "consent.access.pull")
    opened = _counting(monkeypatch, db)
    doc = pull(db, clock, keyring, people.officer_a, auth_id)
    assert len(opened) == 1
    monkeypatch.undo()
    # One event per pull: the access, with the report it produced; no separate issue event.
    after = audit_events(db, "consent.access.pull")
    assert len(after) == len(before) + 1
    access = after[-1]
    assert not audit_events(db, "report.authorized.issue")
    assert doc.content["authorization"]["access_event_id"] == str(access.id)
    assert access.target_id == str(auth_id)
    assert access.data["outcome"]["report"] == {
        "id": str(doc.id),
        "kind": "authorized",
        "number": doc.number,
        "sha256": doc.sha256,
        "authorization_id": str(auth_id),
        "special_type": None,
    }
    # The event is the chain's head: appended after the report row it records, in the same transaction.
    with db.transaction() as s:
        head = s.scalar(sa.select(sa.func.max(AuditEvent.seq)))
    assert access.seq == head
    with db.transaction() as s:
        stored = s.scalar(sa.select(Report).where(Report.id == doc.id))
        assert stored is not None
        assert stored.content_sha256 == doc.sha256 == report.content_sha256(stored.content)
        # Stored as the very text the hash covers (PostgreSQL's json keeps it as sent; jsonb would not).
        text = s.scalar(sa.select(sa.cast(Report.content, sa.Text)).where(Report.id == doc.id))
        assert text is not None
        assert hashlib.sha256(text.encode()).hexdigest() == doc.sha256
    # The same content as the records the store shows for the authorized items (public ones and the data range aside).
    shown = {r.item_code for r in ingest.visible_records(db, uscc=SUBJECT, as_of=AS_OF)}
    items = {e["item_code"] for s in doc.content["sections"] for e in s["entries"]}
    assert items <= shown
    assert {"admin_penalty", "admin_coercion", "utility_payment"} <= items


def test_the_records_are_read_in_the_decisions_transaction_and_a_refusal_stays(
    db: Database, clock: FrozenClock, people: People, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth_id = authorize(db, clock, people, keyring)
    sessions: list[tuple[str, object]] = []
    read, check = ingest.report_records, consent.check_access

    def reading(source: Any, **kwargs: Any) -> list[ingest.ReportRecord]:
        sessions.append(("read", source))
        return read(source, **kwargs)

    def checking(session: Session, **kwargs: Any) -> consent.AccessCheck:
        sessions.append(("check", session))
        return check(session, **kwargs)

    monkeypatch.setattr(ingest, "report_records", reading)
    monkeypatch.setattr(consent, "check_access", checking)
    with pytest.raises(AccessDenied):
        pull(db, clock, keyring, people.officer_a, auth_id, Purpose.GUARANTEE)
    # The refusal's event is committed even though the pull raised; nothing is issued.
    denied = audit_events(db, "consent.access.denied")[-1]
    assert denied.target_id == str(auth_id)
    assert "outcome" not in denied.data
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Report)) == 0
    sessions.clear()
    pull(db, clock, keyring, people.officer_a, auth_id)
    # Read before the decision (so the row and chain locks it takes are not held longer), in its session.
    assert [step for step, _ in sessions] == ["read", "check"]
    assert isinstance(sessions[0][1], Session)
    assert sessions[0][1] is sessions[1][1]


class _Rollback(Exception):
    pass


def test_report_records_read_in_the_callers_transaction(db: Database, clock: FrozenClock) -> None:
    before = ingest.report_records(db, uscc=SUBJECT, as_of=AS_OF)
    penalty = next(r for r in before if r.item_code == "admin_penalty")
    with pytest.raises(_Rollback), db.transaction() as s:
        ingest.mark_repaired(s, actor=ADMIN, clock=clock, record_id=uuid.UUID(penalty.id), reason="信用修复通过")
        # Not yet committed: only this transaction sees the repair (its publication ended).
        inside = ingest.report_records(s, uscc=SUBJECT, as_of=AS_OF)
        assert [r.id for r in inside] == [r.id for r in before if r.id != penalty.id]
        raise _Rollback
    assert ingest.report_records(db, uscc=SUBJECT, as_of=AS_OF) == before


class _Colour(StrEnum):
    RED = "red"


@pytest.fixture
def appended(db: Database) -> tuple[AppendedEvent, AuditEvent]:
    data = {"plain": {"a": [1, 2.5, None, True]}, "id": uuid.UUID(int=7), "pair": (1, 2), "colour": _Colour.RED, "keys": {1: "x"}}
    with db.transaction() as s:
        event = audit.record(s, actor=ADMIN, action="test.fastpath", subject=SUBJECT, reasons=["r: 1"], data=data)
    with db.transaction() as s:
        row = s.scalar(sa.select(AuditEvent).where(AuditEvent.id == event.id))
        assert row is not None
        s.expunge(row)
    return event, row


def test_the_appended_event_is_the_stored_row(appended: tuple[AppendedEvent, AuditEvent]) -> None:
    event, row = appended
    for name in event._fields:
        assert getattr(event, name) == getattr(row, name), name
    # Values that are not plain JSON are stored as they read back (what `jsonable` makes of them).
    assert event.data == {
        "plain": {"a": [1, 2.5, None, True]},
        "id": str(uuid.UUID(int=7)),
        "pair": [1, 2],
        "colour": "red",
        "keys": {"1": "x"},
    }
    assert type(event.data["colour"]) is str
