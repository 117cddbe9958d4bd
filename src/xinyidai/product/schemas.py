"""Pydantic I/O models of the product API."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from xinyidai.product.model import (
    EligibilityRules,
    Match,
    Product,
    ProductTerms,
    ProductType,
    RepaymentMethod,
    Urgency,
)
from xinyidai.product.service import NeedView, ProductView, ServableNeed


class RulesIO(BaseModel):
    """Eligibility rules (准入条件); empty/None: the rule does not apply."""

    regions: list[str] = Field(default_factory=list, description="GB/T 2260 区划代码前缀")
    industries: list[str] = Field(default_factory=list, description="GB/T 4754 门类字母或两位大类代码")
    size_classes: list[str] = Field(default_factory=list, description="micro/small/medium/large")
    min_years: int | None = Field(default=None, ge=0)
    min_grade: str | None = Field(default=None, description="A/B/C/D")
    exclude_serious_dishonesty: bool = False
    min_tax_grade: str | None = Field(default=None, description="A/B/M/C/D")
    max_registered_capital: Decimal | None = Field(default=None, description="万元")

    def to_model(self) -> EligibilityRules:
        """The model's rules."""
        return EligibilityRules(
            tuple(self.regions), tuple(c.upper() for c in self.industries), tuple(self.size_classes), self.min_years,
            self.min_grade, self.exclude_serious_dishonesty, self.min_tax_grade, self.max_registered_capital,
        )  # fmt: skip

    @classmethod
    def of(cls, rules: EligibilityRules) -> RulesIO:
        """From the model."""
        return cls.model_validate(rules.to_json())


class ProductCreate(BaseModel):
    """A product draft."""

    name: str = Field(min_length=1, max_length=200)
    type: ProductType
    credit_loan: bool
    amount_min: Decimal = Field(description="万元")
    amount_max: Decimal = Field(description="万元")
    term_min: int = Field(description="月")
    term_max: int = Field(description="月")
    rate_min: Decimal = Field(description="年化 %")
    rate_max: Decimal = Field(description="年化 %")
    repayment_methods: list[RepaymentMethod] = Field(min_length=1)
    scope_items: list[str] = Field(default_factory=list, description="所需授权的目录信息项")
    purpose: str = Field(default="credit_approval", max_length=40, description="授权用途代码")
    rules: RulesIO = Field(default_factory=RulesIO)
    description: str = Field(default="", max_length=4000)

    def to_model(self) -> ProductTerms:
        """The model's terms."""
        return ProductTerms(
            name=self.name, type=self.type, credit_loan=self.credit_loan, amount_min=self.amount_min,
            amount_max=self.amount_max, term_min=self.term_min, term_max=self.term_max, rate_min=self.rate_min,
            rate_max=self.rate_max, repayment_methods=tuple(self.repayment_methods), scope_items=tuple(self.scope_items),
            purpose=self.purpose, rules=self.rules.to_model(), description=self.description,
        )  # fmt: skip


class ProductRead(ProductCreate):
    """A product with its state."""

    id: str
    institution_id: str
    institution_name: str
    status: str
    created_at: datetime | None = None
    published_at: datetime | None = None
    withdrawn_at: datetime | None = None

    @classmethod
    def of(cls, view: ProductView) -> ProductRead:
        """From a service view."""
        read = cls.of_product(view.product)
        return read.model_copy(
            update={"created_at": view.created_at, "published_at": view.published_at, "withdrawn_at": view.withdrawn_at}
        )

    @classmethod
    def of_product(cls, p: Product) -> ProductRead:
        """From the model's product (no dates)."""
        t = p.terms
        return cls(
            id=p.id, institution_id=p.institution_id, institution_name=p.institution_name, status=p.status.value, name=t.name,
            type=t.type, credit_loan=t.credit_loan, amount_min=t.amount_min, amount_max=t.amount_max, term_min=t.term_min,
            term_max=t.term_max, rate_min=t.rate_min, rate_max=t.rate_max, repayment_methods=list(t.repayment_methods),
            scope_items=list(t.scope_items), purpose=t.purpose, rules=RulesIO.of(t.rules), description=t.description,
        )  # fmt: skip


class ProductPage(BaseModel):
    """A page of products."""

    items: list[ProductRead]
    total: int
    limit: int
    offset: int


class NeedCreate(BaseModel):
    """A financing need."""

    amount: Decimal = Field(gt=0, description="万元")
    term_months: int = Field(ge=1, le=360)
    purpose: str = Field(min_length=1, max_length=200)
    urgency: Urgency = Urgency.NORMAL
    shared_fields: list[str] = Field(default_factory=list, description="企业选择向机构展示的字段")


class NeedRead(BaseModel):
    """A need as its enterprise sees it."""

    id: uuid.UUID
    amount: Decimal
    term_months: int
    purpose: str
    urgency: Urgency
    shared_fields: list[str]
    shared: dict[str, Any]
    status: str
    created_at: datetime

    @classmethod
    def of(cls, v: NeedView) -> NeedRead:
        """From a service view."""
        return cls(
            id=v.id, amount=v.amount, term_months=v.term_months, purpose=v.purpose, urgency=v.urgency,
            shared_fields=list(v.shared_fields), shared=v.shared, status=v.status, created_at=v.created_at,
        )  # fmt: skip


class ServableNeedRead(BaseModel):
    """A need as an institution sees it: only what the enterprise shared."""

    id: uuid.UUID
    amount: Decimal
    term_months: int
    purpose: str
    urgency: Urgency
    shared: dict[str, Any]
    product_ids: list[str]
    created_at: datetime

    @classmethod
    def of(cls, v: ServableNeed) -> ServableNeedRead:
        """From a service view."""
        return cls(
            id=v.id, amount=v.amount, term_months=v.term_months, purpose=v.purpose, urgency=v.urgency, shared=v.shared,
            product_ids=list(v.product_ids), created_at=v.created_at,
        )  # fmt: skip


class NeedPage(BaseModel):
    """A page of the enterprise's needs."""

    items: list[NeedRead]
    total: int
    limit: int
    offset: int


class ServableNeedPage(BaseModel):
    """A page of needs an institution could serve."""

    items: list[ServableNeedRead]
    total: int
    limit: int
    offset: int


class RuleResultRead(BaseModel):
    """One rule's outcome with its reason."""

    rule: str
    outcome: str
    outcome_label: str
    reason: str


class MatchRead(BaseModel):
    """One product for the enterprise: eligibility with reasons, fit score and pre-approval estimate."""

    product: ProductRead
    outcome: str
    outcome_label: str
    reasons: list[RuleResultRead]
    score: float
    estimate_wan: Decimal | None
    estimate_note: str

    @classmethod
    def of(cls, m: Match) -> MatchRead:
        """From a match."""
        return cls(
            product=ProductRead.of_product(m.product), outcome=m.outcome.value, outcome_label=m.outcome.label_zh,
            reasons=[
                RuleResultRead(rule=r.rule, outcome=r.outcome.value, outcome_label=r.outcome.label_zh, reason=r.reason)
                for r in m.results
            ],
            score=round(m.score, 4), estimate_wan=m.estimate.amount, estimate_note=m.estimate.reason,
        )  # fmt: skip


class MatchPage(BaseModel):
    """Every published product for the enterprise, ranked."""

    items: list[MatchRead]
    total: int
