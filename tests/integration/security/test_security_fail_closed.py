"""Security suite (issue 4 part 6): every attempt goes through the real HTTP API and must fail closed with the right
status code and leave an audit event of the attempt; search fields shrug off SQL injection; webhooks refuse replays."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.conftest import TEST_SECRET, make_settings
from tests.integration.consent.consent_support import SUBJECT
from tests.integration.security.conftest import NOW, World
from xinyidai import principal
from xinyidai.app import create_app
from xinyidai.consent.service import KEYRING_SERVICE
from xinyidai.db import Database
from xinyidai.job import WebhookVerificationError, verify_webhook
from xinyidai.job.webhook import HEADER_TIMESTAMP, signed_headers
from xinyidai.kernel.clock import FrozenClock


@dataclass(frozen=True)
class Ctx:
    """What a case needs: the HTTP client and the seeded world."""

    client: TestClient
    world: World

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    @property
    def a(self) -> dict[str, str]:
        return self.bearer(self.world.token_a)

    @property
    def b(self) -> dict[str, str]:
        return self.bearer(self.world.token_b)


@dataclass(frozen=True)
class Case:
    """One attempt: the request, the status (any of) and problem code it must get, the audit action it must leave."""

    id: str
    attempt: Callable[[Ctx], httpx.Response]
    status: tuple[int, ...]
    audit_action: str | None  # None: any audit event at all
    code: str | None = None
    reason: str | None = None  # a substring one of the event's reasons must contain
    clock_shift: timedelta = timedelta(0)
    settings: dict[str, Any] = field(default_factory=dict)
    xfail: str | None = None


def _pull(ctx: Ctx, headers: dict[str, str], authorization: object, purpose: str = "credit_approval") -> httpx.Response:
    body = {"uscc": SUBJECT, "authorization_id": str(authorization), "purpose": purpose}
    return ctx.client.post("/api/v1/reports/authorized", json=body, headers=headers)


def _verify(
    ctx: Ctx, headers: dict[str, str], authorization: object, *, item: str = "tax_payment", value: str = "1"
) -> httpx.Response:
    body = {
        "uscc": SUBJECT,
        "authorization_id": str(authorization),
        "purpose": "credit_approval",
        "item": item,
        "predicate": {"kind": "at_least", "field": "amount_paid", "value": value},
    }
    return ctx.client.post("/api/v1/verifications", json=body, headers=headers)


def _over_cap(ctx: Ctx) -> httpx.Response:
    for value in ("1", "2", "3"):
        ok = _verify(ctx, ctx.a, ctx.world.active, value=value)
        assert ok.status_code == 200, ok.text
    return _verify(ctx, ctx.a, ctx.world.active, value="4")


def _claims(ctx: Ctx) -> dict[str, Any]:
    return jwt.decode(ctx.world.token_a, options={"verify_signature": False})


def _forged(ctx: Ctx) -> httpx.Response:
    token = jwt.encode(_claims(ctx), "not-the-platform-key-0123456789abcdef", algorithm="HS256")
    return ctx.client.get("/api/v1/subjects", headers=ctx.bearer(token))


def _wrong_audience(ctx: Ctx) -> httpx.Response:
    token = jwt.encode(_claims(ctx) | {"aud": "another-platform"}, TEST_SECRET, algorithm="HS256")
    return ctx.client.get("/api/v1/subjects", headers=ctx.bearer(token))


def _form_without_csrf(ctx: Ctx) -> httpx.Response:
    ctx.client.cookies.set(principal.SESSION_COOKIE, ctx.world.session_cookie)
    return ctx.client.post(
        f"/authorizations/{ctx.world.active}/pause",
        data={"reason": "暂停"},
        headers={"Accept": "application/json"},
    )


def _oversized(ctx: Ctx) -> httpx.Response:
    body = b"uscc,period\n" + b"x" * (2 * 1024 * 1024)
    return ctx.client.post(
        "/api/v1/batches?item=tax_payment&filename=big.csv",
        content=body,
        headers=ctx.bearer(ctx.world.token_dept) | {"Content-Type": "text/csv"},
    )


CASES = [
    Case(
        "b-reads-a-authorization",
        lambda c: c.client.get(f"/api/v1/authorizations/{c.world.active}", headers=c.b),
        (404,),
        "consent.authorization.read.denied",
        reason="不属于本机构",
    ),
    Case(
        "b-reads-a-report",
        lambda c: c.client.get(f"/api/v1/reports/{c.world.report_a}", headers=c.b),
        (404,),
        "report.report.read.denied",
        reason="不属于本人/本机构",
    ),
    Case(
        "b-pulls-report-under-a-authorization",
        lambda c: _pull(c, c.b, c.world.active),
        (404,),
        "consent.access.denied",
        reason="该授权不属于本机构",
    ),
    Case(
        "b-verifies-under-a-authorization",
        lambda c: _verify(c, c.b, c.world.active),
        (403, 404),
        "consent.access.denied",
        reason="该授权不属于本机构",
    ),
    Case("paused-report", lambda c: _pull(c, c.a, c.world.paused), (403,), "consent.access.denied", reason="授权已暂停"),
    Case("paused-verification", lambda c: _verify(c, c.a, c.world.paused), (403,), "consent.access.denied", reason="授权已暂停"),
    Case("revoked-report", lambda c: _pull(c, c.a, c.world.revoked), (403,), "consent.access.denied", reason="授权已撤销"),
    Case(
        "revoked-verification", lambda c: _verify(c, c.a, c.world.revoked), (403,), "consent.access.denied", reason="授权已撤销"
    ),
    Case(
        "expired-report",
        lambda c: _pull(c, c.a, c.world.expiring),
        (403,),
        "consent.access.denied",
        reason="授权已到期",
        clock_shift=timedelta(days=2),
    ),
    Case(
        "expired-verification",
        lambda c: _verify(c, c.a, c.world.expiring),
        (403,),
        "consent.access.denied",
        reason="授权已到期",
        clock_shift=timedelta(days=2),
    ),
    Case(
        "item-outside-scope",
        lambda c: _verify(c, c.a, c.world.active, item="utility_payment"),
        (403,),
        "consent.access.denied",
        reason="授权范围未覆盖信息项 utility_payment",
    ),
    Case(
        "purpose-outside-scope",
        lambda c: _pull(c, c.a, c.world.active, purpose="post_loan_management"),
        (403,),
        "consent.access.denied",
        reason="与授权用途",
    ),
    Case(
        "verification-cap",
        _over_cap,
        (403,),
        "verification.question.refused",
        reason="核验次数已达上限",
        code="verification_cap_reached",
    ),
    Case("forged-token", _forged, (401,), "access.denied", reason="访问令牌无效", code="unauthenticated"),
    Case(
        "expired-token",
        lambda c: c.client.get("/api/v1/subjects", headers=c.bearer(c.world.expired_token)),
        (401,),
        "access.denied",
        code="unauthenticated",
        reason="过期",
    ),
    Case("wrong-audience-token", _wrong_audience, (401,), "access.denied", code="unauthenticated", reason="受众"),
    Case("form-post-without-csrf", _form_without_csrf, (403,), "access.denied", code="csrf_failed", reason="csrf_failed"),
    Case(
        "oversized-upload",
        _oversized,
        (413,),
        "ingest.batch.refused",
        code="upload_too_large",
        settings={"max_upload_mb": 1},
    ),
]


def _events(db: Database, action: str | None) -> list[list[str]]:
    """The reasons of every audit event of `action` (of any action when None), oldest first."""
    event = sa.table("audit_event", sa.column("reasons", sa.JSON), sa.column("action"), sa.column("seq"))
    query = sa.select(event.c.reasons).order_by(event.c.seq)
    if action is not None:
        query = query.where(event.c.action == action)
    with db.transaction() as s:
        rows = s.execute(query).scalars().all()
    return [r if isinstance(r, list) else json.loads(r) for r in rows]


def _client(db: Database, database_url: str, world: World, clock: FrozenClock, **overrides: Any) -> TestClient:
    app = create_app(make_settings(database_url, **overrides), db=db, clock=clock)
    app.state.container.services[KEYRING_SERVICE] = world.keyring
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def _params() -> list[Any]:
    marks = lambda case: [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []  # noqa: E731
    return [pytest.param(case, id=case.id, marks=marks(case)) for case in CASES]


@pytest.mark.parametrize("case", _params())
def test_attempt_fails_closed_and_is_audited(case: Case, db: Database, database_url: str, world: World, var_dir: Path) -> None:
    clock = FrozenClock(NOW + case.clock_shift)
    client = _client(db, database_url, world, clock, var_dir=var_dir, **case.settings)
    before = len(_events(db, case.audit_action))
    response = case.attempt(Ctx(client, world))
    assert response.status_code in case.status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    if case.code is not None:
        assert response.json()["code"] == case.code, response.json()
    events = _events(db, case.audit_action)
    assert len(events) > before, f"no new audit event ({case.audit_action or 'any action'}) for the attempt"
    if case.audit_action is not None:
        assert len(events) == before + 1, f"expected one new {case.audit_action} event, got {len(events) - before}"
    if case.reason is not None:
        assert any(case.reason in reason for reason in events[-1]), events[-1]


# --- SQL injection in search fields ------------------------------------------------------------------

INJECTIONS = ["' OR 1=1 --", "%' OR '1'='1", "'; DROP TABLE audit_event; --", '" OR ""="', "1) UNION SELECT NULL--"]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_sql_injection_in_search_fields_is_inert(
    payload: str, db: Database, database_url: str, world: World, var_dir: Path
) -> None:
    client = _client(db, database_url, world, FrozenClock(NOW), var_dir=var_dir)
    auth = {"Authorization": f"Bearer {world.token_a}"}
    everything = client.get("/api/v1/subjects", headers=auth)
    assert everything.status_code == 200, everything.text
    assert everything.json()["total"] >= 1
    for params in ({"q": payload}, {"status": payload[:20]}, {"q": payload, "status": payload[:20]}):
        r = client.get("/api/v1/subjects", params=params, headers=auth)
        assert r.status_code == 200, r.text
        assert r.json()["total"] == 0, r.json()
    r = client.get("/api/v1/subjects", params={"region_code": payload}, headers=auth)
    assert r.status_code == 422, r.text
    for name in ("type", "region_code", "amount", "term_months", "credit_only"):
        r = client.get("/api/v1/market", params={name: payload}, headers=auth)
        assert r.status_code == 422, (name, r.text)
        assert r.json()["code"] == "invalid_input"
    ok = client.get("/api/v1/market", params={"limit": 5}, headers=auth)
    assert ok.status_code == 200, ok.text
    with db.transaction() as s:
        names = set(sa.inspect(s.connection()).get_table_names())
        assert {"audit_event", "consent_authorization"} <= names, sorted(names)
        assert s.scalar(sa.text("SELECT count(*) FROM audit_event")) > 0


# --- webhook replay ------------------------------------------------------------------------------------

SECRET = "institution-webhook-secret-0123456789"


def test_a_replayed_webhook_is_dropped_and_a_stale_or_altered_one_refused() -> None:
    """The receiver side of the outbox contract: within the window a replay is dropped by its id (the way the
    consent tests' receiver keeps seen ids); outside it, or with the body or timestamp changed, it is refused."""
    now = NOW
    body = b'{"id":"m-1","topic":"consent.authorization.revoked"}'
    headers = signed_headers(SECRET, message_id="m-1", timestamp=int(now.timestamp()), body=body)
    seen: set[str] = set()
    accepted = []
    for _ in range(2):
        message_id = verify_webhook(SECRET, headers, body, now=now)
        if message_id not in seen:
            seen.add(message_id)
            accepted.append(message_id)
    assert accepted == ["m-1"]
    with pytest.raises(WebhookVerificationError, match="window"):
        verify_webhook(SECRET, headers, body, now=now + timedelta(minutes=6))
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify_webhook(SECRET, headers, body.replace(b"revoked", b"resumed"), now=now)
    moved = headers | {HEADER_TIMESTAMP: str(int(now.timestamp()) + 60)}
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify_webhook(SECRET, moved, body, now=now)
    with pytest.raises(WebhookVerificationError):
        verify_webhook("another-secret", headers, body, now=now)
