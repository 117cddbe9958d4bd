"""The verification API through the ASGI app: an institution's API client asks, the answer verifies at the public
route and offline, the cap is problem+json `verification_cap_reached`, and anonymous callers may only verify."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.factories import ADMIN
from tests.integration.consent.consent_support import SUBJECT
from tests.integration.verification.conftest import World
from xinyidai import principal, verification
from xinyidai.app import create_app
from xinyidai.consent.service import KEYRING_SERVICE
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.principal import Permission


def test_ask_verify_and_cap_over_http(db: Database, database_url: str, clock: FrozenClock, world: World) -> None:
    app = create_app(make_settings(database_url), db=db, clock=clock)
    app.state.container.services[KEYRING_SERVICE] = world.keyring
    client = TestClient(app, base_url="https://testserver", follow_redirects=False)
    creds = principal.create_client(
        db,
        actor=ADMIN,
        clock=clock,
        name="信贷系统",
        scopes={Permission.VERIFICATION_ASK.value},
        institution_id=world.people.bank_a,
    )
    r = client.post(
        "/api/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": creds.client_secret},
    )
    assert r.status_code == 200, r.text
    bearer = {"Authorization": f"Bearer {r.json()['access_token']}"}
    body: dict[str, Any] = {
        "uscc": SUBJECT,
        "authorization_id": str(world.authorization_id),
        "purpose": "credit_approval",
        "item": "tax_payment",
        "predicate": {"kind": "at_least", "field": "amount_paid", "value": "25"},
    }
    assert client.post("/api/v1/verifications", json=body).status_code == 401
    r = client.post("/api/v1/verifications", json=body, headers=bearer)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert (answer["answer"], answer["remaining"], answer["reused"]) == ("true", {"field": 2, "total": 19}, False)
    assert set(answer) == {"question_id", "answer", "reason", "token", "as_of", "issued_at", "sources", "remaining", "reused"}
    question = {k: body[k] for k in ("item", "predicate")} | {"uscc": SUBJECT}
    checked = client.post("/api/v1/verifications/verify", json={"token": answer["token"], "question": question}).json()
    assert (checked["valid"], checked["question_matches"], checked["claims"]["answer"]) == (True, True, "true")
    jwks = client.get("/api/v1/consent/keys").json()
    assert verification.verify_answer(answer["token"], jwks).answer is verification.Answer.TRUE
    broken = client.post("/api/v1/verifications/verify", json={"token": answer["token"][:-4] + "AAAA"}).json()
    assert broken["valid"] is False
    for value in ("26", "27"):
        assert (
            client.post(
                "/api/v1/verifications", json=body | {"predicate": {**body["predicate"], "value": value}}, headers=bearer
            ).status_code
            == 200
        )
    r = client.post("/api/v1/verifications", json=body | {"predicate": {**body["predicate"], "value": "28"}}, headers=bearer)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "verification_cap_reached"
    bad = client.post("/api/v1/verifications", json=body | {"predicate": {"kind": "at_least", "field": "grade"}}, headers=bearer)
    assert (bad.status_code, bad.json()["code"]) == (422, "predicate_invalid")
