"""Chinese pages of the product market: the enterprise's 产品超市 (browse, filter, see why it qualifies or not and its
预授信额度, apply — authorizing in the same step when the product needs it) and 融资需求; the institution's 产品管理
(draft, edit, publish, withdraw) and the needs its products could serve. Thin routes: the rules are in
`xinyidai.product`, `xinyidai.lending.market` and `xinyidai.consent`."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from xinyidai import catalog, consent, lending, product
from xinyidai.http.container import Container, get_container
from xinyidai.kernel.errors import DomainError
from xinyidai.principal import Permission, Principal, require
from xinyidai.product.model import GRADES, SIZE_CLASSES, TAX_GRADES
from xinyidai.web.layout import allowed, error_page, redirect, render, today_in_china

router = APIRouter(include_in_schema=False)
ContainerDep = Annotated[Container, Depends(get_container)]
Reader = Annotated[Principal, Depends(require(Permission.PRODUCT_READ))]
Applicant = Annotated[Principal, Depends(require(Permission.APPLICATION_CREATE))]
NeedPoster = Annotated[Principal, Depends(require(Permission.NEED_CREATE))]
Manager = Annotated[Principal, Depends(require(Permission.PRODUCT_MANAGE))]
NeedReader = Annotated[Principal, Depends(require(Permission.NEED_READ))]

_PAGE = 20
_BAD_APPLY = "请填写正确的金额（万元）和期限（月）。"
_BAD_NEED = "请填写正确的金额（万元）、期限（月）和紧急程度。"
_BAD_PRODUCT = "请完整填写额度、期限和利率，并使用正确的格式。"
_TYPES = {t.value for t in product.ProductType}
_URGENCIES = {u.value for u in product.Urgency}
_PURPOSES = {p.value for p in consent.Purpose}
_SIZE_LABELS = {"micro": "微型", "small": "小型", "medium": "中型", "large": "大型"}
_OUTCOME_TONES = {"pass": "ok", "unknown": "warn", "fail": "bad"}
_STATUS_TONES = {"draft": "info", "published": "ok", "withdrawn": "muted"}


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        return None


def _dec(text: str) -> Decimal | None:
    """A finite decimal from a form field; None when empty; ValueError when not a number."""
    text = text.strip().replace(",", "")
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite():
        raise ValueError(text)
    return value


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text else None


def _codes(text: str) -> tuple[str, ...]:
    """Codes separated by commas, 、 or spaces."""
    for sep in ("，", "、", " ", ";", "；"):
        text = text.replace(sep, ",")
    return tuple(dict.fromkeys(c.strip().upper() for c in text.split(",") if c.strip()))


def _authorized_items(on: date) -> list[tuple[str, str]]:
    """Catalog items that need an authorization (what a product may ask for), as (code, Chinese name)."""
    version = catalog.version_for(None, on=on)
    return [(i.code, i.name_zh) for i in version.items if i.disclosure.value != "public"]


def _common(container: Container) -> dict[str, Any]:
    return {
        "types": list(product.ProductType),
        "methods": list(product.RepaymentMethod),
        "urgencies": list(product.Urgency),
        "shareable": product.SHAREABLE_FIELDS,
        "grades": GRADES,
        "tax_grades": TAX_GRADES,
        "sizes": [(s, _SIZE_LABELS[s]) for s in SIZE_CLASSES],
        "size_label": lambda s: _SIZE_LABELS.get(s, s),
        "purposes": list(consent.Purpose),
        "purpose_label": lambda code: consent.Purpose(code).label_zh if code in _PURPOSES else code,
        "outcome_tone": lambda o: _OUTCOME_TONES.get(o.value, "muted"),
        "status_tone": lambda s: _STATUS_TONES.get(s.value, "muted"),
        "scope_items": _authorized_items(today_in_china(container)),
    }


def _facts(container: Container, who: Principal) -> product.SubjectFacts:
    return product.provider_for(container).facts_for(who.enterprise_uscc or "", actor=who.ref)


# --- the market --------------------------------------------------------------------------------------------------


def _market_filter(request: Request) -> tuple[product.MarketFilter, dict[str, str], str | None]:
    q = request.query_params
    form = {k: q.get(k, "") for k in ("type", "credit", "amount", "term", "rate", "institution", "eligible")}
    error = None
    try:
        amount, term, rate = _dec(form["amount"]), _int(form["term"]), _dec(form["rate"])
    except ValueError:
        amount, term, rate, error = None, None, None, "请填写正确的金额（万元）、期限（月）和利率（%）。"
    kind = form["type"] if form["type"] in _TYPES else None
    filters = product.MarketFilter(
        type=product.ProductType(kind) if kind else None,
        credit_only=form["credit"] == "1",
        amount=amount if amount is not None and amount > 0 else None,
        term_months=term if term is not None and term > 0 else None,
        rate_max=rate,
        institution_id=form["institution"] or None,
        eligible_only=form["eligible"] == "1",
    )
    return filters, form, error


@router.get("/market")
def market(request: Request, container: ContainerDep, who: Reader) -> Response:
    """产品超市: published products, filtered; for an enterprise ranked by fit with each rule's reason and its estimate."""
    filters, form, error = _market_filter(request)
    try:
        offset = max(0, int(request.query_params.get("offset", "0")))
    except ValueError:
        offset = 0
    is_enterprise = allowed(who, Permission.APPLICATION_CREATE) and who.enterprise_uscc is not None
    context: dict[str, Any] = {
        "page_title": "产品超市",
        "is_enterprise": is_enterprise,
        "form": form,
        "error": error,
        "institutions": product.market_institutions(container.db),
        "offset": offset,
        "limit": _PAGE,
    }
    if is_enterprise:
        page = product.market_for(
            container.db,
            actor=who,
            clock=container.clock,
            facts=_facts(container, who),
            filters=filters,
            limit=_PAGE,
            offset=offset,
        )
        context.update(matches=page.items, total=page.total, eligible=page.eligible, products=page.products)
    else:
        found = [p for p in product.published_products(container.db) if filters.admits(p)]
        context.update(listed=found[offset : offset + _PAGE], total=len(found))
    query = "&".join(f"{k}={v}" for k, v in form.items() if v)
    context["query"] = query
    return render(request, container, who, "product/market.html", {**context, **_common(container)})


@router.get("/market/{product_id}")
def market_product(product_id: str, request: Request, container: ContainerDep, who: Reader) -> Response:
    """One published product; for an enterprise, why it qualifies or not and its 预授信额度."""
    key = _uuid(product_id)
    found = product.published_product(container.db, product_id=key) if key else None
    if found is None:
        return _no_product(request, container, who)
    match = None
    if allowed(who, Permission.APPLICATION_CREATE) and who.enterprise_uscc:
        facts = _facts(container, who)
        match = product.market_matcher(container.db).explain(found, facts, as_of=today_in_china(container))
    return render(
        request,
        container,
        who,
        "product/detail.html",
        {"page_title": found.terms.name, "p": found, "m": match, **_common(container)},
    )


def _no_product(request: Request, container: Container, who: Principal) -> Response:
    return error_page(request, container, who, status_code=404, title="未找到该产品", detail="该产品不存在或已下架。")


def _apply_page(
    request: Request,
    container: Container,
    who: Principal,
    found: product.Product,
    *,
    form: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    need = lending.authorization_need(container.db, actor=who, clock=container.clock, found=found)
    t = found.terms
    return render(
        request,
        container,
        who,
        "product/apply.html",
        {
            "page_title": f"申请：{t.name}",
            "p": found,
            "need": need,
            "form": form or {"amount_wan": format(t.amount_min.normalize(), "f"), "term_months": str(t.term_min), "purpose": ""},
            "error": error,
            **_common(container),
        },
        status_code=status_code,
    )


@router.get("/market/{product_id}/apply")
def apply_page(product_id: str, request: Request, container: ContainerDep, who: Applicant) -> Response:
    """The application form, with the authorization the product needs (and whether the enterprise has given it)."""
    key = _uuid(product_id)
    found = product.published_product(container.db, product_id=key) if key else None
    if found is None:
        return _no_product(request, container, who)
    return _apply_page(request, container, who, found)


@router.post("/market/{product_id}/apply")
def apply_form(
    product_id: str,
    request: Request,
    container: ContainerDep,
    who: Applicant,
    amount_wan: Annotated[str, Form(max_length=30)] = "",
    term_months: Annotated[str, Form(max_length=4)] = "",
    purpose: Annotated[str, Form(max_length=500)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    agree: Annotated[str, Form(max_length=4)] = "",
) -> Response:
    """Apply; when the product needs an authorization not yet given, approve it first with the password."""
    key = _uuid(product_id)
    found = product.published_product(container.db, product_id=key) if key else None
    if found is None or key is None:
        return _no_product(request, container, who)
    form = {"amount_wan": amount_wan, "term_months": term_months, "purpose": purpose}
    try:
        amount, term = _dec(amount_wan), _int(term_months)
        if amount is None or term is None:
            raise ValueError(amount_wan)
    except ValueError:
        return _apply_page(request, container, who, found, form=form, error=_BAD_APPLY, status_code=422)
    need = lending.authorization_need(container.db, actor=who, clock=container.clock, found=found)
    if need.to_give and agree != "yes":
        return _apply_page(request, container, who, found, form=form, error="请阅读并勾选同意授权条款。", status_code=422)
    try:
        view = lending.apply_to_product(
            container.db,
            actor=who,
            clock=container.clock,
            hooks=lending.hooks_for(container),
            keyring=consent.keyring_for(container),
            product_id=key,
            amount_wan=amount,
            term_months=term,
            purpose=purpose,
            password=password or None,
        )
    except DomainError as exc:
        return _apply_page(request, container, who, found, form=form, error=exc.detail, status_code=exc.status)
    return redirect(f"/lending/applications/{view.id}?done=1")


# --- needs ------------------------------------------------------------------------------------------------------


def _needs_page(
    request: Request,
    container: Container,
    who: Principal,
    *,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    page = product.list_own_needs(container.db, actor=who, limit=100)
    return render(
        request,
        container,
        who,
        "product/needs.html",
        {
            "page_title": "融资需求",
            "items": page.items,
            "total": page.total,
            "form": form or {"amount": "", "term_months": "12", "purpose": "", "urgency": "normal", "shared": []},
            "error": error,
            "done": request.query_params.get("done"),
            **_common(container),
        },
        status_code=status_code,
    )


@router.get("/needs")
def needs(request: Request, container: ContainerDep, who: NeedPoster) -> Response:
    """The enterprise's needs, and the form to post one."""
    return _needs_page(request, container, who)


@router.post("/needs")
def post_need(
    request: Request,
    container: ContainerDep,
    who: NeedPoster,
    amount: Annotated[str, Form(max_length=30)] = "",
    term_months: Annotated[str, Form(max_length=4)] = "",
    purpose: Annotated[str, Form(max_length=200)] = "",
    urgency: Annotated[str, Form(max_length=20)] = "normal",
    shared: Annotated[list[str] | None, Form(max_length=len(product.SHAREABLE_FIELDS))] = None,
) -> Response:
    """Post a need, sharing only the fields ticked."""
    fields = tuple(shared or ())
    form = {"amount": amount, "term_months": term_months, "purpose": purpose, "urgency": urgency, "shared": list(fields)}
    try:
        value, term = _dec(amount), _int(term_months)
        if value is None or term is None or urgency not in _URGENCIES:
            raise ValueError(amount)
    except ValueError:
        return _needs_page(request, container, who, form=form, error=_BAD_NEED, status_code=422)
    try:
        product.post_need(
            container.db,
            actor=who,
            clock=container.clock,
            facts=_facts(container, who),
            amount=value,
            term_months=term,
            purpose=purpose,
            urgency=product.Urgency(urgency),
            shared_fields=fields,
        )
    except DomainError as exc:
        return _needs_page(request, container, who, form=form, error=exc.detail, status_code=exc.status)
    return redirect("/needs?done=1")


@router.post("/needs/{need_id}/close")
def close_need(need_id: str, request: Request, container: ContainerDep, who: NeedPoster) -> Response:
    """Close one of the enterprise's needs."""
    key = _uuid(need_id)
    try:
        if key is None:
            raise product.NeedNotFound()
        product.close_need(container.db, actor=who, clock=container.clock, need_id=key)
    except product.NeedNotFound:
        return error_page(
            request, container, who, status_code=404, title="未找到该融资需求", detail="该需求不存在或不属于本企业。"
        )
    except DomainError as exc:
        return _needs_page(request, container, who, error=exc.detail, status_code=exc.status)
    return redirect("/needs?done=1")


# --- the institution's products ---------------------------------------------------------------------------------


def _blank() -> dict[str, Any]:
    return {
        "name": "",
        "type": "pure_credit",
        "credit_loan": "yes",
        "amount_min": "",
        "amount_max": "",
        "term_min": "",
        "term_max": "",
        "rate_min": "",
        "rate_max": "",
        "methods": ["equal_instalment"],
        "scope_items": [],
        "purpose": "credit_approval",
        "regions": "",
        "industries": "",
        "sizes": [],
        "min_years": "",
        "min_grade": "",
        "dishonesty": "yes",
        "min_tax_grade": "",
        "max_capital": "",
        "description": "",
    }


def _form_of(p: product.Product) -> dict[str, Any]:
    t, r = p.terms, p.terms.rules

    def num(v: Decimal | int | None) -> str:
        return "" if v is None else (format(v.normalize(), "f") if isinstance(v, Decimal) else str(v))

    return {
        "name": t.name,
        "type": t.type.value,
        "credit_loan": "yes" if t.credit_loan else "",
        "amount_min": num(t.amount_min),
        "amount_max": num(t.amount_max),
        "term_min": num(t.term_min),
        "term_max": num(t.term_max),
        "rate_min": num(t.rate_min),
        "rate_max": num(t.rate_max),
        "methods": [m.value for m in t.repayment_methods],
        "scope_items": list(t.scope_items),
        "purpose": t.purpose,
        "regions": "，".join(r.regions),
        "industries": "，".join(r.industries),
        "sizes": list(r.size_classes),
        "min_years": num(r.min_years),
        "min_grade": r.min_grade or "",
        "dishonesty": "yes" if r.exclude_serious_dishonesty else "",
        "min_tax_grade": r.min_tax_grade or "",
        "max_capital": num(r.max_registered_capital),
        "description": t.description,
    }


def _terms_of(form: dict[str, Any]) -> product.ProductTerms:
    """Product terms from the form; ValueError on a field that is not a number or a known code."""
    numbers = {k: _dec(form[k]) for k in ("amount_min", "amount_max", "rate_min", "rate_max")}
    terms = {k: _int(form[k]) for k in ("term_min", "term_max")}
    if any(v is None for v in (*numbers.values(), *terms.values())):
        raise ValueError("missing")
    rules = product.EligibilityRules(
        regions=_codes(form["regions"]),
        industries=_codes(form["industries"]),
        size_classes=tuple(form["sizes"]),
        min_years=_int(form["min_years"]),
        min_grade=form["min_grade"] or None,
        exclude_serious_dishonesty=form["dishonesty"] == "yes",
        min_tax_grade=form["min_tax_grade"] or None,
        max_registered_capital=_dec(form["max_capital"]),
    )
    return product.ProductTerms(
        name=form["name"],
        type=product.ProductType(form["type"]),
        credit_loan=form["credit_loan"] == "yes",
        amount_min=numbers["amount_min"] or Decimal(0),
        amount_max=numbers["amount_max"] or Decimal(0),
        term_min=terms["term_min"] or 0,
        term_max=terms["term_max"] or 0,
        rate_min=numbers["rate_min"] or Decimal(0),
        rate_max=numbers["rate_max"] or Decimal(0),
        repayment_methods=tuple(product.RepaymentMethod(m) for m in form["methods"]),
        scope_items=tuple(form["scope_items"]),
        purpose=form["purpose"] if form["purpose"] in _PURPOSES else "credit_approval",
        rules=rules,
        description=form["description"].strip(),
    )


async def _product_form(request: Request) -> dict[str, Any]:
    data = await request.form()
    form = _blank()
    for key in form:
        if isinstance(form[key], list):
            form[key] = [str(v) for v in data.getlist(key)][:50]
        else:
            form[key] = str(data.get(key, ""))[:2000]
    return form


def _products_page(
    request: Request,
    container: Container,
    who: Principal,
    *,
    form: dict[str, Any] | None = None,
    editing: product.ProductView | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    page = product.list_own_products(container.db, actor=who, limit=200)
    return render(
        request,
        container,
        who,
        "product/products.html",
        {
            "page_title": "产品管理",
            "items": page.items,
            "total": page.total,
            "form": form or (_form_of(editing.product) if editing else _blank()),
            "editing": editing,
            "error": error,
            "done": request.query_params.get("done"),
            **_common(container),
        },
        status_code=status_code,
    )


@router.get("/products")
def products(request: Request, container: ContainerDep, who: Manager) -> Response:
    """The institution's products and the form to draft one."""
    return _products_page(request, container, who)


@router.post("/products")
async def create_product(request: Request, container: ContainerDep, who: Manager) -> Response:
    """Draft a product."""
    form = await _product_form(request)
    try:
        terms = _terms_of(form)
    except ValueError:
        return _products_page(request, container, who, form=form, error=_BAD_PRODUCT, status_code=422)
    try:
        view = product.create_product(container.db, actor=who, clock=container.clock, terms=terms)
    except DomainError as exc:
        return _products_page(request, container, who, form=form, error=exc.detail, status_code=exc.status)
    return redirect(f"/products/{view.product.id}?done=1")


def _own(container: Container, who: Principal, product_id: str) -> product.ProductView | None:
    key = _uuid(product_id)
    if key is None:
        return None
    try:
        view = product.get_product(container.db, actor=who, product_id=key)
    except product.ProductNotFound:
        return None
    return view if view.product.institution_id == str(who.institution_id) else None


@router.get("/products/needs")
def servable_needs(request: Request, container: ContainerDep, who: NeedReader) -> Response:
    """Open needs the institution's published products could serve, with only what each enterprise shared."""
    page = product.list_servable_needs(container.db, actor=who, clock=container.clock, limit=200)
    names = {v.product.id: v.product.terms.name for v in product.list_own_products(container.db, actor=who, limit=500).items}
    return render(
        request,
        container,
        who,
        "product/servable.html",
        {"page_title": "可服务的融资需求", "items": page.items, "total": page.total, "names": names, **_common(container)},
    )


@router.get("/products/{product_id}")
def product_detail(product_id: str, request: Request, container: ContainerDep, who: Manager) -> Response:
    """One of the institution's products: the edit form while a draft; publish or withdraw."""
    view = _own(container, who, product_id)
    if view is None:
        return _no_product(request, container, who)
    return _products_page(request, container, who, editing=view)


@router.post("/products/{product_id}")
async def update_product(product_id: str, request: Request, container: ContainerDep, who: Manager) -> Response:
    """Save a draft."""
    key = _uuid(product_id)
    view = _own(container, who, product_id)
    if view is None or key is None:
        return _no_product(request, container, who)
    form = await _product_form(request)
    try:
        terms = _terms_of(form)
    except ValueError:
        return _products_page(
            request,
            container,
            who,
            form=form,
            editing=view,
            error=_BAD_PRODUCT,
            status_code=422,
        )
    try:
        product.update_product(container.db, actor=who, clock=container.clock, product_id=key, terms=terms)
    except DomainError as exc:
        return _products_page(request, container, who, form=form, editing=view, error=exc.detail, status_code=exc.status)
    return redirect(f"/products/{key}?done=1")


def _move(request: Request, container: Container, who: Principal, product_id: str, transition: product.Transition) -> Response:
    key = _uuid(product_id)
    if key is None:
        return _no_product(request, container, who)
    try:
        product.change_product(container.db, actor=who, clock=container.clock, product_id=key, transition=transition)
    except product.ProductNotFound:
        return _no_product(request, container, who)
    except DomainError as exc:
        return _products_page(
            request, container, who, editing=_own(container, who, product_id), error=exc.detail, status_code=exc.status
        )
    return redirect(f"/products/{key}?done=1")


@router.post("/products/{product_id}/publish")
def publish(product_id: str, request: Request, container: ContainerDep, who: Manager) -> Response:
    """Draft → published."""
    return _move(request, container, who, product_id, product.Transition.PUBLISH)


@router.post("/products/{product_id}/withdraw")
def withdraw(product_id: str, request: Request, container: ContainerDep, who: Manager) -> Response:
    """Published → withdrawn."""
    return _move(request, container, who, product_id, product.Transition.WITHDRAW)
