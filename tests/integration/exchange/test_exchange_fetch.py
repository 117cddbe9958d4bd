"""Fetching through connectors against the real simulator: cache, freshness, degradation, timeouts, malformed
answers, retries, the breaker, the call log and the audit trail (on SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.exchange.conftest import SIM_AS_OF, RecordingSleep, configure, control, subject_with
from xinyidai import exchange
from xinyidai.audit.tables import AuditEvent
from xinyidai.catalog import NotInCatalog
from xinyidai.db import Database
from xinyidai.exchange.tables import ExchangeCache
from xinyidai.kernel.actor import ActorKind, ActorRef
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.errors import InvalidInput
from xinyidai.kernel.pii import PiiCipher
from xinyidai.kernel.uscc import InvalidUscc
from xinyidai.simulator import DataIndex, RunningSimulator

OPERATOR = ActorRef(ActorKind.USER, "op-1", "运营人员")
CAN_QUERY = frozenset({"exchange:query:run"})


def _fetch(
    db: Database,
    registry: exchange.ConnectorRegistry,
    clock: FrozenClock,
    uscc: str,
    *,
    item: str = "tax_payment",
    source: str | None = None,
    purpose: str | None = "贷前调查",
    **kwargs: Any,
) -> exchange.FetchResult:
    return exchange.fetch(
        db,
        registry,
        actor=OPERATOR,
        source=source,
        item=item,
        uscc=uscc,
        purpose=purpose,
        clock=clock,
        permissions=kwargs.pop("permissions", CAN_QUERY),
        **kwargs,
    )


def test_a_fresh_fetch_returns_the_departments_records_and_logs_the_call(
    db: Database,
    clock: FrozenClock,
    cipher: PiiCipher,
    registry: exchange.ConnectorRegistry,
    simulator: RunningSimulator,
    data_index: DataIndex,
) -> None:
    configure(db, clock, cipher, simulator)
    uscc = subject_with(data_index, "tax_payment")
    result = _fetch(db, registry, clock, uscc)
    assert result.status is exchange.FetchStatus.FRESH
    assert result.source == "tax"
    assert result.as_of == SIM_AS_OF
    assert result.fetched_at == clock.now()
    assert result.age_seconds == 0
    assert result.reason is None
    expected = data_index.records("tax_payment", uscc)
    assert len(result.records) == len(expected) > 0
    assert {(r["period"], r["tax_type"]) for r in result.records} == {(r["period"], r["tax_type"]) for r in expected}
    assert simulator.state.count("tax", "tax_payment") == 1
    [call] = exchange.recent_calls(db, source="tax")
    assert (call.outcome, call.status, call.from_cache, call.attempts, call.http_status) == ("ok", "fresh", False, 1, 200)


def test_within_freshness_the_cache_answers_without_a_call_and_survives_a_restart(
    db: Database,
    clock: FrozenClock,
    cipher: PiiCipher,
    registry: exchange.ConnectorRegistry,
    simulator: RunningSimulator,
    data_index: DataIndex,
) -> None:
    configure(db, clock, cipher, simulator)
    uscc = subject_with(data_index, "tax_payment")
    first = _fetch(db, registry, clock, uscc)
    clock.advance(timedelta(days=6, hours=23))  # tax_payment is fresh for P7D
    restarted = exchange.ConnectorRegistry(cipher=cipher)  # a new process: the cache is in the database
    second = _fetch(db, restarted, clock, uscc)
    assert second.status is exchange.FetchStatus.CACHED
    assert second.records == first.records
    assert second.fetched_at == first.fetched_at
    assert second.age_seconds == int(timedelta(days=6, hours=23).total_seconds())
    assert simulator.state.count() == 1
    calls = exchange.recent_calls(db, source="tax")
    assert [(c.status, c.from_cache, c.attempts) for c in calls] == [("cached", True, 0), ("fresh", False, 1)]


def test_past_freshness_a_failing_source_degrades_to_the_stale_copy_with_its_age(
    db: Database,
    clock: FrozenClock,
    cipher: PiiCipher,
    registry: exchange.ConnectorRegistry,
    simulator: RunningSimulator,
    data_index: DataIndex,
) -> None:
    configure(db, clock, cipher, simulator)
    uscc = subject_with(data_index, "tax_payment")
    first = _fetch(db, registry, clock, uscc)
    control(simulator, mode="fail", status=503)
    clock.advance(timedelta(days=8))
    stale = _fetch(db, registry, clock, uscc)
    assert stale.status is exchange.FetchStatus.STALE
    assert stale.degraded
    assert stale.records == first.records
    assert stale.as_of == first.as_of
    assert stale.age_seconds == 8 * 24 * 3600
    assert stale.reason == "error"
    assert stale.detail is not None
    assert "HTTP 503" in stale.detail
    assert simulator.state.count() == 2  # it did try the department
    [call, _] = exchange.recent_calls(db, source="tax")
    assert (call.outcome, call.status, call.from_cache, call.http_status) == ("error", "stale", True, 503)


def test_without_a_cached_copy_a_failing_source_is_unavailable_never_an_exception(
    db: Database,
    clock: FrozenClock,
    cipher: PiiCipher,
    registry: exchange.ConnectorRegistry,
    simulator: RunningSimulator,
    data_index: DataIndex,
) -> None:
    configure(db, clock, cipher, simulator)
    control(simulator, mode="fail", status=500)
    result = _fetch(db, registry, clock, subject_with(data_index, "tax_payment"))
    assert result.status is exchange.FetchStatus.UNAVAILABLE
    assert (result.records, result.as_of, result.age_seconds) == ((), None, None)
    assert result.reason == "error"
    [call] = exchange.recent_calls(db, source="tax")
    assert (call.outcome, call.status, call.from_cache, call.http_status) == ("error", "unavailable", False, 500)


def test_an_unconfigured_or_unreachable_source_degrades_too(
    db: Database, clock: FrozenClock, cipher: PiiCipher, registry: exchange.ConnectorRegistry, data_index: DataIndex
) -> None:
    uscc = subject_with(data_index, "tax_payment")
    result = _fetch(db, registry, clock, uscc)
    assert (result.status, result.reason) == (exchange.FetchStatus.UNAVAILABLE, "not_configured")
    import socket

    with socket.socket() as sock:  # a port on which nothing listens
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    exchange.set_endpoint(
        db, actor=OPERATOR, clock=clock, cipher=cipher, source="tax", base_url=f"http://127.0.0.1:{closed}/tax", max_attempts=1
    )
    result = _fetch(db, registry, clock, uscc)
    assert (result.status, result.reason) == (exchange.FetchStatus.UNAVAILABLE, "error")
    assert result.detail is not None
    assert "ConnectError" in result.detail
    outcomes = [c.outcome for c in exchange.recent_calls(db, source="tax")]
    assert outcomes == ["error", "not_configured"]


def test_a_slow_source_times_out_within_the_bound(
    db: Database,
    clock: FrozenClock,
    cipher: PiiCipher,
    registry: exchange.ConnectorRegistry,
    simulator: RunningSimulator,
    data_index: DataIndex,
) -> None:
    configure(db, clock, cipher, simulator, timeout_ms=200, max_attempts=2, backoff_base_ms=20, deadline_ms=350)
    control(simulator, mode="slow", delay_ms=1_500)
    started = time.monotonic()
    result = _fetch(db, registry, clock, subject_with(data_index, "tax_payment"))
    elapsed = time.monotonic() - started
    assert result.status is exchange.FetchStatus.UNAVAILABLE
    assert result.reason == "timeout"
    # Two attempts fit the 350 ms budget only because the second one's timeout is cut to what is left.
    assert elapsed < 0.9, elapsed
    [call] = exchange.recent_calls(db, source="tax")
    assert call.outcome == "timeout"
    assert call.attempts == 2
    assert 300 <= call.duration_ms < 900


@pytest.mark.parametrize("kind", ["bad_json", "wrong_schema", "wrong_subject"])
def test_malformed_answers_are_rejected_recorded_and_not_cached(
    kind: str,
    db: Database,
    clock: FrozenClock,
    cipher: PiiCipher,
    registry: exchange.ConnectorRegistry,
    simulator: RunningSimulator,
    data_index: DataIndex,
) -> None:
    configure(db, clock, cipher, simulator, max_attempts=3)
    uscc = subject_with(data_index, "tax_payment")
    control(simulator, mode="malformed", malformed=kind)
    result = _fetch(db, registry, clock, uscc)
    assert (result.status, result.reason) == (exchange.FetchStatus.UNAVAILABLE, "malformed")
    assert result.detail is not None
    assert "malformed answer" in result.detail
    assert simulator.state.count() == 1  # a malformed answer is not retried
    [call] = exchange.recent_calls(db, source="tax")
    assert (call.outcome, call.http_status) == ("malformed", 200)
    control(simulator, mode="normal")
    assert _fetch(db, registry, clock, uscc).status is exchange.FetchStatus.FRESH  # nothing bad was cached


def test_retries_back_off_with_bounded_jitter_until_the_source_answers(
    db: Database,
    clock: FrozenClock,
    cipher: PiiCipher,
    registry: exchange.ConnectorRegistry,
    simulator: RunningSimulator,
    data_index: DataIndex,
    sleeps: RecordingSleep,
) -> None:
    configure(db, clock, cipher, simulator, max_attempts=4, backoff_base_ms=20, backoff_cap_ms=200)
    control(simulator, fail_next=2, status=503)
    result = _fetch(db, registry, clock, subject_with(data_index, "tax_payment"))
    assert result.status is exchange.FetchStatus.FRESH
    assert simulator.state.count() == 3
    assert len(sleeps.waits) == 2
    for attempt, wait in enumerate(sleeps.waits, start=1):
        ceiling = 0.02 * 2 ** (attempt - 1)
        assert ceiling * 0.5 <= wait <= ceiling
    [call] = exchange.recent_calls(db, source="tax")
    assert (call.outcome, call.attempts) == ("ok", 3)


def test_a_refused_token_is_not_retried(
    db: Database,
    clock: FrozenClock,
    cipher: PiiCipher,
    registry: exchange.ConnectorRegistry,
    simulator: RunningSimulator,
    data_index: DataIndex,
) -> None:
    exchange.set_endpoint(
        db,
        actor=OPERATOR,
        clock=clock,
        cipher=cipher,
        source="tax",
        base_url=f"{simulator.url}/tax",
        token="wrong",
        max_attempts=3,
    )
    result = _fetch(db, registry, clock, subject_with(data_index, "tax_payment"))
    assert (result.status, result.reason) == (exchange.FetchStatus.UNAVAILABLE, "error")
    assert simulator.state.count() == 1
    assert exchange.recent_calls(db, source="tax")[0].http_status == 401


def test_the_breaker_opens_after_n_failures_stops_calling_and_probes_after_the_cool_down(
    db: Database,
    clock: FrozenClock,
    cipher: PiiCipher,
    registry: exchange.ConnectorRegistry,
    simulator: RunningSimulator,
    data_index: DataIndex,
) -> None:
    configure(db, clock, cipher, simulator, breaker_failures=3, breaker_cooldown_s=30)
    uscc = subject_with(data_index, "tax_payment")
    control(simulator, mode="fail")
    for _ in range(3):
        assert _fetch(db, registry, clock, uscc).reason == "error"
    assert simulator.state.count() == 3
    assert registry.breaker_states()["tax"].phase is exchange.BreakerPhase.OPEN
    for _ in range(5):
        refused = _fetch(db, registry, clock, uscc)
        assert (refused.status, refused.reason) == (exchange.FetchStatus.UNAVAILABLE, "breaker_open")
    assert simulator.state.count() == 3  # the department saw no more requests
    assert [c.attempts for c in exchange.recent_calls(db, source="tax", limit=5)] == [0] * 5

    control(simulator, mode="normal")
    clock.advance(timedelta(seconds=29))
    assert _fetch(db, registry, clock, uscc).reason == "breaker_open"
    assert simulator.state.count() == 3
    clock.advance(timedelta(seconds=1))  # the cool-down is over: one probe goes, succeeds, and closes the breaker
    probe = _fetch(db, registry, clock, uscc)
    assert probe.status is exchange.FetchStatus.FRESH
    assert simulator.state.count() == 4
    assert registry.breaker_states()["tax"].phase is exchange.BreakerPhase.CLOSED


def test_a_failed_probe_reopens_the_breaker_and_the_stale_copy_is_served_meanwhile(
    db: Database,
    clock: FrozenClock,
    cipher: PiiCipher,
    registry: exchange.ConnectorRegistry,
    simulator: RunningSimulator,
    data_index: DataIndex,
) -> None:
    configure(db, clock, cipher, simulator, breaker_failures=2, breaker_cooldown_s=30, max_attempts=3)
    uscc = subject_with(data_index, "tax_payment")
    assert _fetch(db, registry, clock, uscc).status is exchange.FetchStatus.FRESH
    clock.advance(timedelta(days=8))
    control(simulator, mode="fail")
    first = _fetch(db, registry, clock, uscc)  # two failed attempts open the breaker mid-retries
    assert (first.status, first.reason) == (exchange.FetchStatus.STALE, "error")
    assert simulator.state.count() == 3
    blocked = _fetch(db, registry, clock, uscc)
    assert (blocked.status, blocked.reason) == (exchange.FetchStatus.STALE, "breaker_open")
    clock.advance(timedelta(seconds=30))
    probe = _fetch(db, registry, clock, uscc)  # the probe gets one attempt, fails, and re-opens
    assert (probe.status, probe.reason) == (exchange.FetchStatus.STALE, "error")
    assert simulator.state.count() == 4
    assert registry.breaker_states()["tax"].phase is exchange.BreakerPhase.OPEN
    assert _fetch(db, registry, clock, uscc).reason == "breaker_open"
    assert simulator.state.count() == 4


def test_a_stale_copy_is_revalidated_with_its_etag(
    db: Database,
    clock: FrozenClock,
    cipher: PiiCipher,
    registry: exchange.ConnectorRegistry,
    simulator: RunningSimulator,
    data_index: DataIndex,
) -> None:
    configure(db, clock, cipher, simulator)
    uscc = subject_with(data_index, "tax_payment")
    first = _fetch(db, registry, clock, uscc)
    clock.advance(timedelta(days=10))
    again = _fetch(db, registry, clock, uscc)
    assert again.status is exchange.FetchStatus.FRESH
    assert again.records == first.records
    assert again.fetched_at == clock.now()
    assert again.age_seconds == 0
    assert exchange.recent_calls(db, source="tax")[0].http_status == 304
    clock.advance(timedelta(days=1))
    assert _fetch(db, registry, clock, uscc).status is exchange.FetchStatus.CACHED  # fresh again from the 304


def test_non_public_reads_are_audited_with_their_purpose_public_ones_only_logged(
    db: Database,
    clock: FrozenClock,
    cipher: PiiCipher,
    registry: exchange.ConnectorRegistry,
    simulator: RunningSimulator,
    data_index: DataIndex,
) -> None:
    configure(db, clock, cipher, simulator)
    configure(db, clock, cipher, simulator, source="samr")
    uscc = subject_with(data_index, "tax_payment")
    _fetch(db, registry, clock, uscc, purpose="授信审批")
    _fetch(db, registry, clock, uscc, purpose="授信审批")  # a cache hit is a read too
    _fetch(db, registry, clock, uscc, item="registration")
    with db.transaction() as s:
        events = s.scalars(sa.select(AuditEvent).where(AuditEvent.action == "exchange.query").order_by(AuditEvent.seq)).all()
    assert len(events) == 2
    for event, status in zip(events, ("fresh", "cached"), strict=True):
        assert event.subject == uscc
        assert event.actor_id == OPERATOR.id
        assert (event.target_type, event.target_id) == ("catalog_item", "tax_payment")
        assert event.data["purpose"] == "授信审批"
        assert event.data["status"] == status
        assert event.data["disclosure"] == "authorized"
        assert event.reasons
    assert {c.item for c in exchange.recent_calls(db)} == {"tax_payment", "registration"}


def test_the_access_hook_refuses_by_default_and_the_refusal_is_audited(
    db: Database,
    clock: FrozenClock,
    cipher: PiiCipher,
    registry: exchange.ConnectorRegistry,
    simulator: RunningSimulator,
    data_index: DataIndex,
) -> None:
    configure(db, clock, cipher, simulator)
    uscc = subject_with(data_index, "tax_payment")
    with pytest.raises(exchange.QueryRefused, match="exchange:query:run"):
        _fetch(db, registry, clock, uscc, permissions=frozenset({"registry:subject:read"}))
    seen: list[exchange.AccessQuery] = []

    def consent_check(query: exchange.AccessQuery) -> exchange.AccessDecision:
        seen.append(query)
        return exchange.AccessDecision(False, ("无有效授权",))

    with pytest.raises(exchange.QueryRefused, match="无有效授权"):
        _fetch(db, registry, clock, uscc, decide=consent_check)
    assert seen[0].purpose == "贷前调查"
    assert seen[0].disclosure == "authorized"
    assert simulator.state.count() == 0
    assert exchange.recent_calls(db) == []
    with db.transaction() as s:
        denied = s.scalars(sa.select(AuditEvent).where(AuditEvent.action == "exchange.query.denied")).all()
    assert [e.reasons for e in denied] == [["缺少权限 exchange:query:run"], ["无有效授权"]]
    assert all(e.subject == uscc for e in denied)


def test_bad_input_is_refused_before_anything_is_called(
    db: Database, clock: FrozenClock, registry: exchange.ConnectorRegistry, data_index: DataIndex
) -> None:
    uscc = subject_with(data_index, "tax_payment")
    with pytest.raises(NotInCatalog):
        _fetch(db, registry, clock, uscc, item="no_such_item")
    with pytest.raises(InvalidUscc):
        _fetch(db, registry, clock, "91350100M000100YO3")  # "O" is not in the alphabet
    with pytest.raises(exchange.SourceNotAllowed):
        _fetch(db, registry, clock, uscc, source="customs")


def test_personal_id_numbers_are_encrypted_in_the_cache_and_masked_in_answers(
    db: Database,
    clock: FrozenClock,
    cipher: PiiCipher,
    registry: exchange.ConnectorRegistry,
    simulator: RunningSimulator,
    data_index: DataIndex,
) -> None:
    configure(db, clock, cipher, simulator, source="admin_bodies")
    uscc = next(
        u for u in data_index.subjects("admin_penalty") if any(r["CF_FR_ZJHM"] for r in data_index.records("admin_penalty", u))
    )
    clear = {r["CF_FR_ZJHM"] for r in data_index.records("admin_penalty", uscc) if r["CF_FR_ZJHM"]}
    fresh = _fetch(db, registry, clock, uscc, item="admin_penalty")
    cached = _fetch(db, registry, clock, uscc, item="admin_penalty")
    for result in (fresh, cached):
        shown = {r["CF_FR_ZJHM"] for r in result.records if r.get("CF_FR_ZJHM")}
        assert shown
        assert not shown & clear
        assert all("*" in v for v in shown)
    with db.transaction() as s:
        payload = s.scalars(sa.select(ExchangeCache.payload).where(ExchangeCache.uscc == uscc)).one()
    stored = repr(payload)
    assert not any(value in stored for value in clear)


def test_a_group_member_answers_for_its_own_records(
    db: Database,
    clock: FrozenClock,
    cipher: PiiCipher,
    registry: exchange.ConnectorRegistry,
    simulator: RunningSimulator,
    data_index: DataIndex,
) -> None:
    configure(db, clock, cipher, simulator, source="power")
    uscc = next(u for u in data_index.subjects("utility_payment") if data_index.records("utility_payment", u, department="power"))
    result = _fetch(db, registry, clock, uscc, item="utility_payment", source="power")
    assert result.status is exchange.FetchStatus.FRESH
    assert {r["utility"] for r in result.records} == {"electricity"}
    assert simulator.state.count("power", "utility_payment") == 1


def test_endpoints_are_validated_audited_and_never_show_their_token(db: Database, clock: FrozenClock, cipher: PiiCipher) -> None:
    with pytest.raises(InvalidInput, match="base_url"):
        exchange.set_endpoint(db, actor=OPERATOR, clock=clock, cipher=cipher, source="tax", base_url="ftp://x")
    with pytest.raises(InvalidInput, match="unknown source"):
        exchange.set_endpoint(db, actor=OPERATOR, clock=clock, cipher=cipher, source="nope", base_url="http://x")
    with pytest.raises(InvalidInput, match="unknown endpoint settings"):
        exchange.set_endpoint(db, actor=OPERATOR, clock=clock, cipher=cipher, source="tax", base_url="http://x", retries=3)
    first = exchange.set_endpoint(
        db, actor=OPERATOR, clock=clock, cipher=cipher, source="tax", base_url="http://a/tax", token="s3cret", timeout_ms=900
    )
    assert (first.has_token, first.timeout_ms, first.max_attempts) == (True, 900, 3)
    kept = exchange.set_endpoint(
        db, actor=OPERATOR, clock=clock, cipher=cipher, source="tax", base_url="http://b/tax", keep_token=True
    )
    assert (kept.base_url, kept.has_token, kept.timeout_ms) == ("http://b/tax", True, 900)
    dropped = exchange.set_endpoint(db, actor=OPERATOR, clock=clock, cipher=cipher, source="tax", base_url="http://b/tax")
    assert dropped.has_token is False
    [listed] = exchange.list_endpoints(db)
    assert "s3cret" not in repr(listed.to_json())
    with db.transaction() as s:
        events = s.scalars(sa.select(AuditEvent).where(AuditEvent.action == "exchange.endpoint.set")).all()
    assert len(events) == 3
    assert all("s3cret" not in repr(e.data) for e in events)


def test_an_unreadable_cache_entry_is_a_miss_and_an_unreadable_token_degrades(
    db: Database,
    clock: FrozenClock,
    cipher: PiiCipher,
    registry: exchange.ConnectorRegistry,
    simulator: RunningSimulator,
    data_index: DataIndex,
) -> None:
    configure(db, clock, cipher, simulator, source="admin_bodies")
    uscc = next(
        u for u in data_index.subjects("admin_penalty") if any(r["CF_FR_ZJHM"] for r in data_index.records("admin_penalty", u))
    )
    assert _fetch(db, registry, clock, uscc, item="admin_penalty").status is exchange.FetchStatus.FRESH
    with db.transaction() as s:  # as after a key rotation that retired the key the ID numbers were sealed with
        row = s.scalars(sa.select(ExchangeCache).where(ExchangeCache.uscc == uscc)).one()
        row.payload = [
            {**r, "CF_FR_ZJHM": "v1:t1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} if r.get("CF_FR_ZJHM") else r for r in row.payload
        ]
    refetched = _fetch(db, registry, clock, uscc, item="admin_penalty")
    assert refetched.status is exchange.FetchStatus.FRESH  # within freshness, yet the unreadable copy was not used
    assert simulator.state.count() == 2

    other = PiiCipher(key=b"O" * 32, key_id="t9")
    stranger = exchange.ConnectorRegistry(cipher=other)
    clock.advance(timedelta(days=2))  # admin_penalty is fresh for P1D
    result = _fetch(db, stranger, clock, uscc, item="admin_penalty")
    assert (result.status, result.reason) == (exchange.FetchStatus.UNAVAILABLE, "not_configured")
    assert result.detail is not None
    assert "cannot be decrypted" in result.detail
    assert simulator.state.count() == 2


def test_the_demo_points_every_department_at_the_simulator_in_one_transaction(
    db: Database, clock: FrozenClock, cipher: PiiCipher, simulator: RunningSimulator, data_index: DataIndex
) -> None:
    with pytest.raises(InvalidInput, match="unknown source"):
        exchange.set_endpoints_at(
            db, actor=OPERATOR, clock=clock, cipher=cipher, url=simulator.url, token="t", sources=["tax", "not_a_department"]
        )
    assert exchange.list_endpoints(db) == []  # all or nothing
    views = exchange.set_endpoints_at(
        db, actor=OPERATOR, clock=clock, cipher=cipher, url=simulator.url + "/", token="t", sources=data_index.departments()
    )
    assert [v.source for v in views] == sorted(data_index.departments())
    assert {v.base_url for v in views} >= {f"{simulator.url}/tax", f"{simulator.url}/power"}
