"""Connectors: call a department's query interface over HTTP with timeouts, bounded retries and a circuit breaker.

A connector never raises for anything the department does: timeouts, refused connections, error
statuses, oversized or malformed answers all come back as a ``CallReport`` with an outcome, so the
service can degrade the answer instead of failing the request. The breaker state lives in the
``ConnectorRegistry``, one per source and per process (see ADR 0009 for why not in the database).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from xinyidai.catalog import Item
from xinyidai.exchange.model import (
    BreakerPolicy,
    BreakerState,
    CallOutcome,
    EndpointSettings,
    admit,
    is_retryable,
    on_failure,
    on_success,
)
from xinyidai.exchange.validation import Answer, MalformedAnswer, parse_answer
from xinyidai.kernel.clock import Clock
from xinyidai.kernel.context import current_request_id
from xinyidai.kernel.pii import PiiCipher

log = logging.getLogger("xinyidai.exchange")

#: Largest answer read from a department; a bigger one is refused as malformed (memory stays bounded).
MAX_ANSWER_BYTES: Final = 16 * 1024 * 1024
USER_AGENT: Final = "xinyidai-exchange/1"
_DETAIL_CHARS: Final = 300
#: Context bound to encrypted endpoint tokens (AES-GCM associated data).
TOKEN_CONTEXT: Final = "exchange_endpoint.token"  # noqa: S105 - an AEAD context label, not a secret


@dataclass(frozen=True, slots=True)
class CallReport:
    """How one query's call went: outcome, attempts, time spent and, when it worked, the answer."""

    outcome: CallOutcome
    attempts: int
    duration_ms: int
    http_status: int | None = None
    detail: str | None = None
    answer: Answer | None = None
    etag: str | None = None
    #: The department answered 304 to our If-None-Match: the cached copy is current.
    not_modified: bool = False

    @property
    def ok(self) -> bool:
        """True when the department answered usefully (new records or "not modified")."""
        return self.outcome is CallOutcome.OK


class Breaker:
    """A thread-safe holder of one source's ``BreakerState``; the rules are the pure functions of ``model``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = BreakerState()

    @property
    def state(self) -> BreakerState:
        """The current state (a frozen snapshot)."""
        with self._lock:
            return self._state

    def admit(self, policy: BreakerPolicy, clock: Clock) -> tuple[bool, bool]:
        """(allowed, is_probe) for one call now."""
        with self._lock:
            admission = admit(self._state, policy, clock.now())
            self._state = admission.state
            return admission.allowed, admission.probe

    def record(self, *, success: bool, policy: BreakerPolicy, clock: Clock) -> None:
        """Feed one call's result into the state."""
        with self._lock:
            apply = on_success if success else on_failure
            self._state = apply(self._state, policy, clock.now())


@dataclass(frozen=True, slots=True)
class _Attempt:
    outcome: CallOutcome
    http_status: int | None = None
    detail: str | None = None
    answer: Answer | None = None
    etag: str | None = None
    not_modified: bool = False


class DepartmentConnector:
    """Calls ``GET {base_url}/{item}?uscc=…`` on one department with a Bearer token."""

    def __init__(
        self,
        endpoint: EndpointSettings,
        *,
        client: httpx.Client,
        breaker: Breaker,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._client = client
        self._breaker = breaker
        self._sleep = sleep
        self._rng = rng or random.Random()

    @property
    def breaker(self) -> Breaker:
        """This source's breaker."""
        return self._breaker

    def url_for(self, item_code: str) -> str:
        """The query URL of an item on this department."""
        return f"{self.endpoint.base_url.rstrip('/')}/{item_code}"

    def query(self, *, item: Item, uscc: str, clock: Clock, etag: str | None = None) -> CallReport:
        """Ask the department for the subject's records of ``item``; never raises for the department's faults.

        Each attempt first asks the breaker; a refused first attempt is ``breaker_open`` and no
        request is sent. Timeouts, lost connections and 5xx/429 answers are retried with
        exponential backoff and jitter, within ``max_attempts`` and the ``deadline_ms`` budget
        (no attempt starts, and no wait is begun, that would end past it; each attempt's timeout is
        cut to the budget left). A half-open probe gets one attempt. Malformed answers and other
        4xx statuses are not retried. Every attempt's result feeds the breaker.
        """
        endpoint = self.endpoint
        policy, retry = endpoint.breaker, endpoint.retry
        started = time.monotonic()
        deadline = started + endpoint.deadline_ms / 1000
        attempts = 0
        last = _Attempt(CallOutcome.BREAKER_OPEN, detail="circuit breaker open: no call made")
        while attempts < retry.max_attempts:
            allowed, probe = self._breaker.admit(policy, clock)
            if not allowed:
                if attempts:  # opened by failures during this query (ours or a concurrent one's)
                    last = _Attempt(last.outcome, last.http_status, f"{last.detail}; then the circuit breaker opened")
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            attempts += 1
            last = self._attempt(item=item, uscc=uscc, etag=etag, timeout=min(endpoint.timeout_ms / 1000, remaining))
            self._breaker.record(success=last.outcome is CallOutcome.OK, policy=policy, clock=clock)
            if last.outcome is CallOutcome.OK or probe or not is_retryable(last.outcome, last.http_status):
                break
            if attempts >= retry.max_attempts:
                break
            wait = retry.delay(attempts, self._rng.random())
            if time.monotonic() + wait >= deadline:
                break
            self._sleep(wait)
        duration_ms = int((time.monotonic() - started) * 1000)
        if last.outcome is not CallOutcome.OK:
            log.warning(
                "exchange call failed",
                extra={"source": endpoint.source, "item": item.code, "outcome": last.outcome.value, "attempts": attempts},
            )
        return CallReport(
            outcome=last.outcome,
            attempts=attempts,
            duration_ms=duration_ms,
            http_status=last.http_status,
            detail=_short(last.detail),
            answer=last.answer,
            etag=last.etag,
            not_modified=last.not_modified,
        )

    def _attempt(self, *, item: Item, uscc: str, etag: str | None, timeout: float) -> _Attempt:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.endpoint.token:
            headers["Authorization"] = f"Bearer {self.endpoint.token}"
        if etag:
            headers["If-None-Match"] = etag
        request_id = current_request_id()
        if request_id:
            headers["X-Request-ID"] = request_id
        try:
            with self._client.stream(
                "GET", self.url_for(item.code), params={"uscc": uscc}, headers=headers, timeout=httpx.Timeout(timeout)
            ) as response:
                status = response.status_code
                if status == 304 and etag:
                    return _Attempt(CallOutcome.OK, status, "not modified", etag=etag, not_modified=True)
                if not response.is_success:
                    return _Attempt(CallOutcome.ERROR, status, f"HTTP {status}: {_head(response)}")
                body = _read_limited(response)
                new_etag = response.headers.get("etag")
        except httpx.TimeoutException as exc:
            return _Attempt(CallOutcome.TIMEOUT, None, f"{type(exc).__name__} after {timeout:.3f}s")
        except _TooLarge:
            return _Attempt(CallOutcome.MALFORMED, 200, f"answer larger than {MAX_ANSWER_BYTES} bytes")
        except httpx.HTTPError as exc:
            return _Attempt(CallOutcome.ERROR, None, f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            # A connector bug must degrade one answer, not fail the platform; it is logged with its traceback.
            log.exception("unexpected error calling %s", self.endpoint.source)
            return _Attempt(CallOutcome.ERROR, None, f"unexpected {type(exc).__name__}: {exc}")
        try:
            answer = parse_answer(body, item=item, uscc=uscc)
        except MalformedAnswer as exc:
            return _Attempt(CallOutcome.MALFORMED, status, f"malformed answer: {exc}")
        return _Attempt(CallOutcome.OK, status, None, answer=answer, etag=new_etag)


class _TooLarge(Exception):
    """The answer passed ``MAX_ANSWER_BYTES``."""


def _read_limited(response: httpx.Response) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _head(response: httpx.Response) -> str:
    """The first bytes of an error answer, for the log (read at most a little)."""
    data = b""
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= 200:
            break
    return data[:200].decode("utf-8", "replace").strip()


def _short(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


@dataclass
class ConnectorRegistry:
    """Builds connectors from endpoint settings; holds one shared HTTP client and one breaker per source.

    Long-lived: build it once per process (``service.connector_registry(container)`` keeps it in the
    container), so breaker states and pooled connections outlive single requests.
    """

    cipher: PiiCipher
    #: Tests and special deployments may pass their own transport (e.g. a proxy); default: plain HTTP(S).
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    _breakers: dict[str, Breaker] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _client: httpx.Client | None = field(default=None, init=False, repr=False)

    def breaker(self, source: str) -> Breaker:
        """The breaker of a source (created closed on first use)."""
        with self._lock:
            found = self._breakers.get(source)
            if found is None:
                found = self._breakers[source] = Breaker()
            return found

    def breaker_states(self) -> dict[str, BreakerState]:
        """Every known source's breaker state, for monitoring."""
        with self._lock:
            return {source: breaker.state for source, breaker in self._breakers.items()}

    def connector(self, endpoint: EndpointSettings) -> DepartmentConnector:
        """A connector for these settings, sharing the registry's client and the source's breaker."""
        return DepartmentConnector(
            endpoint, client=self._http(), breaker=self.breaker(endpoint.source), sleep=self.sleep, rng=self.rng
        )

    def decrypt_token(self, token_enc: str | None) -> str | None:
        """The clear token of an endpoint row (tokens are stored encrypted)."""
        return None if token_enc is None else self.cipher.decrypt(token_enc, context=TOKEN_CONTEXT)

    def close(self) -> None:
        """Close pooled connections."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                kwargs: dict[str, Any] = {"follow_redirects": False}
                if self.transport is not None:
                    kwargs["transport"] = self.transport
                self._client = httpx.Client(**kwargs)
            return self._client
