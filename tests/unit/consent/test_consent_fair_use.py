"""Fair-use bounds per purpose and the soundness of requested terms."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinyidai.consent.model import (
    DEFAULT_POLICIES,
    AuthorizationTerms,
    Bound,
    DateRange,
    FairUseExceeded,
    FetchType,
    Frequency,
    FrequencyUnit,
    Purpose,
    Scope,
    check_fair_use,
    validate_policy,
    validate_terms,
)

NOW = datetime(2026, 6, 30, 2, 0, tzinfo=UTC)
POLICY = DEFAULT_POLICIES[Purpose.PRE_LOAN_REVIEW]  # 90 days, 1096-day range, 10 a month, 180 days of data life


def _terms(**changes: object) -> AuthorizationTerms:
    values: dict[str, object] = {
        "purpose": Purpose.PRE_LOAN_REVIEW,
        "scope": Scope(frozenset({"administrative"})),
        "data_range": DateRange(date(2024, 1, 1), date(2026, 6, 30)),
        "fetch_type": FetchType.PERIODIC,
        "frequency": Frequency(2, FrequencyUnit.WEEK),
        "data_life_days": 90,
        "starts_at": None,
        "expires_at": NOW + timedelta(days=60),
    }
    values.update(changes)
    return AuthorizationTerms(**values)  # type: ignore[arg-type]


def test_defaults_cover_every_purpose_and_are_valid() -> None:
    assert set(DEFAULT_POLICIES) == set(Purpose)
    for purpose, policy in DEFAULT_POLICIES.items():
        assert policy.purpose is purpose
        assert validate_policy(policy) == []
    assert [p.label_zh for p in Purpose][:6] == ["贷前审查", "授信审批", "贷后管理", "续贷", "担保", "风险补偿"]


def test_within_every_bound() -> None:
    assert check_fair_use(_terms(), POLICY, now=NOW) == ()


@pytest.mark.parametrize(
    ("changes", "bound"),
    [
        ({"expires_at": NOW + timedelta(days=91)}, Bound.VALIDITY),
        ({"data_range": DateRange(date(2020, 1, 1), date(2026, 6, 30))}, Bound.DATA_RANGE),
        ({"frequency": Frequency(1, FrequencyUnit.DAY)}, Bound.FREQUENCY),  # 365 a year > 120 a year
        ({"frequency": Frequency(11, FrequencyUnit.MONTH)}, Bound.FREQUENCY),
        ({"data_life_days": 181}, Bound.DATA_LIFE),
    ],
)
def test_each_bound_refuses_and_is_named(changes: dict[str, object], bound: Bound) -> None:
    breaches = check_fair_use(_terms(**changes), POLICY, now=NOW)
    assert [b.bound for b in breaches] == [bound]
    error = FairUseExceeded(Purpose.PRE_LOAN_REVIEW, breaches)
    assert error.status == 422
    assert error.code == "fair_use_exceeded"
    assert error.extra["bound"] == bound.value
    assert bound.label_zh in error.detail


def test_boundaries_are_inclusive() -> None:
    exact = _terms(
        expires_at=NOW + timedelta(days=90),
        data_range=DateRange(date(2023, 7, 1), date(2023, 7, 1) + timedelta(days=1095)),
        frequency=Frequency(10, FrequencyUnit.MONTH),
        data_life_days=180,
    )
    assert exact.data_range.days == 1096
    assert check_fair_use(exact, POLICY, now=NOW) == ()


def test_validity_counts_from_a_later_start_not_from_now() -> None:
    later = _terms(starts_at=NOW + timedelta(days=30), expires_at=NOW + timedelta(days=110))
    assert check_fair_use(later, POLICY, now=NOW) == ()
    assert [b.bound for b in check_fair_use(later, POLICY, now=NOW - timedelta(days=31))] == []


def test_one_time_has_no_frequency_to_bound() -> None:
    assert check_fair_use(_terms(fetch_type=FetchType.ONE_TIME, frequency=None), POLICY, now=NOW) == ()


def test_all_breaches_are_listed() -> None:
    wide = _terms(expires_at=NOW + timedelta(days=400), data_life_days=10_000, frequency=Frequency(100, FrequencyUnit.DAY))
    assert {b.bound for b in check_fair_use(wide, POLICY, now=NOW)} == {Bound.VALIDITY, Bound.FREQUENCY, Bound.DATA_LIFE}


@given(
    a=st.integers(1, 500),
    unit_a=st.sampled_from(list(FrequencyUnit)),
    b=st.integers(1, 500),
    unit_b=st.sampled_from(list(FrequencyUnit)),
)
def test_frequency_comparison_is_a_total_order_by_yearly_rate(
    a: int, unit_a: FrequencyUnit, b: int, unit_b: FrequencyUnit
) -> None:
    fa, fb = Frequency(a, unit_a), Frequency(b, unit_b)
    if unit_a is unit_b:
        assert (fa.per_year <= fb.per_year) is (a <= b)
    assert fa.per_year > 0
    assert (fa.per_year <= fb.per_year) or (fb.per_year <= fa.per_year)


def test_unsound_terms_are_all_reported() -> None:
    bad = _terms(
        scope=Scope(),
        data_range=DateRange(date(2026, 1, 2), date(2026, 1, 1)),
        fetch_type=FetchType.PERIODIC,
        frequency=None,
        data_life_days=-1,
        expires_at=NOW,
        starts_at=NOW + timedelta(days=1),
    )
    problems = validate_terms(bad, now=NOW)
    assert len(problems) == 6
    assert validate_terms(_terms(fetch_type=FetchType.ONE_TIME), now=NOW) == ["一次性查询不设查询频次"]
    assert validate_terms(_terms(frequency=Frequency(0, FrequencyUnit.DAY)), now=NOW) == ["查询频次上限至少为 1 次"]
    assert validate_terms(_terms(), now=NOW) == []
