"""Lending fixtures: two banks, two enterprises as principals, a fake product catalog and webhook endpoints."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from tests.factories import ADMIN, uscc_for
from xinyidai import principal
from xinyidai.db import Database
from xinyidai.kernel.actor import ActorKind
from xinyidai.kernel.clock import FrozenClock
from xinyidai.lending import LendingHooks, LoanRepaymentMethod, LoanTerms, ProductRef
from xinyidai.principal import ROLE_PERMISSIONS, Principal, Role
from xinyidai.principal.model import AuthMethod

SUBJECT = uscc_for(4242)
OTHER = uscc_for(4343)


def as_principal(
    role: Role, *, institution_id: uuid.UUID | None = None, uscc: str | None = None, label: str = "测试"
) -> Principal:
    """A logged-in user of `role` (no password hashing needed for service tests)."""
    return Principal(
        kind=ActorKind.USER,
        id=uuid.uuid4(),
        label=label,
        permissions=ROLE_PERMISSIONS[role],
        method=AuthMethod.SESSION,
        role=role,
        institution_id=institution_id,
        enterprise_uscc=uscc,
    )


@dataclass
class World:
    """Banks A and B, their officers, two enterprises, a regulator, one product of each bank, and the hooks."""

    bank_a: uuid.UUID
    bank_b: uuid.UUID
    officer_a: Principal
    officer_b: Principal
    enterprise: Principal
    other: Principal
    regulator: Principal
    product_a: ProductRef
    product_b: ProductRef
    endpoints: dict[uuid.UUID, str] = field(default_factory=dict)
    authorizations: dict[tuple[str, uuid.UUID], uuid.UUID] = field(default_factory=dict)

    @property
    def hooks(self) -> LendingHooks:
        products = {self.product_a.id: self.product_a, self.product_b.id: self.product_b}

        def endpoint(session: Session, institution_id: uuid.UUID) -> str | None:
            return self.endpoints.get(institution_id)

        return LendingHooks(
            product=products.get,
            authorization=lambda uscc, inst, _product: self.authorizations.get((uscc, inst)),
            endpoint_url=endpoint,
        )


@pytest.fixture
def world(db: Database, clock: FrozenClock, unique: str) -> World:
    """Fresh banks and people for each test."""
    a = principal.create_institution(
        db, actor=ADMIN, clock=clock, code=f"LA{unique}", name="闽信银行", kind="bank", region_code="350100"
    )
    b = principal.create_institution(
        db, actor=ADMIN, clock=clock, code=f"LB{unique}", name="榕城农商行", kind="bank", region_code="350100"
    )
    return World(
        bank_a=a,
        bank_b=b,
        officer_a=as_principal(Role.INSTITUTION_OFFICER, institution_id=a, label="A行客户经理"),
        officer_b=as_principal(Role.INSTITUTION_OFFICER, institution_id=b, label="B行客户经理"),
        enterprise=as_principal(Role.ENTERPRISE, uscc=SUBJECT, label="企业经办人"),
        other=as_principal(Role.ENTERPRISE, uscc=OTHER, label="另一企业"),
        regulator=as_principal(Role.REGULATOR, label="监管人员"),
        product_a=ProductRef(uuid.uuid4(), a, "闽信科创贷", credit_loan=True),
        product_b=ProductRef(uuid.uuid4(), b, "榕城税易贷", credit_loan=True),
        endpoints={a: "https://bank-a.example/hooks"},
    )


def loan_terms(**kw: object) -> LoanTerms:
    """A credit loan of 200 万元 at 3.65 % over 12 months from 2025-10-20, repaid 等额本金; ``kw`` overrides."""
    values: dict[str, object] = {
        "amount_wan": Decimal(200),
        "annual_rate_pct": Decimal("3.65"),
        "start_on": date(2025, 10, 20),
        "term_months": 12,
        "method": LoanRepaymentMethod.EQUAL_PRINCIPAL,
        "credit_loan": True,
        "guarantee": "",
    }
    values.update(kw)
    return LoanTerms(**values)  # type: ignore[arg-type]
