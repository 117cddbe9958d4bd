"""Exact value forms of the generator: 万元 text, ID numbers, calendar arithmetic and publication periods."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinyidai.demodata.formats import iso, month_first_ordinal, month_index, period, resident_id, wan_from_fen
from xinyidai.demodata.model import add_months, add_years, publication_end
from xinyidai.kernel.money import format_wan, parse_wan

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _id_valid(number: str) -> bool:
    """GB 11643-1999 check, written out independently of the generator."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(number[:17], _WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == number[17]


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_wan_text_equals_the_kernel_money_format(fen: int) -> None:
    text = wan_from_fen(fen)
    assert text == format_wan(Decimal(fen) / Decimal(1_000_000))
    assert parse_wan(text) * 1_000_000 == fen


@pytest.mark.parametrize(
    ("fen", "text"),
    [(0, "0"), (1, "0.000001"), (100, "0.0001"), (5_000_00, "0.5"), (1_000_000, "1"), (123_450_000, "123.45")],
)
def test_wan_text_examples(fen: int, text: str) -> None:
    assert wan_from_fen(fen) == text


def test_resident_id_matches_the_standard_example() -> None:
    # GB 11643-1999 appendix example: 11010519491231002X (a woman, sequence 002).
    assert resident_id("110105", date(1949, 12, 31), 2) == "11010519491231002X"


@given(
    st.dates(min_value=date(1930, 1, 1), max_value=date(2010, 12, 31)),
    st.integers(min_value=1, max_value=999),
)
def test_resident_ids_pass_the_check(birth: date, sequence: int) -> None:
    number = resident_id("440305", birth, sequence)
    assert _id_valid(number)
    assert number[6:14] == f"{birth:%Y%m%d}"


def test_resident_id_rejects_a_sequence_out_of_range() -> None:
    with pytest.raises(ValueError, match="sequence"):
        resident_id("440305", date(1980, 1, 1), 1000)


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31)))
def test_month_helpers_agree_with_the_calendar(day: date) -> None:
    month = month_index(day)
    assert period(month) == f"{day:%Y-%m}"
    assert month_first_ordinal(month) == day.replace(day=1).toordinal()
    assert iso(day.toordinal()) == day.isoformat()


def test_add_years_and_months_clamp_to_real_days() -> None:
    leap = date(2024, 2, 29).toordinal()
    assert date.fromordinal(add_years(leap, 1)) == date(2025, 2, 28)
    assert date.fromordinal(add_months(date(2025, 1, 31).toordinal(), 1)) == date(2025, 2, 28)
    assert date.fromordinal(add_months(date(2025, 11, 30).toordinal(), 3)) == date(2026, 2, 28)


@pytest.mark.parametrize(
    ("decided", "severity", "end"),
    [
        (date(2022, 3, 1), 1, date(2023, 3, 1)),  # 2019 rule: general 1 year
        (date(2022, 3, 1), 3, date(2025, 3, 1)),  # 2019 rule: serious 3 years
        (date(2024, 3, 1), 1, date(2027, 3, 1)),  # Order No. 58: at most 3 years
        (date(2026, 5, 1), 1, date(2026, 8, 1)),  # 2026 measures: minor 3 months
        (date(2026, 5, 1), 2, date(2027, 5, 1)),  # general 1 year
        (date(2026, 5, 1), 3, date(2029, 5, 1)),  # serious 3 years
    ],
)
def test_publication_end_follows_the_rule_in_force(decided: date, severity: int, end: date) -> None:
    assert date.fromordinal(publication_end(decided.toordinal(), severity)) == end
