"""Background work of evaluation: the periodic incremental refresh of enterprises with new records, the push of
each run's results to subscribed institutions, and the daily deletion of snapshots nothing needs any more."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from xinyidai.evaluation.batch import snapshot_directory
from xinyidai.evaluation.incremental import refresh_changed
from xinyidai.evaluation.push import register_push_jobs
from xinyidai.evaluation.retention import prune_node_snapshots
from xinyidai.http.container import Container
from xinyidai.job import JobContext, JobRegistry
from xinyidai.kernel.actor import ActorRef

#: Kind of the periodic incremental refresh.
REFRESH_JOB: Final = "evaluation.refresh"
REFRESH_ACTOR: Final = ActorRef.system("evaluation-refresh")
#: How often the refresh looks for new records: an evaluation follows its records within seconds.
REFRESH_EVERY: Final = timedelta(seconds=5)
#: Kind of the daily snapshot retention pass.
PRUNE_JOB: Final = "evaluation.snapshots.prune"
PRUNE_ACTOR: Final = ActorRef.system("evaluation-snapshot-retention")


def register_jobs(registry: JobRegistry, container: Container) -> None:
    """Register the incremental refresh (every few seconds), the push of a finished run and the snapshot retention
    pass (daily)."""
    settings = container.settings
    directory = snapshot_directory(settings.var_dir) / "incremental"

    def refresh(ctx: JobContext, _payload: dict[str, Any]) -> None:
        refresh_changed(ctx.db, actor=REFRESH_ACTOR, clock=ctx.clock, directory=directory)

    registry.register(
        REFRESH_JOB,
        refresh,
        every=REFRESH_EVERY,
        lease=timedelta(minutes=5),
        description="有新归集记录的企业在数秒内重新评价（单企业模式，与批量评价同一计算路径）",
    )

    def prune(ctx: JobContext, _payload: dict[str, Any]) -> None:
        prune_node_snapshots(ctx.db, settings, actor=PRUNE_ACTOR, clock=ctx.clock)

    registry.register(
        PRUNE_JOB,
        prune,
        every=timedelta(days=1),
        lease=timedelta(hours=1),
        description="删除不再需要的评价快照（当前评价、模型训练和最近几次批量评价所用的除外）",
    )
    register_push_jobs(registry, container)
