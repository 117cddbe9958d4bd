"""Data-quality routes: figures per source and item, alerts, and acknowledging an alert."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from xinyidai.http.container import Container, get_container
from xinyidai.kernel.errors import NotFound
from xinyidai.principal import Permission, Principal, require
from xinyidai.quality import service
from xinyidai.quality.schemas import AlertPage, AlertRead, MeasuresRead, SourceQualityPage, SourceQualityRead

router = APIRouter(tags=["quality"])
ContainerDep = Annotated[Container, Depends(get_container)]
Reader = Annotated[Principal, Depends(require(Permission.QUALITY_READ))]
#: Acknowledging is an operator's act (operators manage sources); regulators read only.
Operator = Annotated[Principal, Depends(require(Permission.SOURCE_MANAGE))]


@router.get("/quality/sources", response_model=SourceQualityPage, summary="各来源、各信息项的数据质量")
def sources(container: ContainerDep, _who: Reader, days: Annotated[int, Query(ge=1, le=366)] = 30) -> SourceQualityPage:
    """Latest batch and period figures per channel, source and item."""
    now = container.clock.now()
    rows = service.overview(container.db, clock=container.clock, days=days)
    return SourceQualityPage(
        items=[
            SourceQualityRead(
                channel=r.channel.value,
                source=r.source,
                source_name=r.source_name,
                item=r.item,
                item_name=r.item_name,
                latest=MeasuresRead.of(r.latest) if r.latest is not None else None,
                period=MeasuresRead.of(r.period),
                age_days=r.period.age_days(now),
            )
            for r in rows
        ],
        days=days,
    )


@router.get("/quality/alerts", response_model=AlertPage, summary="数据质量告警")
def alerts(
    container: ContainerDep,
    _who: Reader,
    status: Annotated[list[Literal["open", "acknowledged", "resolved"]] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> AlertPage:
    """Alerts, newest first; by default the active ones (open and acknowledged)."""
    views = service.list_alerts(container.db, status=status, limit=limit)
    return AlertPage(items=[AlertRead.model_validate(asdict(v)) for v in views])


@router.post("/quality/alerts/{alert_id}/ack", response_model=AlertRead, summary="确认数据质量告警")
def acknowledge(alert_id: str, container: ContainerDep, who: Operator) -> AlertRead:
    """An operator acknowledges an alert; it stays active until its condition clears."""
    try:
        key = uuid.UUID(alert_id)
    except ValueError:
        raise NotFound("未找到该告警") from None
    view = service.acknowledge_alert(container.db, actor=who.ref, clock=container.clock, alert_id=key)
    return AlertRead.model_validate(asdict(view))
