"""Product use cases: institutions draft, publish and withdraw products; enterprises browse the market, post needs
and see their matches; institutions see the needs their published products could serve.

Each use case is one transaction with its audit event. Another institution's product is 404 exactly like a missing
one, and the attempt is audited in a transaction that commits before the error is raised.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import sqlalchemy as sa

from xinyidai import audit, principal
from xinyidai.db import Database
from xinyidai.kernel.clock import Clock, today
from xinyidai.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kernel.ids import new_id
from xinyidai.principal import Principal
from xinyidai.product.model import (
    EligibilityRules,
    Match,
    Matcher,
    Product,
    ProductStateConflict,
    ProductStatus,
    ProductTerms,
    ProductType,
    RepaymentMethod,
    SubjectFacts,
    Transition,
    Urgency,
    Wish,
    could_serve,
    next_status,
    validate_need,
    validate_terms,
)
from xinyidai.product.tables import FinancingNeed, LoanProduct

T = TypeVar("T")


class ProductNotFound(NotFound):
    """No such product, or one the caller may not know exists (another institution's draft)."""

    code: ClassVar[str] = "product_not_found"
    title: ClassVar[str] = "未找到该产品"


class NeedNotFound(NotFound):
    """No such financing need of this enterprise."""

    code: ClassVar[str] = "need_not_found"
    title: ClassVar[str] = "未找到该融资需求"


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """A page of results with the total count."""

    items: list[T]
    total: int


@dataclass(frozen=True, slots=True)
class ProductView:
    """A product with its state and dates."""

    product: Product
    created_at: datetime
    published_at: datetime | None
    withdrawn_at: datetime | None


@dataclass(frozen=True, slots=True)
class NeedView:
    """A need as its enterprise sees it."""

    id: uuid.UUID
    uscc: str
    amount: Decimal
    term_months: int
    purpose: str
    urgency: Urgency
    shared_fields: tuple[str, ...]
    shared: dict[str, Any]
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ServableNeed:
    """A need as an institution sees it: the need itself, only the fields the enterprise shared, the products."""

    id: uuid.UUID
    amount: Decimal
    term_months: int
    purpose: str
    urgency: Urgency
    shared: dict[str, Any]
    product_ids: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MarketFilter:
    """Filters of the product market; None: any."""

    type: ProductType | None = None
    credit_only: bool = False
    amount: Decimal | None = None
    term_months: int | None = None
    region_code: str | None = None
    rate_max: Decimal | None = None  # products whose lowest rate is at most this (annual %)
    institution_id: str | None = None
    eligible_only: bool = False  # the market's "只看符合条件" (only products the enterprise qualifies for)

    def admits(self, p: Product) -> bool:
        """Whether a published product passes the filters (eligibility is decided by matching, not here)."""
        t = p.terms
        return (
            (self.type is None or t.type is self.type)
            and (not self.credit_only or t.credit_loan)
            and (self.amount is None or t.amount_min <= self.amount <= t.amount_max)
            and (self.term_months is None or t.term_min <= self.term_months <= t.term_max)
            and (self.rate_max is None or t.rate_min <= self.rate_max)
            and (self.institution_id is None or p.institution_id == self.institution_id)
            and (
                not self.region_code
                or not t.rules.regions
                or any(self.region_code.startswith(prefix) for prefix in t.rules.regions)
            )
        )


def _institution(actor: Principal) -> uuid.UUID:
    if actor.institution_id is None:
        raise Forbidden("只有金融机构可以管理产品")
    return actor.institution_id


def _to_product(row: LoanProduct) -> Product:
    terms = ProductTerms(
        name=row.name,
        type=ProductType(row.type),
        credit_loan=row.credit_loan,
        amount_min=row.amount_min,
        amount_max=row.amount_max,
        term_min=row.term_min,
        term_max=row.term_max,
        rate_min=row.rate_min,
        rate_max=row.rate_max,
        repayment_methods=tuple(RepaymentMethod(m) for m in row.repayment_methods),
        scope_items=tuple(row.scope_items),
        purpose=row.purpose,
        rules=EligibilityRules.from_json(row.rules),
        description=row.description,
    )
    return Product(str(row.id), str(row.institution_id), row.institution_name, ProductStatus(row.status), terms)


def _view(row: LoanProduct) -> ProductView:
    return ProductView(_to_product(row), row.created_at, row.published_at, row.withdrawn_at)


def _institution_name(db: Database, actor: Principal) -> str:
    if actor.role is not None:
        try:
            summary = principal.get_user_summary(db, user_id=actor.id)
        except NotFound:
            return actor.label
        return summary.get("institution") or actor.label
    return actor.label


def create_product(db: Database, *, actor: Principal, clock: Clock, terms: ProductTerms) -> ProductView:
    """An institution drafts a product (state draft)."""
    institution_id = _institution(actor)
    errors = validate_terms(terms)
    if errors:
        raise InvalidInput("；".join(errors), errors=errors)
    name = _institution_name(db, actor)
    now = clock.now()
    with db.transaction() as s:
        row = LoanProduct(
            id=new_id(),
            institution_id=institution_id,
            institution_name=name,
            name=terms.name.strip(),
            type=terms.type.value,
            credit_loan=terms.credit_loan,
            amount_min=terms.amount_min,
            amount_max=terms.amount_max,
            term_min=terms.term_min,
            term_max=terms.term_max,
            rate_min=terms.rate_min,
            rate_max=terms.rate_max,
            repayment_methods=[m.value for m in terms.repayment_methods],
            scope_items=list(terms.scope_items),
            purpose=terms.purpose,
            rules=terms.rules.to_json(),
            description=terms.description,
            status=ProductStatus.DRAFT.value,
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        s.flush()
        audit.record(
            s, actor=actor.ref, action="product.product.create", target_type="product", target_id=row.id, data={"name": row.name}
        )
        return _view(row)


def _own_row(db: Database, actor: Principal, product_id: uuid.UUID, action: str) -> None:
    """Audit a refused touch of a product the caller's institution does not own (committed), then raise 404."""
    with db.transaction() as s:
        audit.record(
            s, actor=actor.ref, action=f"product.product.{action}.denied", target_type="product", target_id=product_id,
            reasons=["产品不属于本机构或不存在"],
        )  # fmt: skip
    raise ProductNotFound()


def list_own_products(
    db: Database, *, actor: Principal, status: ProductStatus | None = None, limit: int = 50, offset: int = 0
) -> Page[ProductView]:
    """The caller institution's products, newest first."""
    institution_id = _institution(actor)
    query = sa.select(LoanProduct).where(LoanProduct.institution_id == institution_id)
    if status is not None:
        query = query.where(LoanProduct.status == status.value)
    with db.transaction() as s:
        total = int(s.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0)
        rows = s.scalars(query.order_by(LoanProduct.created_at.desc(), LoanProduct.id).limit(limit).offset(offset))
        return Page([_view(r) for r in rows], total)


def get_product(db: Database, *, actor: Principal, product_id: uuid.UUID) -> ProductView:
    """A published product for anyone; drafts and withdrawn products only for the owning institution."""
    with db.transaction() as s:
        row = s.get(LoanProduct, product_id)
        if row is not None and (row.status == ProductStatus.PUBLISHED.value or row.institution_id == actor.institution_id):
            return _view(row)
    raise ProductNotFound()


def change_product(db: Database, *, actor: Principal, clock: Clock, product_id: uuid.UUID, transition: Transition) -> ProductView:
    """Publish or withdraw one of the caller institution's products; audited; 409 when the state does not allow it."""
    institution_id = _institution(actor)
    now = clock.now()
    with db.transaction() as s:
        row = s.get(LoanProduct, product_id, with_for_update=True)
        if row is not None and row.institution_id == institution_id:
            before = ProductStatus(row.status)
            after = next_status(before, transition)
            row.status, row.updated_at = after.value, now
            if after is ProductStatus.PUBLISHED:
                row.published_at = now
            else:
                row.withdrawn_at = now
            audit.record(
                s, actor=actor.ref, action=f"product.product.{transition.value}", target_type="product", target_id=row.id,
                data={"from": before.value, "to": after.value},
            )  # fmt: skip
            return _view(row)
    _own_row(db, actor, product_id, transition.value)
    raise AssertionError("unreachable")  # pragma: no cover


def published_product(db: Database, *, product_id: uuid.UUID) -> Product | None:
    """A product open to applications (published), or None."""
    with db.transaction() as s:
        row = s.get(LoanProduct, product_id)
        return _to_product(row) if row is not None and row.status == ProductStatus.PUBLISHED.value else None


def published_products(db: Database) -> list[Product]:
    """Every published product (the market is hundreds, not millions: filtered in memory by region)."""
    with db.transaction() as s:
        rows = s.scalars(
            sa.select(LoanProduct).where(LoanProduct.status == ProductStatus.PUBLISHED.value).order_by(LoanProduct.name)
        )
        return [_to_product(r) for r in rows]


def search_market(db: Database, *, filters: MarketFilter, limit: int = 20, offset: int = 0) -> Page[ProductView]:
    """Published products matching the filters (amount and term must lie in the product's ranges; region: the
    product serves it, i.e. it has no region rule or one of its prefixes matches), sorted by name."""
    query = sa.select(LoanProduct).where(LoanProduct.status == ProductStatus.PUBLISHED.value)
    if filters.type is not None:
        query = query.where(LoanProduct.type == filters.type.value)
    if filters.credit_only:
        query = query.where(LoanProduct.credit_loan.is_(True))
    if filters.amount is not None:
        query = query.where(LoanProduct.amount_min <= filters.amount, LoanProduct.amount_max >= filters.amount)
    if filters.term_months is not None:
        query = query.where(LoanProduct.term_min <= filters.term_months, LoanProduct.term_max >= filters.term_months)
    with db.transaction() as s:
        rows = list(s.scalars(query.order_by(LoanProduct.name, LoanProduct.id)))
    if filters.region_code:
        code = filters.region_code
        rows = [r for r in rows if not r.rules.get("regions") or any(code.startswith(p) for p in r.rules["regions"])]
    return Page([_view(r) for r in rows[offset : offset + limit]], len(rows))


# --- needs ---------------------------------------------------------------------------------------------------


def _enterprise(actor: Principal) -> str:
    if actor.enterprise_uscc is None:
        raise Forbidden("只有企业用户可以发布融资需求")
    return actor.enterprise_uscc


def _facts_json(facts: SubjectFacts) -> dict[str, Any]:
    return {
        "region_code": facts.region_code,
        "industry_code": facts.industry_code,
        "industry_section": facts.industry_section,
        "size_class": facts.size_class,
        "established_on": facts.established_on.isoformat() if facts.established_on else None,
        "registered_capital": None if facts.registered_capital is None else str(facts.registered_capital),
        "evaluation_grade": facts.evaluation_grade,
        "evaluation_score": None if facts.evaluation_score is None else str(facts.evaluation_score),
        "serious_dishonesty": facts.serious_dishonesty,
        "tax_grade": facts.tax_grade,
    }


def _facts_from_json(uscc: str, data: dict[str, Any]) -> SubjectFacts:
    def dec(key: str) -> Decimal | None:
        return None if data.get(key) is None else Decimal(str(data[key]))

    return SubjectFacts(
        uscc=uscc,
        region_code=data.get("region_code"),
        industry_code=data.get("industry_code"),
        industry_section=data.get("industry_section"),
        size_class=data.get("size_class"),
        established_on=date.fromisoformat(data["established_on"]) if data.get("established_on") else None,
        registered_capital=dec("registered_capital"),
        evaluation_grade=data.get("evaluation_grade"),
        evaluation_score=dec("evaluation_score"),
        serious_dishonesty=data.get("serious_dishonesty"),
        tax_grade=data.get("tax_grade"),
    )


def _shared(facts: SubjectFacts, fields: tuple[str, ...]) -> dict[str, Any]:
    values = {"name": facts.name, "uscc": facts.uscc, **_facts_json(facts)}
    return {f: values.get(f) for f in fields}


def _need_view(row: FinancingNeed) -> NeedView:
    return NeedView(
        row.id, row.uscc, row.amount, row.term_months, row.purpose, Urgency(row.urgency), tuple(row.shared_fields),
        dict(row.shared), row.status, row.created_at,
    )  # fmt: skip


def post_need(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    facts: SubjectFacts,
    amount: Decimal,
    term_months: int,
    purpose: str,
    urgency: Urgency,
    shared_fields: tuple[str, ...],
) -> NeedView:
    """An enterprise posts a need, choosing which of `SHAREABLE_FIELDS` institutions may see."""
    uscc = _enterprise(actor)
    if facts.uscc != uscc:
        raise Forbidden("只能为本企业发布融资需求")
    fields = tuple(dict.fromkeys(shared_fields))
    errors = validate_need(amount=amount, term_months=term_months, purpose=purpose, shared_fields=fields)
    if errors:
        raise InvalidInput("；".join(errors), errors=errors)
    with db.transaction() as s:
        row = FinancingNeed(
            id=new_id(), uscc=uscc, amount=amount, term_months=term_months, purpose=purpose.strip(), urgency=urgency.value,
            shared_fields=list(fields), shared=_shared(facts, fields), facts=_facts_json(facts), status="open",
            created_at=clock.now(),
        )  # fmt: skip
        s.add(row)
        s.flush()
        audit.record(
            s, actor=actor.ref, action="product.need.create", subject=uscc, target_type="financing_need", target_id=row.id,
            data={"shared_fields": list(fields)},
        )  # fmt: skip
        return _need_view(row)


def list_own_needs(db: Database, *, actor: Principal, limit: int = 50, offset: int = 0) -> Page[NeedView]:
    """The caller enterprise's needs, newest first."""
    uscc = _enterprise(actor)
    query = sa.select(FinancingNeed).where(FinancingNeed.uscc == uscc)
    with db.transaction() as s:
        total = int(s.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0)
        rows = s.scalars(query.order_by(FinancingNeed.created_at.desc(), FinancingNeed.id).limit(limit).offset(offset))
        return Page([_need_view(r) for r in rows], total)


def get_own_need(db: Database, *, actor: Principal, need_id: uuid.UUID) -> NeedView:
    """One of the caller enterprise's needs; another's is 404."""
    uscc = _enterprise(actor)
    with db.transaction() as s:
        row = s.get(FinancingNeed, need_id)
        if row is None or row.uscc != uscc:
            raise NeedNotFound()
        return _need_view(row)


def list_servable_needs(db: Database, *, actor: Principal, clock: Clock, limit: int = 50, offset: int = 0) -> Page[ServableNeed]:
    """Open needs at least one of the institution's published products could serve (amount and term in range, no
    rule failing on the facts snapshot), with only the fields each enterprise chose to share; the read is audited."""
    institution_id = _institution(actor)
    as_of = today(clock)
    with db.transaction() as s:
        products = [
            _to_product(r)
            for r in s.scalars(
                sa.select(LoanProduct).where(
                    LoanProduct.institution_id == institution_id, LoanProduct.status == ProductStatus.PUBLISHED.value
                )
            )
        ]
        found: list[ServableNeed] = []
        if products:
            rows = s.scalars(
                sa.select(FinancingNeed).where(FinancingNeed.status == "open").order_by(FinancingNeed.created_at.desc())
            )
            for row in rows:
                facts = _facts_from_json(row.uscc, row.facts)
                ids = tuple(
                    p.id
                    for p in products
                    if could_serve(p.terms, amount=row.amount, term_months=row.term_months, facts=facts, as_of=as_of)
                )
                if ids:
                    found.append(
                        ServableNeed(
                            row.id,
                            row.amount,
                            row.term_months,
                            row.purpose,
                            Urgency(row.urgency),
                            dict(row.shared),
                            ids,
                            row.created_at,
                        )
                    )
        page = found[offset : offset + limit]
        audit.record(
            s, actor=actor.ref, action="product.need.list", target_type="institution", target_id=institution_id,
            data={"needs": [str(n.id) for n in page]},
        )  # fmt: skip
        return Page(page, len(found))


def matches_for(
    db: Database, *, actor: Principal, clock: Clock, facts: SubjectFacts, need_id: uuid.UUID | None = None
) -> list[Match]:
    """Every published product for the caller enterprise, with each rule's reason, ranked, with the estimate;
    ranked by fit to one of its needs when `need_id` is given. Audited as a read of its own data."""
    uscc = _enterprise(actor)
    if facts.uscc != uscc:
        raise Forbidden("只能查看本企业的匹配结果")
    wish = Wish()
    if need_id is not None:
        need = get_own_need(db, actor=actor, need_id=need_id)
        wish = Wish(need.amount, need.term_months)
    matcher, as_of = market_matcher(db), today(clock)
    matches = [matcher.explain(p, facts, as_of=as_of, wish=wish) for _o, _s, p in matcher.rank(facts, as_of=as_of, wish=wish)]
    with db.transaction() as s:
        audit.record(
            s, actor=actor.ref, action="product.match.read", subject=uscc, target_type="enterprise", target_id=uscc,
            data={"products": len(matches), "eligible": sum(m.outcome.value == "pass" for m in matches)},
        )  # fmt: skip
    return matches


# --- editing drafts, closing needs ----------------------------------------------------------------------------


def update_product(db: Database, *, actor: Principal, clock: Clock, product_id: uuid.UUID, terms: ProductTerms) -> ProductView:
    """Change a draft of the caller institution (a published or withdrawn product is fixed: 409); audited."""
    institution_id = _institution(actor)
    errors = validate_terms(terms)
    if errors:
        raise InvalidInput("；".join(errors), errors=errors)
    with db.transaction() as s:
        row = s.get(LoanProduct, product_id, with_for_update=True)
        if row is not None and row.institution_id == institution_id:
            if row.status != ProductStatus.DRAFT.value:
                raise ProductStateConflict(f"产品状态为{ProductStatus(row.status).label_zh}，只有草稿可以修改")
            row.name, row.type, row.credit_loan = terms.name.strip(), terms.type.value, terms.credit_loan
            row.amount_min, row.amount_max, row.term_min, row.term_max = (
                terms.amount_min, terms.amount_max, terms.term_min, terms.term_max,
            )  # fmt: skip
            row.rate_min, row.rate_max = terms.rate_min, terms.rate_max
            row.repayment_methods = [m.value for m in terms.repayment_methods]
            row.scope_items, row.purpose = list(terms.scope_items), terms.purpose
            row.rules, row.description, row.updated_at = terms.rules.to_json(), terms.description, clock.now()
            audit.record(
                s, actor=actor.ref, action="product.product.update", target_type="product", target_id=row.id,
                data={"name": row.name},
            )  # fmt: skip
            return _view(row)
    _own_row(db, actor, product_id, "update")
    raise AssertionError("unreachable")  # pragma: no cover


def close_need(db: Database, *, actor: Principal, clock: Clock, need_id: uuid.UUID) -> NeedView:
    """The enterprise closes one of its open needs (institutions no longer see it); another's is 404; audited."""
    uscc = _enterprise(actor)
    with db.transaction() as s:
        row = s.get(FinancingNeed, need_id, with_for_update=True)
        if row is not None and row.uscc == uscc:
            if row.status != "open":
                raise NeedClosed()
            row.status = "closed"
            audit.record(
                s, actor=actor.ref, action="product.need.close", subject=uscc, target_type="financing_need",
                target_id=row.id, clock=clock,
            )  # fmt: skip
            return _need_view(row)
    raise NeedNotFound()


class NeedClosed(Conflict):
    """The need is closed already."""

    code: ClassVar[str] = "need_closed"
    title: ClassVar[str] = "该融资需求已关闭"


# --- the market with the compiled matcher ---------------------------------------------------------------------

_MATCHERS: OrderedDict[tuple[str, ...], Matcher] = OrderedDict()
_MATCHERS_LOCK = threading.Lock()
_MATCHERS_KEPT = 4


def published_revision(db: Database) -> tuple[str, ...]:
    """The published products' revision: their ids, sorted (cheap: one indexed column). A published product never
    changes (only drafts are edited), so the set of ids identifies the product list the market matches against."""
    with db.transaction() as s:
        ids = s.scalars(sa.select(LoanProduct.id).where(LoanProduct.status == ProductStatus.PUBLISHED.value))
        return tuple(sorted(str(i) for i in ids))


def market_matcher(db: Database) -> Matcher:
    """The `Matcher` over every published product, compiled once per revision and kept in-process (a few
    revisions, least recently used out): browsing costs one id query, not a reload and recompile."""
    revision = published_revision(db)
    with _MATCHERS_LOCK:
        found = _MATCHERS.get(revision)
        if found is not None:
            _MATCHERS.move_to_end(revision)
            return found
    built = Matcher(published_products(db))
    if tuple(sorted(p.id for p in built.products)) != revision:  # changed between the two reads: do not keep it
        return built
    with _MATCHERS_LOCK:
        _MATCHERS[revision] = built
        while len(_MATCHERS) > _MATCHERS_KEPT:
            _MATCHERS.popitem(last=False)
    return built


@dataclass(frozen=True, slots=True)
class MarketPage:
    """One page of the market for one enterprise: full matches (reasons, estimate) for the products shown only."""

    items: list[Match]
    total: int  # products passing the filters
    eligible: int  # of those, how many the enterprise qualifies for
    products: int  # published products in all


def market_for(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    facts: SubjectFacts,
    filters: MarketFilter,
    need_id: uuid.UUID | None = None,
    limit: int = 20,
    offset: int = 0,
) -> MarketPage:
    """The product market as the caller enterprise sees it: every published product decided and ranked by the
    cached `Matcher` (eligible first, then fit), filtered, and explained (each rule's 符合/不符合/无法判断 with its
    reason, and the 预授信额度) only for the page shown. Audited as a read of its own data."""
    uscc = _enterprise(actor)
    if facts.uscc != uscc:
        raise Forbidden("只能查看本企业的匹配结果")
    wish = Wish(filters.amount, filters.term_months)
    if need_id is not None:
        need = get_own_need(db, actor=actor, need_id=need_id)
        wish = Wish(need.amount, need.term_months)
    matcher = market_matcher(db)
    as_of = today(clock)
    ranked = matcher.rank(facts, as_of=as_of, wish=wish)
    if filters != MarketFilter(eligible_only=filters.eligible_only):  # any filter on the terms: test each product
        admitted = np.fromiter((filters.admits(p) for p in matcher.products), dtype=np.bool_, count=len(matcher.products))
        ranked = ranked.where(admitted)
    if filters.eligible_only:
        ranked = ranked.eligible_only()
    shown = [matcher.explain(p, facts, as_of=as_of, wish=wish) for _o, _s, p in ranked[offset : offset + limit]]
    eligible = ranked.eligible
    with db.transaction() as s:
        audit.record(
            s, actor=actor.ref, action="product.match.read", subject=uscc, target_type="enterprise", target_id=uscc,
            data={"products": len(ranked), "eligible": eligible, "shown": [m.product.id for m in shown]},
        )  # fmt: skip
    return MarketPage(shown, len(ranked), eligible, len(matcher.products))


def market_institutions(db: Database) -> list[tuple[str, str]]:
    """(institution id, name) of every institution with a published product, by name (the market's filter)."""
    with db.transaction() as s:
        rows = s.execute(
            sa.select(LoanProduct.institution_id, LoanProduct.institution_name)
            .where(LoanProduct.status == ProductStatus.PUBLISHED.value)
            .distinct()
        ).all()
    return sorted(((str(i), n) for i, n in rows), key=lambda r: (r[1], r[0]))
