"""The cheap append: pending changes of the caller are flushed before the event, the returned event is what is
stored (its hash verifies and chains), and appends in one transaction and across transactions stay gap-free."""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xinyidai import audit
from xinyidai.audit.model import GENESIS_HASH, EventRecord, event_hash
from xinyidai.audit.tables import AuditEvent
from xinyidai.db import Database
from xinyidai.kernel.actor import ActorRef
from xinyidai.report.tables import ReportSequence

ACTOR = ActorRef.system("test")


def _stored(db: Database) -> list[AuditEvent]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)))


def test_returned_event_is_the_stored_one_and_chains(db: Database) -> None:
    with db.transaction() as s:
        first = audit.record(s, actor=ACTOR, action="test.one", subject="91350100M000100Y43", reasons=["r"], data={"n": 1})
        second = audit.record(s, actor=ACTOR, action="test.two", target_type="thing", target_id=uuid.uuid4())
    rows = _stored(db)
    assert [r.id for r in rows] == [first.id, second.id]
    assert [r.seq for r in rows] == [1, 2]
    assert rows[0].prev_hash == GENESIS_HASH
    assert rows[1].prev_hash == rows[0].hash == first.hash
    assert rows[1].hash == second.hash
    for row in rows:
        rec = EventRecord(
            seq=row.seq,
            id=str(row.id),
            occurred_at=row.occurred_at,
            node_id=row.node_id,
            actor_kind=row.actor_kind,
            actor_id=row.actor_id,
            actor_label=row.actor_label,
            action=row.action,
            subject=row.subject,
            target_type=row.target_type,
            target_id=row.target_id,
            reasons=list(row.reasons),
            request_id=row.request_id,
            data=dict(row.data),
            prev_hash=row.prev_hash,
        )
        assert event_hash(rec) == row.hash
    assert audit.verify(db).ok


def test_pending_changes_are_flushed_before_the_event(db: Database) -> None:
    with db.transaction() as s:
        s.add(ReportSequence(node_id="test-node", day=date(2026, 6, 30), last=7))
        audit.record(s, actor=ACTOR, action="test.after_change")
        # The change is in the database already (flushed), not only pending in the session.
        found = s.execute(sa.text("SELECT last FROM report_sequence WHERE node_id = 'test-node'")).scalar_one()
        assert found == 7


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=4))
def test_appends_stay_gap_free_and_verify(db: Database, batches: list[int]) -> None:
    before = audit.count_since(db)
    for size in batches:
        with db.transaction() as s:
            for i in range(size):
                audit.record(s, actor=ACTOR, action="test.batch", data={"i": i})
    rows = _stored(db)
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    assert len(rows) == before + sum(batches)
    assert audit.verify(db).ok


def _statements(db: Database) -> list[str]:
    """Statements sent on the database's connection from now on (a list that grows)."""
    seen: list[str] = []
    sa.event.listen(db.bind, "before_cursor_execute", lambda _c, _cur, statement, *_rest: seen.append(statement))
    return seen


def test_later_appends_of_a_transaction_do_not_read_the_head_again(db: Database) -> None:
    seen = _statements(db)
    with db.transaction() as s:
        for i in range(3):
            audit.record(s, actor=ACTOR, action="test.same_transaction", data={"i": i})
    heads = [q for q in seen if q.lstrip().upper().startswith("SELECT") and "audit_event" in q]
    inserts = [q for q in seen if q.lstrip().upper().startswith("INSERT INTO AUDIT_EVENT")]
    assert len(inserts) == 3
    assert len(heads) == 1  # the first append reads the head; the others take the one it left
    locks = [q for q in seen if "pg_advisory_xact_lock" in q]
    assert len(locks) == (1 if db.dialect == "postgresql" else 0)
    assert audit.verify(db).ok


# One transaction's steps: an append at the top level, or a savepoint with some appends, committed or rolled back.
_STEP = st.one_of(
    st.just(("append", 0, True)),
    st.tuples(st.just("savepoint"), st.integers(min_value=0, max_value=3), st.booleans()),
)


class _Rollback(Exception):
    pass


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(transactions=st.lists(st.lists(_STEP, min_size=1, max_size=5), min_size=1, max_size=3))
def test_appends_around_savepoints_stay_gap_free_and_verify(
    db: Database, transactions: list[list[tuple[str, int, bool]]]
) -> None:
    before = audit.count_since(db)
    kept = 0
    for steps in transactions:
        with db.transaction() as s:
            for kind, size, commit in steps:
                if kind == "append":
                    audit.record(s, actor=ACTOR, action="test.top")
                    kept += 1
                    continue
                try:
                    with s.begin_nested():
                        for i in range(size):
                            audit.record(s, actor=ACTOR, action="test.nested", data={"i": i})
                        if not commit:
                            raise _Rollback
                except _Rollback:
                    pass
                else:
                    kept += size
    rows = _stored(db)
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    assert len(rows) == before + kept
    assert audit.verify(db).ok
