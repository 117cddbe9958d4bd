"""Calendar arithmetic of catalog periods: months with month-end handling and ISO-8601 durations."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinyidai.catalog.model import Period, add_months

DATES = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))
MONTHS = st.integers(min_value=0, max_value=1200)


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2023, 1, 31), 1, date(2023, 2, 28)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2023, 3, 31), 3, date(2023, 6, 30)),
        (date(2023, 2, 28), 1, date(2023, 3, 28)),
        (date(2023, 12, 15), 1, date(2024, 1, 15)),
        (date(2023, 5, 1), 36, date(2026, 5, 1)),
        (date(2024, 3, 31), -1, date(2024, 2, 29)),
        (date(2024, 5, 10), 0, date(2024, 5, 10)),
    ],
)
def test_add_months(start: date, months: int, end: date) -> None:
    assert add_months(start, months) == end


def test_add_months_out_of_range() -> None:
    with pytest.raises(OverflowError):
        add_months(date(9999, 12, 1), 1)


@given(DATES, MONTHS)
def test_adding_months_never_shortens(start: date, months: int) -> None:
    assert add_months(start, months) >= start


@given(DATES, MONTHS)
def test_one_more_month_is_never_earlier(start: date, months: int) -> None:
    assert add_months(start, months + 1) > add_months(start, months)


@given(DATES, DATES, MONTHS)
def test_later_start_never_ends_earlier(first: date, second: date, months: int) -> None:
    early, late = sorted((first, second))
    assert add_months(early, months) <= add_months(late, months)


@given(DATES, st.integers(min_value=-1200, max_value=1200))
def test_add_months_lands_in_the_right_month_on_the_corresponding_day(start: date, months: int) -> None:
    end = add_months(start, months)
    assert end.year * 12 + end.month == start.year * 12 + start.month + months
    # The corresponding day, or the month's last day when the month is too short.
    assert end.day == start.day or (end.day < start.day and (end + timedelta(days=1)).day == 1)


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("P3M", Period(months=3)),
        ("P1Y", Period(months=12)),
        ("P1Y6M", Period(months=18)),
        ("P7D", Period(days=7)),
        ("P2W", Period(days=14)),
        ("PT12H", Period(seconds=12 * 3600)),
        ("P1DT30M", Period(days=1, seconds=1800)),
        ("P0M", Period()),
    ],
)
def test_parse_period(text: str, period: Period) -> None:
    assert Period.parse(text) == period


@pytest.mark.parametrize("text", ["", "P", "PT", "3M", "P-1M", "P1.5Y", "P1YT", "p3m", "P3M "])
def test_parse_rejects_non_durations(text: str) -> None:
    with pytest.raises(ValueError, match="ISO-8601"):
        Period.parse(text)


@given(st.builds(Period, st.integers(0, 600), st.integers(0, 400), st.integers(0, 86_400 * 3)))
def test_period_text_round_trips(period: Period) -> None:
    assert Period.parse(str(period)) == period


def test_period_after_counts_months_then_days() -> None:
    assert Period.parse("P1M1D").after(date(2024, 1, 31)) == date(2024, 3, 1)
    assert Period.parse("P5Y").after(date(2020, 2, 29)) == date(2025, 2, 28)


def test_period_refuses_mixing_calendar_and_clock() -> None:
    with pytest.raises(ValueError, match="no fixed length"):
        Period.parse("P1M").as_timedelta()
    with pytest.raises(ValueError, match="time part"):
        Period.parse("PT1H").after(date(2024, 1, 1))
    assert Period.parse("PT12H").as_timedelta() == timedelta(hours=12)


@given(DATES, st.builds(Period, st.integers(0, 600), st.integers(0, 400)))
def test_adding_a_period_never_shortens(start: date, period: Period) -> None:
    assert period.after(start) >= start
