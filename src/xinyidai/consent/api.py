"""Consent routes: institutions request and read their authorizations, enterprises decide on theirs,
anyone reads the published keys and purposes, operators set fair-use bounds, institution admins set their endpoint."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status

from xinyidai.config import Environment
from xinyidai.consent import service
from xinyidai.consent.model import AuthorizationStatus, Purpose, Transition
from xinyidai.consent.schemas import (
    ApproveBody,
    AuthorizationCreate,
    AuthorizationPage,
    AuthorizationRead,
    EndpointRead,
    EndpointWrite,
    PoliciesIO,
    PolicyIO,
    PurposeRead,
    ReasonBody,
    VerifyBody,
    VerifyRead,
)
from xinyidai.http.container import Container, get_container
from xinyidai.kernel.errors import NotFound
from xinyidai.principal import PUBLIC, Permission, Principal, require

router = APIRouter(tags=["consent"])
ContainerDep = Annotated[Container, Depends(get_container)]
Requester = Annotated[Principal, Depends(require(Permission.AUTHORIZATION_REQUEST))]
Reader = Annotated[Principal, Depends(require(Permission.AUTHORIZATION_READ))]
Grantor = Annotated[Principal, Depends(require(Permission.AUTHORIZATION_GRANT))]
PolicyManager = Annotated[Principal, Depends(require(Permission.CONSENT_POLICY_MANAGE))]
# Until principal has a permission of its own for it (consent:endpoint:manage), the institution admin's
# permission to manage its API clients covers its webhook endpoint too.
EndpointManager = Annotated[Principal, Depends(require(Permission.CLIENT_MANAGE))]


@router.post("/authorizations", response_model=AuthorizationRead, status_code=status.HTTP_201_CREATED, summary="申请企业授权")
def request_authorization(body: AuthorizationCreate, container: ContainerDep, who: Requester) -> AuthorizationRead:
    """An institution (officer or API client) asks an enterprise to authorize queries; refused beyond fair use."""
    view = service.request_authorization(
        container.db, actor=who, clock=container.clock, enterprise_uscc=body.enterprise_uscc, terms=body.terms(), note=body.note
    )
    return AuthorizationRead.of(view)


@router.get("/authorizations", response_model=AuthorizationPage, summary="本机构或本企业的授权")
def list_authorizations(
    container: ContainerDep,
    who: Reader,
    status_: Annotated[AuthorizationStatus | None, Query(alias="status")] = None,
    enterprise_uscc: Annotated[str | None, Query(min_length=18, max_length=18)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AuthorizationPage:
    """The caller's own authorizations only: an institution never sees another's requests."""
    page = service.list_authorizations(
        container.db,
        actor=who,
        clock=container.clock,
        status=status_,
        enterprise_uscc=enterprise_uscc,
        limit=limit,
        offset=offset,
    )
    return AuthorizationPage(items=[AuthorizationRead.of(v) for v in page.items], total=page.total, limit=limit, offset=offset)


@router.post("/authorizations/verify", response_model=VerifyRead, summary="验证授权凭证")
def verify_authorization(
    body: VerifyBody,
    container: ContainerDep,
    _who: Annotated[Principal, Depends(require(Permission.AUTHORIZATION_READ, Permission.SUBJECT_READ))],
) -> VerifyRead:
    """Check an artefact's signature with the published keys and tell its status now (offline: `verify_jws`)."""
    result = service.verify_token(container.db, keyring=service.keyring_for(container), clock=container.clock, token=body.token)
    return VerifyRead.of(result)


def _uuid(authorization_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(authorization_id)
    except ValueError:
        raise service.AuthorizationNotFound() from None


@router.get("/authorizations/{authorization_id}", response_model=AuthorizationRead, summary="查看授权")
def get_authorization(authorization_id: str, container: ContainerDep, who: Reader) -> AuthorizationRead:
    """One authorization with its clauses and history; another tenant's answers 404."""
    view = service.get_authorization(container.db, actor=who, clock=container.clock, authorization_id=_uuid(authorization_id))
    return AuthorizationRead.of(view, clauses=service.consent_clauses(view))


@router.post("/authorizations/{authorization_id}/approve", response_model=AuthorizationRead, summary="同意授权（须再次输入密码）")
def approve(authorization_id: str, body: ApproveBody, container: ContainerDep, who: Grantor) -> AuthorizationRead:
    """The enterprise approves after re-entering its password; the answer carries the signed artefact."""
    view = service.approve_authorization(
        container.db,
        actor=who,
        clock=container.clock,
        keyring=service.keyring_for(container),
        authorization_id=_uuid(authorization_id),
        password=body.password,
        clauses_sha256=body.clauses_sha256,
    )
    return AuthorizationRead.of(view)


def _change(
    container: Container, who: Principal, authorization_id: str, transition: Transition, body: ReasonBody | None
) -> AuthorizationRead:
    view = service.change_authorization(
        container.db,
        actor=who,
        clock=container.clock,
        keyring=service.keyring_for(container),
        authorization_id=_uuid(authorization_id),
        transition=transition,
        reason=body.reason if body else None,
    )
    return AuthorizationRead.of(view)


@router.post("/authorizations/{authorization_id}/reject", response_model=AuthorizationRead, summary="拒绝授权申请")
def reject(authorization_id: str, container: ContainerDep, who: Grantor, body: ReasonBody | None = None) -> AuthorizationRead:
    """The enterprise turns the request down."""
    return _change(container, who, authorization_id, Transition.REJECT, body)


@router.post("/authorizations/{authorization_id}/pause", response_model=AuthorizationRead, summary="暂停授权")
def pause(authorization_id: str, container: ContainerDep, who: Grantor, body: ReasonBody | None = None) -> AuthorizationRead:
    """No query is allowed under it until resumed; effective on the next request, pushed to the institution."""
    return _change(container, who, authorization_id, Transition.PAUSE, body)


@router.post("/authorizations/{authorization_id}/resume", response_model=AuthorizationRead, summary="恢复授权")
def resume(authorization_id: str, container: ContainerDep, who: Grantor, body: ReasonBody | None = None) -> AuthorizationRead:
    """A paused authorization is in force again."""
    return _change(container, who, authorization_id, Transition.RESUME, body)


@router.post("/authorizations/{authorization_id}/revoke", response_model=AuthorizationRead, summary="撤销授权")
def revoke(authorization_id: str, container: ContainerDep, who: Grantor, body: ReasonBody | None = None) -> AuthorizationRead:
    """Ended for good; effective on the next request, pushed to the institution; revoking again is 409."""
    return _change(container, who, authorization_id, Transition.REVOKE, body)


@router.get("/consent/keys", dependencies=[Depends(PUBLIC)], summary="授权凭证验签公钥（JWK Set）")
def public_keys(container: ContainerDep) -> dict[str, Any]:
    """The platform's public keys (RFC 7517); verify artefacts offline with them."""
    return service.keyring_for(container).jwks()


@router.get(
    "/consent/purposes", response_model=list[PurposeRead], dependencies=[Depends(PUBLIC)], summary="授权用途与公平使用规则"
)
def purposes(container: ContainerDep) -> list[PurposeRead]:
    """The coded purposes with their Chinese names and fair-use bounds (public, for transparency)."""
    policies = {p.purpose: p for p in service.list_policies(container.db)}
    return [PurposeRead(code=p, label=p.label_zh, policy=PolicyIO.of(policies[p])) for p in Purpose]


@router.get("/consent/policies", response_model=PoliciesIO, summary="公平使用规则")
def get_policies(container: ContainerDep, _who: PolicyManager) -> PoliciesIO:
    """Every purpose's fair-use bounds."""
    return PoliciesIO(policies=[PolicyIO.of(p) for p in service.list_policies(container.db)])


@router.put("/consent/policies", response_model=PoliciesIO, summary="设置公平使用规则")
def put_policies(body: PoliciesIO, container: ContainerDep, who: PolicyManager) -> PoliciesIO:
    """Replace the bounds of the purposes listed; audited with old and new values."""
    updated = service.set_policies(container.db, actor=who, clock=container.clock, policies=[p.to_model() for p in body.policies])
    return PoliciesIO(policies=[PolicyIO.of(p) for p in updated])


@router.get("/consent/endpoints", response_model=EndpointRead, summary="本机构的授权状态推送地址")
def get_endpoint(container: ContainerDep, who: EndpointManager) -> EndpointRead:
    """The institution's webhook endpoint (the secret is never shown again)."""
    found = service.get_endpoint(container.db, actor=who)
    if found is None:
        raise NotFound("尚未设置推送地址")
    return EndpointRead.of(found)


@router.put("/consent/endpoints", response_model=EndpointRead, summary="设置本机构的授权状态推送地址")
def put_endpoint(body: EndpointWrite, container: ContainerDep, who: EndpointManager) -> EndpointRead:
    """Set the webhook URL and HMAC secret; without a secret one is generated and returned this once."""
    view = service.set_endpoint(
        container.db,
        actor=who,
        clock=container.clock,
        cipher=container.cipher,
        url=body.url,
        secret=body.secret,
        allow_insecure=container.settings.environment is not Environment.PRODUCTION,
    )
    return EndpointRead.of(view)
