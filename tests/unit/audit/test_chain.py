"""The audit chain's pure rules: any alteration, deletion or insertion is found, and where."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from xinyidai.audit.model import GENESIS_HASH, EventRecord, event_hash, verify_chain


def build_chain(n: int) -> list[EventRecord]:
    events: list[EventRecord] = []
    prev = GENESIS_HASH
    for i in range(1, n + 1):
        ev = EventRecord(
            seq=i,
            id=f"e{i}",
            occurred_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i),
            node_id="city-350100",
            actor_kind="user",
            actor_id="u1",
            actor_label="测试",
            action="registry.subject.read",
            subject="91350100M000100Y43",
            target_type="subject",
            target_id=str(i),
            reasons=["持有主体查询权限"],
            request_id=None,
            data={"n": i, "中文": "值"},
            prev_hash=prev,
        )
        ev = dataclasses.replace(ev, hash=event_hash(ev))
        prev = ev.hash
        events.append(ev)
    return events


def test_intact_chain_verifies() -> None:
    chain = build_chain(5)
    report = verify_chain(chain)
    assert report.ok
    assert report.events == 5
    assert report.head_hash == chain[-1].hash


def test_empty_chain_is_ok() -> None:
    assert verify_chain([]).ok


@given(n=st.integers(2, 12), data=st.data())
def test_any_altered_field_is_caught_at_that_event(n: int, data: st.DataObject) -> None:
    chain = build_chain(n)
    index = data.draw(st.integers(0, n - 1))
    chain[index] = dataclasses.replace(chain[index], action="tampered")
    report = verify_chain(chain)
    assert not report.ok
    assert report.problem is not None
    assert report.problem.seq == index + 1


@given(n=st.integers(2, 12), data=st.data())
def test_any_deleted_event_is_caught(n: int, data: st.DataObject) -> None:
    chain = build_chain(n)
    index = data.draw(st.integers(0, n - 2))  # deleting the tail needs a checkpoint to notice
    del chain[index]
    report = verify_chain(chain)
    assert not report.ok
    assert report.problem is not None
    assert report.problem.seq == index + 2


def test_inserted_event_is_caught_even_with_a_valid_own_hash() -> None:
    chain = build_chain(4)
    forged = dataclasses.replace(chain[1], id="forged", prev_hash=chain[1].hash)
    forged = dataclasses.replace(forged, hash=event_hash(forged))
    chain.insert(2, forged)
    report = verify_chain(chain)
    assert not report.ok
    assert report.problem is not None
    assert report.problem.event_id == "forged"
