"""Background work of aggregation: the daily retention purge (and clearing files of batches that died)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from xinyidai.http.container import Container
from xinyidai.ingest.service import cleanup_partial_files, purge_expired
from xinyidai.job import JobContext, JobRegistry
from xinyidai.kernel.actor import ActorRef

#: Kind of the daily job deleting records past their retention end.
RETENTION_JOB = "ingest.retention"
RETENTION_ACTOR = ActorRef.system("ingest-retention")


def register_jobs(registry: JobRegistry, container: Container) -> None:
    """Register the retention purge (daily)."""
    var_dir = container.settings.var_dir

    def retention(ctx: JobContext, _payload: dict[str, Any]) -> None:
        purge_expired(ctx.db, actor=RETENTION_ACTOR, clock=ctx.clock)
        cleanup_partial_files(var_dir, older_than=timedelta(days=1), now=ctx.clock.now())

    registry.register(
        RETENTION_JOB,
        retention,
        every=timedelta(days=1),
        lease=timedelta(hours=1),
        description="删除超过保存期限的信用记录（不良信息保存5年），清理中断批次的临时文件",
    )
