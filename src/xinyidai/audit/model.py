"""Pure rules of the audit chain: canonical form of an event, its hash, and chain verification."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An audit event exactly as hashed and stored."""

    seq: int
    id: str
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
    hash: str = ""


def jsonable(value: Any) -> Any:
    """Normalise a value into plain JSON types, as it will read back from the database."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def canonical_bytes(event: EventRecord) -> bytes:
    """The canonical serialisation that the hash covers (sorted keys, UTC microsecond timestamps)."""
    body = {
        "seq": event.seq,
        "id": event.id,
        "occurred_at": event.occurred_at.isoformat(timespec="microseconds"),
        "node_id": event.node_id,
        "actor": [event.actor_kind, event.actor_id, event.actor_label],
        "action": event.action,
        "subject": event.subject,
        "target": [event.target_type, event.target_id],
        "reasons": event.reasons,
        "request_id": event.request_id,
        "data": event.data,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def event_hash(event: EventRecord) -> str:
    """SHA-256 over the canonical form, which includes the previous event's hash."""
    return hashlib.sha256(canonical_bytes(event)).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """The first place where the chain breaks."""

    seq: int
    event_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Result of verifying the chain."""

    events: int
    head_hash: str
    problem: ChainProblem | None = None
    problems: list[ChainProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every event is intact and in place."""
        return self.problem is None


def verify_chain(events: Iterable[EventRecord]) -> ChainReport:
    """Recompute the chain over events in seq order; report the first break.

    An altered row fails its own hash; a deleted row leaves a gap in seq and a prev_hash
    that no longer matches; an inserted row breaks the prev_hash of its successor.
    """
    expected_seq = 1
    prev = GENESIS_HASH
    count = 0
    for ev in events:
        count += 1
        if ev.seq != expected_seq:
            return ChainReport(
                count, prev, ChainProblem(ev.seq, ev.id, f"序号不连续: 期望 {expected_seq}, 实际 {ev.seq} (事件被删除或插入)")
            )
        if ev.prev_hash != prev:
            return ChainReport(count, prev, ChainProblem(ev.seq, ev.id, "前序哈希不匹配 (前一事件被改动、删除或插入)"))
        recomputed = event_hash(ev)
        if recomputed != ev.hash:
            return ChainReport(count, prev, ChainProblem(ev.seq, ev.id, "事件内容与其哈希不符 (事件被改动)"))
        prev = ev.hash
        expected_seq += 1
    return ChainReport(count, prev)
