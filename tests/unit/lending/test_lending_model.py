"""Pure lending rules: the Chinese working-day calendar across holidays, the state machine, schedules, renewal."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyidai.lending import model
from xinyidai.lending.model import (
    APPLICATION_TRANSITIONS,
    ApplicationAction,
    ApplicationStatus,
    DeadlineTone,
    InvalidTransition,
    LoanClass,
    LoanRepaymentMethod,
    LoanStatus,
    ReasonRequired,
    Rejection,
    RejectionReason,
    add_months,
    add_working_days,
    deadline_tone,
    decision_deadline,
    is_default,
    is_working_day,
    next_status,
    renewal_refusal,
    repayment_schedule,
    validate_rejection,
    working_days_between,
)

KNOWN = st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 10, 31))


def test_national_day_2025_holidays_and_make_up_days() -> None:
    assert is_working_day(date(2025, 9, 28))  # Sunday, make-up working day (调休)
    assert is_working_day(date(2025, 10, 11))  # Saturday, make-up working day
    for d in range(1, 9):
        assert not is_working_day(date(2025, 10, d))
    assert is_working_day(date(2025, 10, 9))


def test_ten_working_days_across_national_day_2025() -> None:
    # Accepted Friday 2025-09-26: 28 Sep (make-up), 29, 30 Sep, then 9, 10, 11 (make-up Saturday), 13, 14, 15, 16 Oct.
    assert add_working_days(date(2025, 9, 26), 10) == date(2025, 10, 16)
    assert working_days_between(date(2025, 9, 26), date(2025, 10, 16)) == 10
    assert working_days_between(date(2025, 10, 16), date(2025, 9, 26)) == -10


def test_spring_festival_2026() -> None:
    # 2026 春节: 15–23 Feb off; Saturday 14 Feb and Saturday 28 Feb are make-up working days.
    assert is_working_day(date(2026, 2, 14))
    assert not is_working_day(date(2026, 2, 16))
    assert not is_working_day(date(2026, 2, 23))
    assert is_working_day(date(2026, 2, 24))
    assert add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert add_working_days(date(2026, 2, 14), 1) == date(2026, 2, 24)


def test_deadline_across_national_day() -> None:
    d = decision_deadline(date(2025, 9, 26))
    assert d.due_on == date(2025, 10, 16)
    assert not d.provisional
    # Reminder two working days before: the 8th working day after acceptance, 09:00 China time.
    assert d.remind_at == datetime(2025, 10, 14, 1, 0, tzinfo=UTC)
    assert d.escalate_at == datetime(2025, 10, 16, 16, 0, tzinfo=UTC)


def test_beyond_known_years_falls_back_to_weekdays_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    model._warned_years.discard(2099)
    with caplog.at_level(logging.WARNING, logger="xinyidai.lending"):
        assert add_working_days(date(2099, 1, 2), 1) == date(2099, 1, 5)  # Friday → Monday
        assert not is_working_day(date(2099, 1, 3))
    assert decision_deadline(date(2099, 1, 2)).provisional
    assert [r.getMessage() for r in caplog.records if "2099" in r.getMessage()] == [
        "no official holiday arrangement for 2099: counting Monday to Friday as working days"
    ]


@settings(max_examples=60, deadline=None)
@given(KNOWN, st.integers(0, 25), st.integers(0, 25))
def test_adding_is_additive(start: date, n: int, m: int) -> None:
    assert add_working_days(add_working_days(start, n), m) == add_working_days(start, n + m)


@settings(max_examples=60, deadline=None)
@given(KNOWN, st.integers(0, 25))
def test_adding_is_monotonic_and_lands_on_a_working_day(start: date, n: int) -> None:
    end = add_working_days(start, n)
    assert add_working_days(start, n + 1) > end >= start
    assert working_days_between(start, end) == n
    if n:
        assert is_working_day(end)


def test_deadline_tones() -> None:
    due = date(2025, 10, 16)
    assert deadline_tone(due, date(2025, 9, 26)) is DeadlineTone.GREEN
    assert deadline_tone(due, date(2025, 10, 13)) is DeadlineTone.AMBER  # 14, 15, 16 left
    assert deadline_tone(due, date(2025, 10, 16)) is DeadlineTone.AMBER
    assert deadline_tone(due, date(2025, 10, 17)) is DeadlineTone.RED


@given(st.sampled_from(list(ApplicationStatus)), st.lists(st.sampled_from(list(ApplicationAction)), max_size=6))
def test_state_machine(start: ApplicationStatus, actions: list[ApplicationAction]) -> None:
    status = start
    for action in actions:
        if (status, action) in APPLICATION_TRANSITIONS:
            new = next_status(status, action)
            assert not status.final
            if action is ApplicationAction.WITHDRAW:
                assert new is ApplicationStatus.WITHDRAWN
            status = new
        else:
            with pytest.raises(InvalidTransition):
                next_status(status, action)
    if status.final:
        for action in ApplicationAction:
            with pytest.raises(InvalidTransition):
                next_status(status, action)


def test_rejection_needs_a_coded_reason_and_text() -> None:
    with pytest.raises(ReasonRequired):
        validate_rejection(Rejection((), "资料不全"))
    with pytest.raises(ReasonRequired):
        validate_rejection(Rejection((RejectionReason.INCOMPLETE,), " "))
    validate_rejection(Rejection((RejectionReason.INCOMPLETE,), "缺少近两年财务报表"))
    assert RejectionReason.ELIGIBILITY.label_zh == "不符合准入条件"


def test_equal_instalment_known_values() -> None:
    s = repayment_schedule(
        amount_wan=Decimal(100),
        annual_rate_pct=Decimal("3.6"),
        start_on=date(2026, 1, 31),
        term_months=12,
        method=LoanRepaymentMethod.EQUAL_INSTALMENT,
    )
    assert len(s) == 12
    assert s[0].due_on == date(2026, 2, 28)
    assert s[0].interest == Decimal("0.300000")
    assert s[0].total == Decimal("8.496726")  # 100 万 at 0.3 %/month: 84,967.26 yuan
    assert sum(i.principal for i in s) == Decimal(100)


def test_bullet_and_interest_first() -> None:
    bullet = repayment_schedule(
        amount_wan=Decimal(50),
        annual_rate_pct=Decimal(4),
        start_on=date(2026, 1, 1),
        term_months=6,
        method=LoanRepaymentMethod.BULLET,
    )
    assert bullet[0].principal == Decimal(50)
    assert bullet[0].interest == Decimal(1)
    assert bullet[0].due_on == date(2026, 7, 1)
    first = repayment_schedule(
        amount_wan=Decimal(50),
        annual_rate_pct=Decimal(4),
        start_on=date(2026, 1, 1),
        term_months=3,
        method=LoanRepaymentMethod.INTEREST_FIRST,
    )
    assert [i.principal for i in first] == [0, 0, 50]


@settings(max_examples=150, deadline=None)
@given(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal(100000), places=6),
    st.decimals(min_value=Decimal(0), max_value=Decimal("24"), places=4),
    st.integers(1, 120),
    st.sampled_from(list(LoanRepaymentMethod)),
)
def test_principal_parts_sum_exactly(amount: Decimal, rate: Decimal, months: int, method: LoanRepaymentMethod) -> None:
    s = repayment_schedule(amount_wan=amount, annual_rate_pct=rate, start_on=date(2026, 3, 31), term_months=months, method=method)
    assert sum(i.principal for i in s) == amount
    assert all(i.principal >= 0 and i.interest >= 0 for i in s)
    assert all(i.principal == i.principal.quantize(Decimal("0.000001")) for i in s)
    assert [i.due_on for i in s] == sorted(i.due_on for i in s)


def test_add_months_clamps() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)


def test_default_and_renewal_rules() -> None:
    assert not is_default(LoanClass.SPECIAL_MENTION, 89)
    assert is_default(LoanClass.NORMAL, 90)
    assert is_default(LoanClass.SUBSTANDARD, 0)
    assert renewal_refusal(LoanStatus.ACTIVE, LoanClass.NORMAL, 0) is None
    assert renewal_refusal(LoanStatus.ACTIVE, LoanClass.SPECIAL_MENTION, 0)
    assert renewal_refusal(LoanStatus.ACTIVE, LoanClass.NORMAL, 1)
    assert renewal_refusal(LoanStatus.REPAID, LoanClass.NORMAL, 0)


def test_timedelta_sanity() -> None:
    assert add_working_days(date(2025, 10, 1), 0) == date(2025, 10, 1)
    assert add_working_days(date(2025, 10, 1), 1) - date(2025, 10, 1) == timedelta(days=8)
