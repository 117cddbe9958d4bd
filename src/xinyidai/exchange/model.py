"""Pure rules of interface calls (系统接口调用): the circuit breaker, retry backoff, cache freshness, results.

Nothing here does I/O or reads a clock: every function takes ``now``; the connector and the
service feed it the injected ``Clock``. That is what lets the breaker's cool-down be tested with a
``FrozenClock`` and its invariants with Hypothesis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final
from urllib.parse import urlsplit

from xinyidai.kernel.actor import ActorKind, ActorRef

# --- vocabularies -------------------------------------------------------------------------------


class FetchStatus(StrEnum):
    """What a query got: fresh from the source, cached within freshness, stale after a failure, or nothing."""

    #: Fetched from the department during this query (or revalidated by it: HTTP 304).
    FRESH = "fresh"
    #: A cached answer still within the catalog item's freshness; the department was not called.
    CACHED = "cached"
    #: A cached answer past its freshness, served because the department failed or its breaker is open.
    STALE = "stale"
    #: No usable answer: the department failed and nothing was cached.
    UNAVAILABLE = "unavailable"

    @property
    def label_zh(self) -> str:
        """Chinese label for users."""
        return _STATUS_LABELS[self]


_STATUS_LABELS: Final[Mapping[FetchStatus, str]] = {
    FetchStatus.FRESH: "实时",
    FetchStatus.CACHED: "缓存（有效期内）",
    FetchStatus.STALE: "过期缓存（数据源不可用）",
    FetchStatus.UNAVAILABLE: "暂不可用",
}


class CallOutcome(StrEnum):
    """How one query's call to a department ended, as the call log records it."""

    OK = "ok"
    #: No answer within the endpoint's timeout (or its total deadline).
    TIMEOUT = "timeout"
    #: Connection refused or reset, an HTTP error status, a refused token.
    ERROR = "error"
    #: An answer that is not valid JSON, breaks the item's record schema, or names another subject.
    MALFORMED = "malformed"
    #: The source's circuit breaker is open: no call was made.
    BREAKER_OPEN = "breaker_open"
    #: No endpoint is configured for the source: no call was made.
    NOT_CONFIGURED = "not_configured"


#: Outcomes worth another attempt: the source may answer next time.
RETRYABLE: Final = frozenset({CallOutcome.TIMEOUT, CallOutcome.ERROR})
#: HTTP statuses that say "try again later" rather than "your request is wrong".
RETRYABLE_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


def is_retryable(outcome: CallOutcome, http_status: int | None) -> bool:
    """Whether a failed attempt should be retried: timeouts, lost connections and 5xx/429, not 4xx or malformed answers."""
    if outcome not in RETRYABLE:
        return False
    return http_status is None or http_status in RETRYABLE_STATUSES


# --- circuit breaker ----------------------------------------------------------------------------


class BreakerPhase(StrEnum):
    """Closed: calls flow. Open: calls are refused. Half-open: one probe call decides."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """Open after ``failure_threshold`` failures within ``window``; probe again after ``cool_down``."""

    failure_threshold: int = 5
    window: timedelta = timedelta(seconds=60)
    cool_down: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if self.window <= timedelta(0):
            raise ValueError("window must be positive")
        if self.cool_down <= timedelta(0):
            raise ValueError("cool_down must be positive")


@dataclass(frozen=True, slots=True)
class BreakerState:
    """One source's breaker. ``failures`` holds the times of recent failures while closed (fewer than the threshold)."""

    phase: BreakerPhase = BreakerPhase.CLOSED
    failures: tuple[datetime, ...] = ()
    opened_at: datetime | None = None
    #: When the half-open probe was let through; another may go once a cool-down has passed without its result.
    probe_started_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a call may go now, and the state after asking."""

    allowed: bool
    state: BreakerState
    #: True when the call is the half-open probe (it gets one attempt, no retries).
    probe: bool = False


def admit(state: BreakerState, policy: BreakerPolicy, now: datetime) -> Admission:
    """Ask to make one call now.

    Closed: yes. Open: no, until ``cool_down`` has passed since it opened; then the breaker
    turns half-open and this one call is the probe. Half-open: no while the probe is out,
    unless a whole cool-down passed without its result (the caller died), when a new probe goes.
    """
    if state.phase is BreakerPhase.CLOSED:
        return Admission(True, state)
    if state.phase is BreakerPhase.OPEN:
        assert state.opened_at is not None
        if now >= state.opened_at + policy.cool_down:
            return Admission(True, replace(state, phase=BreakerPhase.HALF_OPEN, failures=(), probe_started_at=now), probe=True)
        return Admission(False, state)
    if state.probe_started_at is None or now >= state.probe_started_at + policy.cool_down:
        return Admission(True, replace(state, probe_started_at=now), probe=True)
    return Admission(False, state)


def on_success(state: BreakerState, policy: BreakerPolicy, now: datetime) -> BreakerState:
    """A call succeeded: a half-open breaker closes; a closed one only forgets failures older than the window."""
    if state.phase is BreakerPhase.HALF_OPEN:
        return BreakerState()
    if state.phase is BreakerPhase.CLOSED:
        return replace(state, failures=_recent(state.failures, policy, now))
    # A success from a call admitted before the breaker opened says nothing about the source now.
    return state


def on_failure(state: BreakerState, policy: BreakerPolicy, now: datetime) -> BreakerState:
    """A call failed: closed counts it and opens at the threshold; a failed probe re-opens for another cool-down."""
    if state.phase is BreakerPhase.HALF_OPEN:
        return BreakerState(phase=BreakerPhase.OPEN, opened_at=now)
    if state.phase is BreakerPhase.OPEN:
        return state
    failures = (*_recent(state.failures, policy, now), now)
    if len(failures) >= policy.failure_threshold:
        return BreakerState(phase=BreakerPhase.OPEN, opened_at=now)
    return replace(state, failures=failures)


def _recent(failures: tuple[datetime, ...], policy: BreakerPolicy, now: datetime) -> tuple[datetime, ...]:
    """Failures still inside the window ending at ``now``."""
    start = now - policy.window
    return tuple(f for f in failures if f > start)


# --- retries ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with bounded jitter: attempt n waits base·2^(n−1), capped, minus up to ``jitter`` of it."""

    max_attempts: int = 3
    base_seconds: float = 0.2
    cap_seconds: float = 2.0
    #: Fraction of each delay that jitter may take away (0 = none, 0.5 = between half and all of it).
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not (math.isfinite(self.base_seconds) and self.base_seconds >= 0):
            raise ValueError("base_seconds must be a finite, non-negative number")
        if not (math.isfinite(self.cap_seconds) and self.cap_seconds >= self.base_seconds):
            raise ValueError("cap_seconds must not be below base_seconds")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def ceiling(self, attempt: int) -> float:
        """The un-jittered wait after failed attempt number ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError("attempts are counted from 1")
        # Past 2**64 any finite base is beyond any cap; stopping there keeps the float from overflowing.
        exponent = attempt - 1
        if self.base_seconds == 0:
            return 0.0
        if exponent >= 64:
            return self.cap_seconds
        return min(self.cap_seconds, self.base_seconds * 2.0**exponent)

    def delay(self, attempt: int, u: float) -> float:
        """The wait, in seconds, after failed attempt ``attempt``; ``u`` in [0, 1) is the random draw."""
        if not 0 <= u < 1:
            raise ValueError("u must be in [0, 1)")
        ceiling = self.ceiling(attempt)
        return ceiling * (1 - self.jitter * u)

    def worst_case_wait(self) -> float:
        """The most time all waits of one query can take: every delay at its ceiling."""
        return sum(self.ceiling(n) for n in range(1, self.max_attempts))


# --- freshness ----------------------------------------------------------------------------------

#: A calendar month in a freshness period counts as its shortest length, so "fresh" is never overstated.
SHORTEST_MONTH: Final = timedelta(days=28)


def max_age(*, months: int, days: int, seconds: int) -> timedelta:
    """How long a fetched answer stays fresh, from the catalog item's ``freshness`` period (months as 28 days)."""
    if months < 0 or days < 0 or seconds < 0:
        raise ValueError("freshness must not be negative")
    return months * SHORTEST_MONTH + timedelta(days=days, seconds=seconds)


def age_seconds(fetched_at: datetime, now: datetime) -> int:
    """Whole seconds since ``fetched_at`` (never negative: a clock set back does not make data younger than new)."""
    return max(0, int((now - fetched_at).total_seconds()))


def is_fresh(fetched_at: datetime, now: datetime, freshness: timedelta) -> bool:
    """A cached answer is fresh while its age is below the item's freshness."""
    return now - fetched_at < freshness


# --- endpoints ----------------------------------------------------------------------------------

_SOURCE_MAX = 40


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    """How to call one source: where, with which token, how patiently, and when to stop trying."""

    source: str
    base_url: str
    token: str | None = field(default=None, repr=False)
    #: Timeout of each phase of one attempt (connect, send, wait for the answer), in milliseconds.
    timeout_ms: int = 2_000
    max_attempts: int = 3
    backoff_base_ms: int = 200
    backoff_cap_ms: int = 2_000
    #: Budget of one query over all its attempts and waits; no attempt starts after it.
    deadline_ms: int = 8_000
    breaker_failures: int = 5
    breaker_window_s: int = 60
    breaker_cooldown_s: int = 30

    def __post_init__(self) -> None:
        problems = endpoint_problems(self)
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy these settings describe."""
        return RetryPolicy(
            max_attempts=self.max_attempts,
            base_seconds=self.backoff_base_ms / 1000,
            cap_seconds=self.backoff_cap_ms / 1000,
        )

    @property
    def breaker(self) -> BreakerPolicy:
        """The breaker policy these settings describe."""
        return BreakerPolicy(
            failure_threshold=self.breaker_failures,
            window=timedelta(seconds=self.breaker_window_s),
            cool_down=timedelta(seconds=self.breaker_cooldown_s),
        )


def endpoint_problems(endpoint: EndpointSettings) -> list[str]:
    """Every reason the settings are unusable (empty when they are fine)."""
    problems: list[str] = []
    if not endpoint.source or len(endpoint.source) > _SOURCE_MAX:
        problems.append(f"source code must have 1–{_SOURCE_MAX} characters")
    parts = urlsplit(endpoint.base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(f"base_url must be an absolute http(s) URL, not {endpoint.base_url!r}")
    if parts.query or parts.fragment:
        problems.append("base_url must not carry a query or fragment")
    bounds = {
        "timeout_ms": (endpoint.timeout_ms, 1, 600_000),
        "max_attempts": (endpoint.max_attempts, 1, 10),
        "backoff_base_ms": (endpoint.backoff_base_ms, 0, 600_000),
        "backoff_cap_ms": (endpoint.backoff_cap_ms, 0, 600_000),
        "deadline_ms": (endpoint.deadline_ms, 1, 3_600_000),
        "breaker_failures": (endpoint.breaker_failures, 1, 1_000),
        "breaker_window_s": (endpoint.breaker_window_s, 1, 86_400),
        "breaker_cooldown_s": (endpoint.breaker_cooldown_s, 1, 86_400),
    }
    for name, (value, low, high) in bounds.items():
        if not low <= value <= high:
            problems.append(f"{name} must be between {low} and {high}, not {value}")
    if endpoint.backoff_cap_ms < endpoint.backoff_base_ms:
        problems.append("backoff_cap_ms must not be below backoff_base_ms")
    return problems


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The answer to one query; degraded answers say why in ``reason`` (a ``CallOutcome`` value) and ``detail``."""

    status: FetchStatus
    source: str
    item: str
    uscc: str
    #: The records, personal ID numbers masked.
    records: tuple[Mapping[str, Any], ...] = ()
    #: The instant the department says its answer was current.
    as_of: datetime | None = None
    #: When the platform received the answer served.
    fetched_at: datetime | None = None
    #: Seconds since ``fetched_at``; None when nothing is served.
    age_seconds: int | None = None
    reason: str | None = None
    detail: str | None = None

    @property
    def degraded(self) -> bool:
        """True when the source could not be reached for this query and the answer is old or missing."""
        return self.status in (FetchStatus.STALE, FetchStatus.UNAVAILABLE)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (ISO datetimes), as the CLI prints and the API returns it."""
        return {
            "status": self.status.value,
            "source": self.source,
            "item": self.item,
            "uscc": self.uscc,
            "records": [dict(r) for r in self.records],
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "fetched_at": self.fetched_at.isoformat() if self.fetched_at else None,
            "age_seconds": self.age_seconds,
            "reason": self.reason,
            "detail": self.detail,
        }


# --- access -------------------------------------------------------------------------------------

#: The permission that lets a platform operator run interface queries (``Permission.EXCHANGE_QUERY``).
EXCHANGE_QUERY_PERMISSION: Final = "exchange:query:run"


@dataclass(frozen=True, slots=True)
class AccessQuery:
    """Everything an access decision about one interface query may look at."""

    actor: ActorRef
    #: Permission values the caller holds (``Principal.permissions``); the CLI acts as an operator.
    permissions: frozenset[str]
    source: str
    item: str
    #: The item's disclosure class: ``public``, ``authorized`` or ``consent``.
    disclosure: str
    uscc: str
    purpose: str | None


@dataclass(frozen=True, slots=True)
class AccessDecision:
    """Allowed or not, with the reasons that go into the audit log (same shape as ``principal.Decision``)."""

    allowed: bool
    reasons: tuple[str, ...]


#: The authorization hook: the consent engineer's ``check_access`` plugs in here.
AccessDecider = Callable[[AccessQuery], AccessDecision]


def operator_only(query: AccessQuery) -> AccessDecision:
    """Default decision until enterprise authorizations exist: only callers holding the operator's query permission.

    Deny by default: anonymous actors and callers without ``exchange:query:run`` are refused.
    An institution's query of non-public data will need the enterprise's authorization for the
    stated purpose; that check replaces this function (``fetch(decide=…)``).
    """
    if query.actor.kind is ActorKind.ANONYMOUS:
        return AccessDecision(False, ("未认证",))
    if EXCHANGE_QUERY_PERMISSION in query.permissions:
        return AccessDecision(True, (f"持有权限 {EXCHANGE_QUERY_PERMISSION}（平台运营人员）",))
    return AccessDecision(False, (f"缺少权限 {EXCHANGE_QUERY_PERMISSION}",))


def allowed_sources(item_department: str, by_value: Collection[str]) -> frozenset[str]:
    """Sources that may answer for an item: its department and the departments its records name."""
    return frozenset({item_department, *by_value})
