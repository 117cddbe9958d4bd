"""Background work of the audit log: the periodic signed checkpoint (签署审计日志检查点)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Protocol

from xinyidai.audit.checkpoint import TrailKeys, keys_from_settings
from xinyidai.audit.trail import create_checkpoint
from xinyidai.db import Database
from xinyidai.http.container import Container
from xinyidai.kernel.clock import Clock

log = logging.getLogger("xinyidai.audit")

CHECKPOINT_KIND = "audit.checkpoint"
#: Where the composition root may put the node's TrailKeys; built from settings otherwise.
KEYS_SERVICE = "audit.keys"
DEFAULT_CHECKPOINT_MINUTES = 10


class _Context(Protocol):
    """What the handler uses of `xinyidai.job.JobContext` (job sits above audit in the layers)."""

    db: Database
    clock: Clock


class _Registry(Protocol):
    """The part of `xinyidai.job.JobRegistry` used here."""

    def register(self, kind: str, handler: Any, *, every: timedelta | None = ..., description: str = ...) -> None:
        """Register a handler for a kind of job."""
        ...


def trail_keys(container: Container) -> TrailKeys:
    """The node's checkpoint keys: the container's, or built once from its settings and kept there."""
    keys = container.services.get(KEYS_SERVICE)
    if not isinstance(keys, TrailKeys):
        keys = keys_from_settings(container.settings)
        container.services[KEYS_SERVICE] = keys
    return keys


def register_jobs(registry: _Registry, container: Container) -> None:
    """Sign a checkpoint every `audit_checkpoint_minutes` (default 10) minutes."""
    keys = trail_keys(container)
    minutes = int(getattr(container.settings, "audit_checkpoint_minutes", DEFAULT_CHECKPOINT_MINUTES))

    def checkpoint(ctx: _Context, payload: dict[str, Any]) -> None:
        result = create_checkpoint(ctx.db, keys=keys, clock=ctx.clock)
        if result is not None and result.created:
            log.info("audit checkpoint signed: tree_size=%d", result.checkpoint.tree_size)

    registry.register(
        CHECKPOINT_KIND, checkpoint, every=timedelta(minutes=minutes), description="签署审计日志检查点（Merkle 树根）"
    )
