"""The audit log as a change feed for other domains: events in commit order, read by ``seq``.

An event's ``seq`` is given under the chain's lock, which its transaction holds until it commits (``record``), so
``seq`` order is commit order, and once ``head`` has been read no event at or below it can still be uncommitted: a
reader that remembers the last ``seq`` it read misses nothing and reads nothing twice.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from xinyidai.audit.tables import AuditEvent


def head(session: Session) -> int:
    """The ``seq`` of the newest committed event (0 for an empty log)."""
    return int(session.scalar(sa.select(sa.func.max(AuditEvent.seq))) or 0)


@dataclass(frozen=True, slots=True)
class SubjectEvents:
    """The subjects of the events read, and the ``seq`` to read after next time."""

    subjects: tuple[str, ...]
    next_after: int


def subject_events(session: Session, *, after: int, actions: Collection[str], limit: int) -> SubjectEvents:
    """Subjects of the events of ``actions`` after ``after``, at most ``limit`` events (in ``seq`` order)."""
    top = head(session)
    rows = session.execute(
        sa.select(AuditEvent.seq, AuditEvent.subject)
        .where(
            AuditEvent.seq > after,
            AuditEvent.seq <= top,
            AuditEvent.action.in_(list(actions)),
            AuditEvent.subject.is_not(None),
        )
        .order_by(AuditEvent.seq)
        .limit(limit)
    ).all()
    if len(rows) == limit:  # more may follow: go on after the last one read
        top = int(rows[-1][0])
    return SubjectEvents(tuple(sorted({str(r[1]) for r in rows})), top)
