"""Eligibility rules, the estimate and ranking: table tests, and Hypothesis for the invariants (a rule never makes
more products eligible; the batch path agrees with the single path)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xinyidai.product.batch import best_matches, match_all
from xinyidai.product.model import (
    EligibilityRules,
    Matcher,
    Outcome,
    Product,
    ProductStateConflict,
    ProductStatus,
    ProductTerms,
    ProductType,
    RepaymentMethod,
    SubjectFacts,
    Transition,
    Wish,
    combine,
    estimate,
    evaluate_rules,
    match_one,
    next_status,
    validate_terms,
)

AS_OF = date(2026, 6, 30)
FACTS = SubjectFacts(
    uscc="91350100M000100Y43",
    region_code="350102",
    industry_code="6510",
    industry_section="I",
    size_class="small",
    established_on=date(2020, 7, 1),
    registered_capital=Decimal("500"),
    evaluation_grade="B",
    evaluation_score=Decimal("77.5"),
    serious_dishonesty=False,
    tax_grade="M",
)
TERMS = ProductTerms(
    name="科技信用贷",
    type=ProductType.PURE_CREDIT,
    credit_loan=True,
    amount_min=Decimal(10),
    amount_max=Decimal(300),
    term_min=6,
    term_max=36,
    rate_min=Decimal("3.45"),
    rate_max=Decimal("6"),
    repayment_methods=(RepaymentMethod.INTEREST_FIRST,),
)


def _one(rules: EligibilityRules, facts: SubjectFacts = FACTS) -> tuple[Outcome, str]:
    results = evaluate_rules(rules, facts, as_of=AS_OF)
    assert len(results) == 1
    return results[0].outcome, results[0].reason


@pytest.mark.parametrize(
    ("rules", "facts_change", "expected", "reason_part"),
    [
        (EligibilityRules(regions=("35",)), {}, Outcome.PASS, "在产品服务区域"),
        (EligibilityRules(regions=("3502", "44")), {}, Outcome.FAIL, "不在产品服务区域"),
        (EligibilityRules(regions=("35",)), {"region_code": None}, Outcome.UNKNOWN, "无法判断"),
        (EligibilityRules(industries=("I",)), {}, Outcome.PASS, "属于"),
        (EligibilityRules(industries=("65",)), {}, Outcome.PASS, "属于"),
        (EligibilityRules(industries=("C", "39")), {}, Outcome.FAIL, "不属于"),
        (EligibilityRules(industries=("C",)), {"industry_code": None}, Outcome.UNKNOWN, "所属行业"),
        (EligibilityRules(size_classes=("micro", "small")), {}, Outcome.PASS, "小型"),
        (EligibilityRules(size_classes=("micro",)), {}, Outcome.FAIL, "微型"),
        (EligibilityRules(size_classes=("micro",)), {"size_class": "unknown"}, Outcome.UNKNOWN, "企业规模"),
        (EligibilityRules(min_years=5), {}, Outcome.PASS, "成立满 5 年"),  # 2020-07-01 → 2026-06-30: 5 full years
        (EligibilityRules(min_years=5), {"established_on": date(2021, 7, 1)}, Outcome.FAIL, "成立满 4 年"),
        (EligibilityRules(min_years=6), {}, Outcome.FAIL, "至少 6 年"),
        (EligibilityRules(min_years=1), {"established_on": None}, Outcome.UNKNOWN, "成立日期"),
        (EligibilityRules(min_grade="B"), {}, Outcome.PASS, "等级为 B"),
        (EligibilityRules(min_grade="A"), {}, Outcome.FAIL, "A 级及以上"),
        (EligibilityRules(min_grade="C"), {"evaluation_grade": None}, Outcome.UNKNOWN, "信用评价等级"),
        (EligibilityRules(exclude_serious_dishonesty=True), {}, Outcome.PASS, "未列入"),
        (EligibilityRules(exclude_serious_dishonesty=True), {"serious_dishonesty": True}, Outcome.FAIL, "列入严重失信"),
        (EligibilityRules(exclude_serious_dishonesty=True), {"serious_dishonesty": None}, Outcome.UNKNOWN, "无法判断"),
        (EligibilityRules(min_tax_grade="M"), {}, Outcome.PASS, "纳税信用等级为 M"),
        (EligibilityRules(min_tax_grade="B"), {}, Outcome.FAIL, "B 级及以上"),
        (EligibilityRules(min_tax_grade="C"), {"tax_grade": None}, Outcome.UNKNOWN, "纳税信用等级"),
        (EligibilityRules(max_registered_capital=Decimal(500)), {}, Outcome.PASS, "不超过 500"),
        (EligibilityRules(max_registered_capital=Decimal("499.99")), {}, Outcome.FAIL, "注册资本 500"),
        (EligibilityRules(max_registered_capital=Decimal(1)), {"registered_capital": None}, Outcome.UNKNOWN, "注册资本"),
    ],
)
def test_each_rule(rules: EligibilityRules, facts_change: dict[str, object], expected: Outcome, reason_part: str) -> None:
    outcome, reason = _one(rules, replace(FACTS, **facts_change))  # type: ignore[arg-type]
    assert outcome is expected
    assert reason_part in reason


def test_combination_unknown_never_passes() -> None:
    rules = EligibilityRules(regions=("35",), min_grade="C")
    results = evaluate_rules(rules, replace(FACTS, evaluation_grade=None), as_of=AS_OF)
    assert combine(results) is Outcome.UNKNOWN
    assert (
        combine(
            evaluate_rules(EligibilityRules(regions=("44",), min_grade="C"), replace(FACTS, evaluation_grade=None), as_of=AS_OF)
        )
        is Outcome.FAIL
    )
    assert combine([]) is Outcome.PASS


def test_estimate_formula() -> None:
    # B: 70 %; score 77.5 → 80 + 77 // 5 = 95 %; 300 × 0.70 × 0.95 = 199.5 → 199 万元
    got = estimate(TERMS, FACTS, Outcome.PASS)
    assert got.amount == Decimal(199)
    assert estimate(TERMS, replace(FACTS, evaluation_score=None), Outcome.PASS).amount == Decimal(210)
    assert estimate(TERMS, replace(FACTS, evaluation_grade=None), Outcome.PASS).amount is None
    assert estimate(TERMS, FACTS, Outcome.UNKNOWN).amount is None
    assert estimate(TERMS, replace(FACTS, evaluation_grade="D"), Outcome.PASS).amount == Decimal(0)


def test_ranking_prefers_eligible_then_fit() -> None:
    def product(pid: str, **kw: object) -> Product:
        return Product(pid, "i", "银行", ProductStatus.PUBLISHED, replace(TERMS, name=pid, **kw))  # type: ignore[arg-type]

    products = [
        product("a-out-of-region", rules=EligibilityRules(regions=("44",))),
        product("b-mortgage", type=ProductType.MORTGAGE, credit_loan=False, rate_min=Decimal("3.0")),
        product("c-credit"),
        product("d-unknown-tax", rules=EligibilityRules(min_tax_grade="B"), amount_max=Decimal(1000)),
    ]
    ranked = match_one(replace(FACTS, tax_grade=None), products, as_of=AS_OF, wish=Wish(Decimal(100), 12))
    assert [m.product.id for m in ranked] == ["c-credit", "b-mortgage", "d-unknown-tax", "a-out-of-region"]
    assert ranked[-1].outcome is Outcome.FAIL
    assert ranked[2].outcome is Outcome.UNKNOWN


def test_life_cycle() -> None:
    assert next_status(ProductStatus.DRAFT, Transition.PUBLISH) is ProductStatus.PUBLISHED
    assert next_status(ProductStatus.PUBLISHED, Transition.WITHDRAW) is ProductStatus.WITHDRAWN
    for status, transition in [
        (ProductStatus.DRAFT, Transition.WITHDRAW),
        (ProductStatus.PUBLISHED, Transition.PUBLISH),
        (ProductStatus.WITHDRAWN, Transition.PUBLISH),
        (ProductStatus.WITHDRAWN, Transition.WITHDRAW),
    ]:
        with pytest.raises(ProductStateConflict):
            next_status(status, transition)


def test_terms_validation() -> None:
    assert validate_terms(TERMS) == []
    bad = replace(TERMS, amount_min=Decimal(500), credit_loan=False, rules=EligibilityRules(min_grade="E", regions=("x",)))
    errors = validate_terms(bad)
    assert any(e.startswith("amount") for e in errors)
    assert any(e.startswith("credit_loan") for e in errors)
    assert any(e.startswith("min_grade") for e in errors)
    assert any(e.startswith("regions") for e in errors)


# --- Hypothesis ---------------------------------------------------------------------------------------

_maybe = st.none
facts_st = st.builds(
    SubjectFacts,
    uscc=st.text("0123456789", min_size=18, max_size=18),
    region_code=st.one_of(_maybe(), st.sampled_from(["350102", "350203", "440305", "110101", "350100"])),
    industry_code=st.one_of(_maybe(), st.sampled_from(["6510", "3911", "5211", "0111", "65"])),
    industry_section=st.one_of(_maybe(), st.sampled_from(["I", "C", "F", "A"])),
    size_class=st.one_of(_maybe(), st.sampled_from(["micro", "small", "medium", "large"])),
    established_on=st.one_of(_maybe(), st.dates(date(1990, 1, 1), date(2026, 6, 30))),
    registered_capital=st.one_of(_maybe(), st.decimals(0, 100000, places=6, allow_nan=False, allow_infinity=False)),
    evaluation_grade=st.one_of(_maybe(), st.sampled_from(["A", "B", "C", "D"])),
    evaluation_score=st.one_of(_maybe(), st.decimals(0, 100, places=2, allow_nan=False, allow_infinity=False)),
    serious_dishonesty=st.one_of(_maybe(), st.booleans()),
    tax_grade=st.one_of(_maybe(), st.sampled_from(["A", "B", "M", "C", "D"])),
)
rules_st = st.builds(
    EligibilityRules,
    regions=st.lists(st.sampled_from(["35", "3501", "350102", "44", "11"]), max_size=2).map(tuple),
    industries=st.lists(st.sampled_from(["I", "C", "65", "39", "F"]), max_size=2).map(tuple),
    size_classes=st.lists(st.sampled_from(["micro", "small", "medium", "large"]), max_size=2).map(tuple),
    min_years=st.one_of(_maybe(), st.integers(0, 20)),
    min_grade=st.one_of(_maybe(), st.sampled_from(["A", "B", "C", "D"])),
    exclude_serious_dishonesty=st.booleans(),
    min_tax_grade=st.one_of(_maybe(), st.sampled_from(["A", "B", "M", "C", "D"])),
    max_registered_capital=st.one_of(_maybe(), st.decimals(1, 100000, places=6, allow_nan=False, allow_infinity=False)),
)
terms_st = st.builds(
    lambda lo, span, tlo, tspan, rate, credit, rules: replace(
        TERMS,
        amount_min=lo,
        amount_max=lo + span,
        term_min=tlo,
        term_max=tlo + tspan,
        rate_min=rate,
        credit_loan=credit,
        type=ProductType.PURE_CREDIT if credit else ProductType.MORTGAGE,
        rules=rules,
    ),
    st.decimals(1, 500, places=2, allow_nan=False, allow_infinity=False),
    st.decimals(0, 5000, places=2, allow_nan=False, allow_infinity=False),
    st.integers(1, 24),
    st.integers(0, 60),
    st.decimals(0, 24, places=2, allow_nan=False, allow_infinity=False),
    st.booleans(),
    rules_st,
)


def _stricter(a: EligibilityRules, b: EligibilityRules) -> EligibilityRules:
    """a with b's rules added where a has none, and every threshold of a tightened by b's."""
    return EligibilityRules(
        regions=a.regions or b.regions,
        industries=a.industries or b.industries,
        size_classes=a.size_classes or b.size_classes,
        min_years=a.min_years if b.min_years is None else max(a.min_years or 0, b.min_years),
        min_grade=min(filter(None, (a.min_grade, b.min_grade)), default=None),  # "A" < "B": min is the stricter
        exclude_serious_dishonesty=a.exclude_serious_dishonesty or b.exclude_serious_dishonesty,
        min_tax_grade=a.min_tax_grade or b.min_tax_grade,
        max_registered_capital=min(filter(None, (a.max_registered_capital, b.max_registered_capital)), default=None),
    )


@given(facts=facts_st, base=rules_st, extra=rules_st)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_adding_a_rule_never_makes_more_eligible(facts: SubjectFacts, base: EligibilityRules, extra: EligibilityRules) -> None:
    # Adding rules = adding entries to the list of checks: each added check can only lower the worst outcome.
    before = combine(evaluate_rules(base, facts, as_of=AS_OF))
    added = evaluate_rules(base, facts, as_of=AS_OF) + evaluate_rules(extra, facts, as_of=AS_OF)
    assert combine(added).rank <= before.rank
    assert combine(evaluate_rules(_stricter(base, extra), facts, as_of=AS_OF)).rank <= before.rank


@given(
    subjects=st.lists(facts_st, min_size=1, max_size=8),
    terms=st.lists(terms_st, min_size=1, max_size=6),
    wishes=st.lists(
        st.tuples(st.one_of(st.none(), st.decimals(1, 3000, places=2)), st.one_of(st.none(), st.integers(1, 90))),
        min_size=8,
        max_size=8,
    ),
    with_wish=st.booleans(),
    chunk=st.integers(1, 9),
)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_batch_agrees_with_single_path(
    subjects: list[SubjectFacts],
    terms: list[ProductTerms],
    wishes: list[tuple[Decimal | None, int | None]],
    with_wish: bool,
    chunk: int,
) -> None:
    # Names repeat (i % 3) so that the name-then-id tie-break and equal scores are exercised; chunks of 1-9 rows
    # exercise the chunk boundaries.
    subjects = [replace(f, uscc=f"{i:018d}") for i, f in enumerate(subjects)]
    products = [
        Product(f"p{i}", "i", "银行", ProductStatus.PUBLISHED, replace(t, name=f"产品{i % 3}")) for i, t in enumerate(terms)
    ]
    asks = [w if with_wish else (None, None) for w in wishes[: len(subjects)]]
    data: dict[str, object] = {
        "uscc": [f.uscc for f in subjects],
        "region_code": [f.region_code for f in subjects],
        "industry_code": [f.industry_code for f in subjects],
        "industry_section": [f.industry_section for f in subjects],
        "size_class": [f.size_class for f in subjects],
        "established_on": [f.established_on for f in subjects],
        "registered_capital": pl.Series([f.registered_capital for f in subjects], dtype=pl.Decimal(38, 6)),
        "evaluation_grade": [f.evaluation_grade for f in subjects],
        "evaluation_score": pl.Series([f.evaluation_score for f in subjects], dtype=pl.Decimal(38, 2)),
        "serious_dishonesty": pl.Series([f.serious_dishonesty for f in subjects], dtype=pl.Boolean),
        "tax_grade": [f.tax_grade for f in subjects],
    }
    if with_wish:
        data["wish_amount"] = pl.Series([a for a, _t in asks], dtype=pl.Decimal(38, 2))
        data["wish_term"] = pl.Series([t for _a, t in asks], dtype=pl.Int64)
    frame = pl.DataFrame(data)
    batch = {(r["uscc"], r["product_id"]): r for r in match_all(frame, products, as_of=AS_OF, chunk=chunk).iter_rows(named=True)}
    best = {r["uscc"]: r for r in best_matches(frame, products, as_of=AS_OF, chunk=chunk).iter_rows(named=True)}
    assert len(batch) == len(subjects) * len(products)
    assert len(best) == len(subjects)
    for facts, (amount, term) in zip(subjects, asks, strict=True):
        single = match_one(facts, products, as_of=AS_OF, wish=Wish(amount, term))
        for m in single:
            row = batch[(facts.uscc, m.product.id)]
            assert row["outcome"] == m.outcome.value, (m.results, row)
            assert row["score"] == m.score
            assert (None if row["estimate"] is None else Decimal(row["estimate"])) == m.estimate.amount
        summary = best[facts.uscc]
        assert summary["eligible"] == sum(m.outcome is Outcome.PASS for m in single)
        assert summary["unknown"] == sum(m.outcome is Outcome.UNKNOWN for m in single)
        top = single[0]
        if top.outcome is Outcome.FAIL:
            assert (summary["best_product_id"], summary["best_outcome"], summary["best_score"]) == (None, None, None)
        else:
            assert summary["best_product_id"] == top.product.id
            assert summary["best_outcome"] == top.outcome.value
            assert summary["best_score"] == top.score  # exactly: the same float sum, no quantising
            assert (None if summary["best_estimate"] is None else Decimal(summary["best_estimate"])) == top.estimate.amount


def test_batch_without_products_or_with_rule_free_products() -> None:
    frame = pl.DataFrame({"uscc": ["1", "2"], "region_code": ["350102", None], "established_on": [None, None]})
    frame = frame.with_columns(
        *(pl.lit(None).alias(c) for c in ("industry_code", "industry_section", "size_class", "registered_capital")),
        *(pl.lit(None).alias(c) for c in ("evaluation_grade", "evaluation_score", "serious_dishonesty", "tax_grade")),
    )
    empty = best_matches(frame, [], as_of=AS_OF)
    assert empty["eligible"].to_list() == [0, 0]
    assert empty["best_product_id"].to_list() == [None, None]
    assert match_all(frame, [], as_of=AS_OF).height == 0
    free = Product("p0", "i", "银行", ProductStatus.PUBLISHED, TERMS)
    local_terms = replace(TERMS, name="本地贷", rules=EligibilityRules(regions=("35",)))
    local = Product("p1", "i", "银行", ProductStatus.PUBLISHED, local_terms)
    rows = best_matches(frame, [free, local], as_of=AS_OF).rows(named=True)
    assert [(r["eligible"], r["unknown"]) for r in rows] == [(2, 0), (1, 1)]
    assert all(r["best_outcome"] == "pass" and r["best_estimate"] is None for r in rows)  # no grade: no estimate


@given(
    facts=facts_st,
    terms=st.lists(terms_st, min_size=1, max_size=12),
    amount=st.one_of(st.none(), st.decimals(1, 3000, places=2)),
    term=st.one_of(st.none(), st.integers(1, 90)),
    page=st.integers(0, 12),
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fast_path_agrees_with_match_one(
    facts: SubjectFacts, terms: list[ProductTerms], amount: Decimal | None, term: int | None, page: int
) -> None:
    products = [
        Product(f"p{i}", "i", "银行", ProductStatus.PUBLISHED, replace(t, name=f"产品{i % 3}")) for i, t in enumerate(terms)
    ]
    wish = Wish(amount, term)
    full = match_one(facts, products, as_of=AS_OF, wish=wish)
    fast = Matcher(products).rank(facts, as_of=AS_OF, wish=wish)
    expected = [(m.product.id, m.outcome, m.score) for m in full]
    assert [(p.id, o, s) for o, s, p in fast] == expected
    assert [(p.id, o, s) for o, s, p in fast[:page]] == expected[:page]
    assert (fast[0][2].id, fast[-1][2].id) == (expected[0][0], expected[-1][0])
    assert fast.eligible == sum(m.outcome is Outcome.PASS for m in full)
    eligible = fast.eligible_only()
    assert [p.id for _o, _s, p in eligible] == [m.product.id for m in full if m.outcome is Outcome.PASS]
    odd = np.array([i % 2 == 1 for i in range(len(products))])
    assert [p.id for _o, _s, p in fast.where(odd)] == [i for i, _o, _s in expected if int(i[1:]) % 2 == 1]
