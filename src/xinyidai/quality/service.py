"""Data-quality use cases: measure batches and interface calls, keep daily aggregates, judge late and degraded
sources, and let operators acknowledge alerts and set thresholds. One transaction per use case; every change
audited in it."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from xinyidai import audit, ingest
from xinyidai.db import Database
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock, today
from xinyidai.kernel.errors import Conflict, InvalidInput, NotFound
from xinyidai.kernel.ids import new_id
from xinyidai.quality import feed
from xinyidai.quality.feed import RecordDates
from xinyidai.quality.model import (
    ACTIVE_STATUSES,
    DEFAULT_THRESHOLDS,
    AlertStatus,
    Call,
    Channel,
    DatedRecord,
    Figures,
    Finding,
    Thresholds,
    alert_key,
    call_figures,
    china_date,
    delivery_figures,
    figures_from_dict,
    figures_to_dict,
    interface_finding,
    late_finding,
    merge_all,
    validity_finding,
)
from xinyidai.quality.tables import Alert, BatchSnapshot, DailyFigures, Threshold

#: Source of a batch whose rows name several units.
MIXED_SOURCE = "*"
WILDCARD = "*"


# --- views --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SnapshotView:
    """The figures of one batch."""

    batch_id: uuid.UUID
    source: str
    item: str
    delivered_at: datetime
    figures: Figures
    timeliness_measured: bool


@dataclass(frozen=True, slots=True)
class TrendDay:
    """One day of a trend (None: nothing measured that day)."""

    day: date
    figures: Figures | None


@dataclass(frozen=True, slots=True)
class QualityRow:
    """One source and item on one channel: the latest figures, the period's, and the daily trend."""

    channel: Channel
    source: str
    source_name: str
    item: str
    item_name: str
    latest: Figures | None
    period: Figures
    trend: tuple[TrendDay, ...]
    thresholds: Thresholds


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert for pages and the API."""

    id: uuid.UUID
    kind: str
    channel: str
    source: str
    item: str
    item_name: str
    status: str
    message: str
    value: float | None
    opened_at: datetime
    seen_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class AlertRun:
    """What one evaluation did."""

    raised: int
    resolved: int
    active: int


@dataclass(frozen=True, slots=True)
class MonitorRun:
    """What one pass of the monitoring job did."""

    batches_measured: int
    days_updated: int
    alerts: AlertRun


def _alert_view(row: Alert) -> AlertView:
    return AlertView(
        id=row.id,
        kind=row.kind,
        channel=row.channel,
        source=row.source,
        item=row.item,
        item_name=feed.item_name(row.item),
        status=row.status,
        message=row.message,
        value=row.value,
        opened_at=row.opened_at,
        seen_at=row.seen_at,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        resolved_at=row.resolved_at,
    )


# --- measuring batches --------------------------------------------------------------------------


def _batch_source(batch: ingest.BatchView, records: Sequence[feed.RecordDate] | None, codes: dict[uuid.UUID, str]) -> str:
    """The batch's named source; else the one unit all its records came from; else ``*``."""
    if batch.source_code:
        return batch.source_code
    ids = {r.source_id for r in records or () if r.source_id is not None}
    if len(ids) == 1:
        return codes.get(next(iter(ids)), MIXED_SOURCE)
    return MIXED_SOURCE


def _compute(
    db: Database, batch: ingest.BatchView, record_dates: RecordDates, codes: dict[uuid.UUID, str]
) -> tuple[str, Figures, bool]:
    records = record_dates(db, batch)
    rejects = {str(k): int(v) for k, v in (batch.summary.get("rejects_by_code") or {}).items()}
    figures = delivery_figures(
        rows=batch.rows,
        accepted=batch.accepted,
        updated=batch.updated,
        unchanged=batch.unchanged,
        duplicates=batch.duplicates,
        rejects=rejects,
        required_fields=feed.required_field_count(batch.item_code),
        records=[DatedRecord(r.event_date, china_date(r.received_at)) for r in records or ()],
        deadline=feed.deadline_of(batch.item_code),
        delivered_at=batch.finished_at,
    )
    return _batch_source(batch, records, codes), figures, records is not None


def _refresh_day(s: Session, *, now: datetime, day: date, channel: Channel, source: str, item: str, figures: Figures) -> bool:
    """Store a day's figures; True when they changed."""
    row = s.scalars(
        sa.select(DailyFigures).where(
            DailyFigures.day == day,
            DailyFigures.channel == channel.value,
            DailyFigures.source == source,
            DailyFigures.item == item,
        )
    ).first()
    stored = figures_to_dict(figures)
    if row is None:
        s.add(
            DailyFigures(id=new_id(), day=day, channel=channel.value, source=source, item=item, figures=stored, computed_at=now)
        )
        return True
    if row.figures == stored:
        return False
    row.figures = stored
    row.computed_at = now
    return True


def _store_snapshot(s: Session, *, now: datetime, batch: ingest.BatchView, source: str, figures: Figures) -> None:
    day = china_date(batch.finished_at)
    row = s.scalars(sa.select(BatchSnapshot).where(BatchSnapshot.batch_id == batch.id)).first()
    if row is None:
        s.add(
            BatchSnapshot(
                id=new_id(),
                batch_id=batch.id,
                source=source,
                item=batch.item_code,
                delivered_at=batch.finished_at,
                day=day,
                figures=figures_to_dict(figures),
                computed_at=now,
            )
        )
    else:
        row.source, row.figures, row.computed_at = source, figures_to_dict(figures), now
    s.flush()
    same_day = s.scalars(
        sa.select(BatchSnapshot.figures).where(
            BatchSnapshot.day == day, BatchSnapshot.source == source, BatchSnapshot.item == batch.item_code
        )
    ).all()
    _refresh_day(
        s,
        now=now,
        day=day,
        channel=Channel.BULK,
        source=source,
        item=batch.item_code,
        figures=merge_all(figures_from_dict(f) for f in same_day),
    )


def _source_codes(db: Database) -> dict[uuid.UUID, str]:
    return {v.id: v.code for v in feed.all_sources(db)}


def measure_batch(
    db: Database,
    *,
    actor: ActorRef,
    clock: Clock,
    batch_id: uuid.UUID,
    record_dates: RecordDates = feed.ingest_record_dates,
) -> SnapshotView:
    """Compute (or recompute) one batch's figures now, keep them, and update its day's aggregate; audited."""
    batch = feed.get_batch(db, batch_id)
    source, figures, measured = _compute(db, batch, record_dates, _source_codes(db))
    with db.transaction() as s:
        _store_snapshot(s, now=clock.now(), batch=batch, source=source, figures=figures)
        audit.record(
            s,
            actor=actor,
            action="quality.batch.measure",
            target_type="batch",
            target_id=batch.id,
            data={"source": source, "item": batch.item_code, "validity": figures.validity},
        )
    return SnapshotView(batch.id, source, batch.item_code, batch.finished_at, figures, measured)


def measure_new_batches(
    db: Database,
    *,
    actor: ActorRef,
    clock: Clock,
    record_dates: RecordDates = feed.ingest_record_dates,
    limit: int = 500,
) -> int:
    """Measure the batches that have no snapshot yet (at most ``limit``, oldest first); one audited transaction."""
    with db.transaction() as s:
        known = set(s.scalars(sa.select(BatchSnapshot.batch_id)).all())
    pending: list[ingest.BatchView] = []
    for batch in feed.all_batches(db):
        if batch.id not in known and batch.replay_of is None:
            pending.append(batch)
    pending = list(reversed(pending))[:limit]
    if not pending:
        return 0
    codes = _source_codes(db)
    computed = [(b, *_compute(db, b, record_dates, codes)) for b in pending]
    with db.transaction() as s:
        now = clock.now()
        for batch, source, figures, _measured in computed:
            _store_snapshot(s, now=now, batch=batch, source=source, figures=figures)
        audit.record(
            s,
            actor=actor,
            action="quality.batch.measure",
            data={"batches": [str(b.id) for b, *_ in computed]},
        )
    return len(computed)


# --- measuring interface calls ------------------------------------------------------------------


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=8)
    return start, start + timedelta(days=1)


def measure_calls(db: Database, *, actor: ActorRef, clock: Clock, day: date) -> int:
    """Aggregate a China day's interface calls per source and item; the days whose figures changed (audited)."""
    start, end = _day_bounds(day)
    grouped: dict[tuple[str, str], list[Call]] = defaultdict(list)
    for call in feed.calls_between(db, start, end):
        grouped[(call.source, call.item)].append(Call(call.outcome, call.duration_ms))
    changed: list[str] = []
    with db.transaction() as s:
        now = clock.now()
        for (source, item), calls in sorted(grouped.items()):
            if _refresh_day(
                s, now=now, day=day, channel=Channel.INTERFACE, source=source, item=item, figures=call_figures(calls)
            ):
                changed.append(f"{source}/{item}")
        if changed:
            audit.record(s, actor=actor, action="quality.calls.measure", data={"day": day.isoformat(), "changed": changed})
    return len(changed)


# --- reading ------------------------------------------------------------------------------------


def _thresholds(rows: Iterable[Threshold]) -> dict[tuple[str, str], Thresholds]:
    return {
        (r.source, r.item): Thresholds(
            cadence_days=r.cadence_days,
            min_validity=r.min_validity,
            min_success=r.min_success,
            min_calls=r.min_calls,
            window_hours=r.window_hours,
        )
        for r in rows
    }


def _limits_for(table: dict[tuple[str, str], Thresholds], source: str, item: str) -> Thresholds:
    for key in ((source, item), (source, WILDCARD), (WILDCARD, item), (WILDCARD, WILDCARD)):
        if key in table:
            return table[key]
    return DEFAULT_THRESHOLDS


def overview(db: Database, *, clock: Clock, days: int = 30) -> list[QualityRow]:
    """Every measured source and item: latest figures, the period's figures and a daily trend of ``days``.

    Quality figures are operational counts (no subject's data), so reading them is not audited.
    """
    last = today(clock)
    first = last - timedelta(days=days - 1)
    names = {v.code: v.name for v in feed.all_sources(db)}
    with db.transaction() as s:
        limits = _thresholds(s.scalars(sa.select(Threshold)))
        daily = s.scalars(sa.select(DailyFigures).where(DailyFigures.day >= first, DailyFigures.day <= last)).all()
        latest_rows = s.execute(
            sa.select(BatchSnapshot.source, BatchSnapshot.item, BatchSnapshot.figures, BatchSnapshot.delivered_at).order_by(
                BatchSnapshot.delivered_at
            )
        ).all()
    latest: dict[tuple[str, str], Figures] = {}
    last_delivery: dict[tuple[str, str], datetime] = {}
    for source, item, stored, delivered in latest_rows:
        latest[(source, item)] = figures_from_dict(stored)
        last_delivery[(source, item)] = delivered
    by_key: dict[tuple[Channel, str, str], dict[date, Figures]] = defaultdict(dict)
    for row in daily:
        by_key[(Channel(row.channel), row.source, row.item)][row.day] = figures_from_dict(row.figures)
    for source, item in latest:
        by_key.setdefault((Channel.BULK, source, item), {})
    out: list[QualityRow] = []
    for (channel, source, item), per_day in sorted(by_key.items()):
        period = merge_all(per_day.values())
        if channel is Channel.BULK and (source, item) in last_delivery:
            period = Figures(last_delivery=last_delivery[(source, item)]).merge(period)
        trend = tuple(TrendDay(first + timedelta(days=i), per_day.get(first + timedelta(days=i))) for i in range(days))
        out.append(
            QualityRow(
                channel=channel,
                source=source,
                source_name=names.get(source, source) if channel is Channel.BULK else source,
                item=item,
                item_name=feed.item_name(item),
                latest=latest.get((source, item)) if channel is Channel.BULK else None,
                period=period,
                trend=trend,
                thresholds=_limits_for(limits, source, item),
            )
        )
    return out


def list_alerts(db: Database, *, status: Sequence[str] | None = None, limit: int = 200) -> list[AlertView]:
    """Alerts, newest first; by default the active ones (open and acknowledged)."""
    wanted = list(status) if status is not None else [s.value for s in ACTIVE_STATUSES]
    with db.transaction() as s:
        rows = s.scalars(
            sa.select(Alert).where(Alert.status.in_(wanted)).order_by(Alert.opened_at.desc(), Alert.id.desc()).limit(limit)
        ).all()
        return [_alert_view(r) for r in rows]


# --- alerts -------------------------------------------------------------------------------------


def _findings(db: Database, *, clock: Clock, limits: dict[tuple[str, str], Thresholds]) -> list[Finding]:
    now = clock.now()
    findings: list[Finding] = []
    with db.transaction() as s:
        snapshots = s.execute(
            sa.select(BatchSnapshot.source, BatchSnapshot.item, BatchSnapshot.figures, BatchSnapshot.delivered_at).order_by(
                BatchSnapshot.delivered_at
            )
        ).all()
    latest: dict[tuple[str, str], tuple[Figures, datetime]] = {}
    for source, item, stored, delivered in snapshots:
        latest[(source, item)] = (figures_from_dict(stored), delivered)
    for view in feed.all_sources(db, status="active"):
        if ingest.SourceMode.BULK.value not in view.modes:
            continue
        for item in view.items:
            rule = _limits_for(limits, view.code, item)
            seen = latest.get((view.code, item))
            late = late_finding(
                source=view.code,
                item=item,
                last_delivery=seen[1] if seen else None,
                since=view.confirmed_at or view.created_at,
                now=now,
                cadence=rule.cadence(feed.deadline_of(item)),
            )
            if late is not None:
                findings.append(late)
    for (source, item), (figures, _at) in latest.items():
        if source == MIXED_SOURCE:
            continue
        low = validity_finding(source=source, item=item, figures=figures, limits=_limits_for(limits, source, item))
        if low is not None:
            findings.append(low)
    widest = max([24, *(t.window_hours for t in limits.values())])
    calls: dict[tuple[str, str], list[tuple[datetime, Call]]] = defaultdict(list)
    for call in feed.calls_between(db, now - timedelta(hours=widest), now + timedelta(seconds=1)):
        calls[(call.source, call.item)].append((call.started_at, Call(call.outcome, call.duration_ms)))
    for (source, item), logged in sorted(calls.items()):
        rule = _limits_for(limits, source, item)
        since = now - timedelta(hours=rule.window_hours)
        figures = call_figures(c for at, c in logged if at >= since)
        failing = interface_finding(source=source, item=item, figures=figures, limits=rule)
        if failing is not None:
            findings.append(failing)
    return findings


def evaluate_alerts(db: Database, *, actor: ActorRef, clock: Clock) -> AlertRun:
    """Raise an alert for each late or degraded source without an active one; resolve active alerts whose
    condition cleared. Each raise and resolve is audited, in one transaction."""
    with db.transaction() as s:
        limits = _thresholds(s.scalars(sa.select(Threshold)))
    findings = {alert_key(f.kind, f.channel, f.source, f.item): f for f in _findings(db, clock=clock, limits=limits)}
    raised = resolved = 0
    with db.transaction() as s:
        now = clock.now()
        active = {
            a.dedupe_key: a
            for a in s.scalars(sa.select(Alert).where(Alert.status.in_([x.value for x in ACTIVE_STATUSES])).with_for_update())
        }
        for key, finding in sorted(findings.items()):
            found = active.get(key)
            if found is not None:
                found.seen_at, found.message, found.value = now, finding.message[:500], finding.value
                continue
            row = Alert(
                id=new_id(),
                dedupe_key=key,
                kind=finding.kind.value,
                channel=finding.channel.value,
                source=finding.source,
                item=finding.item,
                status=AlertStatus.OPEN.value,
                message=finding.message[:500],
                value=finding.value,
                opened_at=now,
                seen_at=now,
            )
            s.add(row)
            raised += 1
            audit.record(
                s,
                actor=actor,
                action="quality.alert.raise",
                target_type="quality_alert",
                target_id=row.id,
                reasons=[finding.kind.value],
                data={"source": finding.source, "item": finding.item, "message": finding.message},
            )
        for key, row in active.items():
            if key in findings:
                continue
            row.status, row.resolved_at = AlertStatus.RESOLVED.value, now
            resolved += 1
            audit.record(
                s,
                actor=actor,
                action="quality.alert.resolve",
                target_type="quality_alert",
                target_id=row.id,
                reasons=[row.kind],
                data={"source": row.source, "item": row.item},
            )
        return AlertRun(raised=raised, resolved=resolved, active=len(findings))


def acknowledge_alert(db: Database, *, actor: ActorRef, clock: Clock, alert_id: uuid.UUID) -> AlertView:
    """An operator takes an open alert in hand; audited. Acknowledging twice is harmless; a resolved one conflicts."""
    with db.transaction() as s:
        row = s.get(Alert, alert_id, with_for_update=True)
        if row is None:
            raise NotFound("未找到该告警")
        if row.status == AlertStatus.RESOLVED.value:
            raise Conflict("该告警已解除")
        if row.status == AlertStatus.OPEN.value:
            row.status = AlertStatus.ACKNOWLEDGED.value
            row.acknowledged_at = clock.now()
            row.acknowledged_by = actor.label[:200]
            audit.record(
                s,
                actor=actor,
                action="quality.alert.acknowledge",
                target_type="quality_alert",
                target_id=row.id,
                data={"source": row.source, "item": row.item, "kind": row.kind},
            )
        return _alert_view(row)


def set_thresholds(
    db: Database,
    *,
    actor: ActorRef,
    clock: Clock,
    source: str = WILDCARD,
    item: str = WILDCARD,
    limits: Thresholds,
) -> Thresholds:
    """Set the alert limits of a source and item (``*``: every one); audited."""
    if not (0.0 <= limits.min_validity <= 1.0 and 0.0 <= limits.min_success <= 1.0):
        raise InvalidInput("阈值须在 0 到 1 之间")
    if (limits.cadence_days is not None and limits.cadence_days < 1) or limits.min_calls < 1 or limits.window_hours < 1:
        raise InvalidInput("周期、调用次数和时间窗须为正数")
    source, item = source.strip().upper() if source != WILDCARD else source, item.strip()
    with db.transaction() as s:
        row = s.scalars(sa.select(Threshold).where(Threshold.source == source, Threshold.item == item)).first()
        if row is None:
            row = Threshold(id=new_id(), source=source, item=item)
            s.add(row)
        row.cadence_days = limits.cadence_days
        row.min_validity = limits.min_validity
        row.min_success = limits.min_success
        row.min_calls = limits.min_calls
        row.window_hours = limits.window_hours
        row.updated_at = clock.now()
        row.updated_by = actor.label[:200]
        audit.record(
            s,
            actor=actor,
            action="quality.threshold.set",
            target_type="quality_threshold",
            target_id=row.id,
            data={"source": source, "item": item, **asdict(limits)},
        )
    return limits


def monitor(db: Database, *, actor: ActorRef, clock: Clock, record_dates: RecordDates = feed.ingest_record_dates) -> MonitorRun:
    """One pass of the monitoring job: measure new batches, today's and yesterday's calls, then judge alerts."""
    measured = measure_new_batches(db, actor=actor, clock=clock, record_dates=record_dates)
    day = today(clock)
    updated = measure_calls(db, actor=actor, clock=clock, day=day - timedelta(days=1))
    updated += measure_calls(db, actor=actor, clock=clock, day=day)
    return MonitorRun(measured, updated, evaluate_alerts(db, actor=actor, clock=clock))
