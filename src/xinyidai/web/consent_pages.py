"""Chinese pages of authorization (授权): the enterprise's 授权管理, the institution's 授权申请, one authorization's
clauses and history, and the operator's fair-use bounds. Thin routes: every rule is in `xinyidai.consent`."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from xinyidai import catalog, consent
from xinyidai.http.container import Container, get_container
from xinyidai.kernel.errors import DomainError
from xinyidai.principal import Permission, Principal, Role, require
from xinyidai.web.layout import allowed, error_page, redirect, render, today_in_china

router = APIRouter(include_in_schema=False)
ContainerDep = Annotated[Container, Depends(get_container)]
Reader = Annotated[Principal, Depends(require(Permission.AUTHORIZATION_READ))]
Requester = Annotated[Principal, Depends(require(Permission.AUTHORIZATION_REQUEST))]
Grantor = Annotated[Principal, Depends(require(Permission.AUTHORIZATION_GRANT))]
PolicyManager = Annotated[Principal, Depends(require(Permission.CONSENT_POLICY_MANAGE))]

_STATUS_TONES = {
    consent.AuthorizationStatus.REQUESTED: "warn",
    consent.AuthorizationStatus.ACTIVE: "ok",
    consent.AuthorizationStatus.PAUSED: "info",
    consent.AuthorizationStatus.REJECTED: "muted",
    consent.AuthorizationStatus.REVOKED: "bad",
    consent.AuthorizationStatus.EXPIRED: "muted",
}
_LIST_LIMIT = 200
_ACTIONS = {
    "reject": consent.Transition.REJECT,
    "pause": consent.Transition.PAUSE,
    "resume": consent.Transition.RESUME,
    "revoke": consent.Transition.REVOKE,
}


def _common(container: Container) -> dict[str, Any]:
    return {
        "auth_tone": lambda status: _STATUS_TONES.get(status, "muted"),
        "purposes": list(consent.Purpose),
        "units": list(consent.FrequencyUnit),
        "transition_labels": {"request": "提交申请", **{t.value: t.label_zh for t in consent.Transition}},
        "status_labels": {s.value: s.label_zh for s in consent.AuthorizationStatus},
    }


def _catalog_choices(container: Container) -> dict[str, Any]:
    version = catalog.version_for(None, on=today_in_china(container))
    return {
        "catalog_version": version.key,
        "categories": [
            {"code": c.code, "name": c.name_zh, "items": [i for i in version.items_in(c.code) if i.disclosure.value != "public"]}
            for c in version.categories
        ],
    }


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


# --- lists ---------------------------------------------------------------------------------------


@router.get("/authorizations")
def authorizations(request: Request, container: ContainerDep, who: Reader) -> Response:
    """授权管理 for an enterprise, 授权申请 for an institution."""
    if who.role is Role.ENTERPRISE:
        return _enterprise_page(request, container, who)
    return _institution_page(request, container, who)


def _enterprise_page(request: Request, container: Container, who: Principal, *, notice: str | None = None) -> Response:
    page = consent.list_authorizations(container.db, actor=who, clock=container.clock, limit=_LIST_LIMIT)
    groups: dict[str, list[consent.AuthorizationView]] = {"pending": [], "current": [], "history": []}
    for view in page.items:
        if view.status is consent.AuthorizationStatus.REQUESTED:
            groups["pending"].append(view)
        elif view.status in (consent.AuthorizationStatus.ACTIVE, consent.AuthorizationStatus.PAUSED):
            groups["current"].append(view)
        else:
            groups["history"].append(view)
    return render(
        request,
        container,
        who,
        "consent/enterprise.html",
        {"page_title": "授权管理", **groups, "total": page.total, "notice": notice, **_common(container)},
    )


def _institution_page(
    request: Request,
    container: Container,
    who: Principal,
    *,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    page = consent.list_authorizations(container.db, actor=who, clock=container.clock, limit=_LIST_LIMIT)
    policies = {p.purpose: p for p in consent.list_policies(container.db)}
    defaults = {
        "enterprise_uscc": "",
        "purpose": consent.Purpose.CREDIT_APPROVAL.value,
        "scope_categories": [],
        "scope_items": [],
        "data_from": (today_in_china(container) - timedelta(days=730)).isoformat(),
        "data_to": today_in_china(container).isoformat(),
        "fetch_type": consent.FetchType.ONE_TIME.value,
        "frequency_max": "4",
        "frequency_unit": consent.FrequencyUnit.MONTH.value,
        "data_life_days": "90",
        "validity_days": "30",
        "note": "",
    }
    return render(
        request,
        container,
        who,
        "consent/institution.html",
        {
            "page_title": "授权申请",
            "items": page.items,
            "total": page.total,
            "error": error,
            "notice": notice,
            "form": {**defaults, **(form or {})},
            "policies": policies,
            **_catalog_choices(container),
            **_common(container),
        },
        status_code=status_code,
    )


@router.post("/authorizations")
def request_form(
    request: Request,
    container: ContainerDep,
    who: Requester,
    enterprise_uscc: Annotated[str, Form(max_length=40)] = "",
    purpose: Annotated[str, Form(max_length=40)] = "",
    scope_categories: Annotated[list[str] | None, Form(max_length=30)] = None,
    scope_items: Annotated[list[str] | None, Form(max_length=100)] = None,
    data_from: Annotated[str, Form(max_length=10)] = "",
    data_to: Annotated[str, Form(max_length=10)] = "",
    fetch_type: Annotated[str, Form(max_length=16)] = "",
    frequency_max: Annotated[str, Form(max_length=6)] = "",
    frequency_unit: Annotated[str, Form(max_length=8)] = "",
    data_life_days: Annotated[str, Form(max_length=6)] = "",
    validity_days: Annotated[str, Form(max_length=6)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """An institution officer asks an enterprise for an authorization from the form."""
    uscc = enterprise_uscc.strip().upper()
    form: dict[str, Any] = {
        "enterprise_uscc": uscc,
        "purpose": purpose,
        "scope_categories": scope_categories or [],
        "scope_items": scope_items or [],
        "data_from": data_from,
        "data_to": data_to,
        "fetch_type": fetch_type,
        "frequency_max": frequency_max,
        "frequency_unit": frequency_unit,
        "data_life_days": data_life_days,
        "validity_days": validity_days,
        "note": note,
    }
    try:
        periodic = fetch_type == consent.FetchType.PERIODIC.value
        terms = consent.AuthorizationTerms(
            purpose=consent.Purpose(purpose),
            scope=consent.Scope(frozenset(form["scope_categories"]), frozenset(form["scope_items"])),
            data_range=consent.DateRange(date.fromisoformat(data_from), date.fromisoformat(data_to)),
            fetch_type=consent.FetchType(fetch_type),
            frequency=consent.Frequency(int(frequency_max), consent.FrequencyUnit(frequency_unit)) if periodic else None,
            data_life_days=int(data_life_days),
            starts_at=None,
            expires_at=container.clock.now() + timedelta(days=int(validity_days)),
        )
    except ValueError:
        return _institution_page(
            request, container, who, error="请完整填写申请表：日期为 YYYY-MM-DD，天数和次数为整数。", form=form, status_code=422
        )
    try:
        view = consent.request_authorization(
            container.db, actor=who, clock=container.clock, enterprise_uscc=uscc, terms=terms, note=note
        )
    except DomainError as exc:
        return _institution_page(request, container, who, error=exc.detail, form=form, status_code=exc.status)
    return redirect(f"/authorizations/{view.id}?created=1")


# --- one authorization ---------------------------------------------------------------------------


def _detail(
    request: Request,
    container: Container,
    who: Principal,
    view: consent.AuthorizationView,
    *,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    clauses = consent.consent_clauses(view)
    categories, items = consent.scope_labels(view)
    return render(
        request,
        container,
        who,
        "consent/detail.html",
        {
            "page_title": "授权详情",
            "a": view,
            "clauses": clauses,
            "clauses_digest": consent.clauses_digest(clauses),
            "category_names": categories,
            "item_names": items,
            "is_enterprise": who.role is Role.ENTERPRISE,
            "can_grant": allowed(who, Permission.AUTHORIZATION_GRANT),
            "actions": [t.value for t in view.enterprise_actions],
            "error": error,
            "notice": notice,
            **_common(container),
        },
        status_code=status_code,
    )


def _not_found(request: Request, container: Container, who: Principal) -> Response:
    return error_page(
        request, container, who, status_code=404, title="未找到该授权", detail="该授权不存在，或不属于本机构/本企业。"
    )


@router.get("/authorizations/{authorization_id}")
def authorization_detail(authorization_id: str, request: Request, container: ContainerDep, who: Reader) -> Response:
    """The clauses (key terms prominent), the terms, the history; the enterprise's decisions."""
    key = _uuid(authorization_id)
    try:
        if key is None:
            raise consent.AuthorizationNotFound()
        view = consent.get_authorization(container.db, actor=who, clock=container.clock, authorization_id=key)
    except consent.AuthorizationNotFound:
        return _not_found(request, container, who)
    notice = "授权申请已提交，等待企业确认。" if request.query_params.get("created") else None
    if request.query_params.get("done"):
        notice = "操作已完成。"
    return _detail(request, container, who, view, notice=notice)


@router.post("/authorizations/{authorization_id}/approve")
def approve_form(
    authorization_id: str,
    request: Request,
    container: ContainerDep,
    who: Grantor,
    password: Annotated[str, Form(max_length=1024)] = "",
    clauses_sha256: Annotated[str, Form(max_length=64)] = "",
    agree: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Approve after reading the clauses and re-entering the password."""
    key = _uuid(authorization_id)
    if key is None:
        return _not_found(request, container, who)
    try:
        if agree != "yes":
            view = consent.get_authorization(container.db, actor=who, clock=container.clock, authorization_id=key)
            return _detail(request, container, who, view, error="请先阅读并勾选同意授权条款。", status_code=422)
        consent.approve_authorization(
            container.db,
            actor=who,
            clock=container.clock,
            keyring=consent.keyring_for(container),
            authorization_id=key,
            password=password,
            clauses_sha256=clauses_sha256 or None,
        )
    except consent.AuthorizationNotFound:
        return _not_found(request, container, who)
    except DomainError as exc:
        view = consent.get_authorization(container.db, actor=who, clock=container.clock, authorization_id=key)
        return _detail(request, container, who, view, error=exc.detail, status_code=exc.status)
    return redirect(f"/authorizations/{key}?done=1")


@router.post("/authorizations/{authorization_id}/{action}")
def change_form(
    authorization_id: str,
    action: str,
    request: Request,
    container: ContainerDep,
    who: Grantor,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Reject, pause, resume or revoke from the page."""
    key = _uuid(authorization_id)
    transition = _ACTIONS.get(action)
    if key is None or transition is None:
        return _not_found(request, container, who)
    try:
        consent.change_authorization(
            container.db,
            actor=who,
            clock=container.clock,
            keyring=consent.keyring_for(container),
            authorization_id=key,
            transition=transition,
            reason=reason,
        )
    except consent.AuthorizationNotFound:
        return _not_found(request, container, who)
    except DomainError as exc:
        view = consent.get_authorization(container.db, actor=who, clock=container.clock, authorization_id=key)
        return _detail(request, container, who, view, error=exc.detail, status_code=exc.status)
    return redirect(f"/authorizations/{key}?done=1")


# --- fair-use bounds -----------------------------------------------------------------------------


@router.get("/consent/policies")
def policies_page(request: Request, container: ContainerDep, who: PolicyManager) -> Response:
    """The operator's fair-use bounds per purpose."""
    return _policies(request, container, who)


def _policies(
    request: Request,
    container: Container,
    who: Principal,
    *,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        container,
        who,
        "consent/policies.html",
        {
            "page_title": "授权公平使用规则",
            "policies": consent.list_policies(container.db),
            "error": error,
            "notice": notice,
            **_common(container),
        },
        status_code=status_code,
    )


@router.post("/consent/policies")
def policies_submit(
    request: Request,
    container: ContainerDep,
    who: PolicyManager,
    purpose: Annotated[str, Form(max_length=40)] = "",
    max_validity_days: Annotated[str, Form(max_length=6)] = "",
    max_data_range_days: Annotated[str, Form(max_length=6)] = "",
    max_frequency_fetches: Annotated[str, Form(max_length=6)] = "",
    max_frequency_unit: Annotated[str, Form(max_length=8)] = "",
    max_data_life_days: Annotated[str, Form(max_length=6)] = "",
) -> Response:
    """Save one purpose's bounds (one form per row of the table)."""
    try:
        policy = consent.FairUsePolicy(
            purpose=consent.Purpose(purpose),
            max_validity_days=int(max_validity_days),
            max_data_range_days=int(max_data_range_days),
            max_frequency=consent.Frequency(int(max_frequency_fetches), consent.FrequencyUnit(max_frequency_unit)),
            max_data_life_days=int(max_data_life_days),
        )
    except ValueError:
        return _policies(request, container, who, error="请填写整数天数和次数。", status_code=422)
    try:
        consent.set_policies(container.db, actor=who, clock=container.clock, policies=[policy])
    except DomainError as exc:
        return _policies(request, container, who, error=exc.detail, status_code=exc.status)
    return _policies(request, container, who, notice=f"“{policy.purpose.label_zh}”的公平使用规则已保存。")
