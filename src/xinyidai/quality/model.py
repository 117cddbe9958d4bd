"""Data-quality rules: mergeable figures of deliveries and interface calls, the five measures, alert conditions.

Everything a period's figures are made of is a count or a histogram, so two periods merge by addition and
every measure of the merged figures equals the measure computed over the union of their rows
(``Figures.merge``; a Hypothesis test holds that). Quantiles come from histograms of whole days (delays)
and of latency buckets with two significant digits (interface calls): exact for days, within 5% for
milliseconds, and exact under merging either way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum


class Channel(StrEnum):
    """How the measured data arrived."""

    #: 物理归集: delivered files (ingest batches).
    BULK = "bulk"
    #: 系统接口调用: queries to a department's system (the exchange call log).
    INTERFACE = "interface"


class AlertKind(StrEnum):
    """Why a source is flagged."""

    #: No delivery within the expected cadence.
    LATE = "late"
    #: The latest delivery's validity is below the threshold.
    LOW_VALIDITY = "low_validity"
    #: The interface success rate over the window is below the threshold.
    INTERFACE_FAILING = "interface_failing"


class AlertStatus(StrEnum):
    """An alert's life: open → acknowledged (someone is on it) → resolved (the condition cleared)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


#: Alert states during which the same condition does not raise another alert.
ACTIVE_STATUSES = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)

#: The reject code of a required field left empty (``ingest.RejectCode.REQUIRED``).
REQUIRED_CODE = "required"

#: Interface call outcomes (``exchange.CallOutcome``) that count as a success, and the breaker's refusal.
OK_OUTCOME = "ok"
BREAKER_OPEN_OUTCOME = "breaker_open"


def _add(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return {k: out[k] for k in sorted(out)}


def _ratio(part: int, whole: int) -> float | None:
    """``part / whole`` in [0, 1], or None when there is nothing to measure."""
    if whole <= 0:
        return None
    return min(1.0, max(0.0, part / whole))


def quantile(histogram: Mapping[str, int], q: float) -> int | None:
    """The nearest-rank ``q`` quantile (0 < q <= 1) of a histogram whose keys are integers as text."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for key in sorted(histogram, key=int):
        seen += histogram[key]
        if seen >= rank:
            return int(key)
    return int(max(histogram, key=int))  # pragma: no cover - the loop always reaches the rank


def latency_bucket(ms: int) -> int:
    """The latency histogram bucket of a duration: kept to two significant digits (1234 → 1200)."""
    if ms < 100:
        return max(0, ms)
    scale: int = 10 ** (len(str(ms)) - 2)
    return (ms // scale) * scale


@dataclass(frozen=True, slots=True)
class Figures:
    """The counts behind every measure of one batch, one day or any merged period.

    Delivery figures (bulk): ``rows`` data rows; ``valid`` accepted + updated + unchanged; ``duplicates`` rows
    superseded by a later row of the same natural key in the same delivery; ``required_cells`` rows × required
    fields, ``missing_required`` of those left empty; ``rejects`` reject entries by code; ``dated`` records
    with an event date, ``delays`` their delay from event to receipt in days (histogram), ``with_deadline``
    those whose item has a delivery deadline and ``on_time`` those received within it.
    Interface figures: ``calls``, ``calls_ok``, ``breaker_open`` and ``latency`` (ms buckets histogram).
    """

    batches: int = 0
    rows: int = 0
    valid: int = 0
    duplicates: int = 0
    required_cells: int = 0
    missing_required: int = 0
    rejects: Mapping[str, int] = field(default_factory=dict)
    dated: int = 0
    with_deadline: int = 0
    on_time: int = 0
    delays: Mapping[str, int] = field(default_factory=dict)
    calls: int = 0
    calls_ok: int = 0
    breaker_open: int = 0
    latency: Mapping[str, int] = field(default_factory=dict)
    last_delivery: datetime | None = None

    def merge(self, other: Figures) -> Figures:
        """The figures of both periods together (commutative and associative)."""
        lasts = [d for d in (self.last_delivery, other.last_delivery) if d is not None]
        return Figures(
            batches=self.batches + other.batches,
            rows=self.rows + other.rows,
            valid=self.valid + other.valid,
            duplicates=self.duplicates + other.duplicates,
            required_cells=self.required_cells + other.required_cells,
            missing_required=self.missing_required + other.missing_required,
            rejects=_add(self.rejects, other.rejects),
            dated=self.dated + other.dated,
            with_deadline=self.with_deadline + other.with_deadline,
            on_time=self.on_time + other.on_time,
            delays=_add(self.delays, other.delays),
            calls=self.calls + other.calls,
            calls_ok=self.calls_ok + other.calls_ok,
            breaker_open=self.breaker_open + other.breaker_open,
            latency=_add(self.latency, other.latency),
            last_delivery=max(lasts) if lasts else None,
        )

    # --- the measures ---------------------------------------------------------------------------

    @property
    def completeness(self) -> float | None:
        """完整性: share of required fields present."""
        return None if self.required_cells <= 0 else 1.0 - (_ratio(self.missing_required, self.required_cells) or 0.0)

    @property
    def validity(self) -> float | None:
        """有效性: rule pass rate, rows accepted, updated or unchanged over all rows."""
        return _ratio(self.valid, self.rows)

    @property
    def uniqueness(self) -> float | None:
        """唯一性: share of rows whose natural key is not repeated later in the same delivery."""
        return None if self.rows <= 0 else 1.0 - (_ratio(self.duplicates, self.rows) or 0.0)

    def reject_rates(self) -> dict[str, float]:
        """Reject entries per row, by code (a row may carry several entries)."""
        return {code: n / self.rows for code, n in self.rejects.items()} if self.rows > 0 else {}

    @property
    def on_time_share(self) -> float | None:
        """及时性: share of dated records received within the item's delivery deadline."""
        return _ratio(self.on_time, self.with_deadline)

    @property
    def delay_median(self) -> int | None:
        """Median delay from event to receipt, in days."""
        return quantile(self.delays, 0.5)

    @property
    def delay_p90(self) -> int | None:
        """90th percentile of the delay from event to receipt, in days."""
        return quantile(self.delays, 0.9)

    @property
    def success_rate(self) -> float | None:
        """Interface calls answered by the department (outcome ``ok``) over all calls."""
        return _ratio(self.calls_ok, self.calls)

    @property
    def breaker_open_share(self) -> float | None:
        """Interface calls refused because the source's breaker was open."""
        return _ratio(self.breaker_open, self.calls)

    @property
    def latency_p50(self) -> int | None:
        """Median call duration, ms (bucketed)."""
        return quantile(self.latency, 0.5)

    @property
    def latency_p99(self) -> int | None:
        """99th percentile call duration, ms (bucketed)."""
        return quantile(self.latency, 0.99)

    def age_days(self, now: datetime) -> float | None:
        """新鲜度: days since the last delivery."""
        if self.last_delivery is None:
            return None
        return max(0.0, (now - self.last_delivery).total_seconds() / 86_400)


def merge_all(parts: Iterable[Figures]) -> Figures:
    """The merge of any number of figures (the empty merge is all zeros)."""
    total = Figures()
    for part in parts:
        total = total.merge(part)
    return total


# --- deliveries -------------------------------------------------------------------------------


def add_days(start: date, days: int, *, working_days: bool) -> date:
    """``days`` after ``start``, counting only Monday to Friday when ``working_days``.

    Public holidays and their make-up working days (调休) are not known to the platform yet: a deadline in
    working days is therefore never later than the official one.
    """
    if not working_days:
        return start + timedelta(days=days)
    current, left = start, days
    while left > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            left -= 1
    return current


@dataclass(frozen=True, slots=True)
class DeadlineRule:
    """An item's delivery deadline reduced to what timeliness needs."""

    days: int
    working_days: bool

    def last_day(self, event: date) -> date:
        """The last day a record of an event on ``event`` is on time."""
        return add_days(event, self.days, working_days=self.working_days)

    @property
    def calendar_days(self) -> int:
        """The deadline as a whole number of calendar days (for cadences)."""
        return math.ceil(self.days * 7 / 5) if self.working_days else self.days


@dataclass(frozen=True, slots=True)
class DatedRecord:
    """A delivered record's event date and its receipt date (both China dates)."""

    event: date | None
    received: date


def delivery_figures(
    *,
    rows: int,
    accepted: int,
    updated: int,
    unchanged: int,
    duplicates: int,
    rejects: Mapping[str, int],
    required_fields: int,
    records: Iterable[DatedRecord],
    deadline: DeadlineRule | None,
    delivered_at: datetime,
) -> Figures:
    """The figures of one batch from its counts, reject codes and the dates of the records it delivered.

    A record dated after its receipt (a clerical error, or a time-zone slip) counts as delay 0.
    """
    delays: dict[str, int] = {}
    dated = with_deadline = on_time = 0
    for record in records:
        if record.event is None:
            continue
        dated += 1
        delay = max(0, (record.received - record.event).days)
        delays[str(delay)] = delays.get(str(delay), 0) + 1
        if deadline is not None:
            with_deadline += 1
            if record.received <= deadline.last_day(record.event):
                on_time += 1
    return Figures(
        batches=1,
        rows=rows,
        valid=accepted + updated + unchanged,
        duplicates=duplicates,
        required_cells=rows * required_fields,
        missing_required=min(rows * required_fields, rejects.get(REQUIRED_CODE, 0)),
        rejects={k: rejects[k] for k in sorted(rejects)},
        dated=dated,
        with_deadline=with_deadline,
        on_time=on_time,
        delays={k: delays[k] for k in sorted(delays, key=int)},
        last_delivery=delivered_at,
    )


@dataclass(frozen=True, slots=True)
class Call:
    """One logged interface call, reduced to what quality needs."""

    outcome: str
    duration_ms: int


def call_figures(calls: Iterable[Call]) -> Figures:
    """The interface figures of a set of calls."""
    total = ok = breaker = 0
    latency: dict[str, int] = {}
    for call in calls:
        total += 1
        ok += call.outcome == OK_OUTCOME
        breaker += call.outcome == BREAKER_OPEN_OUTCOME
        if call.outcome != BREAKER_OPEN_OUTCOME:  # a refused call took no time at the department
            key = str(latency_bucket(call.duration_ms))
            latency[key] = latency.get(key, 0) + 1
    return Figures(calls=total, calls_ok=ok, breaker_open=breaker, latency={k: latency[k] for k in sorted(latency, key=int)})


# --- alerts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Operator-set limits of one source and item (or the defaults, ``source == "*"``)."""

    #: Longest gap between deliveries before the source is late; None: the item's deadline, else 30 days.
    cadence_days: int | None = None
    min_validity: float = 0.9
    min_success: float = 0.9
    #: Fewest calls in the window before the success rate is judged (a single failure is not a trend).
    min_calls: int = 5
    #: Window of interface calls judged, in hours.
    window_hours: int = 24

    def cadence(self, deadline: DeadlineRule | None) -> timedelta:
        """The expected longest gap between two deliveries."""
        if self.cadence_days is not None:
            return timedelta(days=self.cadence_days)
        return timedelta(days=deadline.calendar_days if deadline is not None else DEFAULT_CADENCE_DAYS)

    def with_changes(self, **changes: object) -> Thresholds:
        """A copy with some limits changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


#: Expected cadence of items without a delivery deadline.
DEFAULT_CADENCE_DAYS = 30
DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True, slots=True)
class Finding:
    """A condition that must have an active alert: its kind, whom it is about, and a Chinese message."""

    kind: AlertKind
    channel: Channel
    source: str
    item: str
    message: str
    value: float | None


def late_finding(
    *, source: str, item: str, last_delivery: datetime | None, since: datetime, now: datetime, cadence: timedelta
) -> Finding | None:
    """A bulk source is late when nothing arrived within the cadence after its last delivery (or after it
    was registered, when it never delivered)."""
    reference = last_delivery or since
    if now - reference <= cadence:
        return None
    days = (now - reference).total_seconds() / 86_400
    what = "最近一次报送" if last_delivery is not None else "登记"
    message = f"距{what}已 {days:.1f} 天，超过应报送周期 {cadence.days} 天"
    return Finding(AlertKind.LATE, Channel.BULK, source, item, message, round(days, 2))


def validity_finding(*, source: str, item: str, figures: Figures, limits: Thresholds) -> Finding | None:
    """The latest delivery's validity below the source's threshold."""
    value = figures.validity
    if value is None or value >= limits.min_validity:
        return None
    message = f"最近一批有效率 {value:.1%}，低于阈值 {limits.min_validity:.0%}"
    return Finding(AlertKind.LOW_VALIDITY, Channel.BULK, source, item, message, round(value, 4))


def interface_finding(*, source: str, item: str, figures: Figures, limits: Thresholds) -> Finding | None:
    """The interface success rate within the window below the threshold (with enough calls to judge)."""
    value = figures.success_rate
    if value is None or figures.calls < limits.min_calls or value >= limits.min_success:
        return None
    message = (
        f"近 {limits.window_hours} 小时接口调用成功率 {value:.1%}（{figures.calls_ok}/{figures.calls}），"
        f"低于阈值 {limits.min_success:.0%}"
    )
    return Finding(AlertKind.INTERFACE_FAILING, Channel.INTERFACE, source, item, message, round(value, 4))


def alert_key(kind: AlertKind | str, channel: Channel | str, source: str, item: str) -> str:
    """The de-duplication key of an alert: one active alert per condition."""
    return f"{kind}|{channel}|{source}|{item}"


# --- storage form -----------------------------------------------------------------------------

_CHINA_OFFSET = timedelta(hours=8)


def china_date(moment: datetime) -> date:
    """The China Standard Time date of an aware instant."""
    return (moment.astimezone(UTC) + _CHINA_OFFSET).date()


def figures_to_dict(figures: Figures) -> dict[str, object]:
    """A JSON-ready form of figures (the stored form)."""
    return {
        "batches": figures.batches,
        "rows": figures.rows,
        "valid": figures.valid,
        "duplicates": figures.duplicates,
        "required_cells": figures.required_cells,
        "missing_required": figures.missing_required,
        "rejects": dict(figures.rejects),
        "dated": figures.dated,
        "with_deadline": figures.with_deadline,
        "on_time": figures.on_time,
        "delays": dict(figures.delays),
        "calls": figures.calls,
        "calls_ok": figures.calls_ok,
        "breaker_open": figures.breaker_open,
        "latency": dict(figures.latency),
        "last_delivery": figures.last_delivery.isoformat() if figures.last_delivery else None,
    }


def figures_from_dict(data: Mapping[str, object]) -> Figures:
    """Figures from their stored form (missing parts are zero)."""

    def count(name: str) -> int:
        value = data.get(name, 0)
        return int(value) if isinstance(value, int | float | str) else 0

    def histogram(name: str) -> dict[str, int]:
        value = data.get(name) or {}
        return {str(k): int(v) for k, v in value.items()} if isinstance(value, Mapping) else {}

    last = data.get("last_delivery")
    return Figures(
        batches=count("batches"),
        rows=count("rows"),
        valid=count("valid"),
        duplicates=count("duplicates"),
        required_cells=count("required_cells"),
        missing_required=count("missing_required"),
        rejects=histogram("rejects"),
        dated=count("dated"),
        with_deadline=count("with_deadline"),
        on_time=count("on_time"),
        delays=histogram("delays"),
        calls=count("calls"),
        calls_ok=count("calls_ok"),
        breaker_open=count("breaker_open"),
        latency=histogram("latency"),
        last_delivery=datetime.fromisoformat(last) if isinstance(last, str) else None,
    )
