"""Job states: which transitions exist, when a job may be claimed, what a failure leads to, periodic schedules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinyidai.job.model import (
    JOB_BACKOFF,
    ClaimDecision,
    InvalidTransition,
    JobStatus,
    OutboxStatus,
    check_outbox_transition,
    check_transition,
    error_summary,
    is_claimable,
    next_periodic_run,
    on_claim,
    on_failure,
    truncate_error,
)

NOW = datetime(2026, 6, 30, 2, 0, tzinfo=UTC)
P, R, D, X = JobStatus.PENDING, JobStatus.RUNNING, JobStatus.DONE, JobStatus.DEAD
ALLOWED = {(P, R), (R, R), (R, P), (R, D), (R, X)}


@pytest.mark.parametrize("current", list(JobStatus))
@pytest.mark.parametrize("new", list(JobStatus))
def test_job_transitions(current: JobStatus, new: JobStatus) -> None:
    if (current, new) in ALLOWED:
        check_transition(current, new)
    else:
        with pytest.raises(InvalidTransition):
            check_transition(current, new)


def test_done_and_dead_are_final() -> None:
    for final in (D, X):
        for new in JobStatus:
            with pytest.raises(InvalidTransition):
                check_transition(final, new)
    for final_message in (OutboxStatus.DELIVERED, OutboxStatus.DEAD):
        with pytest.raises(InvalidTransition):
            check_outbox_transition(final_message, OutboxStatus.PENDING)
    check_outbox_transition(OutboxStatus.PENDING, OutboxStatus.DELIVERED)


def test_claimable_when_due_or_lease_expired() -> None:
    minute = timedelta(minutes=1)
    assert is_claimable(P, run_at=NOW, locked_until=None, now=NOW)
    assert not is_claimable(P, run_at=NOW + minute, locked_until=None, now=NOW)
    assert is_claimable(R, run_at=NOW - minute, locked_until=NOW, now=NOW)
    assert not is_claimable(R, run_at=NOW - minute, locked_until=NOW + minute, now=NOW)
    assert not is_claimable(D, run_at=NOW - minute, locked_until=None, now=NOW)
    assert not is_claimable(X, run_at=NOW - minute, locked_until=None, now=NOW)


@given(st.integers(min_value=0, max_value=100), st.integers(min_value=1, max_value=100))
def test_claim_runs_while_attempts_remain(attempts: int, max_attempts: int) -> None:
    expected = ClaimDecision.RUN if attempts < max_attempts else ClaimDecision.DEAD
    assert on_claim(attempts=attempts, max_attempts=max_attempts) is expected


@given(st.integers(min_value=1, max_value=50), st.integers(min_value=1, max_value=50), st.uuids())
def test_failure_retries_until_the_last_attempt(attempt: int, max_attempts: int, seed: uuid.UUID) -> None:
    outcome = on_failure(attempt=attempt, max_attempts=max_attempts, now=NOW, seed=seed, policy=JOB_BACKOFF)
    if attempt >= max_attempts:
        assert outcome.dead
        assert outcome.retry_at is None
    else:
        assert not outcome.dead
        assert outcome.retry_at == NOW + JOB_BACKOFF.delay(attempt, seed)


def test_permanent_failure_is_dead_on_the_first_attempt() -> None:
    outcome = on_failure(attempt=1, max_attempts=10, now=NOW, seed=uuid.uuid4(), policy=JOB_BACKOFF, permanent=True)
    assert outcome.dead


@given(
    st.integers(min_value=-(10**7), max_value=10**7).map(lambda s: NOW + timedelta(seconds=s)),
    st.integers(min_value=1, max_value=10**6).map(lambda s: timedelta(seconds=s)),
    st.integers(min_value=0, max_value=10**8).map(lambda s: NOW + timedelta(seconds=s)),
)
def test_next_periodic_run_is_the_next_point_on_the_grid(scheduled: datetime, every: timedelta, now: datetime) -> None:
    nxt = next_periodic_run(scheduled=scheduled, every=every, now=now)
    assert nxt > now
    assert nxt > scheduled
    assert (nxt - scheduled) % every == timedelta(0)
    # Never more than one period ahead of both the schedule and the present: missed periods are skipped.
    assert nxt - max(now, scheduled) <= every


def test_next_periodic_run_examples() -> None:
    minute = timedelta(minutes=1)
    assert next_periodic_run(scheduled=NOW, every=minute, now=NOW) == NOW + minute
    assert next_periodic_run(scheduled=NOW, every=minute, now=NOW + 10.5 * minute) == NOW + 11 * minute
    assert next_periodic_run(scheduled=NOW, every=minute, now=NOW + minute) == NOW + 2 * minute
    with pytest.raises(ValueError, match="positive"):
        next_periodic_run(scheduled=NOW, every=timedelta(0), now=NOW)


@given(st.text(max_size=10_000), st.integers(min_value=10, max_value=5_000))
def test_truncated_errors_keep_their_tail(text: str, limit: int) -> None:
    cut = truncate_error(text, limit)
    assert len(cut) <= limit
    if len(text) <= limit:
        assert cut == text
    else:
        assert text.endswith(cut.removeprefix("…\n"))


def test_error_summary_is_the_exception_line() -> None:
    trace = 'Traceback (most recent call last):\n  File "x.py", line 1, in f\nValueError: boom\n\n'
    assert error_summary(trace) == "ValueError: boom"
    assert error_summary(None) == ""
    assert error_summary("x" * 500).endswith("…")
    assert len(error_summary("x" * 500)) == 300
