"""Pure rules of background work: states and their transitions, retry backoff, periodic schedules."""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol


class JobStatus(StrEnum):
    """Where a job is in its life."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


class OutboxStatus(StrEnum):
    """Where an outbox message is in its life."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


#: Job states in which a dedupe key is taken: at most one active job per key.
ACTIVE_STATUSES: frozenset[JobStatus] = frozenset({JobStatus.PENDING, JobStatus.RUNNING})

#: Every allowed job transition. RUNNING → RUNNING is a worker reclaiming a job whose lease
#: expired (the worker that held it died); PENDING → DEAD does not exist: a job is only
#: declared dead by the worker that claimed it, so every death has a recorded attempt.
JOB_TRANSITIONS: Mapping[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.RUNNING}),
    JobStatus.RUNNING: frozenset({JobStatus.RUNNING, JobStatus.PENDING, JobStatus.DONE, JobStatus.DEAD}),
    JobStatus.DONE: frozenset(),
    JobStatus.DEAD: frozenset(),
}

OUTBOX_TRANSITIONS: Mapping[OutboxStatus, frozenset[OutboxStatus]] = {
    OutboxStatus.PENDING: frozenset({OutboxStatus.PENDING, OutboxStatus.DELIVERED, OutboxStatus.DEAD}),
    OutboxStatus.DELIVERED: frozenset(),
    OutboxStatus.DEAD: frozenset(),
}

#: Longest stored error text; the tail of a traceback is what says what went wrong.
MAX_ERROR_CHARS = 4000


class InvalidTransition(Exception):
    """A state change the rules do not allow (a bug in the caller, never a user error)."""


def check_transition(current: JobStatus, new: JobStatus) -> None:
    """Raise InvalidTransition unless a job may move from `current` to `new`."""
    if new not in JOB_TRANSITIONS[current]:
        raise InvalidTransition(f"job cannot go from {current} to {new}")


def check_outbox_transition(current: OutboxStatus, new: OutboxStatus) -> None:
    """Raise InvalidTransition unless an outbox message may move from `current` to `new`."""
    if new not in OUTBOX_TRANSITIONS[current]:
        raise InvalidTransition(f"outbox message cannot go from {current} to {new}")


def is_claimable(status: JobStatus, *, run_at: datetime, locked_until: datetime | None, now: datetime) -> bool:
    """A job may be claimed when it is pending and due, or running with a lease that has expired."""
    if status is JobStatus.PENDING:
        return run_at <= now
    if status is JobStatus.RUNNING:
        return locked_until is None or locked_until <= now
    return False


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Exponential backoff: base × factor^(attempt−1), capped, shortened by a per-job jitter.

    The jitter is a fixed fraction derived from the job's id, not drawn per attempt: jobs
    that failed together spread out, each job's delays still never shrink from one attempt
    to the next, and a replay computes the same schedule.
    """

    base: timedelta = timedelta(seconds=10)
    factor: float = 2.0
    cap: timedelta = timedelta(hours=1)
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if self.base <= timedelta(0):
            raise ValueError("backoff base must be positive")
        if self.cap < self.base:
            raise ValueError("backoff cap must not be below its base")
        if self.factor < 1:
            raise ValueError("backoff factor must be at least 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("backoff jitter must be in [0, 1)")

    def delay(self, attempt: int, seed: uuid.UUID) -> timedelta:
        """How long to wait after failed attempt number `attempt` (1-based) of the job `seed`."""
        if attempt < 1:
            raise ValueError("attempt numbers start at 1")
        base_s = self.base.total_seconds()
        cap_s = self.cap.total_seconds()
        exponent = attempt - 1
        # Compare in log space so that huge attempt numbers cannot overflow a float.
        if self.factor == 1 or exponent * math.log(self.factor) < math.log(cap_s / base_s):
            raw = min(cap_s, base_s * self.factor**exponent)
        else:
            raw = cap_s
        return timedelta(seconds=raw * (1 - self.jitter * jitter_fraction(seed)))


def jitter_fraction(seed: uuid.UUID) -> float:
    """A number in [0, 1) fixed for this id."""
    digest = hashlib.sha256(seed.bytes).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


#: Default schedule for jobs: 10 s, 20 s, 40 s … up to an hour.
JOB_BACKOFF = BackoffPolicy()

#: Default schedule for outbox deliveries: 30 s, 1 min, 2 min … up to 6 hours (a receiver
#: that is down for a night still gets its messages).
OUTBOX_BACKOFF = BackoffPolicy(base=timedelta(seconds=30), cap=timedelta(hours=6))


class ClaimDecision(StrEnum):
    """What a worker does with a row it has just locked."""

    RUN = "run"
    DEAD = "dead"


def on_claim(*, attempts: int, max_attempts: int) -> ClaimDecision:
    """Run the next attempt, or declare the job dead when its attempts are used up.

    Attempts are counted when a job is claimed, not when it fails: a job that kills its
    worker (out of memory, a segfault in a C library) never reaches its failure handler,
    yet it must still run out of attempts instead of taking down every worker in turn.
    """
    return ClaimDecision.RUN if attempts < max_attempts else ClaimDecision.DEAD


@dataclass(frozen=True, slots=True)
class FailureOutcome:
    """Where a failed attempt leaves the job: retried at `retry_at`, or dead."""

    dead: bool
    retry_at: datetime | None


def on_failure(
    *,
    attempt: int,
    max_attempts: int,
    now: datetime,
    seed: uuid.UUID,
    policy: BackoffPolicy,
    permanent: bool = False,
) -> FailureOutcome:
    """After attempt number `attempt` failed: retry later with backoff, or give up."""
    if permanent or attempt >= max_attempts:
        return FailureOutcome(dead=True, retry_at=None)
    return FailureOutcome(dead=False, retry_at=now + policy.delay(attempt, seed))


def next_periodic_run(*, scheduled: datetime, every: timedelta, now: datetime) -> datetime:
    """The next run of periodic work: `every` after the last schedule, skipping missed periods.

    Stepping from the scheduled time rather than from the end of the run keeps a periodic
    kind on its grid (a run that takes a minute does not push tomorrow's run a minute
    later); periods missed while the platform was down are skipped, not run in a burst.
    """
    if every <= timedelta(0):
        raise ValueError("period must be positive")
    if scheduled > now:
        return scheduled + every
    missed = (now - scheduled) // every
    return scheduled + every * (missed + 1)


def truncate_error(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """Keep the tail of an error text (where the exception itself is) within `limit` characters."""
    if len(text) <= limit:
        return text
    marker = "…\n"
    return marker + text[-(limit - len(marker)) :]


def error_summary(text: str | None, limit: int = 300) -> str:
    """The last non-empty line of an error text (the exception's type and message), shortened."""
    if not text:
        return ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    last = lines[-1].strip() if lines else ""
    return last if len(last) <= limit else last[: limit - 1] + "…"


class PermanentFailure(Exception):
    """Raised by a job handler or a transport when retrying cannot help; the work goes dead at once."""


class DeliveryError(Exception):
    """A transport could not deliver a message this time; it will be retried."""


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """An outbox message as handed to a transport."""

    id: uuid.UUID
    topic: str
    destination: str
    payload: dict[str, Any]
    headers: dict[str, str]
    attempt: int
    created_at: datetime
    node_id: str


class Transport(Protocol):
    """Delivers outbox messages for one or more destination schemes; raises to signal failure."""

    def deliver(self, message: OutboundMessage) -> None:
        """Deliver `message` or raise (DeliveryError to retry, PermanentFailure to give up)."""
        ...


class CounterChild(Protocol):
    """One labelled series of a counter."""

    def inc(self, amount: float = 1) -> None:
        """Add to the counter."""
        ...


class LabelledCounter(Protocol):
    """A counter with labels (prometheus_client.Counter fits)."""

    def labels(self, *labelvalues: str) -> CounterChild:
        """The series for these label values."""
        ...


class JobMetrics(Protocol):
    """What the job runner needs of the platform's metrics: a `jobs` counter labelled kind, outcome."""

    @property
    def jobs(self) -> LabelledCounter:
        """Counter of finished attempts by kind and outcome."""
        ...


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What one `run_due` pass did."""

    claimed: int = 0
    succeeded: int = 0
    retried: int = 0
    dead: int = 0
    #: Jobs taken over from a worker whose lease had expired.
    reclaimed: int = 0
    #: Attempts whose result was discarded because another worker had taken the job over.
    lost: int = 0


@dataclass(frozen=True, slots=True)
class DeliverySummary:
    """What one outbox delivery pass did."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0
    lost: int = 0
