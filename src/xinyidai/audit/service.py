"""Audit use cases: append an event inside the caller's transaction; verify and list the chain."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from xinyidai.audit.model import GENESIS_HASH, ChainReport, EventRecord, event_hash, jsonable, verify_chain
from xinyidai.audit.tables import AuditEvent
from xinyidai.db import Database
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock, SystemClock
from xinyidai.kernel.context import current_request_id
from xinyidai.kernel.ids import new_id

# Any constant works; it only has to be the same for every writer of the chain.
_PG_CHAIN_LOCK = 0x78_79_64_61_75_64  # "xydaud"

_clock: Clock = SystemClock()


#: The chain head: the last event's seq and hash (an index lookup on the unique seq). Built once, so each append
#: reuses SQLAlchemy's compiled form instead of constructing the statement anew.
_HEAD = sa.select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
_LOCK = sa.select(sa.func.pg_advisory_xact_lock(_PG_CHAIN_LOCK))
_INSERT = sa.insert(AuditEvent.metadata.tables[AuditEvent.__tablename__])


class AppendedEvent(NamedTuple):
    """An event as `record` appended it: the stored values, under the names of `AuditEvent`'s columns.

    Not a mapped `AuditEvent`: the log is append-only and nothing updates an event through the ORM, and building an
    instrumented instance cost about a quarter of an append (issue 4's report endpoint appends two per request)."""

    id: uuid.UUID
    seq: int
    occurred_at: datetime
    node_id: str
    actor_kind: str
    actor_id: str
    actor_label: str
    action: str
    subject: str | None
    target_type: str | None
    target_id: str | None
    reasons: list[str]
    request_id: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str


#: Scalar types that JSON stores and reads back unchanged (`jsonable` would return an equal value).
_JSON_SCALARS = (str, int, float, bool, type(None))


def _plain(value: Any) -> Any:
    """`jsonable(value)` — the value as it will read back from the database — without the JSON round trip when
    it is already plain JSON (str keys; str, int, float, bool, None, lists, dicts of exactly those types, as the
    access events' data are): copied as is. Anything else (tuples, enums, UUIDs, dates, other keys) goes
    through `jsonable`, which decides what it becomes."""
    kind = type(value)
    if kind is dict:
        if all(type(k) is str for k in value):
            return {k: _plain(v) for k, v in value.items()}
        return jsonable(value)
    if kind is list:
        return [_plain(v) for v in value]
    if kind in _JSON_SCALARS:
        return value
    return jsonable(value)


def record(
    session: Session,
    *,
    actor: ActorRef,
    action: str,
    subject: str | None = None,
    target_type: str | None = None,
    target_id: object | None = None,
    reasons: Sequence[str] = (),
    data: dict[str, Any] | None = None,
    clock: Clock | None = None,
    event_id: uuid.UUID | None = None,
) -> AppendedEvent:
    """Append one event to the chain in the caller's transaction; it commits or rolls back with the change.

    The caller's pending changes are flushed first (so the event follows what it records), then the row is
    written with one Core INSERT; the returned `AppendedEvent` carries the stored values (nothing is attached to
    the session: the log is append-only). ``event_id`` is the id to give the event when the caller had to name it
    before appending it (a document that cites the event it is recorded by); a new one otherwise.
    """
    session.flush()
    # The chain's statements are Core statements run on the transaction's connection: no ORM execution layer
    # (which costs more than the statement itself on SQLite) for rows that are never mapped objects.
    conn = session.connection()
    seq, prev = _next_link(session, conn)
    event = AppendedEvent(
        id=event_id or new_id(),
        seq=seq,
        occurred_at=(clock or _clock).now(),
        node_id=str(session.info.get("node_id", "unknown")),
        actor_kind=actor.kind.value,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        subject=subject,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        reasons=[str(r) for r in reasons],
        request_id=current_request_id(),
        data=_plain(data) if data else {},
        prev_hash=prev,
        hash="",
    )
    # The hashed form names the event by the text of its id; the row stores the UUID.
    hashed = EventRecord(**{**event._asdict(), "id": str(event.id)})
    event = event._replace(hash=event_hash(hashed))
    conn.execute(_INSERT, event._asdict())
    _remember_head(session, seq, event.hash)
    return event


#: Key in `Session.info` of the chain head this session's transaction appended last: (transaction, seq, hash).
_HEAD_KEY = "xinyidai.audit.head"


def _next_link(session: Session, conn: Connection) -> tuple[int, str]:
    """The seq and previous hash of the next event, with the chain locked for the caller's transaction.

    The first append of a transaction takes the lock (PostgreSQL's advisory lock; SQLite's transactions already
    hold the single writer lock) and reads the head. Nobody else can append until the transaction ends, so a
    later append in the same transaction takes the head it left (`_remember_head`) without asking again — unless
    a savepoint is open, whose rollback could undo an append: then the head is read, as before.
    """
    transaction = session.get_transaction()
    remembered = session.info.get(_HEAD_KEY)
    if remembered is not None and remembered[0] is transaction and not session.in_nested_transaction():
        return remembered[1] + 1, remembered[2]
    if conn.dialect.name == "postgresql":
        # Serialise appenders: the lock is released when the caller's transaction ends.
        conn.execute(_LOCK)
    head = conn.execute(_HEAD).first()
    return (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)


def _remember_head(session: Session, seq: int, hash_: str) -> None:
    """Keep the head just appended for the transaction's next append (see `_next_link`); inside a savepoint,
    forget it instead."""
    if session.in_nested_transaction():
        session.info.pop(_HEAD_KEY, None)
    else:
        session.info[_HEAD_KEY] = (session.get_transaction(), seq, hash_)


def _to_record(row: AuditEvent) -> EventRecord:
    return EventRecord(
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
        hash=row.hash,
    )


def _stream(session: Session, batch: int = 5000) -> Iterator[EventRecord]:
    last = 0
    while True:
        rows = session.scalars(sa.select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)).all()
        if not rows:
            return
        for row in rows:
            yield _to_record(row)
        last = rows[-1].seq
        session.expunge_all()


def verify(db: Database) -> ChainReport:
    """Recompute the whole chain from the database (streamed in batches)."""
    with db.transaction() as session:
        return verify_chain(_stream(session))


@dataclass(frozen=True, slots=True)
class EventView:
    """An audit event for display."""

    seq: int
    id: str
    occurred_at: str
    actor_label: str
    action: str
    subject: str | None
    target: str | None
    reasons: list[str]
    request_id: str | None


def recent(db: Database, *, actor: ActorRef, limit: int = 50, subject: str | None = None) -> list[EventView]:
    """The latest events, newest first; reading the log is itself audited."""
    with db.transaction() as session:
        query = sa.select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
        if subject:
            query = query.where(AuditEvent.subject == subject)
        rows = session.scalars(query).all()
        views = [
            EventView(
                seq=r.seq,
                id=str(r.id),
                occurred_at=r.occurred_at.isoformat(timespec="seconds"),
                actor_label=r.actor_label,
                action=r.action,
                subject=r.subject,
                target=f"{r.target_type}:{r.target_id}" if r.target_type else None,
                reasons=list(r.reasons),
                request_id=r.request_id,
            )
            for r in rows
        ]
        record(session, actor=actor, action="audit.event.list", subject=subject, data={"count": len(views)})
        return views


def count_since(db: Database, *, since_seq: int = 0) -> int:
    """Number of events with seq greater than `since_seq`."""
    with db.transaction() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.seq > since_seq)) or 0)
