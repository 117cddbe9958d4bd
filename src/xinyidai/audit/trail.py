"""The verifiable access trail: the audit events as an RFC 6962 Merkle tree, signed checkpoints, proofs, verification.

Storage choice (ADR 0011). The tree is *integrated lazily*, the way Certificate Transparency logs merge
entries: `audit.record` stays a single insert, and `integrate` (run before every checkpoint) reads the
events not yet in the tree, checks that they continue the hash chain, and stores every completed
perfect subtree in `audit_tree_node` (about two rows per event). A proof then reads O(log n) stored
nodes in one query instead of rereading the log. The nodes are a cache: `verify_log` recomputes every
root from the events themselves and compares it with the signed checkpoints, and it checks the stored
leaves and consistency proofs on the way.
"""

from __future__ import annotations

import base64
import itertools
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from xinyidai.audit.checkpoint import (
    Checkpoint,
    TrailKeys,
    VerifierKey,
    origin_for,
    sign_checkpoint,
    verify_checkpoint,
)
from xinyidai.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    Node,
    consistency_ranges,
    fold,
    inclusion_ranges,
    leaf_hash,
    nodes_needed,
    perfect_subtrees,
    proof_from_nodes,
    verify_consistency,
    verify_inclusion,
)
from xinyidai.audit.model import (
    ACCESS_PREFIXES,
    ACCESS_SUFFIXES,
    GENESIS_HASH,
    EventRecord,
    LogProblem,
    LogReport,
    canonical_bytes,
    event_hash,
    may_read_trail,
    verify_chain,
)
from xinyidai.audit.service import _stream, _to_record, record
from xinyidai.audit.tables import AuditCheckpoint, AuditEvent, AuditTreeNode
from xinyidai.db import Database
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock
from xinyidai.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kernel.ids import new_id

# Integrators are serialised by their own lock, so appenders (who take the chain lock) never wait for them.
_PG_TREE_LOCK = 0x78_79_64_74_72_65  # "xydtre"
_NODE_QUERY_CHUNK = 400

CHECKPOINT_ACTOR = ActorRef.system("audit.checkpoint")


class TrailIntegrityError(Conflict):
    """The log does not continue what the tree (or the last checkpoint) already holds: it was tampered with."""

    code = "audit_trail_broken"
    title = "审计日志完整性校验失败"


class NotCheckpointed(Conflict):
    """The event is newer than the latest signed checkpoint; a proof exists after the next one."""

    code = "audit_not_checkpointed"
    title = "该事件尚未纳入签名检查点"


# --- the stored tree -------------------------------------------------------------------------------


def _lock_tree(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_TREE_LOCK)))
    # SQLite: every transaction already holds the single writer lock (BEGIN IMMEDIATE).


def _tree_size(session: Session) -> int:
    top = session.scalar(sa.select(sa.func.max(AuditTreeNode.position)).where(AuditTreeNode.level == 0))
    return 0 if top is None else int(top) + 1


def _load_nodes(session: Session, coords: Iterable[Node]) -> dict[Node, bytes]:
    wanted = sorted(set(coords))
    found: dict[Node, bytes] = {}
    for start in range(0, len(wanted), _NODE_QUERY_CHUNK):
        chunk = wanted[start : start + _NODE_QUERY_CHUNK]
        rows = session.execute(
            sa.select(AuditTreeNode.level, AuditTreeNode.position, AuditTreeNode.hash).where(
                sa.tuple_(AuditTreeNode.level, AuditTreeNode.position).in_(chunk)
            )
        )
        found.update({(int(level), int(pos)): bytes(value) for level, pos, value in rows})
    missing = [c for c in wanted if c not in found]
    if missing:
        raise TrailIntegrityError(f"存储的 Merkle 树节点缺失（层 {missing[0][0]}，位置 {missing[0][1]}）")
    return found


def _root(session: Session, size: int) -> bytes:
    if size == 0:
        return EMPTY_ROOT
    coords = perfect_subtrees(0, size)
    nodes = _load_nodes(session, coords)
    return fold([nodes[c] for c in coords])


def _event_leaf(rec: EventRecord) -> bytes:
    return leaf_hash(canonical_bytes(rec))


def _integrate_batch(session: Session, batch: int) -> tuple[int, int]:
    size = _tree_size(session)
    coords = Frontier.coordinates(size)
    nodes = _load_nodes(session, coords)
    frontier = Frontier(size, [nodes[c] for c in coords])
    prev = GENESIS_HASH
    if size:
        last = session.scalar(sa.select(AuditEvent).where(AuditEvent.seq == size))
        stored_leaf = session.scalar(
            sa.select(AuditTreeNode.hash).where(AuditTreeNode.level == 0, AuditTreeNode.position == size - 1)
        )
        if last is None or stored_leaf is None or _event_leaf(_to_record(last)) != bytes(stored_leaf):
            raise TrailIntegrityError(f"第 {size} 条事件已不是纳入 Merkle 树时的内容（被改动或删除）")
        prev = last.hash
    rows = session.scalars(sa.select(AuditEvent).where(AuditEvent.seq > size).order_by(AuditEvent.seq).limit(batch)).all()
    new_nodes: list[dict[str, Any]] = []
    for row in rows:
        rec = _to_record(row)
        if rec.seq != frontier.size + 1:
            raise TrailIntegrityError(f"序号不连续：期望第 {frontier.size + 1} 条，实际第 {rec.seq} 条（事件被删除或插入）")
        if rec.prev_hash != prev or event_hash(rec) != rec.hash:
            raise TrailIntegrityError(f"第 {rec.seq} 条事件与哈希链不符（事件被改动、删除或插入）")
        for level, position, value in frontier.append(_event_leaf(rec)):
            new_nodes.append({"level": level, "position": position, "hash": value})
        prev = rec.hash
    if new_nodes:
        session.execute(sa.insert(AuditTreeNode), new_nodes)
    session.expunge_all()
    return frontier.size, len(rows)


def integrate(db: Database, *, batch: int = 5000) -> int:
    """Extend the stored tree with every event not yet in it; return the tree size.

    Each batch is one transaction. New events must continue the hash chain from the last event already
    in the tree, which must itself be unchanged; otherwise nothing is stored and TrailIntegrityError says
    where the log broke (the checkpoint job then fails, is retried and reported — never signs).
    """
    if batch < 1:
        raise ValueError("batch must be positive")
    while True:
        with db.transaction() as session:
            _lock_tree(session)
            size, added = _integrate_batch(session, batch)
        if added < batch:
            return size


# --- checkpoints -----------------------------------------------------------------------------------


def _checkpoint(row: AuditCheckpoint) -> Checkpoint:
    return Checkpoint(
        origin=row.origin,
        tree_size=row.tree_size,
        root_hash=bytes.fromhex(row.root_hash),
        timestamp=row.signed_at,
        key_name=row.key_name,
        key_id=bytes.fromhex(row.key_id),
        signature=base64.b64decode(row.signature),
    )


def _latest_row(session: Session) -> AuditCheckpoint | None:
    return session.scalar(sa.select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1))


@dataclass(frozen=True, slots=True)
class CheckpointResult:
    """A checkpoint and whether this call signed it (False: the tree had not grown since the latest)."""

    checkpoint: Checkpoint
    created: bool


def create_checkpoint(
    db: Database, *, keys: TrailKeys, clock: Clock, actor: ActorRef = CHECKPOINT_ACTOR
) -> CheckpointResult | None:
    """Integrate the new events and sign a checkpoint over the whole tree; None while the log is empty.

    The new tree must be consistent with the latest checkpoint (a log never signs a fork); signing is
    itself audited, so the next checkpoint covers the record of this one.
    """
    integrate(db)
    with db.transaction() as session:
        _lock_tree(session)
        size = _tree_size(session)
        latest = _latest_row(session)
        if latest is not None and latest.tree_size == size:
            return CheckpointResult(_checkpoint(latest), created=False)
        if size == 0:
            return None
        if latest is not None and latest.tree_size > size:
            raise TrailIntegrityError(f"Merkle 树只有 {size} 个叶子，少于上一个检查点的 {latest.tree_size}")
        root = _root(session, size)
        if latest is not None:
            ranges = consistency_ranges(latest.tree_size, size)
            nodes = _load_nodes(session, nodes_needed(ranges))
            proof = proof_from_nodes(ranges, nodes.__getitem__)
            if not verify_consistency(latest.tree_size, size, bytes.fromhex(latest.root_hash), root, proof):
                raise TrailIntegrityError(f"当前 Merkle 树与上一个检查点（树大小 {latest.tree_size}）不一致，拒绝签署")
        node_id = str(session.info.get("node_id", "unknown"))
        cp = sign_checkpoint(keys.signer, origin=origin_for(node_id), tree_size=size, root_hash=root, timestamp=clock.now())
        row = AuditCheckpoint(
            id=new_id(),
            tree_size=size,
            root_hash=root.hex(),
            signed_at=cp.timestamp,
            origin=cp.origin,
            key_name=cp.key_name,
            key_id=cp.key_id.hex(),
            signature=base64.b64encode(cp.signature).decode(),
        )
        session.add(row)
        session.flush()
        record(
            session,
            actor=actor,
            action="audit.checkpoint.sign",
            target_type="audit_checkpoint",
            target_id=row.id,
            data={"tree_size": size, "root_hash": root.hex(), "key_id": cp.key_id.hex()},
            clock=clock,
        )
        return CheckpointResult(cp, created=True)


def latest_checkpoint(db: Database) -> Checkpoint | None:
    """The newest signed checkpoint (public)."""
    with db.transaction() as session:
        row = _latest_row(session)
        return None if row is None else _checkpoint(row)


def checkpoint_at(db: Database, *, tree_size: int) -> Checkpoint:
    """The checkpoint signed at exactly this tree size (public)."""
    with db.transaction() as session:
        row = session.scalar(sa.select(AuditCheckpoint).where(AuditCheckpoint.tree_size == tree_size))
        if row is None:
            raise NotFound(f"没有树大小为 {tree_size} 的签名检查点")
        return _checkpoint(row)


def list_checkpoints(db: Database) -> list[Checkpoint]:
    """Every stored checkpoint, smallest tree first."""
    with db.transaction() as session:
        return [_checkpoint(r) for r in session.scalars(sa.select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size))]


# --- proofs ----------------------------------------------------------------------------------------


def _hex(values: Sequence[bytes]) -> list[str]:
    return [v.hex() for v in values]


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """Proof that one event is leaf `seq − 1` of the tree a signed checkpoint commits to."""

    event_id: str
    seq: int
    subject: str | None
    leaf_input: bytes
    leaf_hash: bytes
    proof: list[bytes]
    checkpoint: Checkpoint
    signature_valid: bool
    included: bool

    @property
    def leaf_index(self) -> int:
        """0-based position of the event in the tree."""
        return self.seq - 1

    @property
    def verified(self) -> bool:
        """The checkpoint is signed by a trusted key and the event, as stored now, is in its tree."""
        return self.signature_valid and self.included

    def to_json(self) -> dict[str, Any]:
        """Everything an outsider needs to check the proof offline (see audit/README.md)."""
        return {
            "event_id": self.event_id,
            "seq": self.seq,
            "leaf_index": self.leaf_index,
            "tree_size": self.checkpoint.tree_size,
            "root_hash": self.checkpoint.root_hash.hex(),
            "leaf_hash": self.leaf_hash.hex(),
            "leaf_input": base64.b64encode(self.leaf_input).decode(),
            "event": json.loads(self.leaf_input),
            "proof": _hex(self.proof),
            "checkpoint": self.checkpoint.to_json(),
            "verified": self.verified,
            "algorithm": "RFC 6962: leaf = SHA-256(0x00 || leaf_input), node = SHA-256(0x01 || left || right)",
        }


def _proof_for(session: Session, row: AuditEvent, cp: Checkpoint, keys: Sequence[VerifierKey]) -> InclusionProof:
    rec = _to_record(row)
    leaf_input = canonical_bytes(rec)
    leaf = leaf_hash(leaf_input)
    ranges = inclusion_ranges(rec.seq - 1, cp.tree_size)
    nodes = _load_nodes(session, nodes_needed(ranges))
    proof = proof_from_nodes(ranges, nodes.__getitem__)
    return InclusionProof(
        event_id=rec.id,
        seq=rec.seq,
        subject=rec.subject,
        leaf_input=leaf_input,
        leaf_hash=leaf,
        proof=proof,
        checkpoint=cp,
        signature_valid=verify_checkpoint(cp, keys),
        included=verify_inclusion(leaf, rec.seq - 1, cp.tree_size, proof, cp.root_hash),
    )


def _parse_event_id(event_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(event_id)
    except ValueError:
        return None


def prove_event(
    db: Database,
    *,
    actor: ActorRef,
    keys: TrailKeys,
    event_id: str,
    tree_size: int | None = None,
    can_read_all: bool,
    can_read_own: bool = False,
    own_uscc: str | None = None,
) -> InclusionProof:
    """An event's inclusion proof against the latest checkpoint (or the one at `tree_size`); audited.

    Auditors may prove any event; an enterprise only events whose subject is itself. Anyone else, and
    any unknown id, gets NotFound — the refusal is audited first, and says nothing about existence.
    """
    wanted = _parse_event_id(event_id)
    with db.transaction() as session:
        row = session.scalar(sa.select(AuditEvent).where(AuditEvent.id == wanted)) if wanted else None
        subject = row.subject if row is not None else None
        decision = may_read_trail(can_read_all=can_read_all, can_read_own=can_read_own, own_uscc=own_uscc, subject=subject)
        if row is None or not decision.allowed:
            reasons = list(decision.reasons) if row is not None else ["事件不存在"]
            record(
                session,
                actor=actor,
                action="audit.proof.denied",
                subject=subject,
                target_type="audit_event",
                target_id=event_id[:64],
                reasons=reasons,
            )
        else:
            if tree_size is None:
                cp_row = _latest_row(session)
                if cp_row is None or cp_row.tree_size < row.seq:
                    raise NotCheckpointed(f"第 {row.seq} 条事件将在下一个签名检查点后可证明")
            else:
                cp_row = session.scalar(sa.select(AuditCheckpoint).where(AuditCheckpoint.tree_size == tree_size))
                if cp_row is None:
                    raise NotFound(f"没有树大小为 {tree_size} 的签名检查点")
                if cp_row.tree_size < row.seq:
                    raise InvalidInput(f"树大小 {tree_size} 的检查点不包含第 {row.seq} 条事件")
            proof = _proof_for(session, row, _checkpoint(cp_row), keys.trusted)
            record(
                session,
                actor=actor,
                action="audit.proof.inclusion",
                subject=subject,
                target_type="audit_event",
                target_id=row.id,
                reasons=list(decision.reasons),
                data={"tree_size": cp_row.tree_size},
            )
            return proof
    raise NotFound("未找到该审计事件")


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """Proof that the tree of `first` leaves is a prefix of the tree of `second` leaves."""

    first: int
    second: int
    first_root: bytes
    second_root: bytes
    proof: list[bytes]
    first_checkpoint: Checkpoint | None
    second_checkpoint: Checkpoint | None

    def to_json(self) -> dict[str, Any]:
        """The proof, the roots it connects and the checkpoints signed at those sizes, if any."""
        return {
            "first": self.first,
            "second": self.second,
            "first_root": self.first_root.hex(),
            "second_root": self.second_root.hex(),
            "proof": _hex(self.proof),
            "first_checkpoint": self.first_checkpoint.to_json() if self.first_checkpoint else None,
            "second_checkpoint": self.second_checkpoint.to_json() if self.second_checkpoint else None,
            "verified": verify_consistency(self.first, self.second, self.first_root, self.second_root, self.proof),
        }


def prove_consistency(db: Database, *, first: int, second: int) -> ConsistencyProof:
    """PROOF(first, D[second]) from the stored tree; both sizes must be within what the tree holds."""
    with db.transaction() as session:
        size = _tree_size(session)
        if not 1 <= first <= second <= size:
            raise InvalidInput(f"须满足 1 ≤ first ≤ second ≤ {size}（已纳入 Merkle 树的事件数）")
        ranges = consistency_ranges(first, second)
        nodes = _load_nodes(session, nodes_needed(ranges))
        rows = {
            r.tree_size: _checkpoint(r)
            for r in session.scalars(sa.select(AuditCheckpoint).where(AuditCheckpoint.tree_size.in_([first, second])))
        }
        return ConsistencyProof(
            first=first,
            second=second,
            first_root=_root(session, first),
            second_root=_root(session, second),
            proof=proof_from_nodes(ranges, nodes.__getitem__),
            first_checkpoint=rows.get(first),
            second_checkpoint=rows.get(second),
        )


# --- the access trail page -------------------------------------------------------------------------


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _access_filter() -> sa.ColumnElement[bool]:
    return sa.or_(
        *[AuditEvent.action.like(f"%{_escape_like(s)}", escape="\\") for s in ACCESS_SUFFIXES],
        *[AuditEvent.action.like(f"{_escape_like(p)}%", escape="\\") for p in ACCESS_PREFIXES],
    )


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """One access to a subject's data, with the state of its inclusion proof."""

    event_id: str
    seq: int
    occurred_at: datetime
    actor_label: str
    actor_kind: str
    action: str
    institution: str | None
    purpose: str | None
    authorization_id: str | None
    items: list[str]
    reasons: list[str]
    #: The number of the credit report the access produced (an authorized pull's ``data.outcome.report``), else None.
    report_number: str | None
    #: "verified" (✓ against the latest signed checkpoint), "failed" (✗) or "pending" (newer than it).
    proof_status: str


@dataclass(frozen=True, slots=True)
class AccessTrail:
    """A page of the accesses to one subject's data, newest first."""

    subject: str
    entries: list[AccessEntry]
    total: int
    limit: int
    offset: int
    checkpoint: Checkpoint | None
    checkpoint_valid: bool
    verifier_key: str
    counts: dict[str, int] = field(default_factory=dict)


def access_trail(
    db: Database,
    *,
    actor: ActorRef,
    keys: TrailKeys,
    subject: str,
    can_read_all: bool,
    can_read_own: bool = False,
    own_uscc: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AccessTrail:
    """Every access to `subject`'s data (谁查询了我的信息), each proven against the latest checkpoint; audited."""
    code = subject.strip().upper()
    if len(code) != 18:
        raise InvalidInput("统一社会信用代码应为 18 位")
    decision = may_read_trail(can_read_all=can_read_all, can_read_own=can_read_own, own_uscc=own_uscc, subject=code)
    with db.transaction() as session:
        if not decision.allowed:
            record(session, actor=actor, action="audit.trail.denied", subject=code, reasons=list(decision.reasons))
        else:
            where = sa.and_(AuditEvent.subject == code, _access_filter())
            total = int(session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(where)) or 0)
            rows = session.scalars(
                sa.select(AuditEvent).where(where).order_by(AuditEvent.seq.desc()).limit(limit).offset(offset)
            ).all()
            cp_row = _latest_row(session)
            cp = None if cp_row is None else _checkpoint(cp_row)
            cp_valid = cp is not None and verify_checkpoint(cp, keys.trusted)
            statuses = _proof_statuses(session, rows, cp, valid=cp_valid)
            entries = [_entry(r, statuses[r.seq]) for r in rows]
            record(
                session,
                actor=actor,
                action="audit.trail.list",
                subject=code,
                reasons=list(decision.reasons),
                data={"count": len(entries), "offset": offset},
            )
            counts = {s: sum(1 for e in entries if e.proof_status == s) for s in ("verified", "failed", "pending")}
            return AccessTrail(code, entries, total, limit, offset, cp, cp_valid, keys.signer.verifier.encode(), counts)
    raise Forbidden(decision.reasons[0])


def _proof_statuses(session: Session, rows: Sequence[AuditEvent], cp: Checkpoint | None, *, valid: bool) -> dict[int, str]:
    """Prove every row against `cp`, reading all the nodes the proofs need in one query."""
    if cp is None:
        return {r.seq: "pending" for r in rows}
    statuses = {r.seq: "pending" if r.seq > cp.tree_size else ("" if valid else "failed") for r in rows}
    provable = [r for r in rows if statuses[r.seq] == ""]
    ranges = {r.seq: inclusion_ranges(r.seq - 1, cp.tree_size) for r in provable}
    nodes = _load_nodes(session, nodes_needed(rng for rs in ranges.values() for rng in rs))
    for r in provable:
        proof = proof_from_nodes(ranges[r.seq], nodes.__getitem__)
        ok = verify_inclusion(_event_leaf(_to_record(r)), r.seq - 1, cp.tree_size, proof, cp.root_hash)
        statuses[r.seq] = "verified" if ok else "failed"
    return statuses


def _report_number(data: dict[str, Any]) -> str | None:
    outcome = data.get("outcome")
    report = outcome.get("report") if isinstance(outcome, dict) else None
    return _text(report.get("number")) if isinstance(report, dict) else None


def _entry(row: AuditEvent, status: str) -> AccessEntry:
    data = row.data if isinstance(row.data, dict) else {}
    items = data.get("items")
    return AccessEntry(
        event_id=str(row.id),
        seq=row.seq,
        occurred_at=row.occurred_at,
        actor_label=row.actor_label,
        actor_kind=row.actor_kind,
        action=row.action,
        institution=_text(data.get("institution_name")) or _text(data.get("institution_id")),
        purpose=_text(data.get("purpose_label")) or _text(data.get("purpose")),
        authorization_id=_text(data.get("authorization_id")),
        items=[str(i) for i in items] if isinstance(items, list) else ([] if items is None else [str(items)]),
        reasons=list(row.reasons),
        report_number=_report_number(data),
        proof_status=status,
    )


# --- verification ----------------------------------------------------------------------------------


@dataclass
class _Labelled:
    checkpoint: Checkpoint
    where: str  # "已存储的检查点" or "外部保存的检查点"
    keys: list[VerifierKey]


class _TreeCheck:
    """Follows the event stream: rebuilds the tree, compares stored leaves and checkpoint roots."""

    def __init__(self, session: Session, checkpoints: Sequence[_Labelled], stored_size: int, batch: int = 5000) -> None:
        self._session = session
        self._by_size: dict[int, list[_Labelled]] = {}
        for item in checkpoints:
            self._by_size.setdefault(item.checkpoint.tree_size, []).append(item)
        self._stored_size = stored_size
        self._batch = batch
        self._stored: dict[int, bytes] = {}
        self._window = -1
        self.frontier = Frontier()
        self.first_leaf_mismatch: tuple[int, str] | None = None
        self.root_problems: list[LogProblem] = []
        self._last_good_size = 0

    def _stored_leaf(self, position: int) -> bytes | None:
        if position >= self._stored_size:
            return None
        window = position - position % self._batch
        if window != self._window:
            self._window = window
            self._stored = {
                int(p): bytes(h)
                for p, h in self._session.execute(
                    sa.select(AuditTreeNode.position, AuditTreeNode.hash).where(
                        AuditTreeNode.level == 0,
                        AuditTreeNode.position >= window,
                        AuditTreeNode.position < window + self._batch,
                    )
                )
            }
        return self._stored.get(position)

    def tap(self, events: Iterable[EventRecord]) -> Iterator[EventRecord]:
        for ev in events:
            position = self.frontier.size
            leaf = _event_leaf(ev)
            if self.first_leaf_mismatch is None and position < self._stored_size and self._stored_leaf(position) != leaf:
                self.first_leaf_mismatch = (ev.seq, ev.id)
            self.frontier.append(leaf)
            for item in self._by_size.get(self.frontier.size, ()):
                if self.frontier.root() == item.checkpoint.root_hash:
                    self._last_good_size = max(self._last_good_size, self.frontier.size)
                    continue
                if self.first_leaf_mismatch is not None:
                    seq, event_id = self.first_leaf_mismatch
                    where = f"第 {seq} 条事件与纳入 Merkle 树时不同"
                else:
                    seq, event_id = self._last_good_size + 1, None
                    where = f"第 {seq}–{self.frontier.size} 条事件中有被改写的"
                self.root_problems.append(
                    LogProblem(
                        seq,
                        event_id,
                        f"{item.where}（树大小 {self.frontier.size}）的签名根哈希与现存事件重算的不符：{where}（日志被改写）",
                        self.frontier.size,
                    )
                )
            yield ev


def verify_log(
    db: Database,
    *,
    keys: Sequence[VerifierKey],
    external: Sequence[Checkpoint] = (),
    external_keys: Sequence[VerifierKey] | None = None,
) -> LogReport:
    """Verify the chain, the stored tree and every checkpoint (stored ones and those kept by outsiders).

    Catches what the chain alone cannot: truncation of the newest events and rewriting with recomputed
    hashes, as soon as one checkpoint signed before the change is at hand. Every root is recomputed
    from the events; the stored tree is only checked, never trusted. Stored checkpoints must be signed by
    one of `keys`; external ones by one of `external_keys` (default: `keys`) — the keys their keeper trusts.
    """
    with db.transaction() as session:
        stored = [_checkpoint(r) for r in session.scalars(sa.select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size))]
        outside = list(keys if external_keys is None else external_keys)
        labelled = [_Labelled(c, "已存储的检查点", list(keys)) for c in stored] + [
            _Labelled(c, "外部保存的检查点", outside) for c in external
        ]
        stored_size = _tree_size(session)
        problems: list[LogProblem] = []
        for item in labelled:
            if not verify_checkpoint(item.checkpoint, item.keys):
                size = item.checkpoint.tree_size
                problems.append(
                    LogProblem(
                        None, None, f"{item.where}（树大小 {size}）的签名无效或签名密钥不受信任（检查点被伪造或改动）", size
                    )
                )
        signed = [item for item in labelled if verify_checkpoint(item.checkpoint, item.keys)]
        check = _TreeCheck(session, signed, stored_size)
        chain = verify_chain(check.tap(_stream(session)))

        def report(problem: LogProblem | None) -> LogReport:
            return LogReport(chain.events, chain.head_hash, stored_size, len(labelled), problem)

        if chain.problem is not None:
            p = chain.problem
            return report(LogProblem(p.seq, p.event_id, p.reason))
        problems.extend(check.root_problems)
        for item in signed:
            size = item.checkpoint.tree_size
            if size > chain.events:
                problems.append(
                    LogProblem(
                        chain.events + 1,
                        None,
                        f"{item.where}确认日志共有 {size} 条事件，现仅剩 {chain.events} 条："
                        f"第 {chain.events + 1}–{size} 条被删除（日志尾部被截断）",
                        size,
                    )
                )
        if stored_size > chain.events:
            problems.append(
                LogProblem(
                    chain.events + 1, None, f"Merkle 树已纳入 {stored_size} 条事件，现仅剩 {chain.events} 条（日志尾部被截断）"
                )
            )
        if check.first_leaf_mismatch is not None:
            seq, event_id = check.first_leaf_mismatch
            problems.append(LogProblem(seq, event_id, f"第 {seq} 条事件与纳入 Merkle 树时的叶子哈希不符（事件被改写）"))
        problems.extend(_consistency_problems(session, [c for c in stored if verify_checkpoint(c, keys)], stored_size))
        first = min(problems, key=_problem_order) if problems else None
        return report(first)


def _problem_order(problem: LogProblem) -> tuple[int, int]:
    # Name the earliest event; problems without one (a bad signature, a broken proof) come after those with one.
    return (0, problem.seq) if problem.seq is not None else (1, problem.checkpoint_size or 0)


def _consistency_problems(session: Session, stored: Sequence[Checkpoint], stored_size: int) -> list[LogProblem]:
    """Consecutive stored checkpoints must be consistent through the proofs the stored tree serves."""
    problems: list[LogProblem] = []
    in_tree = [c for c in stored if c.tree_size <= stored_size]
    for older, newer in itertools.pairwise(in_tree):
        try:
            ranges = consistency_ranges(older.tree_size, newer.tree_size)
            nodes = _load_nodes(session, nodes_needed(ranges))
            proof = proof_from_nodes(ranges, nodes.__getitem__)
        except TrailIntegrityError as exc:
            problems.append(LogProblem(None, None, exc.detail, newer.tree_size))
            continue
        if not verify_consistency(older.tree_size, newer.tree_size, older.root_hash, newer.root_hash, proof):
            problems.append(
                LogProblem(
                    None,
                    None,
                    f"检查点 {older.tree_size} → {newer.tree_size} 的一致性证明不成立（存储的树节点被改动，或检查点分叉）",
                    newer.tree_size,
                )
            )
    return problems
