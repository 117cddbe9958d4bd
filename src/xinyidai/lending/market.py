"""Applying from the product market (产品超市): the authorization a product needs, found or given in the same step.

A product states the authorization its institution needs to examine an application (catalog items and a purpose,
`ProductTerms.scope_items` / `purpose`). When the enterprise applies through the market:

1. `authorization_need` says whether an active authorization of the enterprise to the product's institution
   already covers those items for that purpose (then the application attaches it), and otherwise which terms the
   platform will ask for on the institution's behalf (`platform_terms`: a one-time query of the last two years,
   data kept 180 days, valid 90 days — within the default fair-use bounds of 授信审批 and 贷前审查).
2. `apply_to_product` then, if needed, files that request through `consent.request_authorization` (as the
   institution, by the platform: the product published the need) and approves it through
   `consent.approve_authorization` with the enterprise's re-entered password (consent checks it, signs the artefact
   and notifies the institution), and submits the application with `submit_application`, whose authorization hook
   (`default_hooks`) finds the authorization and stores its id in the application.

A wrong password leaves the request pending (the enterprise can approve it later on 授权管理, or retry: the same
pending request is reused, not duplicated) and no application is filed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from xinyidai import catalog, consent, product
from xinyidai.db import Database
from xinyidai.http.container import Container
from xinyidai.kernel.actor import ActorKind
from xinyidai.kernel.clock import Clock, today
from xinyidai.kernel.errors import Forbidden, InvalidInput
from xinyidai.lending.model import ProductLimits
from xinyidai.lending.service import ApplicationView, LendingHooks, ProductNotFound, ProductRef, submit_application
from xinyidai.principal import AuthMethod, Principal

#: How long an authorization the platform asks for on a product's behalf lasts, and what it covers.
VALIDITY_DAYS = 90
DATA_YEARS_DAYS = 730
DATA_LIFE_DAYS = 180


@dataclass(frozen=True, slots=True)
class ScopeItem:
    """One catalog item an authorization covers, with its Chinese name."""

    code: str
    name: str


@dataclass(frozen=True, slots=True)
class AuthorizationNeed:
    """What applying to a product needs from the enterprise's authorizations.

    `existing`: an active authorization that already covers the items for the purpose (nothing more to do);
    `pending`: a request for exactly these terms waiting for the enterprise (approving it is enough);
    otherwise `terms` is what the platform will request and the enterprise approves with its password.
    No items (`required` False): the product needs no authorization.
    """

    institution_id: uuid.UUID
    institution_name: str
    purpose: consent.Purpose
    items: tuple[ScopeItem, ...]
    existing: uuid.UUID | None
    pending: uuid.UUID | None
    terms: consent.AuthorizationTerms | None

    @property
    def required(self) -> bool:
        """Whether the product asks for any authorization at all."""
        return bool(self.items)

    @property
    def to_give(self) -> bool:
        """Whether the enterprise still has to approve one (with its password) before applying."""
        return self.required and self.existing is None


def _purpose(code: str) -> consent.Purpose:
    try:
        return consent.Purpose(code)
    except ValueError:
        return consent.Purpose.CREDIT_APPROVAL


def _catalog_items(codes: tuple[str, ...], on: date) -> tuple[dict[str, str], dict[str, str]]:
    """(name by item code, category by item code) in the catalog version in force."""
    version = catalog.version_for(None, on=on)
    known = {i.code: i for i in version.items}
    return (
        {c: (known[c].name_zh if c in known else c) for c in codes},
        {c: known[c].category for c in codes if c in known},
    )


def _covers(
    view: consent.AuthorizationView, purpose: consent.Purpose, items: tuple[str, ...], categories: dict[str, str]
) -> bool:
    if view.purpose is not purpose or view.status is not consent.AuthorizationStatus.ACTIVE:
        return False
    return all(code in view.scope_items or categories.get(code) in view.scope_categories for code in items)


def _same_terms(view: consent.AuthorizationView, purpose: consent.Purpose, items: tuple[str, ...]) -> bool:
    return (
        view.status is consent.AuthorizationStatus.REQUESTED and view.purpose is purpose and set(items) <= set(view.scope_items)
    )


def platform_actor(institution_id: uuid.UUID, institution_name: str) -> Principal:
    """The platform acting for an institution on a product it published (requests and checks authorizations)."""
    return Principal(
        kind=ActorKind.SYSTEM,
        id=institution_id,
        label=f"产品超市（代{institution_name}）"[:200],
        permissions=frozenset(),
        method=AuthMethod.TOKEN,
        institution_id=institution_id,
    )


def platform_terms(purpose: consent.Purpose, items: tuple[str, ...], *, clock: Clock) -> consent.AuthorizationTerms:
    """The terms the platform asks for on a product's behalf (see the module docstring)."""
    now, day = clock.now(), today(clock)
    return consent.AuthorizationTerms(
        purpose=purpose,
        scope=consent.Scope(items=frozenset(items)),
        data_range=consent.DateRange(day - timedelta(days=DATA_YEARS_DAYS - 1), day),
        fetch_type=consent.FetchType.ONE_TIME,
        frequency=None,
        data_life_days=DATA_LIFE_DAYS,
        starts_at=None,
        expires_at=now + timedelta(days=VALIDITY_DAYS),
    )


def covering_authorization(
    db: Database,
    *,
    clock: Clock,
    uscc: str,
    institution_id: uuid.UUID,
    institution_name: str,
    purpose: str,
    items: tuple[str, ...],
) -> uuid.UUID | None:
    """The newest active authorization of the enterprise to the institution covering `items` for `purpose` (items
    named or their categories), read as the institution (audited by consent); None when there is none."""
    if not items:
        return None
    wanted = _purpose(purpose)
    _names, categories = _catalog_items(items, today(clock))
    page = consent.list_authorizations(
        db,
        actor=platform_actor(institution_id, institution_name),
        clock=clock,
        status=consent.AuthorizationStatus.ACTIVE,
        enterprise_uscc=uscc,
        limit=200,
    )
    return next((v.id for v in page.items if _covers(v, wanted, items, categories)), None)


def authorization_need(db: Database, *, actor: Principal, clock: Clock, found: product.Product) -> AuthorizationNeed:
    """What the enterprise must authorize to apply to `found` (its own authorizations are read, audited)."""
    if actor.enterprise_uscc is None:
        raise Forbidden("只有企业用户可以申请融资")
    terms = found.terms
    items = tuple(dict.fromkeys(terms.scope_items))
    purpose = _purpose(terms.purpose)
    institution_id = uuid.UUID(found.institution_id)
    names, categories = _catalog_items(items, today(clock))
    scope = tuple(ScopeItem(c, names[c]) for c in items)
    if not items:
        return AuthorizationNeed(institution_id, found.institution_name, purpose, (), None, None, None)
    mine = consent.list_authorizations(db, actor=actor, clock=clock, limit=200).items
    own = [v for v in mine if v.institution_id == institution_id]
    existing = next((v.id for v in own if _covers(v, purpose, items, categories)), None)
    pending = None if existing else next((v.id for v in own if _same_terms(v, purpose, items)), None)
    return AuthorizationNeed(
        institution_id,
        found.institution_name,
        purpose,
        scope,
        existing,
        pending,
        None if existing or pending else platform_terms(purpose, items, clock=clock),
    )


def apply_to_product(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    hooks: LendingHooks,
    keyring: consent.Keyring,
    product_id: uuid.UUID,
    amount_wan: Decimal,
    term_months: int,
    purpose: str,
    password: str | None,
) -> ApplicationView:
    """Apply to a published product from the market, giving the authorization it needs first when there is none.

    Raises `consent.PasswordConfirmationFailed` on a wrong password (no application is filed), `InvalidInput`
    when an authorization is needed and no password was given, and whatever `submit_application` raises.
    """
    found = product.published_product(db, product_id=product_id)
    if found is None:
        raise ProductNotFound()
    need = authorization_need(db, actor=actor, clock=clock, found=found)
    if need.to_give:
        if not password:
            raise InvalidInput("该产品需要您授权机构查询相关信用信息，请输入登录密码确认授权")
        pending = need.pending
        if pending is None:
            assert need.terms is not None
            requested = consent.request_authorization(
                db,
                actor=platform_actor(need.institution_id, need.institution_name),
                clock=clock,
                enterprise_uscc=actor.enterprise_uscc or "",
                terms=need.terms,
                note=f"申请信易贷产品“{found.terms.name}”所需授权",
            )
            pending = requested.id
        consent.approve_authorization(db, actor=actor, clock=clock, keyring=keyring, authorization_id=pending, password=password)
    return submit_application(
        db,
        actor=actor,
        clock=clock,
        hooks=hooks,
        product_id=product_id,
        amount_wan=amount_wan,
        term_months=term_months,
        purpose=purpose,
    )


def default_hooks(container: Container) -> LendingHooks:
    """Lending's ports onto the product market and the authorizations: products are the published ones; the
    authorization is an active one covering the product's items and purpose; endpoints are consent's."""
    db, clock = container.db, container.clock

    def product_ref(product_id: uuid.UUID) -> ProductRef | None:
        found = product.published_product(db, product_id=product_id)
        if found is None:
            return None
        return ProductRef(
            id=uuid.UUID(found.id),
            institution_id=uuid.UUID(found.institution_id),
            name=found.terms.name,
            credit_loan=found.terms.credit_loan,
            limits=ProductLimits(
                amount_min_wan=found.terms.amount_min,
                amount_max_wan=found.terms.amount_max,
                term_min=found.terms.term_min,
                term_max=found.terms.term_max,
                rate_min_pct=found.terms.rate_min,
                rate_max_pct=found.terms.rate_max,
                methods=tuple(m.value for m in found.terms.repayment_methods),
            ),
        )

    def authorization(uscc: str, institution_id: uuid.UUID, product_id: uuid.UUID) -> uuid.UUID | None:
        found = product.published_product(db, product_id=product_id)
        if found is None or uuid.UUID(found.institution_id) != institution_id:
            return None
        if not found.terms.scope_items:  # the product names no items: any active authorization for its purpose
            return consent.find_active_authorization(
                db, enterprise_uscc=uscc, institution_id=institution_id, clock=clock, purposes=[_purpose(found.terms.purpose)]
            )
        return covering_authorization(
            db,
            clock=clock,
            uscc=uscc,
            institution_id=institution_id,
            institution_name=found.institution_name,
            purpose=found.terms.purpose,
            items=tuple(found.terms.scope_items),
        )

    return LendingHooks(product=product_ref, authorization=authorization, endpoint_url=consent.endpoint_url)
