"""The per-client token bucket: a burst, then the rate; clients apart; a bounded key table; 429 with Retry-After."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xinyidai.http.problems import problem_response
from xinyidai.http.ratelimit import RateLimit, RateLimited, TokenBucketLimiter


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_burst_then_refusal_then_refill() -> None:
    clock = _Clock()
    limiter = TokenBucketLimiter(rate_per_minute=60, burst=3, now=clock)
    assert [limiter.take("a").allowed for _ in range(4)] == [True, True, True, False]
    refused = limiter.take("a")
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(1.0)
    clock.t += 0.5
    assert not limiter.take("a").allowed
    clock.t += 0.5
    assert limiter.take("a").allowed  # one token a second at 60 a minute
    assert not limiter.take("a").allowed


def test_clients_have_buckets_of_their_own() -> None:
    limiter = TokenBucketLimiter(rate_per_minute=1, burst=1, now=_Clock())
    assert limiter.take("10.0.0.1").allowed
    assert not limiter.take("10.0.0.1").allowed
    assert limiter.take("10.0.0.2").allowed


def test_key_table_is_bounded_least_recent_first() -> None:
    limiter = TokenBucketLimiter(rate_per_minute=1, burst=1, max_keys=2, now=_Clock())
    limiter.take("a")
    limiter.take("b")
    limiter.take("a")  # a is now the most recent
    limiter.take("c")  # b is dropped
    assert len(limiter) == 2
    assert limiter.take("b").allowed  # forgotten, so it starts full again
    assert not limiter.take("c").allowed


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="positive rate"):
        TokenBucketLimiter(rate_per_minute=0, burst=1)
    with pytest.raises(ValueError, match="positive rate"):
        TokenBucketLimiter(rate_per_minute=1, burst=0)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rate=st.integers(min_value=1, max_value=600),
    burst=st.integers(min_value=1, max_value=20),
    gaps=st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), min_size=1, max_size=60),
)
def test_never_more_than_burst_plus_rate_times_elapsed(rate: int, burst: int, gaps: list[float]) -> None:
    clock = _Clock()
    limiter = TokenBucketLimiter(rate_per_minute=rate, burst=burst, now=clock)
    start = clock.t
    allowed = 0
    for gap in gaps:
        clock.t += gap
        verdict = limiter.take("k")
        allowed += verdict.allowed
        assert verdict.allowed or verdict.retry_after > 0
        assert allowed <= burst + (clock.t - start) * rate / 60 + 1e-9


def test_rate_limit_setting_of_zero_turns_it_off() -> None:
    class _Settings:
        report_verify_rate_per_minute = 0
        report_verify_burst = 5

    limit = RateLimit("t", rate_setting="report_verify_rate_per_minute", burst_setting="report_verify_burst")
    services: dict[str, object] = {}
    assert limit.limiter(services, _Settings()) is None
    _Settings.report_verify_rate_per_minute = 30
    assert limit.limiter({}, _Settings()) is not None


def test_refusal_is_problem_json_with_retry_after() -> None:
    error = RateLimited("请在 3 秒后重试", retry_after=3)
    response = problem_response(status=error.status, code=error.code, title=error.title, detail=error.detail, **error.extra)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.media_type == "application/problem+json"
    body = json.loads(bytes(response.body))
    assert body["code"] == "rate_limited"
    assert body["retry_after"] == 3
