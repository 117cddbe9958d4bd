"""Retry backoff: exponential, capped, never shorter for a later attempt, jittered per job but reproducible."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinyidai.job.model import JOB_BACKOFF, OUTBOX_BACKOFF, BackoffPolicy, jitter_fraction

ids = st.uuids()
attempts = st.integers(min_value=1, max_value=10_000)
policies = st.builds(
    BackoffPolicy,
    base=st.integers(min_value=1, max_value=600).map(lambda s: timedelta(seconds=s)),
    factor=st.floats(min_value=1.0, max_value=10.0, allow_nan=False),
    cap=st.integers(min_value=600, max_value=7 * 24 * 3600).map(lambda s: timedelta(seconds=s)),
    jitter=st.floats(min_value=0.0, max_value=0.9, allow_nan=False),
)


@given(policies, ids, attempts)
def test_backoff_never_decreases_with_the_attempt(policy: BackoffPolicy, seed: uuid.UUID, attempt: int) -> None:
    assert policy.delay(attempt + 1, seed) >= policy.delay(attempt, seed)


@given(policies, ids, attempts)
def test_backoff_is_positive_and_capped(policy: BackoffPolicy, seed: uuid.UUID, attempt: int) -> None:
    delay = policy.delay(attempt, seed)
    assert timedelta(0) < delay <= policy.cap


@given(policies, ids, st.integers(min_value=1, max_value=60))
def test_jitter_only_shortens_the_exponential_delay_within_its_fraction(
    policy: BackoffPolicy, seed: uuid.UUID, attempt: int
) -> None:
    exponential = min(policy.cap.total_seconds(), policy.base.total_seconds() * policy.factor ** (attempt - 1))
    delay = policy.delay(attempt, seed).total_seconds()
    assert exponential * (1 - policy.jitter) - 1e-6 <= delay <= exponential + 1e-6


@given(ids, attempts)
def test_backoff_is_reproducible_from_the_job_id(seed: uuid.UUID, attempt: int) -> None:
    assert JOB_BACKOFF.delay(attempt, seed) == JOB_BACKOFF.delay(attempt, uuid.UUID(bytes=seed.bytes))
    assert 0 <= jitter_fraction(seed) < 1


def test_jobs_that_fail_together_spread_out() -> None:
    delays = {JOB_BACKOFF.delay(3, uuid.uuid4()) for _ in range(50)}
    assert len(delays) > 40


def test_default_schedules() -> None:
    no_jitter = BackoffPolicy(jitter=0)
    seed = uuid.UUID(int=0)
    assert [no_jitter.delay(a, seed) for a in (1, 2, 3, 4)] == [timedelta(seconds=s) for s in (10, 20, 40, 80)]
    assert no_jitter.delay(10_000_000, seed) == timedelta(hours=1)
    assert JOB_BACKOFF.cap == timedelta(hours=1)
    assert OUTBOX_BACKOFF.delay(1, seed) <= timedelta(seconds=30)
    assert OUTBOX_BACKOFF.delay(100, seed) <= timedelta(hours=6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base": timedelta(0)},
        {"base": timedelta(hours=2), "cap": timedelta(hours=1)},
        {"factor": 0.5},
        {"jitter": 1.0},
        {"jitter": -0.1},
    ],
)
def test_invalid_policies_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        BackoffPolicy(**kwargs)  # type: ignore[arg-type]


def test_attempts_start_at_one() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        JOB_BACKOFF.delay(0, uuid.uuid4())
