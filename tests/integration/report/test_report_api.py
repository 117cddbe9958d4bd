"""The report API and pages through the ASGI app: an anonymous public report in JSON and PDF, the public verify
endpoint and page with an uploaded copy (一致 / 不一致), the enterprise's special report with its 409, and another
institution's 404."""

from __future__ import annotations

import json
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.factories import PASSWORD
from tests.integration.consent.consent_support import SUBJECT, People
from xinyidai.app import create_app
from xinyidai.consent import Keyring
from xinyidai.consent.service import KEYRING_SERVICE
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.report import pdf_envelope


@pytest.fixture
def app(db: Database, database_url: str, clock: FrozenClock, keyring: Keyring) -> FastAPI:
    application = create_app(make_settings(database_url), db=db, clock=clock)
    application.state.container.services[KEYRING_SERVICE] = keyring
    return application


def _client(app: FastAPI) -> TestClient:
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def _log_in(client: TestClient, username: str) -> str:
    form = client.get("/login")
    login_csrf = re.search(r'name="login_csrf" value="([^"]*)"', form.text)
    assert login_csrf
    r = client.post("/login", data={"username": username, "password": PASSWORD, "login_csrf": login_csrf.group(1), "next": "/"})
    assert r.status_code == 303, r.text
    csrf = re.search(r'name="csrf_token" value="([^"]*)"', client.get("/").text)
    assert csrf
    return csrf.group(1)


def test_public_report_and_verification_by_anyone(app: FastAPI) -> None:
    anyone = _client(app)
    r = anyone.post("/api/v1/reports/public", json={"uscc": SUBJECT})
    assert r.status_code == 201, r.text
    envelope = r.json()
    code = envelope["report"]["verification"]["code"]
    pdf = anyone.post("/api/v1/reports/public?format=pdf", json={"uscc": SUBJECT})
    assert pdf.status_code == 201
    assert pdf.content.startswith(b"%PDF")
    html = anyone.post("/api/v1/reports/public?format=html", json={"uscc": SUBJECT})
    assert "<svg" in html.text
    assert "default-src 'none'" in html.headers["content-security-policy"]
    facts = anyone.get(f"/api/v1/reports/verify/{code}").json()
    assert facts["signature_valid"] is True
    assert facts["sha256"] == envelope["sha256"]
    assert facts["matches"] is None
    same = anyone.post(
        f"/api/v1/reports/verify/{code}", files={"file": ("r.json", json.dumps(envelope).encode(), "application/json")}
    )
    assert same.json()["matches"] is True
    envelope["report"]["subject"]["name"] = "另一家公司"
    page = anyone.post(
        "/reports/verify", data={"code": code}, files={"file": ("r.json", json.dumps(envelope).encode(), "application/json")}
    )
    assert page.status_code == 200
    assert "不一致" in page.text
    inside = pdf_envelope(pdf.content)  # the PDF carries its own signed JSON
    assert inside is not None
    ok = anyone.post(
        "/reports/verify",
        data={"code": inside["report"]["verification"]["code"]},
        files={"file": ("r.pdf", pdf.content, "application/pdf")},
    )
    assert "一致：" in ok.text
    assert anyone.get("/reports/verify?code=0000-0000-0000-0000").status_code == 404
    assert anyone.get(f"/api/v1/reports/{envelope['report']['number']}").status_code == 401


def test_enterprise_special_report_pages_and_limit(app: FastAPI, people: People) -> None:
    enterprise = _client(app)
    csrf = _log_in(enterprise, people.usernames["enterprise"])
    body = {"type": "general", "period_from": "2022-01-01", "period_to": "2026-06-30"}
    r = enterprise.post("/api/v1/reports/special", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    number = r.json()["report"]["number"]
    again = enterprise.post("/api/v1/reports/special", json=body, headers={"X-CSRF-Token": csrf})
    assert again.status_code == 409
    assert again.json()["code"] == "report_daily_limit"
    page = enterprise.get("/reports")
    assert page.status_code == 200
    assert number in page.text
    assert "我的信用报告" in page.text
    assert enterprise.get(f"/api/v1/reports/{number}?format=pdf").content.startswith(b"%PDF")
    form = enterprise.post(
        "/reports/special", data={"type": "penalty", "period_from": "2025-01-01", "period_to": "2026-06-30", "csrf_token": csrf}
    )
    assert form.status_code == 303
    bank_b = _client(app)
    _log_in(bank_b, people.usernames["officer_b"])
    assert bank_b.get(f"/api/v1/reports/{number}").status_code == 404
    assert bank_b.get("/reports/pull").status_code == 200
