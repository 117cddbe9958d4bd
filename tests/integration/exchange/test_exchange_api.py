"""GET /api/v1/exchange/{item}/{uscc} through the ASGI app, against the real simulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.factories import PASSWORD, make_user
from tests.integration.exchange.conftest import configure, control, subject_with
from xinyidai import exchange, principal
from xinyidai.app import create_app
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.principal import Role
from xinyidai.simulator import DataIndex, RunningSimulator


@pytest.fixture
def client(db: Database, database_url: str, clock: FrozenClock) -> Iterator[TestClient]:
    app = create_app(make_settings(database_url), db=db, clock=clock)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c
    exchange.connector_registry(app.state.container).close()


def _login(client: TestClient, db: Database, clock: FrozenClock, cipher: PiiCipher, role: Role, username: str) -> None:
    make_user(db, clock, cipher, role=role, username=username)
    result = principal.login(
        db,
        clock=clock,
        username=username,
        password=PASSWORD,
        ip=None,
        user_agent=None,
        session_hours=8,
        max_failures=5,
        window_minutes=15,
    )
    client.cookies.set(principal.SESSION_COOKIE, result.session_token)


def test_operators_query_and_a_failing_source_still_answers_200(
    client: TestClient,
    db: Database,
    clock: FrozenClock,
    cipher: PiiCipher,
    simulator: RunningSimulator,
    data_index: DataIndex,
) -> None:
    configure(db, clock, cipher, simulator)
    _login(client, db, clock, cipher, Role.OPERATOR, "ops-x")
    uscc = subject_with(data_index, "tax_payment")
    r = client.get(f"/api/v1/exchange/tax_payment/{uscc}", params={"purpose": "贷前调查"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "fresh"
    assert body["source"] == "tax"
    assert len(body["records"]) == len(data_index.records("tax_payment", uscc))
    assert body["as_of"].startswith("2026-06-30T01:00:00")
    # The registry lives in the container: its breaker and pool outlive the request.
    registry = exchange.connector_registry(client.app.state.container)  # type: ignore[attr-defined]
    assert "tax" in registry.breaker_states()

    control(simulator, mode="fail")
    other = next(u for u in data_index.subjects("tax_payment") if u != uscc)
    degraded = client.get(f"/api/v1/exchange/tax_payment/{other}")
    assert degraded.status_code == 200
    assert (degraded.json()["status"], degraded.json()["reason"], degraded.json()["records"]) == ("unavailable", "error", [])
    assert client.get(f"/api/v1/exchange/tax_payment/{uscc}").json()["status"] == "cached"


def test_bad_input_is_problem_json(
    client: TestClient, db: Database, clock: FrozenClock, cipher: PiiCipher, data_index: DataIndex
) -> None:
    _login(client, db, clock, cipher, Role.OPERATOR, "ops-y")
    uscc = subject_with(data_index, "tax_payment")
    cases = {
        f"/api/v1/exchange/no_such_item/{uscc}": (404, "catalog_entry_not_found"),
        "/api/v1/exchange/tax_payment/91350100M000100YO3": (422, "invalid_uscc"),
        "/api/v1/exchange/tax_payment/short": (422, "invalid_input"),
        f"/api/v1/exchange/tax_payment/{uscc}?source=customs": (422, "exchange_source_mismatch"),
    }
    for path, (status, code) in cases.items():
        r = client.get(path)
        assert r.status_code == status, (path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == code


def test_only_holders_of_the_query_permission_may_call(
    client: TestClient, db: Database, clock: FrozenClock, cipher: PiiCipher, data_index: DataIndex
) -> None:
    uscc = subject_with(data_index, "tax_payment")
    assert client.get(f"/api/v1/exchange/tax_payment/{uscc}").status_code == 401
    _login(client, db, clock, cipher, Role.ENTERPRISE, "ent-x")
    r = client.get(f"/api/v1/exchange/tax_payment/{uscc}")
    assert r.status_code == 403
    assert r.json()["code"] == "forbidden"
