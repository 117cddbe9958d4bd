"""Helpers of the consent integration tests: the subjects, principals, sound terms and a webhook receiver."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.factories import uscc_for
from xinyidai.consent import AuthorizationTerms, DateRange, FetchType, Frequency, FrequencyUnit, Purpose, Scope
from xinyidai.job import WebhookVerificationError, verify_webhook
from xinyidai.kernel.actor import ActorKind
from xinyidai.kernel.clock import Clock
from xinyidai.principal import ROLE_PERMISSIONS, Principal, Role
from xinyidai.principal.model import AuthMethod

SUBJECT = uscc_for(7001)
OTHER_SUBJECT = uscc_for(7002)


def as_principal(
    user_id: uuid.UUID,
    role: Role,
    *,
    institution_id: uuid.UUID | None = None,
    enterprise_uscc: str | None = None,
    label: str = "测试用户",
) -> Principal:
    """The principal a logged-in user of `role` is."""
    return Principal(
        kind=ActorKind.USER,
        id=user_id,
        label=label,
        permissions=ROLE_PERMISSIONS[role],
        method=AuthMethod.SESSION,
        role=role,
        institution_id=institution_id,
        enterprise_uscc=enterprise_uscc,
    )


@dataclass(frozen=True)
class People:
    """Who takes part: bank A (officer, admin), bank B (officer), the enterprise, another enterprise, an operator."""

    bank_a: uuid.UUID
    bank_b: uuid.UUID
    officer_a: Principal
    admin_a: Principal
    officer_b: Principal
    enterprise: Principal
    other_enterprise: Principal
    operator: Principal
    usernames: dict[str, str] = field(default_factory=dict)


def terms(clock: Clock, **changes: Any) -> AuthorizationTerms:
    """Sound terms within the credit-approval fair-use bounds."""
    now = clock.now()
    values: dict[str, Any] = {
        "purpose": Purpose.CREDIT_APPROVAL,
        "scope": Scope(frozenset({"administrative"}), frozenset({"utility_payment"})),
        "data_range": DateRange(now.date().replace(year=now.year - 2), now.date()),
        "fetch_type": FetchType.PERIODIC,
        "frequency": Frequency(2, FrequencyUnit.WEEK),
        "data_life_days": 90,
        "starts_at": None,
        "expires_at": now + timedelta(days=60),
    }
    values.update(changes)
    return AuthorizationTerms(**values)


# --- a real webhook receiver -----------------------------------------------------------------------

RECEIVER_SECRET = "institution-a-webhook-secret-0123456789"


@dataclass
class Receiver:
    """An HTTP endpoint that checks signatures as an institution would and keeps what it accepted."""

    secret: str
    clock: Clock
    url: str = ""
    accepted: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        """The receiving application."""

        async def hook(request: Request) -> Response:
            body = await request.body()
            try:
                message_id = verify_webhook(self.secret, request.headers, body, now=self.clock.now())
            except WebhookVerificationError as exc:
                self.rejected.append(str(exc))
                return Response(status_code=401)
            if message_id not in {d["id"] for d in self.accepted}:
                self.accepted.append(json.loads(body))
                self.headers.append(dict(request.headers))
            return Response(status_code=204)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])
