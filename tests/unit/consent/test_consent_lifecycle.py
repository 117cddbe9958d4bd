"""The authorization life cycle: every transition, final states, time-driven expiry (table-driven and Hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinyidai.consent.model import (
    ENTERPRISE_TRANSITIONS,
    TERMINAL_STATUSES,
    TRANSITIONS,
    AuthorizationStateConflict,
    AuthorizationStatus,
    Transition,
    effective_status,
    next_status,
)

S = AuthorizationStatus
T = Transition
NOW = datetime(2026, 6, 30, 2, 0, tzinfo=UTC)

EXPECTED = {
    (S.REQUESTED, T.APPROVE): S.ACTIVE,
    (S.REQUESTED, T.REJECT): S.REJECTED,
    (S.REQUESTED, T.EXPIRE): S.EXPIRED,
    (S.ACTIVE, T.PAUSE): S.PAUSED,
    (S.ACTIVE, T.REVOKE): S.REVOKED,
    (S.ACTIVE, T.EXPIRE): S.EXPIRED,
    (S.PAUSED, T.RESUME): S.ACTIVE,
    (S.PAUSED, T.REVOKE): S.REVOKED,
    (S.PAUSED, T.EXPIRE): S.EXPIRED,
}


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("transition", list(T))
def test_every_pair_of_status_and_transition(status: AuthorizationStatus, transition: Transition) -> None:
    expected = EXPECTED.get((status, transition))
    if expected is None:
        with pytest.raises(AuthorizationStateConflict) as caught:
            next_status(status, transition)
        assert caught.value.status == 409
        assert caught.value.code == "authorization_state_conflict"
        assert caught.value.extra == {"current_status": status.value, "transition": transition.value}
    else:
        assert next_status(status, transition) is expected


def test_the_table_is_the_documented_life_cycle() -> None:
    assert dict(TRANSITIONS) == EXPECTED
    assert frozenset({S.REJECTED, S.REVOKED, S.EXPIRED}) == TERMINAL_STATUSES
    assert T.EXPIRE not in ENTERPRISE_TRANSITIONS
    assert frozenset(set(T) - {T.EXPIRE}) == ENTERPRISE_TRANSITIONS


def test_revoking_twice_is_a_stable_409() -> None:
    revoked = next_status(next_status(S.REQUESTED, T.APPROVE), T.REVOKE)
    with pytest.raises(AuthorizationStateConflict) as caught:
        next_status(revoked, T.REVOKE)
    assert caught.value.code == "authorization_state_conflict"
    assert "已撤销" in caught.value.detail


def _walk(transitions: list[Transition]) -> list[AuthorizationStatus]:
    """Apply each transition that is allowed; refused ones leave the status as it was."""
    status = S.REQUESTED
    seen = [status]
    for transition in transitions:
        try:
            status = next_status(status, transition)
        except AuthorizationStateConflict:
            continue
        seen.append(status)
    return seen


@given(st.lists(st.sampled_from(list(T)), max_size=40))
def test_no_path_leads_out_of_a_final_state(transitions: list[Transition]) -> None:
    seen = _walk(transitions)
    for i, status in enumerate(seen):
        if status.terminal:
            assert seen[i:] == [status], seen
    # Only approval leads to active the first time, and pause/resume alternate around it.
    assert seen[0] is S.REQUESTED


@given(st.lists(st.sampled_from(list(T)), max_size=40))
def test_active_is_reached_only_through_approval_or_resume(transitions: list[Transition]) -> None:
    status = S.REQUESTED
    for transition in transitions:
        try:
            after = next_status(status, transition)
        except AuthorizationStateConflict:
            continue
        if after is S.ACTIVE:
            assert (status, transition) in {(S.REQUESTED, T.APPROVE), (S.PAUSED, T.RESUME)}
        if after is S.PAUSED:
            assert status is S.ACTIVE
        status = after


@given(
    st.sampled_from(list(S)),
    st.integers(min_value=-10_000, max_value=10_000),
    st.integers(min_value=0, max_value=10_000),
)
def test_expiry_is_driven_by_time_and_never_undone(status: AuthorizationStatus, offset_min: int, later_min: int) -> None:
    expires_at = NOW + timedelta(minutes=offset_min)
    now_status = effective_status(status, expires_at=expires_at, at=NOW)
    later_status = effective_status(status, expires_at=expires_at, at=NOW + timedelta(minutes=later_min))
    if status.terminal:
        assert now_status is status
    elif expires_at <= NOW:
        assert now_status is S.EXPIRED
    else:
        assert now_status is status
    if now_status is S.EXPIRED:
        assert later_status is S.EXPIRED


def test_expiry_happens_at_the_exact_instant() -> None:
    assert effective_status(S.ACTIVE, expires_at=NOW, at=NOW - timedelta(microseconds=1)) is S.ACTIVE
    assert effective_status(S.ACTIVE, expires_at=NOW, at=NOW) is S.EXPIRED
    assert effective_status(S.PAUSED, expires_at=NOW, at=NOW) is S.EXPIRED
    assert effective_status(S.REVOKED, expires_at=NOW, at=NOW) is S.REVOKED


def test_labels_are_chinese() -> None:
    assert S.ACTIVE.label_zh == "生效中"
    assert T.REVOKE.label_zh == "撤销授权"
