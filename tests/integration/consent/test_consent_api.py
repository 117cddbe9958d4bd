"""The consent API end to end through the ASGI app: an institution's API client requests, the enterprise approves
in its session after re-entering the password, the artefact verifies offline with the published keys (EdDSA and
SM2), revocation is a stable 409 the second time, another institution gets 404, and over-broad requests are refused."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.factories import ADMIN, PASSWORD
from tests.integration.consent.consent_support import SUBJECT, People
from xinyidai import consent, principal
from xinyidai.app import create_app
from xinyidai.audit.tables import AuditEvent
from xinyidai.consent import Keyring, SigningAlgorithm, generate_key
from xinyidai.consent.service import KEYRING_SERVICE
from xinyidai.consent.signing import b64url, b64url_decode
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock


@dataclass
class Api:
    """The app, its keyring, and a client per party."""

    app: FastAPI
    keyring: Keyring
    people: People

    def client(self) -> TestClient:
        return TestClient(self.app, base_url="https://testserver", follow_redirects=False)


@pytest.fixture(params=list(SigningAlgorithm), ids=lambda a: a.value)
def api(request: pytest.FixtureRequest, db: Database, database_url: str, clock: FrozenClock, people: People) -> Api:
    app = create_app(make_settings(database_url), db=db, clock=clock)
    keyring = Keyring(generate_key(request.param))
    app.state.container.services[KEYRING_SERVICE] = keyring
    return Api(app, keyring, people)


def _token(client: TestClient, db: Database, clock: FrozenClock, institution_id: object, scopes: set[str]) -> dict[str, str]:
    creds = principal.create_client(db, actor=ADMIN, clock=clock, name="信贷系统", scopes=scopes, institution_id=institution_id)  # type: ignore[arg-type]
    r = client.post(
        "/api/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": creds.client_secret},
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _log_in(client: TestClient, username: str) -> dict[str, str]:
    """Log in through the form; return the header carrying the session's CSRF token."""
    form = client.get("/login")
    login_csrf = re.search(r'name="login_csrf" value="([^"]*)"', form.text)
    assert login_csrf
    r = client.post("/login", data={"username": username, "password": PASSWORD, "login_csrf": login_csrf.group(1), "next": "/"})
    assert r.status_code == 303, r.text
    page = client.get("/")
    csrf = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
    assert csrf
    return {"X-CSRF-Token": csrf.group(1)}


REQUEST: dict[str, Any] = {
    "enterprise_uscc": SUBJECT,
    "purpose": "credit_approval",
    "scope_categories": ["administrative"],
    "scope_items": ["utility_payment"],
    "data_from": "2024-07-01",
    "data_to": "2026-06-30",
    "fetch_type": "periodic",
    "frequency": {"max_fetches": 4, "unit": "month"},
    "data_life_days": 90,
    "note": "流动资金贷款授信审批",
}


def _body(clock: FrozenClock, **changes: Any) -> dict[str, Any]:
    return {**REQUEST, "expires_at": (clock.now() + timedelta(days=60)).isoformat(), **changes}


def _audit(db: Database, action: str) -> list[AuditEvent]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


def test_public_keys_and_purposes(api: Api) -> None:
    with api.client() as anonymous:
        keys = anonymous.get("/api/v1/consent/keys")
        assert keys.status_code == 200
        published = keys.json()["keys"]
        assert published[0]["kid"] == api.keyring.kid
        assert published[0]["alg"] == api.keyring.algorithm.value
        assert "d" not in published[0]
        purposes = anonymous.get("/api/v1/consent/purposes").json()
        assert [p["label"] for p in purposes][:6] == ["贷前审查", "授信审批", "贷后管理", "续贷", "担保", "风险补偿"]
        assert purposes[1]["policy"]["max_validity_days"] == 180


def test_request_approve_verify_revoke_over_http(api: Api, db: Database, clock: FrozenClock) -> None:
    people = api.people
    with api.client() as bank, api.client() as firm, api.client() as other_bank:
        bank_auth = _token(bank, db, clock, people.bank_a, {"consent:authorization:request", "consent:authorization:read"})
        created = bank.post("/api/v1/authorizations", json=_body(clock), headers=bank_auth)
        assert created.status_code == 201, created.text
        authorization = created.json()
        assert authorization["status"] == "requested"
        assert authorization["status_label"] == "待企业确认"
        assert authorization["institution"]["name"] == "闽信银行福州分行"
        url = f"/api/v1/authorizations/{authorization['id']}"

        csrf = _log_in(firm, people.usernames["enterprise"])
        detail = firm.get(url).json()
        assert detail["clauses"][0]["key"] is True
        assert "授信审批" in detail["clauses"][0]["text"]
        approve = {"password": PASSWORD, "clauses_sha256": detail["clauses_digest"]}
        # A cookie-authenticated change without the session's CSRF token is refused (see also the test below).
        assert firm.post("/api/v1/authorizations", json=_body(clock)).json()["code"] == "csrf_failed"
        wrong = firm.post(url + "/approve", json={"password": "Wrong-Horse-9"}, headers=csrf)
        assert wrong.status_code == 403
        assert wrong.headers["content-type"] == "application/problem+json"
        assert wrong.json()["code"] == "password_confirmation_failed"
        approved = firm.post(url + "/approve", json=approve, headers=csrf)
        assert approved.status_code == 200, approved.text
        artefact = approved.json()["artefact"]
        assert approved.json()["status"] == "active"
        assert approved.json()["artefact_alg"] == api.keyring.algorithm.value

        # Offline: a bank that fetched the published key set once verifies the artefact without calling us.
        jwks = bank.get("/api/v1/consent/keys").json()
        claims = consent.verify_jws(artefact, jwks).payload
        assert claims["sub"] == SUBJECT
        assert claims["authorization"]["scope"]["items"] == ["utility_payment"]
        assert claims["authorization"]["clauses_sha256"] == detail["clauses_digest"]
        header, payload, signature = artefact.split(".")
        altered = bytearray(b64url_decode(payload))
        altered[10] ^= 0x20
        with pytest.raises(consent.SignatureInvalid):
            consent.verify_jws(f"{header}.{b64url(bytes(altered))}.{signature}", jwks)

        # Online: the verify endpoint also tells the status now.
        online = bank.post("/api/v1/authorizations/verify", json={"token": artefact}, headers=bank_auth).json()
        assert online["valid"] is True
        assert online["status"] == "active"
        assert online["authorization_id"] == authorization["id"]
        forged = bank.post(
            "/api/v1/authorizations/verify", json={"token": f"{header}.{b64url(bytes(altered))}.{signature}"}, headers=bank_auth
        ).json()
        assert forged["valid"] is False
        assert forged["reason"]

        # Institution B never sees A's authorization: 404 (not 403), and the attempt is audited.
        b_auth = _token(other_bank, db, clock, people.bank_b, {"consent:authorization:read"})
        hidden = other_bank.get(url, headers=b_auth)
        assert hidden.status_code == 404
        assert hidden.json()["code"] == "authorization_not_found"
        assert other_bank.get("/api/v1/authorizations/not-a-uuid", headers=b_auth).status_code == 404
        assert other_bank.get("/api/v1/authorizations", headers=b_auth).json()["total"] == 0
        denied = _audit(db, "consent.authorization.read.denied")
        assert any(e.target_id == authorization["id"] for e in denied)

        revoked = firm.post(url + "/revoke", json={"reason": "贷款已结清"}, headers=csrf)
        assert revoked.status_code == 200
        assert revoked.json()["status"] == "revoked"
        again = firm.post(url + "/revoke", json={}, headers=csrf)
        assert again.status_code == 409
        assert again.json()["code"] == "authorization_state_conflict"
        assert again.json()["current_status"] == "revoked"
        seen = bank.get(url, headers=bank_auth).json()
        assert seen["status"] == "revoked"
        assert [h["transition"] for h in seen["history"]] == ["request", "approve", "revoke"]


def test_list_is_paginated_and_tenant_scoped(api: Api, db: Database, clock: FrozenClock) -> None:
    with api.client() as bank:
        auth = _token(bank, db, clock, api.people.bank_a, {"consent:authorization:request", "consent:authorization:read"})
        for _ in range(3):
            assert bank.post("/api/v1/authorizations", json=_body(clock), headers=auth).status_code == 201
        page = bank.get("/api/v1/authorizations?limit=2&offset=1", headers=auth).json()
        assert set(page) == {"items", "total", "limit", "offset"}
        assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (3, 2, 1, 2)
        assert bank.get("/api/v1/authorizations?status=active", headers=auth).json()["total"] == 0
        assert bank.get("/api/v1/authorizations?status=bogus", headers=auth).status_code == 422


def test_over_broad_requests_are_refused_naming_the_bound(api: Api, db: Database, clock: FrozenClock) -> None:
    people = api.people
    with api.client() as bank, api.client() as operator:
        auth = _token(bank, db, clock, people.bank_a, {"consent:authorization:request"})
        long = bank.post(
            "/api/v1/authorizations", json=_body(clock, expires_at=(clock.now() + timedelta(days=400)).isoformat()), headers=auth
        )
        assert long.status_code == 422
        assert long.headers["content-type"] == "application/problem+json"
        problem = long.json()
        assert problem["code"] == "fair_use_exceeded"
        assert problem["bound"] == "max_validity_days"
        assert "最长授权期限" in problem["detail"]
        csrf = _log_in(operator, people.usernames["operator"])
        policies = operator.get("/api/v1/consent/policies").json()["policies"]
        credit = next(p for p in policies if p["purpose"] == "credit_approval")
        credit["max_data_life_days"] = 30
        assert operator.put("/api/v1/consent/policies", json={"policies": [credit]}, headers=csrf).status_code == 200
        assert bank.get("/api/v1/consent/policies", headers=auth).status_code == 403
        refused = bank.post("/api/v1/authorizations", json=_body(clock), headers=auth)
        assert refused.json()["bound"] == "max_data_life_days"
        assert _audit(db, "consent.authorization.request.refused")
        bad_policy = operator.put(
            "/api/v1/consent/policies", json={"policies": [{**credit, "max_validity_days": 0}]}, headers=csrf
        )
        assert bad_policy.status_code == 422


def test_endpoints_are_set_by_institution_admins(api: Api, db: Database, clock: FrozenClock) -> None:
    people = api.people
    with api.client() as admin, api.client() as officer:
        csrf = _log_in(admin, people.usernames["admin_a"])
        assert admin.get("/api/v1/consent/endpoints").status_code == 404
        put = admin.put("/api/v1/consent/endpoints", json={"url": "https://bank-a.example/consent"}, headers=csrf)
        assert put.status_code == 200, put.text
        assert put.json()["secret"]
        shown = admin.get("/api/v1/consent/endpoints").json()
        assert shown["url"] == "https://bank-a.example/consent"
        assert shown["secret"] is None
        officer_csrf = _log_in(officer, people.usernames["officer_a"])
        assert (
            officer.put("/api/v1/consent/endpoints", json={"url": "https://x.example/h"}, headers=officer_csrf).status_code == 403
        )


def test_only_the_enterprise_decides(api: Api, db: Database, clock: FrozenClock) -> None:
    people = api.people
    with api.client() as bank, api.client() as other_firm:
        auth = _token(bank, db, clock, people.bank_a, {"consent:authorization:request"})
        created = bank.post("/api/v1/authorizations", json=_body(clock), headers=auth).json()
        csrf = _log_in(other_firm, people.usernames["other_enterprise"])
        url = f"/api/v1/authorizations/{created['id']}"
        assert other_firm.get(url).status_code == 404
        assert other_firm.post(url + "/approve", json={"password": PASSWORD}, headers=csrf).status_code == 404
        assert other_firm.post(url + "/reject", json={}, headers=csrf).status_code == 404
        assert other_firm.post("/api/v1/authorizations", json=_body(clock), headers=csrf).status_code == 403


def test_route_level_refusals_of_approval(api: Api, db: Database, clock: FrozenClock) -> None:
    people = api.people
    with api.client() as bank, api.client() as firm:
        auth = _token(bank, db, clock, people.bank_a, {"consent:authorization:request"})
        created = bank.post("/api/v1/authorizations", json=_body(clock), headers=auth).json()
        _log_in(firm, people.usernames["enterprise"])
        url = f"/api/v1/authorizations/{created['id']}/approve"
        refused = firm.post(url, json={"password": PASSWORD})
        assert refused.status_code == 403
        assert refused.json()["code"] == "csrf_failed"
        # The institution cannot approve on the enterprise's behalf: it lacks the permission.
        forbidden = bank.post(url, json={"password": PASSWORD}, headers=auth)
        assert forbidden.status_code == 403
        assert forbidden.json()["code"] == "forbidden"
    reasons = [e.reasons[0] for e in _audit(db, "access.denied")]
    assert "csrf_failed" in reasons
    assert "forbidden" in reasons


def test_every_consent_route_is_guarded(api: Api) -> None:
    """Anonymous calls to every consent route are refused, except the two public documents.

    Walks the consent routers themselves: `app.routes` no longer lists included routers' routes in
    this FastAPI version, so the app-wide sweep in tests/integration/api does not reach them.
    """
    from fastapi.routing import APIRoute

    from xinyidai.consent.api import router as api_router
    from xinyidai.web.consent_pages import router as page_router

    public = {"GET /api/v1/consent/keys", "GET /api/v1/consent/purposes"}
    seen = []
    with api.client() as anonymous:
        for prefix, router, refused in (("/api/v1", api_router, 401), ("", page_router, 303)):
            for route in router.routes:
                assert isinstance(route, APIRoute)
                for method in sorted(route.methods - {"HEAD"}):
                    path = prefix + route.path.replace("{authorization_id}", "01a20000-0000-7000-8000-000000000000")
                    path = path.replace("{action}", "revoke")
                    status = anonymous.request(method, path).status_code
                    name = f"{method} {prefix}{route.path}"
                    seen.append(name)
                    assert status == (200 if name in public else refused), (name, status)
    assert len(seen) >= 20
