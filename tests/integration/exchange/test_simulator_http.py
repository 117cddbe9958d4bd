"""The department simulator over real HTTP: tokens, answers, ETags, faults per instance, department and request."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.integration.exchange.conftest import TOKEN, control, subject_with
from xinyidai.simulator import FAULT_HEADER, DataIndex, RunningSimulator, create_simulator_app, running

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_it_answers_department_style_queries_with_an_etag(simulator: RunningSimulator, data_index: DataIndex) -> None:
    uscc = subject_with(data_index, "social_insurance")
    r = httpx.get(f"{simulator.url}/hrss/social_insurance", params={"uscc": uscc}, headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert (body["department"], body["item"], body["uscc"], body["count"]) == (
        "hrss",
        "social_insurance",
        uscc,
        len(body["records"]),
    )
    assert body["as_of"] == "2026-06-30T01:00:00+00:00"
    assert body["snapshot_date"] == "2026-06-30"
    assert isinstance(body["records"][0]["insured_headcount"], int)
    again = httpx.get(
        f"{simulator.url}/hrss/social_insurance", params={"uscc": uscc}, headers={**AUTH, "If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304
    nobody = httpx.get(f"{simulator.url}/hrss/social_insurance", params={"uscc": "91350100M000100Y43"}, headers=AUTH)
    assert nobody.json()["records"] == []
    assert simulator.state.count("hrss", "social_insurance") == 3


def test_it_refuses_wrong_tokens_unknown_paths_and_bad_codes(simulator: RunningSimulator, data_index: DataIndex) -> None:
    uscc = subject_with(data_index, "tax_payment")
    url = f"{simulator.url}/tax/tax_payment"
    assert httpx.get(url, params={"uscc": uscc}).status_code == 401
    assert httpx.get(url, params={"uscc": uscc}, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.get(f"{simulator.url}/tax/social_insurance", params={"uscc": uscc}, headers=AUTH).status_code == 404
    assert httpx.get(url, params={"uscc": "not-a-code"}, headers=AUTH).status_code == 400
    index = httpx.get(f"{simulator.url}/").json()
    assert "tax_payment" in index["departments"]["tax"]


def test_faults_per_department_and_per_request(simulator: RunningSimulator, data_index: DataIndex) -> None:
    uscc = subject_with(data_index, "tax_payment")
    control(simulator, department="tax", mode="fail", status=500)
    assert httpx.get(f"{simulator.url}/tax/tax_payment", params={"uscc": uscc}, headers=AUTH).status_code == 500
    other = subject_with(data_index, "registration")
    assert httpx.get(f"{simulator.url}/samr/registration", params={"uscc": other}, headers=AUTH).status_code == 200
    bad = httpx.get(
        f"{simulator.url}/samr/registration",
        params={"uscc": other},
        headers={**AUTH, FAULT_HEADER: json.dumps({"mode": "malformed", "malformed": "bad_json"})},
    )
    assert bad.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad.content)
    started = time.monotonic()
    slow = httpx.get(
        f"{simulator.url}/samr/registration",
        params={"uscc": other},
        headers={**AUTH, FAULT_HEADER: json.dumps({"mode": "slow", "delay_ms": 150})},
    )
    assert slow.status_code == 200
    assert time.monotonic() - started >= 0.15
    state = httpx.get(f"{simulator.url}/_control").json()
    assert state["plans"]["tax"]["mode"] == "fail"
    assert state["hits"] == {"tax/tax_payment": 1, "samr/registration": 3}
    wrong = httpx.post(f"{simulator.url}/_control", json={"mode": "sideways"})
    assert wrong.status_code == 400
    reset = httpx.post(f"{simulator.url}/_control/reset").json()
    assert reset["total"] == 0
    assert reset["plans"] == {
        "*": {"delay_ms": 0, "fail_next": 0, "fail_rate": 0.5, "malformed": "bad_json", "mode": "normal", "status": 503}
    }


def test_the_wrong_subject_fault_answers_about_someone_else(simulator: RunningSimulator, data_index: DataIndex) -> None:
    uscc = subject_with(data_index, "tax_payment")
    control(simulator, mode="malformed", malformed="wrong_subject")
    body = httpx.get(f"{simulator.url}/tax/tax_payment", params={"uscc": uscc}, headers=AUTH).json()
    assert body["uscc"] != uscc
    assert {r["uscc"] for r in body["records"]} == {body["uscc"]}


def test_the_control_endpoints_can_require_a_token(data_index: DataIndex) -> None:
    app = create_simulator_app(data_index, control_token="ctl")
    with running(app) as sim:
        assert httpx.get(f"{sim.url}/_control").status_code == 401
        assert httpx.post(f"{sim.url}/_control/reset").status_code == 401
        ok = httpx.post(f"{sim.url}/_control", json={"mode": "fail"}, headers={"Authorization": "Bearer ctl"})
        assert ok.status_code == 200
        # No department token configured: queries are open (development only), and the plan applies.
        uscc = subject_with(data_index, "tax_payment")
        assert httpx.get(f"{sim.url}/tax/tax_payment", params={"uscc": uscc}).status_code == 503
