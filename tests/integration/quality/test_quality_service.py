"""Quality on real batches and calls: figures of deliveries with known rejects and delays, interface figures
from the exchange call log, late and degraded alerts with a frozen clock, de-duplication and acknowledgement."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import ADMIN
from tests.integration.ingest.conftest import AUTHORITY, penalty_row, write_csv
from xinyidai import audit, exchange, ingest, quality
from xinyidai.db import Database
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.quality.feed import RecordDate

MONITOR = ActorRef.system("quality-test")
KEY = ("CF_WSH", "CF_CFJGDM")


def _reader(rows: Sequence[dict[str, str | None]]) -> quality.RecordDates:
    """Reads the records a test delivered through ingest's public ``find_record`` (ingest has no per-batch read yet)."""

    def read(db: Database, batch: ingest.BatchView) -> list[RecordDate]:
        found = [ingest.find_record(db, item="admin_penalty", key={k: str(r[k]) for k in KEY}) for r in rows]
        unique = {f.id: f for f in found if f is not None and f.batch_id == batch.id}
        return [RecordDate(f.event_date, f.received_at, f.source_id) for f in unique.values()]

    return read


@pytest.fixture
def source(db: Database, clock: FrozenClock) -> ingest.SourceView:
    return ingest.create_source(
        db, actor=ADMIN, clock=clock, code=AUTHORITY, name="甲市场监管局", department_code="admin_bodies", items=["admin_penalty"]
    )


def _deliver(
    db: Database, clock: FrozenClock, cipher: PiiCipher, tmp_path: Path, rows: list[dict[str, Any]], name: str
) -> ingest.BatchResult:
    return ingest.ingest_file(
        db,
        actor=ADMIN,
        clock=clock,
        cipher=cipher,
        var_dir=tmp_path / "var",
        path=write_csv(tmp_path / name, rows),
        source=AUTHORITY,
    )


# The clock is 2026-06-30 10:00 China time (a Tuesday); admin_penalty must arrive within 7 working days.
ON_TIME = ["2026-06-29", "2026-06-25", "2026-06-22"]  # delays 1, 5, 8 days; 06-22 + 7 working days = 07-01
LATE = ["2026-06-01"]  # 29 days


def _known_rows() -> list[dict[str, str | None]]:
    good = [penalty_row(n, CF_JDRQ=d) for n, d in enumerate([*ON_TIME, *LATE], start=1)]
    missing = penalty_row(10, CF_WFXW=None)  # a required field left empty
    bad_date = penalty_row(11, CF_JDRQ="2026-02-30")
    dup_first = penalty_row(12, CF_JDRQ="2026-06-29", CF_NR="第一次")
    dup_last = penalty_row(12, CF_JDRQ="2026-06-29")
    return [*good, missing, bad_date, dup_first, dup_last]


def test_a_batch_with_known_rejects_and_delays_has_the_expected_figures(
    db: Database, clock: FrozenClock, cipher: PiiCipher, tmp_path: Path, source: ingest.SourceView
) -> None:
    rows = _known_rows()
    batch = _deliver(db, clock, cipher, tmp_path, rows, "known.csv")
    assert (batch.rows, batch.rejected, batch.duplicates) == (8, 3, 1)
    snap = quality.measure_batch(db, actor=ADMIN, clock=clock, batch_id=batch.batch_id, record_dates=_reader(rows))
    f = snap.figures
    assert snap.source == AUTHORITY
    assert snap.item == "admin_penalty"
    assert snap.timeliness_measured
    assert f.validity == 5 / 8
    assert f.uniqueness == 7 / 8
    assert f.rejects == {"date": 1, "duplicate_in_file": 1, "required": 1}
    assert f.completeness is not None
    assert f.required_cells > 0
    assert f.completeness == 1 - 1 / f.required_cells
    assert f.dated == 5
    assert f.on_time_share == 4 / 5
    assert (f.delay_median, f.delay_p90) == (5, 29)  # delays 1, 1, 5, 8, 29 days
    # the snapshot and its day aggregate are kept, and re-measuring changes nothing
    again = quality.measure_batch(db, actor=ADMIN, clock=clock, batch_id=batch.batch_id, record_dates=_reader(rows))
    assert again.figures == f
    [row] = [r for r in quality.overview(db, clock=clock, days=7) if r.channel is quality.Channel.BULK]
    assert row.latest == f
    assert row.period.rows == 8
    assert row.trend[-1].figures is not None
    assert row.trend[-1].figures.validity == 5 / 8


def test_without_a_record_reader_timeliness_is_not_measured(
    db: Database, clock: FrozenClock, cipher: PiiCipher, tmp_path: Path, source: ingest.SourceView
) -> None:
    batch = _deliver(db, clock, cipher, tmp_path, [penalty_row(1)], "one.csv")
    snap = quality.measure_batch(db, actor=ADMIN, clock=clock, batch_id=batch.batch_id, record_dates=lambda _db, _b: None)
    assert not snap.timeliness_measured
    assert snap.figures.on_time_share is None
    assert snap.figures.validity == 1.0


def test_daily_aggregates_merge_the_days_batches(
    db: Database, clock: FrozenClock, cipher: PiiCipher, tmp_path: Path, source: ingest.SourceView
) -> None:
    first = [penalty_row(1), penalty_row(2, CF_JDRQ="bad")]
    second = [penalty_row(3), penalty_row(4), penalty_row(5)]
    _deliver(db, clock, cipher, tmp_path, first, "a.csv")
    clock.advance(timedelta(hours=1))
    _deliver(db, clock, cipher, tmp_path, second, "b.csv")
    measured = quality.measure_new_batches(db, actor=MONITOR, clock=clock, record_dates=_reader([*first, *second]))
    assert measured == 2
    assert quality.measure_new_batches(db, actor=MONITOR, clock=clock) == 0
    [row] = [r for r in quality.overview(db, clock=clock, days=3) if r.channel is quality.Channel.BULK]
    assert row.period.batches == 2
    assert row.period.validity == 4 / 5
    assert row.latest is not None
    assert row.latest.validity == 1.0


def _alerts(db: Database) -> list[quality.AlertView]:
    return quality.list_alerts(db)


def test_a_late_source_raises_one_alert_until_it_delivers_again(
    db: Database, clock: FrozenClock, cipher: PiiCipher, tmp_path: Path, source: ingest.SourceView
) -> None:
    _deliver(db, clock, cipher, tmp_path, [penalty_row(1)], "a.csv")
    run = quality.monitor(db, actor=MONITOR, clock=clock)
    assert run.batches_measured == 1
    assert run.alerts.raised == 0
    clock.advance(timedelta(days=11))  # 7 working days ≈ 10 calendar days
    assert quality.monitor(db, actor=MONITOR, clock=clock).alerts.raised == 1
    assert quality.monitor(db, actor=MONITOR, clock=clock).alerts.raised == 0  # de-duplicated while open
    [alert] = _alerts(db)
    assert (alert.kind, alert.source, alert.item, alert.status) == ("late", AUTHORITY, "admin_penalty", "open")
    acked = quality.acknowledge_alert(db, actor=ADMIN, clock=clock, alert_id=alert.id)
    assert acked.status == "acknowledged"
    assert acked.acknowledged_by
    assert quality.monitor(db, actor=MONITOR, clock=clock).alerts.raised == 0  # still de-duplicated
    _deliver(db, clock, cipher, tmp_path, [penalty_row(2)], "b.csv")
    run = quality.monitor(db, actor=MONITOR, clock=clock)
    assert run.alerts.resolved == 1
    assert _alerts(db) == []
    [resolved] = quality.list_alerts(db, status=["resolved"])
    assert resolved.resolved_at == clock.now()
    actions = {e.action for e in audit.recent(db, actor=ADMIN, limit=200)}
    assert {"quality.alert.raise", "quality.alert.acknowledge", "quality.alert.resolve", "quality.batch.measure"} <= actions


def test_operator_thresholds_set_the_cadence_and_the_validity_limit(
    db: Database, clock: FrozenClock, cipher: PiiCipher, tmp_path: Path, source: ingest.SourceView
) -> None:
    _deliver(db, clock, cipher, tmp_path, [penalty_row(1), penalty_row(2, CF_JDRQ="bad")], "a.csv")
    run = quality.monitor(db, actor=MONITOR, clock=clock)
    assert run.alerts.raised == 1
    [low] = _alerts(db)
    assert low.kind == "low_validity"
    assert low.value == 0.5
    quality.set_thresholds(db, actor=ADMIN, clock=clock, source=AUTHORITY, item="admin_penalty",
                           limits=quality.Thresholds(min_validity=0.4, cadence_days=2))  # fmt: skip
    assert quality.monitor(db, actor=MONITOR, clock=clock).alerts.resolved == 1
    clock.advance(timedelta(days=3))
    assert [a.kind for a in _alerts(db)] == []  # nothing evaluated yet
    quality.monitor(db, actor=MONITOR, clock=clock)
    assert [a.kind for a in _alerts(db)] == ["late"]


def _failing_then_ok(fail: int) -> httpx.MockTransport:
    seen = {"n": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        seen["n"] += 1
        if seen["n"] <= fail:
            return httpx.Response(503)
        uscc = request.url.params["uscc"]
        return httpx.Response(200, json={"item": "tax_payment", "uscc": uscc, "as_of": "2026-06-30T01:00:00Z", "records": []})

    return httpx.MockTransport(handle)


def test_interface_figures_come_from_the_exchange_call_log_and_a_failing_source_alerts(
    db: Database, clock: FrozenClock, cipher: PiiCipher
) -> None:
    exchange.set_endpoint(
        db, actor=ADMIN, clock=clock, cipher=cipher, source="tax", base_url="http://tax.test/tax", token="t",
        timeout_ms=300, max_attempts=1, backoff_base_ms=1, backoff_cap_ms=2, deadline_ms=1000,
        breaker_failures=3, breaker_window_s=60, breaker_cooldown_s=30,
    )  # fmt: skip
    registry = exchange.ConnectorRegistry(
        cipher=cipher, transport=_failing_then_ok(3), sleep=lambda _s: None, rng=random.Random(1)
    )
    try:
        for n in range(6):
            clock.advance(timedelta(seconds=1))
            exchange.fetch(
                db, registry, actor=ADMIN, source="tax", item="tax_payment", uscc=penalty_row(n)["CF_XDR_SHXYM"] or "",
                purpose=None, clock=clock, permissions={"exchange:query:run"},
            )  # fmt: skip
    finally:
        registry.close()
    outcomes = [c.outcome for c in exchange.recent_calls(db, source="tax")]
    assert outcomes.count("error") == 3
    assert outcomes.count("breaker_open") == 3
    assert quality.monitor(db, actor=MONITOR, clock=clock).alerts.raised == 1
    [row] = [r for r in quality.overview(db, clock=clock, days=1) if r.channel is quality.Channel.INTERFACE]
    assert (row.source, row.item, row.period.calls) == ("tax", "tax_payment", 6)
    assert row.period.success_rate == 0.0
    assert row.period.breaker_open_share == 0.5
    assert row.period.latency_p50 is not None
    assert row.period.latency_p99 is not None
    [alert] = _alerts(db)
    assert alert.kind == "interface_failing"
    assert alert.source == "tax"
    assert "0/6" in alert.message
