"""Background work of evaluation: the periodic incremental refresh of enterprises with new records, and the push of
each run's results to subscribed institutions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from xinyidai.evaluation.batch import snapshot_directory
from xinyidai.evaluation.incremental import refresh_changed
from xinyidai.evaluation.push import register_push_jobs
from xinyidai.http.container import Container
from xinyidai.job import JobContext, JobRegistry
from xinyidai.kernel.actor import ActorRef

#: Kind of the periodic incremental refresh.
REFRESH_JOB: Final = "evaluation.refresh"
REFRESH_ACTOR: Final = ActorRef.system("evaluation-refresh")
#: How often the refresh looks for new records: an evaluation follows its records within seconds.
REFRESH_EVERY: Final = timedelta(seconds=5)


def register_jobs(registry: JobRegistry, container: Container) -> None:
    """Register the incremental refresh (every few seconds) and the push of a finished run."""
    directory = snapshot_directory(container.settings.var_dir) / "incremental"

    def refresh(ctx: JobContext, _payload: dict[str, Any]) -> None:
        refresh_changed(ctx.db, actor=REFRESH_ACTOR, clock=ctx.clock, directory=directory)

    registry.register(
        REFRESH_JOB,
        refresh,
        every=REFRESH_EVERY,
        lease=timedelta(minutes=5),
        description="有新归集记录的企业在数秒内重新评价（单企业模式，与批量评价同一计算路径）",
    )
    register_push_jobs(registry, container)
