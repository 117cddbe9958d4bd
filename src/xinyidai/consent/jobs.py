"""Consent background work: record the expiry of authorizations whose time has run out (audited, pushed)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from xinyidai.consent import service
from xinyidai.http.container import Container
from xinyidai.job import JobContext, JobRegistry

log = logging.getLogger("xinyidai.consent")

#: Job kind that expires due authorizations.
CONSENT_EXPIRE = "consent.expire"
#: How often it runs. Decisions do not wait for it: an authorization past its expiry is refused at once.
EXPIRE_EVERY = timedelta(minutes=5)


def register_jobs(registry: JobRegistry, container: Container) -> None:
    """Register `consent.expire` (periodic)."""

    def expire(ctx: JobContext, payload: dict[str, Any]) -> None:
        expired = service.expire_due(ctx.db, clock=ctx.clock, keyring=service.keyring_for(container))
        if expired:
            log.info("authorizations expired: %d", expired)

    registry.register(CONSENT_EXPIRE, expire, every=EXPIRE_EVERY, description="将到期的授权置为已到期并通知机构")
