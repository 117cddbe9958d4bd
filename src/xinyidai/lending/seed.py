"""Demo data of the financing service: a dozen varied products of the demo institutions, financing needs, and
applications in every state (submitted, accepted, approved with a loan, repayments and a classification, rejected
with reasons, withdrawn, and one overdue for the regulator). Used by `xinyidai.demo`; idempotent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from xinyidai import product
from xinyidai.http.container import Container
from xinyidai.kernel.actor import ActorKind
from xinyidai.kernel.clock import FrozenClock
from xinyidai.lending.model import Approval, LoanClass, LoanRepaymentMethod, LoanTerms, Rejection, RejectionReason
from xinyidai.lending.service import (
    accept_application,
    decide_application,
    escalate_overdue,
    hooks_for,
    register_loan,
    report_classification,
    report_repayment,
    submit_application,
    withdraw_application,
)
from xinyidai.principal import ROLE_PERMISSIONS, AuthMethod, Principal, Role
from xinyidai.product import EligibilityRules as R
from xinyidai.product import ProductTerms, ProductType, Urgency
from xinyidai.product import RepaymentMethod as M

T = ProductType
_STD = (M.EQUAL_INSTALMENT, M.INTEREST_FIRST)


def _p(
    name: str, kind: ProductType, amount: tuple[int, int], term: tuple[int, int], rate: tuple[str, str], rules: R, desc: str
) -> ProductTerms:
    credit = kind in (T.PURE_CREDIT, T.CREDIT_GUARANTEE_FUND)
    return ProductTerms(
        name=name,
        type=kind,
        credit_loan=credit,
        amount_min=Decimal(amount[0]),
        amount_max=Decimal(amount[1]),
        term_min=term[0],
        term_max=term[1],
        rate_min=Decimal(rate[0]),
        rate_max=Decimal(rate[1]),
        repayment_methods=_STD if credit else (*_STD, M.BULLET),
        scope_items=("tax_payment", "social_insurance") if credit else ("tax_payment",),
        purpose="credit_approval",
        rules=rules,
        description=desc,
    )


#: (institution index, terms): index 0 is the demo bank, 1 the demo rural commercial bank.
DEMO_PRODUCTS: tuple[tuple[int, ProductTerms], ...] = (
    (
        0,
        _p(
            "闽信e贷",
            T.PURE_CREDIT,
            (5, 300),
            (3, 36),
            ("3.45", "6.50"),
            R(regions=("35",), min_years=2, exclude_serious_dishonesty=True),
            "纯信用、线上申请，面向福建省内成立满2年的中小微企业。",
        ),
    ),
    (
        0,
        _p(
            "科技信用贷",
            T.PURE_CREDIT,
            (10, 500),
            (6, 36),
            ("3.60", "5.80"),
            R(industries=("I", "M"), size_classes=("micro", "small", "medium")),
            "面向信息技术和科技服务企业。",
        ),
    ),
    (
        0,
        _p(
            "纳税信用贷",
            T.PURE_CREDIT,
            (5, 200),
            (3, 24),
            ("3.80", "6.00"),
            R(min_tax_grade="B", exclude_serious_dishonesty=True),
            "按纳税信用授信，纳税信用B级及以上。",
        ),
    ),
    (
        0,
        _p(
            "优质企业信用贷",
            T.PURE_CREDIT,
            (50, 1000),
            (12, 36),
            ("3.20", "4.80"),
            R(min_grade="A", min_years=3),
            "信用评价A级企业专享。",
        ),
    ),
    (
        0,
        _p(
            "小微保证贷",
            T.GUARANTEED,
            (10, 500),
            (6, 36),
            ("4.20", "7.00"),
            R(size_classes=("micro", "small"), max_registered_capital=Decimal(1000)),
            "由第三方保证担保。",
        ),
    ),
    (
        0,
        _p(
            "厂房抵押贷",
            T.MORTGAGE,
            (100, 3000),
            (12, 120),
            ("3.90", "5.50"),
            R(industries=("C",), min_years=3),
            "以厂房、土地使用权抵押，面向制造业。",
        ),
    ),
    (
        0,
        _p(
            "应收账款质押贷",
            T.PLEDGE,
            (20, 1000),
            (3, 12),
            ("4.00", "6.20"),
            R(regions=("3501",)),
            "以应收账款质押，福州市内企业。",
        ),
    ),
    (
        1,
        _p(
            "信保基金贷",
            T.CREDIT_GUARANTEE_FUND,
            (10, 300),
            (6, 36),
            ("3.85", "5.20"),
            R(regions=("35",), size_classes=("micro", "small")),
            "政府性融资担保和信保基金分担风险的信用贷款。",
        ),
    ),
    (
        1,
        _p(
            "惠农快贷",
            T.PURE_CREDIT,
            (3, 100),
            (3, 24),
            ("4.35", "7.20"),
            R(industries=("A",), regions=("35",)),
            "面向农林牧渔业经营主体和农民专业合作社。",
        ),
    ),
    (
        1,
        _p(
            "商户流水贷",
            T.PURE_CREDIT,
            (3, 50),
            (1, 12),
            ("4.80", "8.50"),
            R(industries=("F", "H"), min_years=1),
            "面向批发零售、住宿餐饮商户。",
        ),
    ),
    (
        1,
        _p(
            "知识产权质押贷",
            T.PLEDGE,
            (50, 1000),
            (12, 36),
            ("3.70", "5.60"),
            R(industries=("C", "I", "M"), min_years=2),
            "以专利权、商标权质押。",
        ),
    ),
    (
        1,
        _p(
            "续贷通",
            T.PURE_CREDIT,
            (10, 500),
            (6, 36),
            ("3.65", "5.50"),
            R(min_years=3, exclude_serious_dishonesty=True),
            "支持无还本续贷，面向在本行贷款正常的企业。",
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class DemoFinancing:
    """What `seed_demo` made (empty when it had been seeded before)."""

    products: tuple[uuid.UUID, ...]
    applications: dict[str, uuid.UUID]
    loan_id: uuid.UUID | None


def _as(role: Role, label: str, *, institution_id: uuid.UUID | None = None, uscc: str | None = None) -> Principal:
    """A demo actor of `role` (the seed acts as the demo users' organisations, recorded as the demo system)."""
    return Principal(
        kind=ActorKind.SYSTEM,
        id=uuid.uuid5(uuid.NAMESPACE_URL, f"xinyidai-demo:{label}"),
        label=label,
        permissions=ROLE_PERMISSIONS[role],
        method=AuthMethod.TOKEN,
        role=None,
        institution_id=institution_id,
        enterprise_uscc=uscc,
    )


def seed_demo(
    container: Container, *, institutions: list[tuple[uuid.UUID, str]], enterprise_uscc: str, other_usccs: list[str]
) -> DemoFinancing:
    """Publish the demo products, post needs and create applications in every state; nothing when already seeded.

    `institutions`: (id, name) of the demo bank first, then a second institution; `other_usccs`: at least four
    other enterprises (their applications fill the work queue and the regulator's overview).
    """
    db, clock = container.db, container.clock
    banks = [_as(Role.INSTITUTION_OFFICER, name, institution_id=iid) for iid, name in institutions]
    if product.list_own_products(db, actor=banks[0], limit=1).total:
        return DemoFinancing((), {}, None)
    made: list[uuid.UUID] = []
    for index, terms in DEMO_PRODUCTS:
        bank = banks[min(index, len(banks) - 1)]
        view = product.create_product(db, actor=bank, clock=clock, terms=terms)
        pid = uuid.UUID(view.product.id)
        product.change_product(db, actor=bank, clock=clock, product_id=pid, transition=product.Transition.PUBLISH)
        made.append(pid)
    # A draft the institution is still working on.
    product.create_product(
        db,
        actor=banks[0],
        clock=clock,
        terms=_p("绿色信贷（草稿）", T.PURE_CREDIT, (10, 500), (6, 36), ("3.30", "5.00"), R(), ""),
    )
    hooks = hooks_for(container)
    others = [_as(Role.ENTERPRISE, f"示范企业{i + 1}", uscc=u) for i, u in enumerate(other_usccs)]
    me = _as(Role.ENTERPRISE, "企业用户（示范）", uscc=enterprise_uscc)
    for who, amount, term, purpose, shared in (
        (me, 200, 12, "采购原材料、补充流动资金", ("name", "industry_code", "size_class", "established_on")),
        (others[0], 80, 6, "支付货款", ("name", "region_code")),
        (others[1], 30, 12, "农资采购", ()),
    ):
        product.post_need(
            db, actor=who, clock=clock, facts=product.SubjectFacts(uscc=who.enterprise_uscc or ""), amount=Decimal(amount),
            term_months=term, purpose=purpose, urgency=Urgency.URGENT if amount > 100 else Urgency.NORMAL, shared_fields=shared,
        )  # fmt: skip
    bank = banks[0]

    def submit(who: Principal, pid: uuid.UUID, amount: int, term: int, purpose: str, at: FrozenClock | None = None) -> uuid.UUID:
        view = submit_application(
            db, actor=who, clock=at or clock, hooks=hooks, product_id=pid, amount_wan=Decimal(amount), term_months=term,
            purpose=purpose,
        )  # fmt: skip
        return view.id

    apps: dict[str, uuid.UUID] = {}
    apps["submitted"] = submit(others[0], made[0], 100, 12, "补充流动资金")
    apps["accepted"] = submit(others[1], made[1], 150, 24, "研发投入")
    accept_application(db, actor=bank, clock=clock, hooks=hooks, application_id=apps["accepted"])
    apps["approved"] = submit(me, made[0], 120, 12, "采购原材料")
    accept_application(db, actor=bank, clock=clock, hooks=hooks, application_id=apps["approved"])
    decide_application(
        db, actor=bank, clock=clock, hooks=hooks, application_id=apps["approved"],
        approval=Approval(Decimal(100), Decimal("3.85"), 12),
    )  # fmt: skip
    start = (clock.now() + timedelta(hours=8)).date() - timedelta(days=65)
    loan = register_loan(
        db, actor=bank, clock=clock, hooks=hooks, application_id=apps["approved"],
        terms=LoanTerms(Decimal(100), Decimal("3.85"), start, 12, LoanRepaymentMethod.EQUAL_INSTALMENT, True, ""),
    )  # fmt: skip
    for instalment in loan.schedule[:2]:
        report_repayment(
            db, actor=bank, clock=clock, hooks=hooks, loan_id=loan.id, paid_on=instalment.due_on,
            principal_wan=instalment.principal_wan, interest_wan=instalment.interest_wan,
        )  # fmt: skip
    report_classification(
        db, actor=bank, clock=clock, hooks=hooks, loan_id=loan.id, classification=LoanClass.NORMAL, days_past_due=0,
        as_of=(clock.now() + timedelta(hours=8)).date(),
    )  # fmt: skip
    apps["rejected"] = submit(others[2], made[4], 400, 36, "扩大经营")
    accept_application(db, actor=bank, clock=clock, hooks=hooks, application_id=apps["rejected"])
    decide_application(
        db, actor=bank, clock=clock, hooks=hooks, application_id=apps["rejected"],
        rejection=Rejection(
            (RejectionReason.REPAYMENT_CAPACITY, RejectionReason.CREDIT_RECORD),
            "近12个月经营现金流不足以覆盖申请额度的还款，且存在未结清的逾期记录。",
        ),
    )  # fmt: skip
    apps["withdrawn"] = submit(others[3 % len(others)], made[2], 50, 12, "支付工资")
    withdraw_application(db, actor=others[3 % len(others)], clock=clock, hooks=hooks, application_id=apps["withdrawn"])
    # One the bank accepted a month ago and never decided: past its 10 working days, escalated to the regulator.
    past = FrozenClock(clock.now() - timedelta(days=30))
    apps["overdue"] = submit(others[1], made[5], 500, 36, "购置设备", at=past)
    accept_application(db, actor=bank, clock=past, hooks=hooks, application_id=apps["overdue"])
    escalate_overdue(db, clock=clock, hooks=hooks, application_id=apps["overdue"])
    return DemoFinancing(tuple(made), apps, loan.id)
