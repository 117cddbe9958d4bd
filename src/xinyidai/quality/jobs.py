"""Data-quality background work: the periodic monitor (measure new batches and calls, raise and resolve alerts)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from xinyidai.http.container import Container
from xinyidai.job import JobContext, JobRegistry
from xinyidai.kernel.actor import ActorRef
from xinyidai.quality import service

log = logging.getLogger("xinyidai.quality")

#: Job kind of the monitoring pass.
QUALITY_MONITOR = "quality.monitor"
#: How often it runs: a late source is noticed within this much of its cadence running out.
MONITOR_EVERY = timedelta(minutes=15)
MONITOR_ACTOR = ActorRef.system("quality-monitor")


def register_jobs(registry: JobRegistry, container: Container) -> None:
    """Register `quality.monitor` (periodic)."""

    def monitor(ctx: JobContext, _payload: dict[str, Any]) -> None:
        run = service.monitor(ctx.db, actor=MONITOR_ACTOR, clock=ctx.clock)
        if run.alerts.raised or run.alerts.resolved:
            log.warning(
                "quality alerts: %d raised, %d resolved, %d active", run.alerts.raised, run.alerts.resolved, run.alerts.active
            )

    registry.register(
        QUALITY_MONITOR,
        monitor,
        every=MONITOR_EVERY,
        lease=timedelta(minutes=10),
        description="计算新批次与接口调用的数据质量指标，对迟报或质量下降的来源发出告警",
    )
