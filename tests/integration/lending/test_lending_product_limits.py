"""Applications, approvals and loans stay within the ranges the product publishes (额度、期限、利率、还款方式)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.integration.lending.conftest import World, loan_terms
from xinyidai import lending
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.lending import Approval, LoanRepaymentMethod, LoanTerms, OutsideProductTerms, ProductLimits
from xinyidai.lending.model import product_limit_problems

LIMITS = ProductLimits(
    amount_min_wan=Decimal(10),
    amount_max_wan=Decimal(300),
    term_min=6,
    term_max=36,
    rate_min_pct=Decimal("3.2"),
    rate_max_pct=Decimal("6.5"),
    methods=("equal_instalment", "interest_first"),
)


def _limited(world: World, limits: ProductLimits = LIMITS) -> World:
    world.product_a = dataclasses.replace(world.product_a, limits=limits)
    return world


def _submit(db: Database, clock: FrozenClock, w: World, amount: str = "200", term: int = 12) -> lending.ApplicationView:
    return lending.submit_application(
        db, actor=w.enterprise, clock=clock, hooks=w.hooks, product_id=w.product_a.id,
        amount_wan=Decimal(amount), term_months=term, purpose="采购原材料",
    )  # fmt: skip


def _approved(db: Database, clock: FrozenClock, w: World) -> lending.ApplicationView:
    app = _submit(db, clock, w)
    lending.accept_application(db, actor=w.officer_a, clock=clock, hooks=w.hooks, application_id=app.id)
    return lending.decide_application(
        db, actor=w.officer_a, clock=clock, hooks=w.hooks, application_id=app.id,
        approval=Approval(Decimal(200), Decimal("4.35"), 12),
    )  # fmt: skip


def _terms(**kw: object) -> LoanTerms:
    """A loan the limited product allows (rate and method within it); ``kw`` overrides."""
    return loan_terms(**{"annual_rate_pct": Decimal("4.35"), "method": LoanRepaymentMethod.EQUAL_INSTALMENT, **kw})


def test_an_application_outside_the_amount_or_term_range_is_refused(db: Database, clock: FrozenClock, world: World) -> None:
    w = _limited(world)
    with pytest.raises(OutsideProductTerms, match="产品额度 10–300 万元") as too_much:
        _submit(db, clock, w, amount="500")
    assert too_much.value.code == "outside_product_terms"
    with pytest.raises(OutsideProductTerms, match="产品期限 6–36 个月"):
        _submit(db, clock, w, term=48)
    assert lending.list_applications(db, actor=w.enterprise, clock=clock).total == 0
    assert _submit(db, clock, w, amount="10", term=36).status is lending.ApplicationStatus.SUBMITTED  # bounds included


def test_an_approval_outside_the_published_ranges_is_refused_and_changes_nothing(
    db: Database, clock: FrozenClock, world: World
) -> None:
    w = _limited(world)
    app = _submit(db, clock, w)
    lending.accept_application(db, actor=w.officer_a, clock=clock, hooks=w.hooks, application_id=app.id)
    for approval, message in (
        (Approval(Decimal(400), Decimal("4.35"), 12), "产品额度"),
        (Approval(Decimal(200), Decimal("8.0"), 12), "产品利率 3.2%–6.5%"),
        (Approval(Decimal(200), Decimal("4.35"), 60), "产品期限"),
    ):
        with pytest.raises(OutsideProductTerms, match=message):
            lending.decide_application(
                db, actor=w.officer_a, clock=clock, hooks=w.hooks, application_id=app.id, approval=approval
            )
    still = lending.get_application(db, actor=w.officer_a, clock=clock, application_id=app.id)
    assert still.status is lending.ApplicationStatus.ACCEPTED
    # A rejection is never held to the ranges.
    rejected = lending.decide_application(
        db, actor=w.officer_a, clock=clock, hooks=w.hooks, application_id=app.id,
        rejection=lending.Rejection((lending.RejectionReason.CREDIT_RECORD,), "近期有欠税记录"),
    )  # fmt: skip
    assert rejected.status is lending.ApplicationStatus.REJECTED


def test_a_loan_uses_a_method_and_terms_the_product_offers(db: Database, clock: FrozenClock, world: World) -> None:
    w = _limited(world)
    app = _approved(db, clock, w)
    register = lending.register_loan
    with pytest.raises(OutsideProductTerms, match="还款方式须为产品提供的方式：等额本息、先息后本"):
        register(db, actor=w.officer_a, clock=clock, hooks=w.hooks, application_id=app.id,
                 terms=_terms(method=LoanRepaymentMethod.BULLET))  # fmt: skip
    with pytest.raises(OutsideProductTerms, match="产品利率"):
        register(db, actor=w.officer_a, clock=clock, hooks=w.hooks, application_id=app.id,
                 terms=_terms(annual_rate_pct=Decimal("2.9")))  # fmt: skip
    loan = register(db, actor=w.officer_a, clock=clock, hooks=w.hooks, application_id=app.id, terms=_terms())
    assert loan.amount_wan == Decimal(200)


def test_a_revolving_product_takes_any_method_and_unknown_limits_check_nothing(
    db: Database, clock: FrozenClock, world: World
) -> None:
    w = _limited(world, dataclasses.replace(LIMITS, methods=("revolving",)))
    app = _approved(db, clock, w)
    loan = lending.register_loan(db, actor=w.officer_a, clock=clock, hooks=w.hooks, application_id=app.id,
                                 terms=_terms(method=LoanRepaymentMethod.BULLET))  # fmt: skip
    assert loan.repayment_method is LoanRepaymentMethod.BULLET
    # A product whose ranges the hook does not know (withdrawn since, or another market) is not checked.
    w.product_a = dataclasses.replace(w.product_a, limits=None)
    assert _submit(db, clock, w, amount="5000").status is lending.ApplicationStatus.SUBMITTED


@given(
    amount=st.decimals(min_value=0, max_value=1000, places=2),
    term=st.integers(1, 360),
    rate=st.decimals(min_value=0, max_value=36, places=2),
    method=st.sampled_from(list(LoanRepaymentMethod)),
)
def test_a_term_is_refused_exactly_when_it_lies_outside_a_range(
    amount: Decimal, term: int, rate: Decimal, method: LoanRepaymentMethod
) -> None:
    problems = product_limit_problems(LIMITS, amount_wan=amount, term_months=term, rate_pct=rate, method=method)
    expected = [
        not Decimal(10) <= amount <= Decimal(300),
        not 6 <= term <= 36,
        not Decimal("3.2") <= rate <= Decimal("6.5"),
        method.value not in LIMITS.methods,
    ]
    assert len(problems) == sum(expected)
