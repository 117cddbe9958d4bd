"""Route dependencies: who is calling, and the one permission check every route declares."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from xinyidai import audit
from xinyidai.http.container import Container, get_container
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.errors import DomainError, Forbidden, Unauthenticated
from xinyidai.principal import service
from xinyidai.principal.model import AuthMethod, Permission, Principal, decide

SESSION_COOKIE = "xyd_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfFailed(Forbidden):
    """A cookie-authenticated change came without the session's CSRF token."""

    code = "csrf_failed"
    title = "表单已过期或来源不可信，请刷新页面后重试"


class LoginRequired(Unauthenticated):
    """Raised for pages: the web layer turns it into a redirect to the login page."""

    code = "login_required"


def _audit_denial(container: Container, request: Request, actor: ActorRef, error: DomainError) -> None:
    with container.db.transaction() as s:
        audit.record(
            s,
            actor=actor,
            action="access.denied",
            target_type="route",
            target_id=f"{request.method} {request.url.path}"[:64],
            reasons=[error.code, error.detail],
            data={"method": request.method, "path": request.url.path[:2000]},
        )


async def _resolve(request: Request, container: Container) -> Principal | None:
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    settings = container.settings
    header = request.headers.get("authorization", "")
    principal: Principal | None = None
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("仅支持 Bearer 访问令牌")
        principal = service.principal_from_token(
            clock=container.clock,
            token=token.strip(),
            secret_key=settings.secret_key.get_secret_value(),
            issuer=settings.node_id,
            audience=settings.token_audience,
        )
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            principal = service.principal_from_session(container.db, clock=container.clock, token=cookie)
    if principal is not None and principal.method is AuthMethod.SESSION and request.method not in _SAFE_METHODS:
        await _check_csrf(request, principal)
    request.state.principal = principal
    return principal


async def _check_csrf(request: Request, principal: Principal) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not principal.csrf_token or not hmac.compare_digest(sent, principal.csrf_token):
        raise CsrfFailed()


async def optional_principal(request: Request, container: Annotated[Container, Depends(get_container)]) -> Principal | None:
    """The caller if authenticated, else None; invalid credentials are still refused."""
    try:
        return await _resolve(request, container)
    except DomainError as exc:
        _audit_denial(container, request, ActorRef.anonymous(), exc)
        raise


class Requires:
    """Dependency that allows the request only if the caller holds one of `permissions` (deny by default)."""

    def __init__(self, *permissions: Permission) -> None:
        if not permissions:
            raise ValueError("Requires needs at least one permission")
        self.permissions = permissions

    async def __call__(self, request: Request, container: Annotated[Container, Depends(get_container)]) -> Principal:
        try:
            principal = await _resolve(request, container)
        except DomainError as exc:
            _audit_denial(container, request, ActorRef.anonymous(), exc)
            raise
        decisions = [decide(principal, p) for p in self.permissions]
        if principal is not None and any(d.allowed for d in decisions):
            return principal
        if principal is None:
            error: DomainError = Unauthenticated() if request.url.path.startswith("/api/") else LoginRequired()
            _audit_denial(container, request, ActorRef.anonymous(), error)
            raise error
        wanted = " 或 ".join(p.value for p in self.permissions)
        error = Forbidden(f"缺少权限 {wanted}", permission=[p.value for p in self.permissions])
        _audit_denial(container, request, principal.ref, error)
        raise error


class Public:
    """Marks a route as deliberately open to everyone (health, public catalog, login page)."""

    async def __call__(self) -> None:
        return None


def require(*permissions: Permission) -> Requires:
    """Declare the permission a route needs (any one of several, when more are given)."""
    return Requires(*permissions)


PUBLIC = Public()


def _guards(dependant: Dependant) -> bool:
    for dep in dependant.dependencies:
        if isinstance(dep.call, Requires | Public):
            return True
        if _guards(dep):
            return True
    return False


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """One API route as served: its full path, methods and the dependencies in effect."""

    path: str
    methods: frozenset[str]
    dependant: Dependant


def api_routes(app: FastAPI) -> list[RouteInfo]:
    """Every API route of the app, including those inside included routers.

    Recent FastAPI versions keep included routers as wrapper objects in `app.routes` whose
    effective routes (with the router's own dependencies merged in) are listed separately;
    looking only at `app.routes` would miss them, and with them the deny-by-default check.
    """
    found: list[RouteInfo] = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            found.append(RouteInfo(route.path, frozenset(route.methods or ()), route.dependant))
        elif hasattr(route, "effective_route_contexts"):
            for ctx in route.effective_route_contexts():
                found.append(RouteInfo(ctx.path, frozenset(ctx.methods or ()), ctx.dependant))
    return found


def unguarded_routes(app: FastAPI) -> list[str]:
    """Routes that declare neither a permission nor PUBLIC; the app refuses to start with any."""
    return [f"{sorted(r.methods)} {r.path}" for r in api_routes(app) if not _guards(r.dependant)]
