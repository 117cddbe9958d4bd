"""The evaluation API end to end: deny by default, the enterprise's own evaluation, model drafts and four-eyes approval
as problem+json, the operator's pages."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.factories import PASSWORD, make_user, uscc_for
from xinyidai.app import create_app
from xinyidai.db import Database
from xinyidai.evaluation.rules import default_rules
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.principal import Role


def _client(db: Database, database_url: str, clock: FrozenClock) -> TestClient:
    return TestClient(
        create_app(make_settings(database_url), db=db, clock=clock), base_url="https://testserver", follow_redirects=False
    )


def _log_in(client: TestClient, username: str) -> dict[str, str]:
    form = client.get("/login")
    login_csrf = re.search(r'name="login_csrf" value="([^"]*)"', form.text)
    assert login_csrf
    r = client.post("/login", data={"username": username, "password": PASSWORD, "login_csrf": login_csrf.group(1), "next": "/"})
    assert r.status_code == 303, r.text
    csrf = re.search(r'name="csrf_token" value="([^"]*)"', client.get("/").text)
    assert csrf
    return {"X-CSRF-Token": csrf.group(1)}


def test_api_and_pages(db: Database, database_url: str, clock: FrozenClock, cipher: PiiCipher, unique: str) -> None:
    client = _client(db, database_url, clock)
    assert client.get("/api/v1/evaluation/models").status_code == 401
    assert client.get(f"/api/v1/evaluations/{uscc_for(77)}").status_code == 401

    make_user(db, clock, cipher, role=Role.ENTERPRISE, username=f"ee{unique}", uscc=uscc_for(77))
    ent = _log_in(client, f"ee{unique}")
    assert client.get("/api/v1/evaluation/models", headers=ent).status_code == 403
    other = client.get(f"/api/v1/evaluations/{uscc_for(78)}", headers=ent)
    assert other.status_code == 403
    mine = client.get(f"/api/v1/evaluations/{uscc_for(77)}", headers=ent)
    assert mine.status_code == 404
    assert mine.json()["code"] == "evaluation_not_found"
    page = client.get("/evaluation")
    assert page.status_code == 200
    assert "暂无信用评价结果" in page.text
    client.post("/logout", headers=ent)

    client.cookies.clear()
    make_user(db, clock, cipher, role=Role.OPERATOR, username=f"op{unique}")
    op = _log_in(client, f"op{unique}")
    created = client.post(
        "/api/v1/evaluation/models/rules", json={"table": default_rules().to_dict(), "note": "试行"}, headers=op
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["family"], body["status"], body["role"]) == ("rules", "draft", None)
    refused = client.post(f"/api/v1/evaluation/models/{body['id']}/approve", json={"role": "champion"}, headers=op)
    assert refused.status_code == 403
    assert refused.json()["code"] == "model_approval_refused"
    bad = client.post("/api/v1/evaluation/models/rules", json={"table": {"rules": []}}, headers=op)
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_model_content"
    listed = client.get("/api/v1/evaluation/models", headers=op).json()["items"]
    assert [v["id"] for v in listed] == [body["id"]]
    models_page = client.get("/evaluation/models")
    assert models_page.status_code == 200
    assert "冠军与挑战者对比" in models_page.text
    detail = client.get(f"/evaluation/models/{body['id']}")
    assert detail.status_code == 200
    assert body["label"] in detail.text
    dist = client.get("/api/v1/evaluation/distribution", headers=op)
    assert dist.status_code == 200
    assert dist.json()["total"] == 0
    assert client.get("/evaluation/distribution").status_code == 200
