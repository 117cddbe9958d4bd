"""The HTTP API end to end through the ASGI app: problem details, deny by default, tokens, health."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.factories import ADMIN, PASSWORD, RegistrationRowFactory, make_org, make_user
from xinyidai import principal, registry
from xinyidai.app import create_app
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.principal import PUBLIC, Permission, Role, require
from xinyidai.principal.deps import api_routes, unguarded_routes


@pytest.fixture
def client(db: Database, database_url: str, clock: FrozenClock) -> Iterator[TestClient]:
    app = create_app(make_settings(database_url), db=db, clock=clock)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


def _sample_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "91350100M000100Y43", path)


def test_every_route_is_guarded_and_anonymous_calls_are_denied(client: TestClient) -> None:
    public: set[str] = set()
    routes = api_routes(client.app)  # type: ignore[arg-type]
    assert len(routes) > 20  # included routers are walked, not just the app's own routes
    for route in routes:
        for method in route.methods:
            if method == "HEAD":
                continue
            path = _sample_path(route.path)
            response = client.request(method, path)
            if response.status_code in (401, 303):
                continue
            public.add(f"{method} {route.path}")
    # The only routes open to everyone are these, and each declares PUBLIC explicitly.
    assert public <= {
        "GET /api/v1/health",
        "GET /api/v1/ready",
        "GET /api/v1/uscc/{code}",
        "POST /api/v1/oauth/token",
        "GET /api/v1/catalog",
        "GET /api/v1/catalog/items/{code}",
        "GET /login",
        "POST /login",
        "GET /uscc",
        "GET /catalog",
        "GET /api/v1/consent/keys",
        "GET /api/v1/consent/purposes",
        "GET /api/v1/audit/key",
        "POST /api/v1/verifications/verify",
        "POST /api/v1/reports/public",
        "GET /api/v1/reports/verify/{code}",
        "POST /api/v1/reports/verify/{code}",
        "GET /reports/verify",
        "POST /reports/verify",
        "GET /api/v1/audit/checkpoints/latest",
        "GET /api/v1/audit/checkpoints/{size}",
    }, public


def test_an_unguarded_route_in_an_included_router_is_found() -> None:
    app = FastAPI()
    inner = APIRouter()

    @inner.get("/open")
    def open_route() -> dict[str, str]:
        return {}

    @inner.get("/guarded", dependencies=[Depends(require(Permission.SUBJECT_READ))])
    def guarded() -> dict[str, str]:
        return {}

    @inner.get("/public", dependencies=[Depends(PUBLIC)])
    def public_route() -> dict[str, str]:
        return {}

    outer = APIRouter(prefix="/api/v1")
    outer.include_router(inner)
    app.include_router(outer)
    assert unguarded_routes(app) == ["['GET'] /api/v1/open"]


def test_problem_details_for_unauthenticated_not_found_and_invalid(client: TestClient) -> None:
    r = client.get("/api/v1/subjects")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == "unauthenticated"
    assert body["type"] == "urn:xinyidai:problem:unauthenticated"
    assert body["request_id"] == r.headers["x-request-id"]
    r = client.get("/api/v1/nope")
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
    r = client.post("/api/v1/oauth/token", data={})
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_input"
    assert r.json()["errors"]


def test_request_id_is_echoed(client: TestClient) -> None:
    r = client.get("/api/v1/health", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    assert r.json()["status"] == "ok"


def test_ready_reports_migrated_database(client: TestClient) -> None:
    r = client.get("/api/v1/ready")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ready"


def test_uscc_endpoint_is_the_cli_contract(client: TestClient) -> None:
    r = client.get("/api/v1/uscc/91350100M000100Y43")
    assert r.status_code == 200
    assert r.json() == {
        "code": "91350100M000100Y43",
        "valid": True,
        "errors": [],
        "warnings": r.json()["warnings"],
        "authority": r.json()["authority"],
        "org_type": "企业",
        "region_code": "350100",
        "region_name": r.json()["region_name"],
    }
    assert client.get("/api/v1/uscc/91350100M000100Y44").json()["valid"] is False


def test_client_credentials_flow_and_scoped_access(
    client: TestClient, db: Database, clock: FrozenClock, cipher: PiiCipher
) -> None:
    org = make_org(db, clock, "API")
    creds = principal.create_client(
        db, actor=ADMIN, clock=clock, name="核心系统", scopes={"registry:subject:read"}, institution_id=org.institution_id
    )
    row = RegistrationRowFactory.build()
    registry.load_registrations(db, actor=ADMIN, clock=clock, cipher=cipher, rows=[(2, row)], source="t")
    r = client.post(
        "/api/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": creds.client_secret},
    )
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert r.json()["token_type"] == "Bearer"
    auth = {"Authorization": f"Bearer {token}"}
    page = client.get("/api/v1/subjects", headers=auth).json()
    assert page["total"] == 1
    detail = client.get(f"/api/v1/subjects/{row['uscc']}", headers=auth).json()
    assert detail["legal_rep_id_masked"] == "350102********123X"
    assert client.get("/metrics", headers=auth).status_code == 403
    bad = client.get("/api/v1/subjects", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    assert bad.json()["code"] == "unauthenticated"
    wrong = client.post(
        "/api/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": "nope"}
    )
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "invalid_client"


def test_session_cookie_needs_csrf_for_changes_and_enterprise_sees_only_itself(
    client: TestClient, db: Database, clock: FrozenClock, cipher: PiiCipher
) -> None:
    mine, other = RegistrationRowFactory.build_batch(2)
    registry.load_registrations(db, actor=ADMIN, clock=clock, cipher=cipher, rows=[(2, mine), (3, other)], source="t")
    make_user(db, clock, cipher, role=Role.ENTERPRISE, username="ent", uscc=mine["uscc"])
    result = principal.login(
        db,
        clock=clock,
        username="ent",
        password=PASSWORD,
        ip=None,
        user_agent=None,
        session_hours=8,
        max_failures=5,
        window_minutes=15,
    )
    client.cookies.set(principal.SESSION_COOKIE, result.session_token)
    assert client.get(f"/api/v1/subjects/{mine['uscc']}").status_code == 200
    denied = client.get(f"/api/v1/subjects/{other['uscc']}")
    assert denied.status_code == 403
    assert denied.json()["code"] == "forbidden"
    assert client.get("/api/v1/subjects").status_code == 403
    no_csrf = client.post(
        "/api/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}
    )
    assert no_csrf.status_code in (401, 403)


def test_metrics_for_operators(client: TestClient, db: Database, clock: FrozenClock, cipher: PiiCipher) -> None:
    make_user(db, clock, cipher, role=Role.OPERATOR, username="ops")
    result = principal.login(
        db,
        clock=clock,
        username="ops",
        password=PASSWORD,
        ip=None,
        user_agent=None,
        session_hours=8,
        max_failures=5,
        window_minutes=15,
    )
    client.cookies.set(principal.SESSION_COOKIE, result.session_token)
    client.get("/api/v1/health")
    r = client.get("/metrics")
    assert r.status_code == 200
    assert "xinyidai_http_requests_total" in r.text


def test_refusals_render_a_chinese_page_for_browsers_and_problem_json_for_machines(
    client: TestClient, db: Database, clock: FrozenClock, cipher: PiiCipher
) -> None:
    make_user(db, clock, cipher, role=Role.ENTERPRISE, username="ent2")
    result = principal.login(
        db,
        clock=clock,
        username="ent2",
        password=PASSWORD,
        ip=None,
        user_agent=None,
        session_hours=8,
        max_failures=5,
        window_minutes=15,
    )
    client.cookies.set(principal.SESSION_COOKIE, result.session_token)
    page = client.get("/subjects", headers={"Accept": "text/html"})
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "无权执行此操作" in page.text
    machine = client.get("/subjects", headers={"Accept": "application/json"})
    assert machine.status_code == 403
    assert machine.json()["code"] == "forbidden"
