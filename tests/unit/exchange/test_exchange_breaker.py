"""The circuit breaker as a pure state machine: opens on N failures in a window, probes once after a cool-down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from xinyidai.exchange.model import (
    BreakerPhase,
    BreakerPolicy,
    BreakerState,
    admit,
    on_failure,
    on_success,
)

T0 = datetime(2026, 6, 30, 2, 0, tzinfo=UTC)
POLICY = BreakerPolicy(failure_threshold=3, window=timedelta(seconds=60), cool_down=timedelta(seconds=30))

policies = st.builds(
    BreakerPolicy,
    failure_threshold=st.integers(min_value=1, max_value=8),
    window=st.integers(min_value=1, max_value=600).map(lambda s: timedelta(seconds=s)),
    cool_down=st.integers(min_value=1, max_value=600).map(lambda s: timedelta(seconds=s)),
)


def _fail_n(state: BreakerState, n: int, at: datetime, policy: BreakerPolicy = POLICY) -> BreakerState:
    for _ in range(n):
        state = on_failure(state, policy, at)
    return state


def test_a_new_breaker_is_closed_and_admits() -> None:
    admission = admit(BreakerState(), POLICY, T0)
    assert admission.allowed
    assert not admission.probe
    assert admission.state.phase is BreakerPhase.CLOSED


def test_it_opens_at_the_threshold_within_the_window_and_refuses_until_the_cool_down() -> None:
    state = _fail_n(BreakerState(), 2, T0)
    assert state.phase is BreakerPhase.CLOSED
    state = on_failure(state, POLICY, T0 + timedelta(seconds=59))
    assert state.phase is BreakerPhase.OPEN
    assert state.opened_at == T0 + timedelta(seconds=59)
    assert not admit(state, POLICY, T0 + timedelta(seconds=59 + 29)).allowed


def test_failures_older_than_the_window_do_not_count() -> None:
    state = _fail_n(BreakerState(), 2, T0)
    state = on_failure(state, POLICY, T0 + timedelta(seconds=60))  # the first two are exactly a window old
    assert state.phase is BreakerPhase.CLOSED
    assert len(state.failures) == 1


def test_successes_do_not_reset_the_count_while_closed() -> None:
    state = _fail_n(BreakerState(), 2, T0)
    state = on_success(state, POLICY, T0 + timedelta(seconds=1))
    state = on_failure(state, POLICY, T0 + timedelta(seconds=2))
    assert state.phase is BreakerPhase.OPEN


def test_after_the_cool_down_one_probe_goes_and_its_success_closes() -> None:
    state = _fail_n(BreakerState(), 3, T0)
    later = T0 + POLICY.cool_down
    probe = admit(state, POLICY, later)
    assert probe.allowed
    assert probe.probe
    assert probe.state.phase is BreakerPhase.HALF_OPEN
    second = admit(probe.state, POLICY, later + timedelta(seconds=1))
    assert not second.allowed  # only one probe at a time
    closed = on_success(probe.state, POLICY, later + timedelta(seconds=2))
    assert closed == BreakerState()


def test_a_failed_probe_reopens_for_a_whole_cool_down() -> None:
    state = _fail_n(BreakerState(), 3, T0)
    probe = admit(state, POLICY, T0 + POLICY.cool_down)
    reopened = on_failure(probe.state, POLICY, T0 + POLICY.cool_down + timedelta(seconds=1))
    assert reopened.phase is BreakerPhase.OPEN
    assert reopened.opened_at == T0 + POLICY.cool_down + timedelta(seconds=1)
    assert not admit(reopened, POLICY, T0 + 2 * POLICY.cool_down).allowed
    assert admit(reopened, POLICY, T0 + 2 * POLICY.cool_down + timedelta(seconds=1)).allowed


def test_a_probe_whose_result_never_came_is_replaced_after_a_cool_down() -> None:
    state = _fail_n(BreakerState(), 3, T0)
    probe = admit(state, POLICY, T0 + POLICY.cool_down)
    assert not admit(probe.state, POLICY, T0 + 2 * POLICY.cool_down - timedelta(seconds=1)).allowed
    again = admit(probe.state, POLICY, T0 + 2 * POLICY.cool_down)
    assert again.allowed
    assert again.probe


def test_late_results_while_open_change_nothing() -> None:
    state = _fail_n(BreakerState(), 3, T0)
    assert on_success(state, POLICY, T0 + timedelta(seconds=1)) == state
    assert on_failure(state, POLICY, T0 + timedelta(seconds=1)) == state


@pytest.mark.parametrize(
    ("threshold", "window", "cool_down"),
    [(0, 60, 30), (1, 0, 30), (1, 60, 0)],
)
def test_policies_refuse_nonsense(threshold: int, window: int, cool_down: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        BreakerPolicy(failure_threshold=threshold, window=timedelta(seconds=window), cool_down=timedelta(seconds=cool_down))


@given(policies, st.lists(st.integers(min_value=0, max_value=1_200), max_size=40))
def test_it_opens_exactly_when_a_reference_count_reaches_the_threshold(policy: BreakerPolicy, gaps: list[int]) -> None:
    """Failures only, at increasing times: open the first time `threshold` of them fall within one window."""
    state = BreakerState()
    now = T0
    times: list[datetime] = []
    for gap in gaps:
        now += timedelta(seconds=gap)
        times.append(now)
        state = on_failure(state, policy, now)
        recent = [t for t in times if t > now - policy.window]
        expected_open = len(recent) >= policy.failure_threshold
        assert (state.phase is BreakerPhase.OPEN) is expected_open
        if expected_open:
            assert state.opened_at == now
            return


@given(policies, st.integers(min_value=0, max_value=10_000))
def test_an_open_breaker_admits_nothing_before_its_cool_down(policy: BreakerPolicy, offset_ms: int) -> None:
    state = _fail_n(BreakerState(), policy.failure_threshold, T0, policy)
    assert state.phase is BreakerPhase.OPEN
    at = T0 + timedelta(milliseconds=offset_ms)
    assert admit(state, policy, at).allowed is (at >= T0 + policy.cool_down)


class BreakerMachine(RuleBasedStateMachine):
    """Random interleavings of time, admissions and results; the invariants hold after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.policy = POLICY
        self.state = BreakerState()
        self.now = T0
        self.outstanding = 0

    @initialize(policy=policies)
    def choose_policy(self, policy: BreakerPolicy) -> None:
        self.policy = policy

    @rule(seconds=st.integers(min_value=0, max_value=900))
    def wait(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule()
    def ask(self) -> None:
        before = self.state
        admission = admit(before, self.policy, self.now)
        if before.phase is BreakerPhase.CLOSED:
            assert admission.allowed
            assert not admission.probe
        if before.phase is BreakerPhase.OPEN:
            assert before.opened_at is not None
            assert admission.allowed is (self.now >= before.opened_at + self.policy.cool_down)
        if admission.probe:
            assert admission.state.phase is BreakerPhase.HALF_OPEN
        self.state = admission.state
        if admission.allowed:
            self.outstanding += 1

    @precondition(lambda self: self.outstanding > 0)
    @rule(ok=st.booleans())
    def report(self, ok: bool) -> None:
        self.outstanding -= 1
        before = self.state
        self.state = (on_success if ok else on_failure)(before, self.policy, self.now)
        if before.phase is BreakerPhase.HALF_OPEN:
            assert self.state.phase is (BreakerPhase.CLOSED if ok else BreakerPhase.OPEN)

    @invariant()
    def closed_breakers_hold_fewer_failures_than_the_threshold(self) -> None:
        if self.state.phase is BreakerPhase.CLOSED:
            assert len(self.state.failures) < self.policy.failure_threshold
            assert self.state.opened_at is None

    @invariant()
    def open_breakers_know_when_they_opened(self) -> None:
        if self.state.phase is BreakerPhase.OPEN:
            assert self.state.opened_at is not None
            assert self.state.failures == ()

    @invariant()
    def half_open_breakers_have_a_probe_out(self) -> None:
        if self.state.phase is BreakerPhase.HALF_OPEN:
            assert self.state.probe_started_at is not None


BreakerMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
test_breaker_state_machine = BreakerMachine.TestCase
