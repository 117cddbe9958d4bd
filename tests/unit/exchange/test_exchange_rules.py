"""Retry backoff, freshness, endpoint settings and the default access decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinyidai.catalog import load_catalog
from xinyidai.exchange.model import (
    AccessQuery,
    CallOutcome,
    EndpointSettings,
    FetchResult,
    FetchStatus,
    RetryPolicy,
    age_seconds,
    is_fresh,
    is_retryable,
    max_age,
    operator_only,
)
from xinyidai.kernel.actor import ActorKind, ActorRef

retry_policies = st.builds(
    RetryPolicy,
    max_attempts=st.integers(min_value=1, max_value=10),
    base_seconds=st.floats(min_value=0, max_value=5, allow_nan=False),
    cap_seconds=st.floats(min_value=5, max_value=60, allow_nan=False),
    jitter=st.floats(min_value=0, max_value=0.99, allow_nan=False),
)
draws = st.floats(min_value=0, max_value=1, exclude_max=True, allow_nan=False)


@given(retry_policies, st.integers(min_value=1, max_value=10_000), draws)
def test_each_wait_is_within_its_jitter_band_and_never_above_the_cap(policy: RetryPolicy, attempt: int, u: float) -> None:
    ceiling = policy.ceiling(attempt)
    delay = policy.delay(attempt, u)
    assert ceiling * (1 - policy.jitter) - 1e-9 <= delay <= ceiling <= policy.cap_seconds


@given(retry_policies, st.integers(min_value=1, max_value=10_000))
def test_ceilings_grow_exponentially_until_the_cap(policy: RetryPolicy, attempt: int) -> None:
    assert policy.ceiling(attempt + 1) >= policy.ceiling(attempt)
    if policy.ceiling(attempt + 1) < policy.cap_seconds:
        assert policy.ceiling(attempt + 1) == pytest.approx(2 * policy.ceiling(attempt))


@given(retry_policies)
def test_all_waits_of_one_query_are_bounded(policy: RetryPolicy) -> None:
    assert policy.worst_case_wait() <= (policy.max_attempts - 1) * policy.cap_seconds + 1e-9


def test_the_default_backoff_doubles_from_200_ms() -> None:
    policy = RetryPolicy()
    assert [policy.ceiling(n) for n in (1, 2, 3, 4, 5, 6)] == [0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert policy.delay(1, 0.0) == 0.2
    assert policy.delay(1, 0.5) == pytest.approx(0.15)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"base_seconds": -1}, {"cap_seconds": 0.1, "base_seconds": 1}, {"jitter": 1.0}],
)
def test_retry_policies_refuse_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("outcome", "status", "expected"),
    [
        (CallOutcome.TIMEOUT, None, True),
        (CallOutcome.ERROR, None, True),
        (CallOutcome.ERROR, 503, True),
        (CallOutcome.ERROR, 500, True),
        (CallOutcome.ERROR, 429, True),
        (CallOutcome.ERROR, 401, False),
        (CallOutcome.ERROR, 404, False),
        (CallOutcome.MALFORMED, 200, False),
        (CallOutcome.BREAKER_OPEN, None, False),
    ],
)
def test_what_is_retried(outcome: CallOutcome, status: int | None, expected: bool) -> None:
    assert is_retryable(outcome, status) is expected


def test_freshness_comes_from_the_catalog_items_period() -> None:
    catalog = load_catalog()
    for code, expected in (("tax_payment", timedelta(days=7)), ("dishonest_debtor", timedelta(hours=12))):
        period = catalog.item(code).freshness
        assert max_age(months=period.months, days=period.days, seconds=period.seconds) == expected
    assert max_age(months=1, days=0, seconds=0) == timedelta(days=28)


def test_fresh_means_younger_than_the_freshness() -> None:
    t0 = datetime(2026, 6, 30, tzinfo=UTC)
    assert is_fresh(t0, t0 + timedelta(hours=11, minutes=59), timedelta(hours=12))
    assert not is_fresh(t0, t0 + timedelta(hours=12), timedelta(hours=12))
    assert age_seconds(t0, t0 + timedelta(minutes=2)) == 120
    assert age_seconds(t0, t0 - timedelta(minutes=2)) == 0


def test_endpoint_settings_list_every_problem() -> None:
    with pytest.raises(ValueError, match="base_url") as info:
        EndpointSettings(source="tax", base_url="ftp://x", timeout_ms=0, backoff_base_ms=500, backoff_cap_ms=100)
    message = str(info.value)
    assert "timeout_ms" in message
    assert "backoff_cap_ms" in message
    good = EndpointSettings(source="tax", base_url="http://127.0.0.1:8100/tax", token="t")
    assert good.retry.max_attempts == 3
    assert good.breaker.failure_threshold == 5
    assert "token" not in repr(good)


def _query(permissions: frozenset[str], kind: ActorKind = ActorKind.USER) -> AccessQuery:
    return AccessQuery(
        actor=ActorRef(kind, "u1", "运营"),
        permissions=permissions,
        source="tax",
        item="tax_payment",
        disclosure="authorized",
        uscc="91350100M000100Y43",
        purpose="贷前调查",
    )


def test_the_default_decision_is_operator_only_and_denies_by_default() -> None:
    assert operator_only(_query(frozenset({"exchange:query:run"}))).allowed
    refused = operator_only(_query(frozenset({"registry:subject:read"})))
    assert not refused.allowed
    assert refused.reasons
    assert not operator_only(_query(frozenset(), ActorKind.ANONYMOUS)).allowed
    assert not operator_only(_query(frozenset({"exchange:query:run"}), ActorKind.ANONYMOUS)).allowed


def test_results_serialise_to_plain_json() -> None:
    at = datetime(2026, 6, 30, 2, tzinfo=UTC)
    result = FetchResult(
        status=FetchStatus.STALE,
        source="tax",
        item="tax_payment",
        uscc="91350100M000100Y43",
        records=({"uscc": "91350100M000100Y43"},),
        as_of=at,
        fetched_at=at,
        age_seconds=5,
        reason="timeout",
    )
    assert result.degraded
    body = result.to_json()
    assert body["status"] == "stale"
    assert body["as_of"] == "2026-06-30T02:00:00+00:00"
    assert body["records"] == [{"uscc": "91350100M000100Y43"}]
    assert FetchStatus.UNAVAILABLE.label_zh == "暂不可用"
