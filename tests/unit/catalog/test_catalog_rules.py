"""Publication windows of penalties under the three effective-dated regimes, and retention of negative information."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinyidai.catalog.loader import load_catalog
from xinyidai.catalog.model import (
    Item,
    NoRuleInForce,
    PublicationRule,
    Severity,
    Window,
    longest_window,
    publication_window,
    retention_end,
)

PENALTY = load_catalog().item("admin_penalty")
SECTORS = sorted(sector.code for sector in load_catalog().sectors)
SPECIAL = ("special_equipment", "work_safety", "fire_safety")


def window(day: date, severity: str, *sectors: str) -> Window:
    return publication_window(PENALTY, decision_date=day, severity=severity, sectors=sectors)


@pytest.mark.parametrize(
    ("decided", "severity", "min_end", "max_end", "repairable", "rule"),
    [
        # 发改办财金〔2019〕527号, last day.
        (date(2023, 4, 30), "general", date(2023, 7, 30), date(2024, 4, 30), True, "ndrc_2019_527"),
        (date(2023, 4, 30), "serious", date(2023, 10, 30), date(2026, 4, 30), True, "ndrc_2019_527"),
        (date(2023, 4, 30), "serious_specific", date(2026, 4, 30), date(2026, 4, 30), False, "ndrc_2019_527"),
        # NDRC Order No. 58, first day.
        (date(2023, 5, 1), "general", date(2023, 8, 1), date(2026, 5, 1), True, "ndrc_order_58"),
        (date(2023, 5, 1), "serious", date(2023, 8, 1), date(2026, 5, 1), True, "ndrc_order_58"),
        # Order No. 58, last day: 3 months from 31 March ends on 30 June.
        (date(2026, 3, 31), "general", date(2026, 6, 30), date(2029, 3, 31), True, "ndrc_order_58"),
        # 信用修复管理办法, first day.
        (date(2026, 4, 1), "general", date(2026, 7, 1), date(2027, 4, 1), True, "gov_2025_22"),
        (date(2026, 4, 1), "serious", date(2027, 4, 1), date(2029, 4, 1), True, "gov_2025_22"),
        (date(2026, 4, 1), "minor", date(2026, 4, 1), date(2026, 7, 1), True, "gov_2025_22"),
    ],
)
def test_window_in_each_regime(decided: date, severity: str, min_end: date, max_end: date, repairable: bool, rule: str) -> None:
    result = window(decided, severity)
    assert (result.min_end, result.max_end, result.repairable, result.rule) == (min_end, max_end, repairable, rule)


def test_minor_penalties_are_normally_unpublished_from_2026() -> None:
    assert not window(date(2026, 4, 1), "minor").normally_published
    assert window(date(2026, 3, 31), "minor").normally_published
    assert window(date(2026, 4, 1), "general").normally_published


@pytest.mark.parametrize("sector", SPECIAL)
def test_special_sectors_have_a_one_year_minimum_under_order_58(sector: str) -> None:
    result = window(date(2023, 5, 1), "general", sector)
    assert result.min_end == date(2024, 5, 1)
    assert result.max_end == date(2026, 5, 1)
    assert window(date(2023, 5, 1), "general", "food_safety").min_end == date(2023, 8, 1)


def test_special_sectors_do_not_change_the_other_regimes() -> None:
    assert window(date(2023, 4, 30), "general", "fire_safety").min_end == date(2023, 7, 30)
    assert window(date(2026, 4, 1), "general", "fire_safety").min_end == date(2026, 7, 1)


def test_severity_accepts_the_enum_or_its_value() -> None:
    assert window(date(2024, 1, 1), "serious") == publication_window(
        PENALTY, decision_date=date(2024, 1, 1), severity=Severity.SERIOUS
    )


def test_unknown_sector_or_severity_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown sector"):
        window(date(2024, 1, 1), "general", "fire-safety")
    with pytest.raises(ValueError, match="severe"):
        window(date(2024, 1, 1), "severe")


def test_no_rule_before_the_first_regime_or_for_items_without_one() -> None:
    with pytest.raises(NoRuleInForce):
        window(date(2018, 12, 31), "general")
    with pytest.raises(NoRuleInForce):
        publication_window(load_catalog().item("admin_license"), decision_date=date(2024, 1, 1), severity="general")


def test_several_penalty_types_in_one_decision_take_the_longest() -> None:
    decided = date(2026, 4, 1)
    combined = longest_window([window(decided, "minor"), window(decided, "serious")])
    assert combined == window(decided, "serious")
    with pytest.raises(ValueError, match="no windows"):
        longest_window([])


def test_the_2026_regime_can_shorten_general_penalties() -> None:
    # The law chose this: a general penalty decided a day later may be published for less.
    assert window(date(2026, 4, 1), "general").max_end < window(date(2026, 3, 31), "general").max_end


def _rule_range(rule: PublicationRule) -> st.SearchStrategy[date]:
    return st.dates(min_value=rule.effective_from, max_value=rule.effective_to or date(2100, 12, 31))


@pytest.mark.parametrize("rule", PENALTY.publication_rules, ids=lambda r: r.code)
def test_later_decision_never_ends_earlier_within_a_regime(rule: PublicationRule) -> None:
    @given(
        _rule_range(rule),
        _rule_range(rule),
        st.sampled_from(list(Severity)),
        st.frozensets(st.sampled_from(SECTORS), max_size=3),
    )
    def check(first: date, second: date, severity: Severity, sectors: frozenset[str]) -> None:
        early, late = sorted((first, second))
        a = window(early, severity, *sectors)
        b = window(late, severity, *sectors)
        assert a.min_end <= b.min_end
        assert a.max_end <= b.max_end
        assert early <= a.min_end <= a.max_end

    check()


@given(
    st.dates(min_value=date(2019, 1, 1), max_value=date(2100, 12, 31)),
    st.sampled_from(list(Severity)),
    st.frozensets(st.sampled_from(SECTORS), max_size=3),
)
def test_naming_a_sector_never_shortens_the_window(decided: date, severity: Severity, sectors: frozenset[str]) -> None:
    plain = window(decided, severity)
    special = window(decided, severity, *sectors)
    assert special.min_end >= plain.min_end
    assert special.max_end >= plain.max_end


def test_retention_of_negative_information_is_five_years() -> None:
    assert retention_end(PENALTY, event_end=date(2024, 2, 29)) == date(2029, 2, 28)
    assert retention_end(PENALTY, event_end=date(2023, 6, 30)) == date(2028, 6, 30)


def test_retention_applies_to_every_negative_item_and_no_other() -> None:
    for item in load_catalog().items:
        assert bool(item.retention_rules) == item.negative, item.code
    positive: Item = load_catalog().item("honour")
    with pytest.raises(NoRuleInForce):
        retention_end(positive, event_end=date(2024, 1, 1))
    with pytest.raises(NoRuleInForce):
        retention_end(PENALTY, event_end=date(2012, 1, 1))


@given(
    st.dates(min_value=date(2013, 3, 15), max_value=date(2100, 12, 31)),
    st.dates(min_value=date(2013, 3, 15), max_value=date(2100, 12, 31)),
)
def test_retention_never_shortens_and_is_monotonic(first: date, second: date) -> None:
    early, late = sorted((first, second))
    assert early < retention_end(PENALTY, event_end=early) <= retention_end(PENALTY, event_end=late)
