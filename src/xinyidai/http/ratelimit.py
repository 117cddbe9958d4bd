"""In-process rate limiting: a token bucket per client key (the client IP), for public endpoints anyone can call.

One bucket per key holds up to `burst` tokens and refills at `rate_per_minute / 60` tokens a second; a request
takes one token or is refused with how long until the next one. The table of buckets is bounded (the least
recently used key is dropped first), so a flood of distinct addresses cannot grow it without limit. The state
is per process: with N server workers a client gets up to N times the rate, which is the intent of a cheap
guard in front of a public lookup (a shared limit belongs in the reverse proxy).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from fastapi import Request
from starlette.requests import HTTPConnection

from xinyidai.http.container import container_of
from xinyidai.kernel.errors import Throttled

#: Most client keys tracked at once.
MAX_KEYS = 10_000


class RateLimited(Throttled):
    """A client asked a rate-limited endpoint more often than its bucket allows (429, with Retry-After)."""

    code: ClassVar[str] = "rate_limited"
    title: ClassVar[str] = "请求过于频繁，请稍后再试"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a request may proceed, and else after how many seconds the next token is there."""

    allowed: bool
    retry_after: float = 0.0


class TokenBucketLimiter:
    """Token buckets keyed by client; thread-safe (sync routes run in a thread pool)."""

    def __init__(
        self,
        *,
        rate_per_minute: float,
        burst: int,
        max_keys: int = MAX_KEYS,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_minute <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("a token bucket needs a positive rate, a burst of at least 1 and room for a key")
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self.max_keys = max_keys
        self._now = now
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> Verdict:
        """Take one token from `key`'s bucket (a new key starts full)."""
        with self._lock:
            at = self._now()
            tokens, then = self._buckets.pop(key, (self.burst, at))
            tokens = min(self.burst, tokens + max(0.0, at - then) * self.rate)
            if tokens >= 1.0:
                self._store(key, tokens - 1.0, at)
                return Verdict(True)
            self._store(key, tokens, at)
            return Verdict(False, (1.0 - tokens) / self.rate)

    def _store(self, key: str, tokens: float, at: float) -> None:
        self._buckets[key] = (tokens, at)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


def client_key(conn: HTTPConnection) -> str:
    """The client's address as the server sees it (behind a proxy, run uvicorn with --proxy-headers and
    --forwarded-allow-ips so that this is the real client)."""
    return conn.client.host if conn.client is not None else "unknown"


def enforce(limiter: TokenBucketLimiter | None, conn: HTTPConnection) -> None:
    """Raise `RateLimited` (429) when the client's bucket is empty; no limiter means no limit."""
    if limiter is None:
        return
    verdict = limiter.take(client_key(conn))
    if not verdict.allowed:
        wait = max(1, math.ceil(verdict.retry_after))
        raise RateLimited(f"请在 {wait} 秒后重试", retry_after=wait)


class RateLimit:
    """Route dependency: one token bucket per client IP, shared by every route that uses the same `name`.

    The rate and burst are read from the settings fields named (once, when the first request comes); a rate
    of 0 turns the limit off. The limiter is kept in the container's services under ``ratelimit.<name>``.
    """

    def __init__(self, name: str, *, rate_setting: str, burst_setting: str) -> None:
        self.name = name
        self.rate_setting = rate_setting
        self.burst_setting = burst_setting

    def limiter(self, services: dict[str, object], settings: object) -> TokenBucketLimiter | None:
        """This limit's limiter in `services`, built from `settings` the first time."""
        key = f"ratelimit.{self.name}"
        if key not in services:
            rate = int(getattr(settings, self.rate_setting))
            burst = int(getattr(settings, self.burst_setting))
            services[key] = TokenBucketLimiter(rate_per_minute=rate, burst=burst) if rate > 0 else None
        found = services[key]
        return found if isinstance(found, TokenBucketLimiter) else None

    async def __call__(self, request: Request) -> None:
        container = container_of(request)
        enforce(self.limiter(container.services, container.settings), request)


#: The public report verification (``/api/v1/reports/verify/{code}`` and the ``/reports/verify`` page).
VERIFY_RATE_LIMIT = RateLimit("report.verify", rate_setting="report_verify_rate_per_minute", burst_setting="report_verify_burst")
