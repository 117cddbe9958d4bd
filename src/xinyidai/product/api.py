"""Product routes: institutions manage products and see servable needs; enterprises browse the market, post needs
and read their matches. Every POST honours an `Idempotency-Key` header (see `idempotency.py`)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse

from xinyidai.http.container import Container, get_container
from xinyidai.principal import Permission, Principal, require
from xinyidai.product import service
from xinyidai.product.facts import provider_for
from xinyidai.product.idempotency import idempotent
from xinyidai.product.model import ProductStatus, ProductType, Transition
from xinyidai.product.schemas import (
    MatchPage,
    MatchRead,
    NeedCreate,
    NeedPage,
    NeedRead,
    ProductCreate,
    ProductPage,
    ProductRead,
    ServableNeedPage,
    ServableNeedRead,
)

router = APIRouter(tags=["product"])
ContainerDep = Annotated[Container, Depends(get_container)]
Manager = Annotated[Principal, Depends(require(Permission.PRODUCT_MANAGE))]
Reader = Annotated[Principal, Depends(require(Permission.PRODUCT_READ))]
NeedCreator = Annotated[Principal, Depends(require(Permission.NEED_CREATE))]
NeedReader = Annotated[Principal, Depends(require(Permission.NEED_READ))]
MatchReader = Annotated[Principal, Depends(require(Permission.MATCH_READ_OWN))]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise service.ProductNotFound() from None


@router.post("/products", response_model=ProductRead, status_code=201, summary="创建产品（草稿）")
def create_product(body: ProductCreate, container: ContainerDep, who: Manager, key: IdempotencyKey = None) -> JSONResponse:
    """An institution drafts a product with its terms and eligibility rules."""

    def run() -> tuple[int, object]:
        view = service.create_product(container.db, actor=who, clock=container.clock, terms=body.to_model())
        return 201, ProductRead.of(view).model_dump(mode="json")

    return idempotent(
        container.db,
        clock=container.clock,
        owner=str(who.id),
        key=key,
        scope="POST /products",
        body=body.model_dump(mode="json"),
        run=run,
    )


@router.get("/products", response_model=ProductPage, summary="本机构的产品")
def list_products(
    container: ContainerDep, who: Manager, status: ProductStatus | None = None, limit: Limit = 50, offset: Offset = 0
) -> ProductPage:
    """The caller institution's products only."""
    page = service.list_own_products(container.db, actor=who, status=status, limit=limit, offset=offset)
    return ProductPage(items=[ProductRead.of(v) for v in page.items], total=page.total, limit=limit, offset=offset)


def _change(container: Container, who: Principal, product_id: str, transition: Transition, key: str | None) -> JSONResponse:
    def run() -> tuple[int, object]:
        view = service.change_product(
            container.db, actor=who, clock=container.clock, product_id=_uuid(product_id), transition=transition
        )
        return 200, ProductRead.of(view).model_dump(mode="json")

    scope = f"POST /products/{product_id}/{transition.value}"
    return idempotent(container.db, clock=container.clock, owner=str(who.id), key=key, scope=scope, body=None, run=run)


@router.post("/products/{product_id}/publish", response_model=ProductRead, summary="发布产品")
def publish(product_id: str, container: ContainerDep, who: Manager, key: IdempotencyKey = None) -> JSONResponse:
    """Draft → published; another institution's product is 404; any other state is 409."""
    return _change(container, who, product_id, Transition.PUBLISH, key)


@router.post("/products/{product_id}/withdraw", response_model=ProductRead, summary="下架产品")
def withdraw_product(product_id: str, container: ContainerDep, who: Manager, key: IdempotencyKey = None) -> JSONResponse:
    """Published → withdrawn (final)."""
    return _change(container, who, product_id, Transition.WITHDRAW, key)


@router.get("/products/{product_id}", response_model=ProductRead, summary="查看产品")
def get_product(product_id: str, container: ContainerDep, who: Reader) -> ProductRead:
    """A published product, or one of the caller institution's own."""
    return ProductRead.of(service.get_product(container.db, actor=who, product_id=_uuid(product_id)))


@router.get("/market", response_model=ProductPage, summary="产品超市")
def market(
    container: ContainerDep,
    _who: Reader,
    type: ProductType | None = None,
    credit_only: bool = False,
    amount: Annotated[Decimal | None, Query(gt=0, description="万元")] = None,
    term_months: Annotated[int | None, Query(ge=1, le=360)] = None,
    region_code: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> ProductPage:
    """Published products, filtered by type, credit-loan only, amount, term and region served."""
    filters = service.MarketFilter(
        type=type, credit_only=credit_only, amount=amount, term_months=term_months, region_code=region_code
    )
    page = service.search_market(container.db, filters=filters, limit=limit, offset=offset)
    return ProductPage(items=[ProductRead.of(v) for v in page.items], total=page.total, limit=limit, offset=offset)


@router.post("/needs", response_model=NeedRead, status_code=201, summary="发布融资需求")
def post_need(body: NeedCreate, container: ContainerDep, who: NeedCreator, key: IdempotencyKey = None) -> JSONResponse:
    """An enterprise posts a need and chooses the fields institutions may see."""

    def run() -> tuple[int, object]:
        uscc = who.enterprise_uscc or ""
        facts = provider_for(container).facts_for(uscc, actor=who.ref)
        view = service.post_need(
            container.db, actor=who, clock=container.clock, facts=facts, amount=body.amount, term_months=body.term_months,
            purpose=body.purpose, urgency=body.urgency, shared_fields=tuple(body.shared_fields),
        )  # fmt: skip
        return 201, NeedRead.of(view).model_dump(mode="json")

    return idempotent(
        container.db,
        clock=container.clock,
        owner=str(who.id),
        key=key,
        scope="POST /needs",
        body=body.model_dump(mode="json"),
        run=run,
    )


@router.get("/needs", summary="融资需求：企业看本企业的，机构看本机构产品可服务的")
def list_needs(
    container: ContainerDep,
    who: Annotated[Principal, Depends(require(Permission.NEED_CREATE, Permission.NEED_READ))],
    limit: Limit = 50,
    offset: Offset = 0,
) -> NeedPage | ServableNeedPage:
    """An enterprise gets its own needs; an institution the needs its published products could serve."""
    if who.enterprise_uscc is not None and Permission.NEED_CREATE in who.permissions:
        own = service.list_own_needs(container.db, actor=who, limit=limit, offset=offset)
        return NeedPage(items=[NeedRead.of(v) for v in own.items], total=own.total, limit=limit, offset=offset)
    page = service.list_servable_needs(container.db, actor=who, clock=container.clock, limit=limit, offset=offset)
    return ServableNeedPage(items=[ServableNeedRead.of(v) for v in page.items], total=page.total, limit=limit, offset=offset)


@router.get("/matches", response_model=MatchPage, summary="本企业的产品匹配结果")
def matches(container: ContainerDep, who: MatchReader, need_id: uuid.UUID | None = None) -> MatchPage:
    """Every published product with why the enterprise does or does not qualify, ranked, with the estimate."""
    facts = provider_for(container).facts_for(who.enterprise_uscc or "", actor=who.ref)
    found = service.matches_for(container.db, actor=who, clock=container.clock, facts=facts, need_id=need_id)
    return MatchPage(items=[MatchRead.of(m) for m in found], total=len(found))
