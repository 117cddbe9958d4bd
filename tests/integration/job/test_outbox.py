"""The outbox on a real database, delivered over real HTTP to local receivers that verify signatures."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

import pytest
import sqlalchemy as sa

from xinyidai import audit
from xinyidai.audit.tables import AuditEvent
from xinyidai.db import Database
from xinyidai.http.observability import Metrics
from xinyidai.job import (
    JOB_PURGE,
    OUTBOX_DELIVER,
    BackoffPolicy,
    JobRegistry,
    Transport,
    WebhookTransport,
    enqueue_outbox,
    job_counts,
    outbox_counts,
    purge_finished,
    register_builtin_jobs,
    run_due,
)
from xinyidai.job.tables import OutboxMessage
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import FrozenClock

ACTOR = ActorRef.system("test")
NODE_ID = "city-350100"  # the node id the `db` fixture stamps


class Receiver(Protocol):
    """What these tests read of the conftest's webhook receivers."""

    url: str
    secret: str
    attempts: list[str]
    accepted: list[dict[str, Any]]
    headers: list[dict[str, str]]
    rejected: list[str]


def _message(db: Database, message_id: uuid.UUID) -> OutboxMessage:
    with db.transaction() as s:
        row = s.get(OutboxMessage, message_id)
        assert row is not None
        s.expunge(row)
        return row


def _events(db: Database, action: str) -> list[AuditEvent]:
    with db.transaction() as s:
        rows = list(s.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))
        s.expunge_all()
        return rows


def _registry(transports: Mapping[str, Transport], *, max_attempts: int = 12) -> JobRegistry:
    registry = JobRegistry()
    register_builtin_jobs(registry, transports, max_attempts=max_attempts)
    return registry


def _webhooks(clock: FrozenClock, secrets: dict[str, str]) -> dict[str, Transport]:
    transport = WebhookTransport(secrets.get, clock=clock, timeout=5.0)
    return {"http": transport, "https": transport}


def _post(db: Database, clock: FrozenClock, destination: str, payload: dict[str, Any], topic: str = "report.issued") -> uuid.UUID:
    # The message is written in the same transaction as the change it reports.
    with db.transaction() as s:
        audit.record(s, actor=ACTOR, action="test.change")
        return enqueue_outbox(s, topic=topic, destination=destination, payload=payload, clock=clock)


def test_builtin_kinds_are_registered_periodic() -> None:
    registry = _registry({})
    assert [k.kind for k in registry.periodic()] == [JOB_PURGE, OUTBOX_DELIVER]
    deliver = registry.get(OUTBOX_DELIVER)
    assert deliver is not None
    assert deliver.every == timedelta(seconds=10)


def test_message_is_delivered_signed_to_a_real_receiver(db: Database, clock: FrozenClock, receiver: Receiver) -> None:
    registry = _registry(_webhooks(clock, {receiver.url: receiver.secret}))
    metrics = Metrics()
    message_id = _post(db, clock, receiver.url, {"uscc": "91350100M000100Y43", "名称": "福州示例有限公司"})

    summary = run_due(db, registry, clock=clock, worker_id="w1", metrics=metrics)

    assert summary.succeeded == 2  # outbox.deliver and job.purge
    assert receiver.rejected == []
    assert receiver.attempts == [str(message_id)]
    [body] = receiver.accepted
    assert body == {
        "id": str(message_id),
        "topic": "report.issued",
        "node_id": NODE_ID,
        "created_at": clock.now().isoformat(),
        "data": {"uscc": "91350100M000100Y43", "名称": "福州示例有限公司"},
    }
    [headers] = receiver.headers
    assert headers["x-xinyidai-id"] == str(message_id)
    assert headers["x-xinyidai-timestamp"] == str(int(clock.now().timestamp()))
    assert headers["x-xinyidai-signature"].startswith("v1=")
    assert headers["x-xinyidai-topic"] == "report.issued"
    row = _message(db, message_id)
    assert (row.status, row.attempts, row.delivered_at, row.node_id) == ("delivered", 1, clock.now(), NODE_ID)
    assert outbox_counts(db) == {"pending": 0, "delivered": 1, "dead": 0}
    assert metrics.registry.get_sample_value("xinyidai_jobs_total", {"kind": "outbox.message", "outcome": "delivered"}) == 1

    # Delivered once; later passes send nothing more.
    clock.advance(timedelta(seconds=10))
    run_due(db, registry, clock=clock, worker_id="w1")
    assert receiver.attempts == [str(message_id)]


def test_message_rolls_back_with_the_change(db: Database, clock: FrozenClock, receiver: Receiver) -> None:
    def failing_change() -> None:
        with db.transaction() as s:
            enqueue_outbox(s, topic="report.issued", destination=receiver.url, payload={}, clock=clock)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    run_due(db, _registry(_webhooks(clock, {receiver.url: receiver.secret})), clock=clock, worker_id="w1")
    assert receiver.attempts == []
    assert outbox_counts(db) == {"pending": 0, "delivered": 0, "dead": 0}


def test_failing_receiver_gets_retries_with_backoff_then_message_is_dead(
    db: Database, clock: FrozenClock, failing_receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="xinyidai.job")
    registry = _registry(_webhooks(clock, {failing_receiver.url: failing_receiver.secret}), max_attempts=3)
    metrics = Metrics()
    message_id = _post(db, clock, failing_receiver.url, {"n": 1})

    run_due(db, registry, clock=clock, worker_id="w1", metrics=metrics)
    row = _message(db, message_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error is not None
    assert "HTTP 500" in row.last_error
    first_delay = row.next_attempt_at - clock.now()
    assert first_delay == BackoffPolicy(base=timedelta(seconds=30), cap=timedelta(hours=6)).delay(1, message_id)

    # Not retried before its time, even though the delivery job runs every 10 s.
    clock.advance(timedelta(seconds=10))
    run_due(db, registry, clock=clock, worker_id="w1", metrics=metrics)
    assert failing_receiver.attempts == [str(message_id)]

    clock.set(row.next_attempt_at)
    run_due(db, registry, clock=clock, worker_id="w1", metrics=metrics)
    row = _message(db, message_id)
    assert (row.status, row.attempts) == ("pending", 2)
    assert row.next_attempt_at - clock.now() > first_delay

    clock.set(row.next_attempt_at)
    run_due(db, registry, clock=clock, worker_id="w1", metrics=metrics)
    row = _message(db, message_id)
    assert (row.status, row.attempts) == ("dead", 3)

    # Every attempt carried the same id, so a receiver can drop replays.
    assert failing_receiver.attempts == [str(message_id)] * 3
    assert failing_receiver.rejected == []
    [event] = _events(db, "outbox.dead")
    assert (event.target_type, event.target_id) == ("outbox_message", str(message_id))
    assert event.reasons == ["已投递 3 次，均失败"]
    assert event.data["destination"] == failing_receiver.url
    assert audit.verify(db).ok
    assert any(
        r.levelno == logging.ERROR and "outbox message dead" in r.getMessage() and str(message_id) in r.getMessage()
        for r in caplog.records
    )
    sample = metrics.registry.get_sample_value
    assert sample("xinyidai_jobs_total", {"kind": "outbox.message", "outcome": "retried"}) == 2
    assert sample("xinyidai_jobs_total", {"kind": "outbox.message", "outcome": "dead"}) == 1
    # The delivery job itself did its work each time: the failures are the messages', not the job's.
    assert job_counts(db)["dead"] == 0

    clock.advance(timedelta(days=1))
    run_due(db, registry, clock=clock, worker_id="w1")
    assert len(failing_receiver.attempts) == 3


def test_receiver_refuses_a_wrong_signature(db: Database, clock: FrozenClock, receiver: Receiver) -> None:
    registry = _registry(_webhooks(clock, {receiver.url: "not-the-subscriber-secret"}))
    message_id = _post(db, clock, receiver.url, {"n": 1})
    run_due(db, registry, clock=clock, worker_id="w1")
    assert receiver.rejected == ["webhook signature does not match"]
    assert receiver.accepted == []
    row = _message(db, message_id)
    assert row.status == "pending"
    assert row.last_error is not None
    assert "HTTP 401" in row.last_error


def test_missing_secret_and_unreachable_receiver_are_retried(db: Database, clock: FrozenClock, closed_port_url: str) -> None:
    registry = _registry(_webhooks(clock, {closed_port_url: "s3cret"}))
    no_secret = _post(db, clock, "http://127.0.0.1:9/nobody-configured-me", {})
    unreachable = _post(db, clock, closed_port_url, {})
    run_due(db, registry, clock=clock, worker_id="w1")
    row = _message(db, no_secret)
    assert (row.status, row.last_error) == (
        "pending",
        "xinyidai.job.model.DeliveryError: no webhook secret configured for http://127.0.0.1:9/nobody-configured-me",
    )
    row = _message(db, unreachable)
    assert row.status == "pending"
    assert row.last_error is not None
    assert "ConnectError" in row.last_error


def test_destination_without_a_transport_is_dead_at_once(db: Database, clock: FrozenClock) -> None:
    registry = _registry({})
    message_id = _post(db, clock, "node://province-350000/inbox", {})
    run_due(db, registry, clock=clock, worker_id="w1")
    row = _message(db, message_id)
    assert (row.status, row.attempts) == ("dead", 1)
    [event] = _events(db, "outbox.dead")
    assert event.reasons == ["接收方拒绝或无法投递，不再重试"]
    assert event.data["error"] == "xinyidai.job.model.PermanentFailure: no transport for destination scheme 'node'"


def test_enqueue_outbox_refuses_bad_input(db: Database, clock: FrozenClock) -> None:
    with db.transaction() as s:
        with pytest.raises(ValueError, match="scheme"):
            enqueue_outbox(s, topic="t", destination="bank.example/hook", payload={}, clock=clock)
        with pytest.raises(ValueError, match="plain JSON"):
            enqueue_outbox(s, topic="t", destination="https://bank.example/hook", payload={"x": {1, 2}}, clock=clock)


def test_purge_deletes_old_delivered_messages(db: Database, clock: FrozenClock, receiver: Receiver) -> None:
    registry = _registry(_webhooks(clock, {receiver.url: receiver.secret}))
    _post(db, clock, receiver.url, {"n": 1})
    run_due(db, registry, clock=clock, worker_id="w1")
    dead = _post(db, clock, "node://elsewhere", {})
    clock.advance(timedelta(seconds=10))  # the next delivery pass
    run_due(db, registry, clock=clock, worker_id="w1")
    clock.advance(timedelta(days=8))
    purged = purge_finished(db, clock=clock, older_than=timedelta(days=7))
    assert purged["outbox"] == 1
    assert outbox_counts(db) == {"pending": 0, "delivered": 0, "dead": 1}
    assert _message(db, dead).status == "dead"
