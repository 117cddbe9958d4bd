"""Thin HTML routes: login, each role's home page, subjects, the audit log and the public tools, in Chinese."""

from __future__ import annotations

import hmac
import math
import re
import secrets
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from xinyidai import audit, job, principal, registry
from xinyidai.catalog import Catalog, CatalogDataError, load_catalog
from xinyidai.http.container import Container, get_container
from xinyidai.kernel import uscc as uscc_rules
from xinyidai.kernel.errors import Forbidden, NotFound, Throttled, Unauthenticated
from xinyidai.principal import (
    PUBLIC,
    SESSION_COOKIE,
    Permission,
    Principal,
    Role,
    optional_principal,
    require,
)
from xinyidai.web.layout import (
    allowed,
    error_page,
    redirect,
    render,
    today_in_china,
)

#: Double-submit token of the login form (cookie and hidden field carry the same random value).
LOGIN_CSRF_COOKIE = "login_csrf"
LOGIN_CSRF_FIELD = "login_csrf"
LOGIN_CSRF_MAX_AGE = 3600

PAGE_SIZE = 20
MAX_USCC_CODES = 50

router = APIRouter(include_in_schema=False)
ContainerDep = Annotated[Container, Depends(get_container)]
MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]

_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site (not the login or logout page), else ``/``.

    Refuses absolute and scheme-relative URLs (``//evil.example``), backslashes that
    browsers read as slashes, and control characters, so a crafted link cannot make
    the login page send the user elsewhere (open redirect).
    """
    if not target or not target.startswith("/") or target.startswith("//") or _CONTROL.search(target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path in ("/login", "/logout"):
        return "/"
    return target


# --- login and logout ----------------------------------------------------------------------------


def _login_page(
    request: Request,
    container: Container,
    *,
    next_path: str,
    username: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    # A fresh token on every rendering: the cookie and the hidden field always match.
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        container,
        None,
        "login.html",
        {
            "page_title": "登录",
            "next_path": next_path,
            "username": username,
            "error": error,
            "login_csrf": token,
            "login_csrf_field": LOGIN_CSRF_FIELD,
        },
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=LOGIN_CSRF_MAX_AGE,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=container.settings.secure_cookies,
    )
    return response


@router.get("/login", dependencies=[Depends(PUBLIC)])
def login_form(
    request: Request,
    container: ContainerDep,
    who: MaybePrincipal,
    next_: Annotated[str | None, Query(alias="next", max_length=2000)] = None,
) -> Response:
    """The login form; a logged-in user goes straight on."""
    target = safe_next(next_)
    if who is not None:
        return redirect(target)
    return _login_page(request, container, next_path=target)


def _same_token(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


@router.post("/login", dependencies=[Depends(PUBLIC)])
def login_submit(
    request: Request,
    container: ContainerDep,
    username: Annotated[str, Form(max_length=150)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    login_csrf: Annotated[str, Form(max_length=200)] = "",
    next_: Annotated[str, Form(alias="next", max_length=2000)] = "/",
) -> Response:
    """Check the password, open a session and set its cookie.

    There is no session yet whose CSRF token could protect this form, so it carries a
    double-submit token: a random value set as a cookie by GET /login and repeated in a
    hidden field. Another site can make a browser post here, but it can neither read
    nor set that cookie, so it cannot make the two match; this stops login CSRF (being
    silently logged into an attacker's account and then entering data into it).
    """
    target = safe_next(next_)
    username = username.strip()
    if not _same_token(request.cookies.get(LOGIN_CSRF_COOKIE, ""), login_csrf):
        return _login_page(
            request,
            container,
            next_path=target,
            username=username,
            status_code=403,
            error="登录页面已过期或请求来源不可信，请重新输入后提交。",
        )
    if not username or not password:
        return _login_page(request, container, next_path=target, username=username, status_code=400, error="请输入用户名和密码。")
    settings = container.settings
    try:
        result = principal.login(
            container.db,
            clock=container.clock,
            username=username,
            password=password,
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            session_hours=settings.session_hours,
            max_failures=settings.login_max_failures,
            window_minutes=settings.login_window_minutes,
        )
    except Throttled as exc:
        return _login_page(request, container, next_path=target, username=username, status_code=429, error=exc.detail)
    except Unauthenticated:
        return _login_page(
            request, container, next_path=target, username=username, status_code=401, error="用户名或密码错误，请重新输入。"
        )
    response = redirect(target)
    response.set_cookie(
        SESSION_COOKIE,
        result.session_token,
        max_age=settings.session_hours * 3600,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login", secure=settings.secure_cookies, httponly=True, samesite="strict")
    return response


@router.post("/logout")
def logout(container: ContainerDep, who: Annotated[Principal, Depends(require(Permission.SELF_READ))]) -> Response:
    """Revoke the session (the dependency has already checked the form's CSRF token) and clear its cookie."""
    principal.logout(container.db, clock=container.clock, principal=who)
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/", secure=container.settings.secure_cookies, httponly=True, samesite="lax")
    return response


# --- home pages ----------------------------------------------------------------------------------


def _shares(counts: list[tuple[str, str, int]], total: int) -> list[dict[str, Any]]:
    """Rows (key, label, n) for bar charts: bar length relative to the largest, share of the total."""
    top = max((n for _, _, n in counts), default=0)
    return [
        {
            "key": k,
            "label": label,
            "n": n,
            "pct": round(100 * n / top, 1) if top else 0.0,
            "share": round(100 * n / total, 1) if total else 0.0,
        }
        for k, label, n in counts
    ]


def _subject_breakdown(container: Container) -> dict[str, Any]:
    figures = registry.subject_figures(container.db)
    by_status: dict[str, int] = figures["by_status"]
    ordered = [s for s in registry.STATUSES if s in by_status] + sorted(set(by_status) - set(registry.STATUSES))
    return {
        "subject_total": figures["total"],
        "status_rows": _shares([(s, s, by_status[s]) for s in ordered], figures["total"]),
        "region_rows": _shares([(code, name, n) for code, name, n in figures["top_regions"]], figures["total"]),
        "active_total": sum(by_status.get(s, 0) for s in ("存续", "在业")),
    }


def _operator_home(container: Container, who: Principal) -> dict[str, Any]:
    jobs = job.job_counts(container.db)
    return {
        **_subject_breakdown(container),
        "people": principal.counts(container.db),
        "audit_total": audit.count_since(container.db),
        "jobs": jobs,
        "job_total": sum(jobs.values()),
    }


def _enterprise_home(container: Container, who: Principal) -> dict[str, Any]:
    subject: registry.SubjectDetail | None = None
    problem: str | None = None
    if who.enterprise_uscc:
        try:
            subject = registry.get_subject(
                container.db,
                actor=who.ref,
                uscc=who.enterprise_uscc,
                can_read_all=allowed(who, Permission.SUBJECT_READ),
                can_read_own=allowed(who, Permission.SUBJECT_READ_OWN),
                own_uscc=who.enterprise_uscc,
            )
        except (NotFound, Forbidden) as exc:
            problem = exc.detail
    else:
        problem = "您的账号尚未关联统一社会信用代码。"
    return {"subject": subject, "problem": problem, "own_uscc": who.enterprise_uscc}


def _institution_home(container: Container, who: Principal) -> dict[str, Any]:
    figures = registry.subject_figures(container.db)
    by_status: dict[str, int] = figures["by_status"]
    return {"subject_total": figures["total"], "active_total": sum(by_status.get(s, 0) for s in ("存续", "在业"))}


def _regulator_home(container: Container, who: Principal) -> dict[str, Any]:
    return _subject_breakdown(container)


def _auditor_home(container: Container, who: Principal) -> dict[str, Any]:
    # Listing is itself audited: list first, so the check and the count include that event too.
    events = audit.recent(container.db, actor=who.ref, limit=10)
    return {"events": events, "chain": audit.verify(container.db), "audit_total": audit.count_since(container.db)}


_HOMES: dict[Role, tuple[str, Callable[[Container, Principal], dict[str, Any]]]] = {
    Role.OPERATOR: ("home/operator.html", _operator_home),
    Role.ENTERPRISE: ("home/enterprise.html", _enterprise_home),
    Role.INSTITUTION_OFFICER: ("home/institution.html", _institution_home),
    Role.INSTITUTION_ADMIN: ("home/institution.html", _institution_home),
    Role.DEPARTMENT_CLERK: ("home/department.html", _institution_home),
    Role.REGULATOR: ("home/regulator.html", _regulator_home),
    Role.AUDITOR: ("home/auditor.html", _auditor_home),
}


@router.get("/")
def home(
    request: Request, container: ContainerDep, who: Annotated[Principal, Depends(require(Permission.HOME_READ))]
) -> Response:
    """The role's home page with live figures from the services."""
    if who.role is None or who.role not in _HOMES:
        return error_page(request, container, who, status_code=403, title="没有可用的工作台", detail="该账号没有网页工作台。")
    template, figures = _HOMES[who.role]
    context = figures(container, who)
    context.update(page_title="工作台", today=today_in_china(container))
    return render(request, container, who, template, context)


# --- subjects ------------------------------------------------------------------------------------

_REGION_FILTER = re.compile(r"^\d{2,6}$")


def _page_number(text: str) -> int:
    return int(text) if text.isdigit() and 0 < int(text) <= 1_000_000 else 1


@router.get("/subjects")
def subjects(
    request: Request,
    container: ContainerDep,
    who: Annotated[Principal, Depends(require(Permission.SUBJECT_READ))],
    q: Annotated[str, Query(max_length=100)] = "",
    region_code: Annotated[str, Query(max_length=12)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    page: Annotated[str, Query(max_length=8)] = "1",
) -> Response:
    """Search form and a paginated table of subjects."""
    q = q.strip()
    region_code = region_code.strip()
    notices: list[str] = []
    if region_code and not _REGION_FILTER.match(region_code):
        notices.append(f"行政区划代码“{region_code}”应为2至6位数字，已忽略该条件。")
        region_code = ""
    if status and status not in registry.STATUSES:
        notices.append(f"未知的登记状态“{status}”，已忽略该条件。")
        status = ""
    number = _page_number(page)
    items, total = registry.search_subjects(
        container.db,
        q=q or None,
        region_code=region_code or None,
        status=status or None,
        limit=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
    )
    pages = max(1, math.ceil(total / PAGE_SIZE))
    filters = {k: v for k, v in (("q", q), ("region_code", region_code), ("status", status)) if v}

    def link(n: int) -> str:
        return "/subjects?" + urlencode({**filters, "page": n})

    return render(
        request,
        container,
        who,
        "subjects.html",
        {
            "page_title": "市场主体查询",
            "q": q,
            "region_code": region_code,
            "status": status,
            "statuses": registry.STATUSES,
            "items": items,
            "total": total,
            "page": number,
            "pages": pages,
            "first_row": (number - 1) * PAGE_SIZE + 1 if items else 0,
            "last_row": (number - 1) * PAGE_SIZE + len(items),
            "prev_link": link(number - 1) if number > 1 else None,
            "next_link": link(number + 1) if number < pages else None,
            "notices": notices,
        },
    )


@router.get("/subjects/{uscc}")
def subject_detail(
    uscc: str,
    request: Request,
    container: ContainerDep,
    who: Annotated[Principal, Depends(require(Permission.SUBJECT_READ, Permission.SUBJECT_READ_OWN))],
) -> Response:
    """One subject's registration record (ID masked); the service audits the read and decides who may see it."""
    try:
        subject = registry.get_subject(
            container.db,
            actor=who.ref,
            uscc=uscc[:64],
            can_read_all=allowed(who, Permission.SUBJECT_READ),
            can_read_own=allowed(who, Permission.SUBJECT_READ_OWN),
            own_uscc=who.enterprise_uscc,
        )
    except Forbidden as exc:
        return error_page(
            request,
            container,
            who,
            status_code=403,
            title="无权查看该主体",
            detail=f"{exc.detail}，本次访问已记入审计日志。",
        )
    except NotFound as exc:
        return error_page(request, container, who, status_code=404, title="未找到该市场主体", detail=exc.detail)
    return render(
        request,
        container,
        who,
        "subject_detail.html",
        {"page_title": subject.name, "subject": subject, "can_search": allowed(who, Permission.SUBJECT_READ)},
    )


# --- audit ---------------------------------------------------------------------------------------


@router.get("/audit")
def audit_log(
    request: Request, container: ContainerDep, who: Annotated[Principal, Depends(require(Permission.AUDIT_READ))]
) -> Response:
    """The latest audit events (reading them is itself audited) and, for auditors, the chain check."""
    events = audit.recent(container.db, actor=who.ref, limit=100)
    chain = audit.verify(container.db) if allowed(who, Permission.AUDIT_VERIFY) else None  # auditors only
    return render(
        request,
        container,
        who,
        "audit.html",
        {"page_title": "审计日志", "events": events, "chain": chain, "audit_total": audit.count_since(container.db)},
    )


# --- public tools --------------------------------------------------------------------------------

_SPLIT = re.compile(r"[\s,，;；、]+")


@router.get("/uscc", dependencies=[Depends(PUBLIC)])
def uscc_tool(
    request: Request,
    container: ContainerDep,
    who: MaybePrincipal,
    codes: Annotated[str, Query(max_length=4000)] = "",
    lenient: Annotated[str, Query(max_length=8)] = "",
) -> Response:
    """Validate codes typed by the user (GB 32100-2015 and the embedded GB 11714 check)."""
    wanted = [c for c in _SPLIT.split(codes) if c][: MAX_USCC_CODES + 1]
    truncated = len(wanted) > MAX_USCC_CODES
    is_lenient = lenient in ("1", "on", "true")
    results = [uscc_rules.validate(c[:64], lenient=is_lenient) for c in wanted[:MAX_USCC_CODES]]
    return render(
        request,
        container,
        who,
        "uscc.html",
        {
            "page_title": "统一社会信用代码校验",
            "codes": codes,
            "lenient": is_lenient,
            "results": results,
            "valid_count": sum(1 for r in results if r.valid),
            "truncated": truncated,
            "max_codes": MAX_USCC_CODES,
        },
    )


def _version_in_force(data: Catalog, today: date) -> int | None:
    try:
        return data.in_force(today).year
    except NotFound:
        return None


@router.get("/catalog", dependencies=[Depends(PUBLIC)])
def catalog_page(
    request: Request,
    container: ContainerDep,
    who: MaybePrincipal,
    version: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    """The public credit information catalog: its versions, categories and items with their disclosure class."""
    try:
        data = load_catalog()
    except CatalogDataError:
        return error_page(
            request,
            container,
            who,
            status_code=503,
            title="目录数据暂不可用",
            detail="信用信息目录数据校验未通过，请联系平台运营人员。",
        )
    try:
        chosen = data.version(version) if version else data.latest
    except NotFound:
        return error_page(
            request, container, who, status_code=404, title="未找到该目录版本", detail=f"没有“{version}”年版的目录。"
        )
    sections = [(category, chosen.items_in(category.code)) for category in chosen.categories]
    return render(
        request,
        container,
        who,
        "catalog.html",
        {
            "page_title": "公共信用信息基础目录",
            "versions": data.versions,
            "chosen": chosen,
            "sections": sections,
            "in_force": _version_in_force(data, today_in_china(container)),
        },
    )
