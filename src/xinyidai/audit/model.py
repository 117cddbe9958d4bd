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


# --- the access trail ------------------------------------------------------------------------------

#: An event whose action ends with one of these (or starts with `access.`) is an access to its subject's data:
#: it is listed on the subject's page 谁查询了我的信息. See audit/README.md for the contract.
ACCESS_SUFFIXES: tuple[str, ...] = (".read", ".pull", ".verify", ".query", ".reveal_id", ".download", ".export")
ACCESS_PREFIXES: tuple[str, ...] = ("access.",)
#: Keys of an access event's `data` that the trail page shows (all optional).
ACCESS_DATA_KEYS: tuple[str, ...] = (
    "institution_id",
    "institution_name",
    "purpose",
    "purpose_label",
    "authorization_id",
    "items",
)


def is_access_action(action: str) -> bool:
    """Whether an event with this action is an access to its subject's data."""
    return action.endswith(ACCESS_SUFFIXES) or action.startswith(ACCESS_PREFIXES)


@dataclass(frozen=True, slots=True)
class TrailDecision:
    """Whether a caller may see a subject's access trail or an event's proof, and why."""

    allowed: bool
    reasons: tuple[str, ...]


def may_read_trail(*, can_read_all: bool, can_read_own: bool, own_uscc: str | None, subject: str | None) -> TrailDecision:
    """Deny unless a rule allows: auditors see every event; an enterprise sees the events about itself."""
    if can_read_all:
        return TrailDecision(True, ("持有审计日志查阅权限",))
    if can_read_own and own_uscc and subject and own_uscc == subject:
        return TrailDecision(True, ("查阅与本企业有关的访问记录",))
    if can_read_own:
        return TrailDecision(False, ("只能查阅与本企业有关的访问记录",))
    return TrailDecision(False, ("缺少访问记录查阅权限",))


@dataclass(frozen=True, slots=True)
class LogProblem:
    """The first thing wrong with the log: a bad or missing event, or a checkpoint that does not hold."""

    seq: int | None
    event_id: str | None
    reason: str
    checkpoint_size: int | None = None


@dataclass(frozen=True, slots=True)
class LogReport:
    """Result of verifying the chain, the stored Merkle tree and every checkpoint."""

    events: int
    head_hash: str
    tree_size: int
    checkpoints: int
    problem: LogProblem | None = None

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong."""
        return self.problem is None
