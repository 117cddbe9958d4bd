"""Unit tests of the verification rules: the predicate grammar, the evaluator (with Hypothesis), the cap."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinyidai.verification.model import (
    DEFAULT_CAP,
    Aggregate,
    Answer,
    CapPolicy,
    FieldRef,
    Observation,
    PredicateInvalid,
    PredicateKind,
    Undetermined,
    cap_breach,
    evaluate,
    parse_predicate,
    question_key,
    question_sha256,
    remaining,
    reusable,
)

AT = datetime(2026, 6, 30, 2, 0, tzinfo=UTC)
SUBJECT = "91350100M000100Y43"
FIELDS = [
    FieldRef("uscc", "uscc"),
    FieldRef("period", "period"),
    FieldRef("tax_type", "string"),
    FieldRef("amount_paid", "decimal_wan"),
    FieldRef("declared_on", "date"),
    FieldRef("overdue_days", "integer"),
    FieldRef("grade", "code", ("A", "B", "M", "C", "D")),
    FieldRef("on_time", "boolean"),
    FieldRef("rep_id", "id_number", personal=True),
]
WINDOW = {"start": "2025-01-01", "end": "2025-12-31"}


def obs(amount: Decimal | None, day: date = date(2025, 3, 1), *, disputed: bool = False, **values: Any) -> Observation:
    """One observation with an amount (and other values)."""
    return Observation(
        event_date=day,
        received_at=AT - timedelta(days=1),
        values={"amount_paid": amount, **values},
        disputed=disputed,
        source="src-1",
    )


def p(**raw: Any) -> Any:
    """Parse against FIELDS."""
    return parse_predicate(raw, FIELDS)


# --- grammar --------------------------------------------------------------------------------------


def test_thresholds_are_typed_by_the_catalog_field() -> None:
    assert p(kind="at_least", field="amount_paid", value="12.5").value == Decimal("12.5")
    assert p(kind="at_most", field="overdue_days", value=3).value == 3
    assert p(kind="within", field="declared_on", low="2025-01-01", high="2025-02-01").high == date(2025, 2, 1)
    assert p(kind="equals", field="grade", value="A").value == "A"
    assert p(kind="at_least", aggregate="count", window=WINDOW, value=2).aggregate is Aggregate.COUNT
    assert p(kind="exists").kind is PredicateKind.EXISTS


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"kind": "at_least", "field": "nope", "value": 1}, "没有字段"),
        ({"kind": "equals", "field": "rep_id", "value": "x"}, "个人信息"),
        ({"kind": "at_least", "field": "grade", "value": "A"}, "只能用 equals"),
        ({"kind": "equals", "field": "grade", "value": "Z"}, "代码表"),
        ({"kind": "at_least", "field": "amount_paid", "value": "abc"}, "decimal_wan"),
        ({"kind": "at_least", "field": "amount_paid", "value": True}, "decimal_wan"),
        ({"kind": "at_least", "field": "amount_paid", "value": "NaN"}, "decimal_wan"),
        ({"kind": "at_least", "aggregate": "sum", "field": "amount_paid", "value": 1}, "window"),
        ({"kind": "at_least", "aggregate": "sum", "field": "declared_on", "window": WINDOW, "value": "2025-01-01"}, "sum"),
        ({"kind": "at_least", "aggregate": "count", "field": "amount_paid", "window": WINDOW, "value": 1}, "count"),
        ({"kind": "at_least", "aggregate": "count", "window": WINDOW, "value": -1}, "负数"),
        ({"kind": "within", "field": "amount_paid", "low": 5, "high": 1}, "low 大于 high"),
        ({"kind": "within", "field": "amount_paid", "value": 5}, "low、high"),
        ({"kind": "exists", "value": 1}, "exists"),
        ({"kind": "at_least", "field": "amount_paid", "value": 1, "extra": 1}, "extra"),
        ({"kind": "at_least", "field": "period", "value": "2025-13"}, "period"),
        ({"kind": "maybe"}, "kind"),
    ],
)
def test_invalid_predicates_are_refused_with_the_reason(raw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(PredicateInvalid, match=fragment):
        parse_predicate(raw, FIELDS)


def test_the_same_question_written_differently_has_one_key_and_salted_hashes_differ() -> None:
    a = p(kind="at_least", field="amount_paid", value="12.50")
    b = p(kind="at_least", field="amount_paid", value=12.5)
    c = p(kind="at_least", field="amount_paid", value="12.51")
    assert question_key(subject_uscc=SUBJECT, item="tax_payment", predicate=a) == question_key(
        subject_uscc=SUBJECT.lower(), item="tax_payment", predicate=b
    )
    assert question_key(subject_uscc=SUBJECT, item="tax_payment", predicate=a) != question_key(
        subject_uscc=SUBJECT, item="tax_payment", predicate=c
    )
    h1 = question_sha256(subject_uscc=SUBJECT, item="tax_payment", predicate=a, nonce="n1")
    h2 = question_sha256(subject_uscc=SUBJECT, item="tax_payment", predicate=a, nonce="n2")
    assert h1 != h2


# --- evaluation -----------------------------------------------------------------------------------


def test_latest_record_decides_and_a_disputed_latest_is_undetermined() -> None:
    older, newer = obs(Decimal(5), date(2025, 1, 1)), obs(Decimal(20), date(2025, 6, 1))
    pred = p(kind="at_least", field="amount_paid", value=10)
    assert evaluate(pred, [older, newer], at=AT).answer is Answer.TRUE
    disputed = dataclasses.replace(newer, disputed=True)
    result = evaluate(pred, [older, disputed], at=AT)
    assert (result.answer, result.reason) == (Answer.UNDETERMINED, Undetermined.DISPUTED)


@pytest.mark.parametrize(
    ("observations", "kwargs", "reason"),
    [
        ([], {}, Undetermined.NO_DATA),
        ([obs(None)], {}, Undetermined.MISSING_VALUE),
        ([obs(Decimal(1))], {"source_available": False}, Undetermined.SOURCE_UNAVAILABLE),
        ([obs(Decimal(1))], {"max_age": timedelta(hours=1)}, Undetermined.STALE),
    ],
)
def test_undetermined_reasons(observations: list[Observation], kwargs: dict[str, Any], reason: Undetermined) -> None:
    result = evaluate(p(kind="at_least", field="amount_paid", value=1), observations, at=AT, **kwargs)
    assert (result.answer, result.reason, result.sources) == (Answer.UNDETERMINED, reason, ())


def test_aggregates_over_a_window() -> None:
    rows = [obs(Decimal("1.5"), date(2025, 2, 1)), obs(Decimal("2.5"), date(2025, 5, 1)), obs(Decimal(100), date(2024, 5, 1))]
    assert (
        evaluate(p(kind="equals", aggregate="sum", field="amount_paid", window=WINDOW, value="4"), rows, at=AT).answer
        is Answer.TRUE
    )
    assert (
        evaluate(p(kind="at_most", aggregate="max", field="amount_paid", window=WINDOW, value="2.5"), rows, at=AT).answer
        is Answer.TRUE
    )
    assert evaluate(p(kind="equals", aggregate="count", window=WINDOW, value=2), rows, at=AT).answer is Answer.TRUE
    none = {"start": "2023-01-01", "end": "2023-12-31"}
    # No penalties in a year is a definite answer; a sum over nothing is not.
    assert evaluate(p(kind="at_most", aggregate="count", window=none, value=0), rows, at=AT).answer is Answer.TRUE
    assert (
        evaluate(p(kind="at_least", aggregate="sum", field="amount_paid", window=none, value=0), rows, at=AT).reason
        is Undetermined.NO_DATA
    )
    disputed = [*rows, obs(Decimal(1), date(2025, 7, 1), disputed=True)]
    assert (
        evaluate(p(kind="at_least", aggregate="count", window=WINDOW, value=0), disputed, at=AT).reason is Undetermined.DISPUTED
    )


def test_exists() -> None:
    assert evaluate(p(kind="exists"), [obs(Decimal(1))], at=AT).answer is Answer.TRUE
    assert evaluate(p(kind="exists"), [], at=AT).answer is Answer.FALSE
    assert evaluate(p(kind="exists", field="overdue_days"), [obs(Decimal(1))], at=AT).answer is Answer.FALSE
    assert evaluate(p(kind="exists"), [obs(Decimal(1), disputed=True)], at=AT).reason is Undetermined.DISPUTED


amounts = st.decimals(min_value=Decimal("-1000000"), max_value=Decimal("1000000"), places=6, allow_nan=False)
epsilons = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("1000"), places=6)


@given(hidden=amounts, x=amounts, eps=epsilons)
def test_at_least_x_and_at_most_below_x_are_never_both_true(hidden: Decimal, x: Decimal, eps: Decimal) -> None:
    rows = [obs(hidden)]
    high = evaluate(p(kind="at_least", field="amount_paid", value=str(x)), rows, at=AT)
    low = evaluate(p(kind="at_most", field="amount_paid", value=str(x - eps)), rows, at=AT)
    assert not (high.answer is Answer.TRUE and low.answer is Answer.TRUE)
    assert Answer.UNDETERMINED not in {high.answer, low.answer}


@given(hidden=amounts, a=amounts, b=amounts)
def test_within_is_at_least_and_at_most(hidden: Decimal, a: Decimal, b: Decimal) -> None:
    low, high = min(a, b), max(a, b)
    rows = [obs(hidden)]

    def truth(**raw: Any) -> bool:
        return evaluate(p(field="amount_paid", **raw), rows, at=AT).answer is Answer.TRUE

    assert truth(kind="within", low=str(low), high=str(high)) == (
        truth(kind="at_least", value=str(low)) and truth(kind="at_most", value=str(high))
    )


@given(hidden=amounts, x=amounts, kind=st.sampled_from(["equals", "at_least", "at_most"]), disputed=st.booleans())
def test_an_answer_never_carries_the_value(hidden: Decimal, x: Decimal, kind: str, disputed: bool) -> None:
    result = evaluate(p(kind=kind, field="amount_paid", value=str(x)), [obs(hidden, disputed=disputed)], at=AT)
    assert [f.name for f in dataclasses.fields(result)] == ["answer", "reason", "as_of", "sources"]
    assert result.answer in set(Answer)
    assert result.reason is None or result.reason in set(Undetermined)
    assert isinstance(result.as_of, datetime)
    assert result.sources in {(), ("src-1",)}


# --- the cap --------------------------------------------------------------------------------------


def test_the_cap_per_field_and_per_authorization() -> None:
    policy = CapPolicy(per_field=3, per_authorization=5)
    assert cap_breach(policy, field_used=2, total_used=4) is None
    assert "同一字段" in str(cap_breach(policy, field_used=3, total_used=3))
    assert "5 次" in str(cap_breach(policy, field_used=0, total_used=5))
    assert remaining(policy, field_used=1, total_used=4) == remaining(policy, field_used=1, total_used=4)
    assert (remaining(policy, field_used=1, total_used=4).field, remaining(policy, field_used=9, total_used=9).total) == (2, 0)
    assert (DEFAULT_CAP.per_field, DEFAULT_CAP.per_authorization) == (3, 20)


def test_an_identical_question_is_reusable_within_the_data_life_only() -> None:
    assert reusable(asked_at=AT, data_life_days=30, at=AT + timedelta(days=29))
    assert not reusable(asked_at=AT, data_life_days=30, at=AT + timedelta(days=30))
    assert not reusable(asked_at=AT, data_life_days=0, at=AT)
