"""Background worker: runs `run_due` in a thread every poll interval inside an asyncio server."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from xinyidai.db import Database
from xinyidai.job.model import JobMetrics, RunSummary
from xinyidai.job.service import JobRegistry, run_due
from xinyidai.kernel.clock import Clock

log = logging.getLogger("xinyidai.job")


class BackgroundWorker:
    """Polls for due jobs until stopped; an error in one pass is logged and the next pass runs anyway."""

    def __init__(
        self,
        db: Database,
        registry: JobRegistry,
        *,
        clock: Clock,
        poll_seconds: float,
        metrics: JobMetrics | None = None,
        worker_id: str,
        limit: int = 100,
    ) -> None:
        if poll_seconds <= 0:
            raise ValueError("poll_seconds must be positive")
        self._db = db
        self._registry = registry
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._metrics = metrics
        self._limit = limit
        self.worker_id = worker_id
        self._task: asyncio.Task[None] | None = None
        self._stopping: asyncio.Event | None = None
        #: The result of the latest pass that completed, for health pages.
        self.last_summary: RunSummary | None = None
        #: Passes that raised since start (each was logged).
        self.failed_passes = 0

    @property
    def running(self) -> bool:
        """Whether the polling loop is active."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start polling in the background; calling it again while running does nothing."""
        if self.running:
            return
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name=f"xinyidai-jobs-{self.worker_id}")
        log.info("job worker started: worker=%s poll_seconds=%s", self.worker_id, self._poll_seconds)

    async def stop(self) -> None:
        """Stop polling; waits for the pass in progress so its jobs are recorded, not left to lease expiry."""
        if self._task is None or self._stopping is None:
            return
        self._stopping.set()
        try:
            await self._task
        finally:
            self._task = None
            log.info("job worker stopped: worker=%s", self.worker_id)

    async def _loop(self) -> None:
        assert self._stopping is not None
        stopping = self._stopping
        while not stopping.is_set():
            busy = False
            try:
                summary = await asyncio.to_thread(
                    run_due,
                    self._db,
                    self._registry,
                    clock=self._clock,
                    worker_id=self.worker_id,
                    limit=self._limit,
                    metrics=self._metrics,
                )
                self.last_summary = summary
                # A full pass suggests more jobs are due: go again without waiting.
                busy = summary.claimed >= self._limit
            except Exception:
                self.failed_passes += 1
                log.exception("job worker pass failed, will poll again: worker=%s", self.worker_id)
            if busy:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self._poll_seconds)
