"""Lending background work: the reminder before a decision falls due, escalation after it, and purging old idempotency keys."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from xinyidai.http.container import Container
from xinyidai.job import JobContext, JobRegistry, PermanentFailure
from xinyidai.lending import service

#: Job kind that deletes idempotency keys older than a day.
IDEMPOTENCY_PURGE = "lending.idempotency.purge"


def _application_id(payload: dict[str, Any]) -> uuid.UUID:
    try:
        return uuid.UUID(str(payload["application_id"]))
    except (KeyError, ValueError) as exc:
        raise PermanentFailure(f"bad payload: {payload!r}") from exc


def register_jobs(registry: JobRegistry, container: Container) -> None:
    """Register the reminder and escalation kinds (enqueued at acceptance) and the hourly key purge."""

    def remind(ctx: JobContext, payload: dict[str, Any]) -> None:
        service.remind_decision(
            ctx.db, clock=ctx.clock, hooks=service.hooks_for(container), application_id=_application_id(payload)
        )

    def escalate(ctx: JobContext, payload: dict[str, Any]) -> None:
        service.escalate_overdue(
            ctx.db, clock=ctx.clock, hooks=service.hooks_for(container), application_id=_application_id(payload)
        )

    def purge(ctx: JobContext, payload: dict[str, Any]) -> None:
        service.purge_idempotency_keys(ctx.db, clock=ctx.clock)

    registry.register(service.REMIND_KIND, remind, description="审批期限前提醒金融机构")
    registry.register(service.ESCALATE_KIND, escalate, description="超过审批期限未决定的申请标记逾期并报送监管")
    registry.register(IDEMPOTENCY_PURGE, purge, every=timedelta(hours=1), description="清理过期的幂等键")
