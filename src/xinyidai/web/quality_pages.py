"""Thin HTML routes of data quality (数据质量): figures per source and item with server-rendered SVG trend
charts, and the open alerts with an acknowledge button for operators."""

from __future__ import annotations

import uuid
from contextlib import suppress
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from xinyidai import quality
from xinyidai.http.container import Container, get_container
from xinyidai.kernel.errors import Conflict, NotFound
from xinyidai.principal import Permission, Principal, require
from xinyidai.quality.chart import line_chart
from xinyidai.web.layout import allowed, redirect, render

router = APIRouter(include_in_schema=False)
ContainerDep = Annotated[Container, Depends(get_container)]

KIND_LABELS = {"late": "迟报", "low_validity": "有效率偏低", "interface_failing": "接口调用失败率高"}
STATUS_LABELS = {"open": "待处理", "acknowledged": "已确认", "resolved": "已解除"}
CHANNEL_LABELS = {"bulk": "物理归集", "interface": "系统接口调用"}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _row(row: quality.QualityRow, now: Any) -> dict[str, Any]:
    latest = row.latest
    period = row.period
    age = period.age_days(now)
    if row.channel is quality.Channel.BULK:
        charts = [
            (
                "有效率",
                line_chart(
                    [(d.day, d.figures.validity if d.figures else None) for d in row.trend], threshold=row.thresholds.min_validity
                ),
            ),
            ("及时率", line_chart([(d.day, d.figures.on_time_share if d.figures else None) for d in row.trend])),
        ]
    else:
        charts = [
            (
                "调用成功率",
                line_chart(
                    [(d.day, d.figures.success_rate if d.figures else None) for d in row.trend],
                    threshold=row.thresholds.min_success,
                ),
            ),
            (
                "P99 时延",
                line_chart(
                    [
                        (d.day, float(d.figures.latency_p99) if d.figures and d.figures.latency_p99 is not None else None)
                        for d in row.trend
                    ],
                    percent=False,
                    unit="ms",
                ),
            ),
        ]
    shown = latest if latest is not None else period
    return {
        "row": row,
        "completeness": _pct(shown.completeness),
        "validity": _pct(shown.validity),
        "uniqueness": _pct(shown.uniqueness),
        "on_time": _pct(shown.on_time_share),
        "delay_median": "—" if shown.delay_median is None else f"{shown.delay_median} 天",
        "delay_p90": "—" if shown.delay_p90 is None else f"{shown.delay_p90} 天",
        "rejects": sorted(shown.rejects.items(), key=lambda kv: -kv[1])[:3],
        "age": "—" if age is None else f"{age:.1f} 天",
        "success": _pct(period.success_rate),
        "breaker": _pct(period.breaker_open_share),
        "p50": "—" if period.latency_p50 is None else f"{period.latency_p50} ms",
        "p99": "—" if period.latency_p99 is None else f"{period.latency_p99} ms",
        "calls": period.calls,
        "charts": charts,
    }


@router.get("/quality")
def quality_page(
    request: Request,
    container: ContainerDep,
    who: Annotated[Principal, Depends(require(Permission.QUALITY_READ))],
    days: Annotated[int, Query(ge=7, le=180)] = 30,
) -> Response:
    """Figures per source and item with trends, and the active alerts."""
    now = container.clock.now()
    rows = [_row(r, now) for r in quality.overview(container.db, clock=container.clock, days=days)]
    return render(
        request,
        container,
        who,
        "quality/overview.html",
        {
            "page_title": "数据质量",
            "bulk_rows": [r for r in rows if r["row"].channel is quality.Channel.BULK],
            "interface_rows": [r for r in rows if r["row"].channel is quality.Channel.INTERFACE],
            "alerts": quality.list_alerts(container.db),
            "can_ack": allowed(who, Permission.SOURCE_MANAGE),
            "days": days,
            "kind_labels": KIND_LABELS,
            "status_labels": STATUS_LABELS,
            "channel_labels": CHANNEL_LABELS,
        },
    )


@router.post("/quality/alerts/{alert_id}/ack")
def acknowledge_form(
    alert_id: str, container: ContainerDep, who: Annotated[Principal, Depends(require(Permission.SOURCE_MANAGE))]
) -> Response:
    """Acknowledge an alert (the dependency has checked the form's CSRF token); back to the page."""
    with suppress(ValueError, NotFound, Conflict):  # gone or resolved meanwhile: the page shows the current state
        quality.acknowledge_alert(container.db, actor=who.ref, clock=container.clock, alert_id=uuid.UUID(alert_id))
    return redirect("/quality#alerts")
