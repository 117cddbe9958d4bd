"""Objection background work: the reminders before an answer falls due and the escalation after it
(both enqueued, with ``run_at``, in the filing transaction)."""

from __future__ import annotations

import uuid
from typing import Any

from xinyidai.http.container import Container
from xinyidai.job import JobContext, JobRegistry, PermanentFailure
from xinyidai.objection import service


def _objection_id(payload: dict[str, Any]) -> uuid.UUID:
    try:
        return uuid.UUID(str(payload["objection_id"]))
    except (KeyError, ValueError) as exc:
        raise PermanentFailure(f"bad payload: {payload!r}") from exc


def register_jobs(registry: JobRegistry, container: Container) -> None:
    """Register ``objection.remind`` and ``objection.escalate``."""

    def remind(ctx: JobContext, payload: dict[str, Any]) -> None:
        days = payload.get("days_before")
        service.remind(
            ctx.db, clock=ctx.clock, objection_id=_objection_id(payload), days_before=int(days) if isinstance(days, int) else 0
        )

    def escalate(ctx: JobContext, payload: dict[str, Any]) -> None:
        service.escalate(ctx.db, clock=ctx.clock, objection_id=_objection_id(payload))

    registry.register(service.REMIND_KIND, remind, description="异议答复期限前提醒记录所属部门")
    registry.register(service.ESCALATE_KIND, escalate, description="超过20日答复期限未答复的异议标记超期督办")
