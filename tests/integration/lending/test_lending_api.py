"""The lending API end to end: idempotency keys, tenancy (404), problem codes, pagination, the regulator overview."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.factories import ADMIN, PASSWORD, make_user
from tests.integration.lending.conftest import SUBJECT, World
from xinyidai import lending, principal
from xinyidai.app import create_app
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.principal import Permission, Role

INSTITUTION_SCOPES = {p.value for p in (Permission.APPLICATION_DECIDE, Permission.APPLICATION_READ, Permission.LOAN_MANAGE)}


def _client(db: Database, database_url: str, clock: FrozenClock, world: World) -> TestClient:
    app = create_app(make_settings(database_url), db=db, clock=clock)
    app.state.container.services[lending.HOOKS_SERVICE] = world.hooks
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def _token(client: TestClient, db: Database, clock: FrozenClock, institution_id: object) -> dict[str, str]:
    creds = principal.create_client(
        db, actor=ADMIN, clock=clock, name="信贷系统", scopes=INSTITUTION_SCOPES, institution_id=institution_id
    )  # type: ignore[arg-type]
    r = client.post(
        "/api/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": creds.client_secret},
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _log_in(client: TestClient, username: str) -> dict[str, str]:
    form = client.get("/login")
    login_csrf = re.search(r'name="login_csrf" value="([^"]*)"', form.text)
    assert login_csrf
    r = client.post("/login", data={"username": username, "password": PASSWORD, "login_csrf": login_csrf.group(1), "next": "/"})
    assert r.status_code == 303, r.text
    page = client.get("/")
    csrf = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
    assert csrf
    return {"X-CSRF-Token": csrf.group(1)}


def test_api_flow(db: Database, database_url: str, clock: FrozenClock, cipher: PiiCipher, world: World, unique: str) -> None:
    client = _client(db, database_url, clock, world)
    make_user(db, clock, cipher, role=Role.ENTERPRISE, username=f"le{unique}", uscc=SUBJECT)
    ent = _log_in(client, f"le{unique}")
    bank_a = _token(client, db, clock, world.bank_a)
    bank_b = _token(client, db, clock, world.bank_b)

    body: dict[str, Any] = {"product_id": str(world.product_a.id), "amount_wan": "300", "term_months": 12, "purpose": "流动资金"}
    first = client.post("/api/v1/applications", json=body, headers={**ent, "Idempotency-Key": "k1"})
    assert first.status_code == 201, first.text
    again = client.post("/api/v1/applications", json=body, headers={**ent, "Idempotency-Key": "k1"})
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    clash = client.post("/api/v1/applications", json={**body, "amount_wan": "301"}, headers={**ent, "Idempotency-Key": "k1"})
    assert clash.status_code == 409
    assert clash.json()["code"] == "idempotency_conflict"
    app_id = first.json()["id"]
    mine = client.get("/api/v1/applications", headers=ent).json()
    assert mine["total"] == 1
    assert set(mine) == {"items", "total", "limit", "offset"}

    # Bank B cannot see or act on bank A's application.
    assert client.get(f"/api/v1/applications/{app_id}", headers=bank_b).status_code == 404
    assert client.post(f"/api/v1/applications/{app_id}/accept", headers=bank_b).json()["code"] == "application_not_found"
    assert client.get("/api/v1/applications", headers=bank_b).json()["total"] == 0

    accepted = client.post(f"/api/v1/applications/{app_id}/accept", headers={**bank_a, "Idempotency-Key": "a1"})
    assert accepted.status_code == 200
    assert accepted.json()["deadline_tone"] == "green"
    replay = client.post(f"/api/v1/applications/{app_id}/accept", headers={**bank_a, "Idempotency-Key": "a1"})
    assert replay.status_code == 200
    assert replay.json() == accepted.json()
    twice = client.post(f"/api/v1/applications/{app_id}/accept", headers={**bank_a, "Idempotency-Key": "a2"})
    assert twice.status_code == 409
    assert twice.json()["code"] == "invalid_transition"

    no_reason = client.post(
        f"/api/v1/applications/{app_id}/decide", json={"outcome": "rejected", "text": "不符合"}, headers=bank_a
    )
    assert no_reason.status_code == 422
    assert no_reason.json()["code"] == "rejection_reason_required"
    approve = {"outcome": "approved", "amount_wan": "300", "annual_rate_pct": "3.45", "term_months": 12}
    decided = client.post(f"/api/v1/applications/{app_id}/decide", json=approve, headers=bank_a)
    assert decided.status_code == 200
    assert decided.json()["status"] == "approved"
    assert client.post(f"/api/v1/applications/{app_id}/withdraw", headers=ent).json()["code"] == "invalid_transition"

    loan_body = {
        "application_id": app_id,
        "amount_wan": "300",
        "annual_rate_pct": "3.45",
        "start_on": "2026-07-01",
        "term_months": 12,
        "repayment_method": "equal_instalment",
        "credit_loan": True,
    }
    loan = client.post("/api/v1/loans", json=loan_body, headers={**bank_a, "Idempotency-Key": "l1"})
    assert loan.status_code == 201, loan.text
    assert len(loan.json()["schedule"]) == 12
    assert (
        client.post("/api/v1/loans", json=loan_body, headers={**bank_a, "Idempotency-Key": "l1"}).json()["id"]
        == loan.json()["id"]
    )
    loan_id = loan.json()["id"]
    repay = {"paid_on": "2026-08-01", "principal_wan": "24.5", "interest_wan": "0.8625"}
    r1 = client.post(f"/api/v1/loans/{loan_id}/repayments", json=repay, headers={**bank_a, "Idempotency-Key": "r1"})
    r2 = client.post(f"/api/v1/loans/{loan_id}/repayments", json=repay, headers={**bank_a, "Idempotency-Key": "r1"})
    assert r1.status_code == r2.status_code == 201
    assert r2.json()["principal_repaid_wan"] == "24.500000"
    cls = client.post(
        f"/api/v1/loans/{loan_id}/classification",
        json={"classification": "doubtful", "days_past_due": 120, "as_of": "2026-12-31"},
        headers=bank_a,
    )
    assert cls.json()["defaulted"] is True
    renew = client.post(
        f"/api/v1/loans/{loan_id}/renew", json={**loan_body, "amount_wan": "100"} | {"application_id": None}, headers=bank_a
    )
    assert renew.status_code == 422  # the renewal body has no application_id
    renew = client.post(
        f"/api/v1/loans/{loan_id}/renew", json={k: v for k, v in loan_body.items() if k != "application_id"}, headers=bank_a
    )
    assert renew.status_code == 409
    assert renew.json()["code"] == "renewal_refused"
    assert client.get("/api/v1/loans", headers=ent).json()["total"] == 1
    assert client.get("/api/v1/loans", headers=bank_b).json()["total"] == 0

    assert client.get("/api/v1/lending/overview", headers=bank_a).status_code == 403


def test_regulator_overview(
    db: Database, database_url: str, clock: FrozenClock, cipher: PiiCipher, world: World, unique: str
) -> None:
    client = _client(db, database_url, clock, world)
    make_user(db, clock, cipher, role=Role.REGULATOR, username=f"lr{unique}")
    _log_in(client, f"lr{unique}")
    r = client.get("/api/v1/lending/overview")
    assert r.status_code == 200
    assert {"applications_total", "approval_rate", "credit_loan_share", "overdue_decisions"} <= set(r.json())
    page = client.get("/lending/overview")
    assert page.status_code == 200
    assert "信易贷概览" in page.text
    assert "<svg" in page.text


def test_pages(db: Database, database_url: str, clock: FrozenClock, cipher: PiiCipher, world: World, unique: str) -> None:
    client = _client(db, database_url, clock, world)
    make_user(db, clock, cipher, role=Role.ENTERPRISE, username=f"pe{unique}", uscc=SUBJECT)
    ent = _log_in(client, f"pe{unique}")
    r = client.post(
        "/lending/applications",
        data={
            "product_id": str(world.product_a.id),
            "amount_wan": "80",
            "term_months": "6",
            "purpose": "备货",
            "csrf_token": ent["X-CSRF-Token"],
        },
    )
    assert r.status_code == 303, r.text
    page = client.get("/lending/applications")
    assert "我的申请" in page.text
    assert "闽信科创贷" in page.text
    assert "消息通知" in page.text
    bad = client.post(
        "/lending/applications",
        data={"product_id": "x", "amount_wan": "1", "term_months": "1", "purpose": "p", "csrf_token": ent["X-CSRF-Token"]},
    )
    assert bad.status_code == 422
    assert client.get("/lending/loans").status_code == 200
    client.cookies.clear()
    make_user(db, clock, cipher, role=Role.INSTITUTION_OFFICER, username=f"po{unique}", org=_org(world))
    off = _log_in(client, f"po{unique}")
    queue = client.get("/lending/applications")
    assert "工作台队列" in queue.text
    assert "受理" in queue.text
    app_id = lending.list_applications(db, actor=world.officer_a, clock=clock).items[0].id
    assert client.post(f"/lending/applications/{app_id}/accept", data={"csrf_token": off["X-CSRF-Token"]}).status_code == 303
    assert 'data-tone="green"' in client.get("/lending/applications").text
    rejected = client.post(
        f"/lending/applications/{app_id}/decide", data={"outcome": "rejected", "text": "x", "csrf_token": off["X-CSRF-Token"]}
    )
    assert rejected.status_code == 422
    assert "拒绝须选择至少一项原因" in rejected.text


def _org(world: World) -> Any:
    from tests.factories import Org

    return Org(world.bank_a, world.bank_a)
