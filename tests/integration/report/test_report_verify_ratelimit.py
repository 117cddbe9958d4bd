"""The public verification is rate limited per client IP (429 problem+json with Retry-After, API GET and POST
sharing one bucket, 0 turning it off); the JSON delivery is the signed document as hashed."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.integration.consent.consent_support import SUBJECT
from xinyidai.app import create_app
from xinyidai.consent import Keyring
from xinyidai.consent.service import KEYRING_SERVICE
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.report.model import content_sha256

UNKNOWN = "0000-0000-0000-0000"


def _app(db: Database, database_url: str, clock: FrozenClock, keyring: Keyring, **settings: object) -> FastAPI:
    application = create_app(make_settings(database_url, **settings), db=db, clock=clock)
    application.state.container.services[KEYRING_SERVICE] = keyring
    return application


@pytest.fixture
def limited(db: Database, database_url: str, clock: FrozenClock, keyring: Keyring) -> FastAPI:
    return _app(db, database_url, clock, keyring, report_verify_rate_per_minute=1, report_verify_burst=2)


def test_verification_past_the_burst_is_429_problem_json(limited: FastAPI) -> None:
    client = TestClient(limited, base_url="https://testserver")
    code = client.post("/api/v1/reports/public", json={"uscc": SUBJECT}).json()["report"]["verification"]["code"]
    assert client.get(f"/api/v1/reports/verify/{code}").status_code == 200
    assert client.get(f"/api/v1/reports/verify/{UNKNOWN}").status_code == 404  # counted too: it was looked up
    refused = client.get(f"/api/v1/reports/verify/{code}")
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert int(refused.headers["retry-after"]) >= 1
    body = refused.json()
    assert body["code"] == "rate_limited"
    assert body["status"] == 429
    assert "signature_valid" not in body
    presented = client.post(f"/api/v1/reports/verify/{code}", files={"file": ("r.json", b"{}", "application/json")})
    assert presented.status_code == 429  # the upload shares the client's bucket
    # Issuing reports is not limited by the verification's bucket.
    assert client.post("/api/v1/reports/public", json={"uscc": SUBJECT}).status_code == 201


def test_rate_zero_turns_the_limit_off(db: Database, database_url: str, clock: FrozenClock, keyring: Keyring) -> None:
    app = _app(db, database_url, clock, keyring, report_verify_rate_per_minute=0, report_verify_burst=1)
    client = TestClient(app, base_url="https://testserver")
    assert {client.get(f"/api/v1/reports/verify/{UNKNOWN}").status_code for _ in range(5)} == {404}


def test_json_delivery_is_the_hashed_document(limited: FastAPI) -> None:
    client = TestClient(limited, base_url="https://testserver")
    r = client.post("/api/v1/reports/public", json={"uscc": SUBJECT})
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json"
    envelope = r.json()
    assert set(envelope) == {"report", "sha256", "signature", "signature_type", "key_id"}
    assert content_sha256(envelope["report"]) == envelope["sha256"]
    again = client.get(f"/api/v1/reports/verify/{envelope['report']['verification']['code']}").json()
    assert again["sha256"] == envelope["sha256"]
    assert again["signature_valid"] is True
