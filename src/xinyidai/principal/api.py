"""Principal routes: the OAuth2 token endpoint and who-am-I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from pydantic import BaseModel

from xinyidai.http.container import Container, get_container
from xinyidai.kernel.errors import InvalidInput
from xinyidai.principal import service
from xinyidai.principal.deps import PUBLIC, require
from xinyidai.principal.model import Permission, Principal

router = APIRouter(tags=["principal"])


class TokenResponse(BaseModel):
    """OAuth2 access-token response (RFC 6749 §5.1)."""

    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int
    scope: str


class MeRead(BaseModel):
    """The calling principal."""

    kind: str
    id: str
    label: str
    role: str | None
    permissions: list[str]
    institution_id: str | None
    department_id: str | None
    enterprise_uscc: str | None


@router.post(
    "/oauth/token", response_model=TokenResponse, dependencies=[Depends(PUBLIC)], summary="获取访问令牌（客户端凭证模式）"
)
def token(
    container: Annotated[Container, Depends(get_container)],
    grant_type: Annotated[str, Form()],
    client_id: Annotated[str, Form(max_length=64)],
    client_secret: Annotated[str, Form(max_length=200)],
    scope: Annotated[str | None, Form(max_length=2000)] = None,
) -> TokenResponse:
    """Exchange client credentials for a short-lived signed access token."""
    if grant_type != "client_credentials":
        raise InvalidInput("仅支持 grant_type=client_credentials", code_hint="unsupported_grant_type")
    s = container.settings
    issued = service.issue_token(
        container.db,
        clock=container.clock,
        client_id=client_id,
        client_secret=client_secret,
        requested_scope=scope,
        secret_key=s.secret_key.get_secret_value(),
        issuer=s.node_id,
        audience=s.token_audience,
        minutes=s.access_token_minutes,
    )
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in, scope=issued.scope)


@router.get("/me", response_model=MeRead, summary="当前身份")
def me(principal: Annotated[Principal, Depends(require(Permission.SELF_READ, Permission.SUBJECT_READ))]) -> MeRead:
    """Who the caller is and what it may do."""
    return MeRead(
        kind=principal.kind.value,
        id=str(principal.id),
        label=principal.label,
        role=principal.role.value if principal.role else None,
        permissions=sorted(p.value for p in principal.permissions),
        institution_id=str(principal.institution_id) if principal.institution_id else None,
        department_id=str(principal.department_id) if principal.department_id else None,
        enterprise_uscc=principal.enterprise_uscc,
    )
