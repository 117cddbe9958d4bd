"""The access trail on a real database: tree integration, checkpoints, proofs, access listing and tampering caught."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.integration.audit.trail_helpers import ACTOR, KEYS, append, event_id, execute, insert_at, rewrite_from
from xinyidai import audit
from xinyidai.audit.merkle import leaf_hash, tree_hash
from xinyidai.audit.model import canonical_bytes
from xinyidai.audit.service import _to_record
from xinyidai.audit.tables import AuditEvent
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.errors import Forbidden, InvalidInput, NotFound

MINE = "91350100M000100Y43"
OTHER = "91350102MA2YA1B23X"
TRUSTED = list(KEYS.trusted)


def _leaves(db: Database) -> list[bytes]:
    with db.transaction() as s:
        rows = s.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)).all()
        return [leaf_hash(canonical_bytes(_to_record(r))) for r in rows]


def _two_checkpoints(db: Database, clock: FrozenClock) -> None:
    """Events 1–5, checkpoint at 5 (its record is event 6), events 7–8, checkpoint at 8 (event 9)."""
    append(db, 5)
    first = audit.create_checkpoint(db, keys=KEYS, clock=clock)
    assert first is not None
    assert first.created
    assert first.checkpoint.tree_size == 5
    append(db, 2)
    clock.advance(timedelta(minutes=10))
    second = audit.create_checkpoint(db, keys=KEYS, clock=clock)
    assert second is not None
    assert second.checkpoint.tree_size == 8


def test_checkpoints_sign_the_rfc6962_root_of_the_events(db: Database, clock: FrozenClock) -> None:
    assert audit.create_checkpoint(db, keys=KEYS, clock=clock) is None  # nothing to sign yet
    append(db, 7)
    result = audit.create_checkpoint(db, keys=KEYS, clock=clock)
    assert result is not None
    assert result.created
    cp = result.checkpoint
    assert cp.tree_size == 7
    assert cp.root_hash == tree_hash(_leaves(db)[:7])
    assert audit.verify_checkpoint(cp, TRUSTED)
    assert audit.latest_checkpoint(db) == cp
    assert audit.checkpoint_at(db, tree_size=7) == cp
    with pytest.raises(NotFound):
        audit.checkpoint_at(db, tree_size=3)
    # Signing is audited, and the next checkpoint covers that record.
    again = audit.create_checkpoint(db, keys=KEYS, clock=clock)
    assert again is not None
    assert again.checkpoint.tree_size == 8
    with db.transaction() as s:
        assert s.scalar(sa.select(AuditEvent.action).where(AuditEvent.seq == 8)) == "audit.checkpoint.sign"
    assert audit.verify_log(db, keys=TRUSTED).ok


def test_every_event_has_an_inclusion_proof_and_sizes_are_consistent(db: Database, clock: FrozenClock) -> None:
    _two_checkpoints(db, clock)
    cps = audit.list_checkpoints(db)
    assert [c.tree_size for c in cps] == [5, 8]
    for seq in range(1, 9):
        proof = audit.prove_event(db, actor=ACTOR, keys=KEYS, event_id=event_id(db, seq), can_read_all=True)
        assert proof.verified
        assert proof.leaf_index == seq - 1
        assert proof.checkpoint.tree_size == 8
        doc = proof.to_json()
        assert doc["event"]["seq"] == seq
        assert len(doc["proof"]) == len(proof.proof)
    older = audit.prove_event(db, actor=ACTOR, keys=KEYS, event_id=event_id(db, 2), tree_size=5, can_read_all=True)
    assert older.verified
    assert older.checkpoint.tree_size == 5
    c = audit.prove_consistency(db, first=5, second=8)
    assert c.to_json()["verified"]
    assert c.first_root == cps[0].root_hash
    assert c.second_root == cps[1].root_hash
    # The event recording the latest checkpoint is not in it yet.
    with pytest.raises(audit.NotCheckpointed):
        audit.prove_event(db, actor=ACTOR, keys=KEYS, event_id=event_id(db, 9), can_read_all=True)


def test_proving_one_event_reads_a_bounded_number_of_rows(db: Database, clock: FrozenClock) -> None:
    append(db, 1500)
    audit.create_checkpoint(db, keys=KEYS, clock=clock)
    statements: list[str] = []
    bind = db.bind
    assert isinstance(bind, sa.engine.Connection)

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    sa.event.listen(bind, "before_cursor_execute", count)
    try:
        proof = audit.prove_event(db, actor=ACTOR, keys=KEYS, event_id=event_id(db, 777), can_read_all=True)
    finally:
        sa.event.remove(bind, "before_cursor_execute", count)
    assert proof.verified
    assert len(proof.proof) == 11
    node_reads = [s for s in statements if "audit_tree_node" in s]
    assert len(node_reads) == 1  # the whole audit path in one query, not a pass over the log


def test_an_enterprise_proves_only_its_own_events_and_refusals_are_audited(db: Database, clock: FrozenClock) -> None:
    mine = append(db, 2, subject=MINE, action="registry.subject.read")
    theirs = append(db, 1, subject=OTHER, action="registry.subject.read")
    audit.create_checkpoint(db, keys=KEYS, clock=clock)
    own = {"can_read_all": False, "can_read_own": True, "own_uscc": MINE}
    assert audit.prove_event(db, actor=ACTOR, keys=KEYS, event_id=mine[0], **own).verified
    for target in (theirs[0], "not-a-uuid", "018f0000-0000-7000-8000-000000000000"):
        with pytest.raises(NotFound):
            audit.prove_event(db, actor=ACTOR, keys=KEYS, event_id=target, **own)
    with db.transaction() as s:
        denied = s.scalars(sa.select(AuditEvent).where(AuditEvent.action == "audit.proof.denied")).all()
    assert len(denied) == 3
    assert denied[0].subject == OTHER
    assert denied[0].reasons == ["只能查阅与本企业有关的访问记录"]
    with pytest.raises(NotFound):
        audit.prove_event(db, actor=ACTOR, keys=KEYS, event_id=mine[0], can_read_all=False)


def test_the_access_trail_lists_accesses_with_verified_proofs(db: Database, clock: FrozenClock) -> None:
    append(
        db,
        2,
        subject=MINE,
        action="report.authorized.pull",
        data={"institution_name": "测试银行", "purpose": "pre_loan", "purpose_label": "贷前审查", "authorization_id": "A-1"},
    )
    append(db, 1, subject=MINE, action="registry.subject.load")  # a change, not an access
    append(db, 1, subject=OTHER, action="registry.subject.read")
    audit.create_checkpoint(db, keys=KEYS, clock=clock)
    append(db, 1, subject=MINE, action="access.verify.answer")  # newer than the checkpoint
    trail = audit.access_trail(db, actor=ACTOR, keys=KEYS, subject=MINE, can_read_all=False, can_read_own=True, own_uscc=MINE)
    assert trail.total == 3
    assert [e.proof_status for e in trail.entries] == ["pending", "verified", "verified"]
    entry = trail.entries[1]
    assert (entry.institution, entry.purpose, entry.authorization_id) == ("测试银行", "贷前审查", "A-1")
    assert trail.checkpoint_valid
    assert trail.counts == {"verified": 2, "failed": 0, "pending": 1}
    # The listing is audited but is not itself an access to list.
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "audit.trail.list")) == 1
    # An altered access shows ✗.
    execute(db, "UPDATE audit_event SET actor_label = '冒名' WHERE seq = 1")
    again = audit.access_trail(db, actor=ACTOR, keys=KEYS, subject=MINE, can_read_all=True)
    assert [e.proof_status for e in again.entries] == ["pending", "verified", "failed"]
    with pytest.raises(Forbidden):
        audit.access_trail(db, actor=ACTOR, keys=KEYS, subject=OTHER, can_read_all=False, can_read_own=True, own_uscc=MINE)
    with pytest.raises(InvalidInput):
        audit.access_trail(db, actor=ACTOR, keys=KEYS, subject=OTHER + "X" * 40, can_read_all=True)
    with db.transaction() as s:
        assert s.scalar(sa.select(AuditEvent.subject).where(AuditEvent.action == "audit.trail.denied")) == OTHER


# --- tampering ---------------------------------------------------------------------------------------


def test_an_altered_row_is_named_by_the_chain(db: Database, clock: FrozenClock) -> None:
    _two_checkpoints(db, clock)
    execute(db, "UPDATE audit_event SET actor_label = '冒名' WHERE seq = 3")
    report = audit.verify_log(db, keys=TRUSTED)
    assert report.problem is not None
    assert (report.problem.seq, report.problem.event_id) == (3, event_id(db, 3))


def test_a_deleted_middle_row_is_named_by_the_chain(db: Database, clock: FrozenClock) -> None:
    _two_checkpoints(db, clock)
    execute(db, "DELETE FROM audit_event WHERE seq = 3")
    report = audit.verify_log(db, keys=TRUSTED)
    assert report.problem is not None
    assert report.problem.seq == 4


def test_truncating_the_newest_events_is_caught_by_the_checkpoint(db: Database, clock: FrozenClock) -> None:
    _two_checkpoints(db, clock)
    execute(db, "DELETE FROM audit_event WHERE seq >= 7")
    assert audit.verify(db).ok  # the chain alone cannot see it
    report = audit.verify_log(db, keys=TRUSTED)
    assert report.problem is not None
    assert report.problem.seq == 7
    assert report.problem.checkpoint_size == 8
    assert "截断" in report.problem.reason
    with pytest.raises(audit.TrailIntegrityError):
        audit.create_checkpoint(db, keys=KEYS, clock=clock)  # the platform never signs over it


def test_rewriting_the_tail_with_recomputed_hashes_is_caught(db: Database, clock: FrozenClock) -> None:
    _two_checkpoints(db, clock)
    rewrite_from(db, 7)
    assert audit.verify(db).ok
    report = audit.verify_log(db, keys=TRUSTED)
    assert report.problem is not None
    assert (report.problem.seq, report.problem.event_id) == (7, event_id(db, 7))
    assert report.problem.checkpoint_size == 8
    with pytest.raises(audit.TrailIntegrityError):
        audit.integrate(db)


def test_rewriting_events_and_the_stored_tree_is_still_caught_by_the_signed_root(db: Database, clock: FrozenClock) -> None:
    _two_checkpoints(db, clock)
    rewrite_from(db, 7)
    execute(db, "DELETE FROM audit_tree_node")
    report = audit.verify_log(db, keys=TRUSTED)
    assert report.problem is not None
    # Without the stored leaves the place is bounded by the last checkpoint that still holds (size 5).
    assert report.problem.seq == 6
    assert report.problem.checkpoint_size == 8


def test_an_inserted_event_with_a_renumbered_chain_is_caught(db: Database, clock: FrozenClock) -> None:
    _two_checkpoints(db, clock)
    forged = insert_at(db, 4)
    assert audit.verify(db).ok
    report = audit.verify_log(db, keys=TRUSTED)
    assert report.problem is not None
    assert (report.problem.seq, report.problem.event_id) == (4, forged)


def test_a_forged_checkpoint_row_fails_its_signature(db: Database, clock: FrozenClock) -> None:
    _two_checkpoints(db, clock)
    execute(db, "UPDATE audit_checkpoint SET root_hash = '" + "0" * 64 + "' WHERE tree_size = 5")
    report = audit.verify_log(db, keys=TRUSTED)
    assert report.problem is not None
    assert "签名无效" in report.problem.reason


def test_an_outside_checkpoint_catches_what_deleting_the_stored_ones_hides(db: Database, clock: FrozenClock) -> None:
    _two_checkpoints(db, clock)
    kept = audit.latest_checkpoint(db)
    assert kept is not None
    execute(db, "DELETE FROM audit_event WHERE seq >= 7")
    execute(db, "DELETE FROM audit_checkpoint")
    execute(db, "DELETE FROM audit_tree_node")
    assert audit.verify_log(db, keys=TRUSTED).ok  # nothing left on the platform can tell
    report = audit.verify_log(db, keys=TRUSTED, external=[kept])
    assert report.problem is not None
    assert report.problem.seq == 7
    assert "外部保存的检查点" in report.problem.reason
    forged = dataclasses.replace(kept, tree_size=6)
    report = audit.verify_log(db, keys=TRUSTED, external=[forged])
    assert report.problem is not None
    assert "签名无效" in report.problem.reason
