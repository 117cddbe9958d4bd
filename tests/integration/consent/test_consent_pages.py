"""The authorization pages through the ASGI app: the institution's request form, the enterprise's 授权管理 with
prominent clauses and approval after the password, CSRF on every form, tenancy, the operator's fair-use page."""

from __future__ import annotations

import re

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.factories import PASSWORD
from tests.integration.consent.consent_support import SUBJECT, People
from xinyidai import consent
from xinyidai.app import create_app
from xinyidai.audit.tables import AuditEvent
from xinyidai.consent import Ed25519Key, Keyring
from xinyidai.consent.service import KEYRING_SERVICE
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock


@pytest.fixture
def app(db: Database, database_url: str, clock: FrozenClock) -> FastAPI:
    application = create_app(make_settings(database_url), db=db, clock=clock)
    application.state.container.services[KEYRING_SERVICE] = Keyring(Ed25519Key.generate())
    return application


def _client(app: FastAPI) -> TestClient:
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


def _log_in(client: TestClient, username: str) -> None:
    form = client.get("/login")
    r = client.post(
        "/login", data={"username": username, "password": PASSWORD, "login_csrf": _hidden(form.text, "login_csrf"), "next": "/"}
    )
    assert r.status_code == 303, r.text


def _request_form(csrf: str | None, **changes: str) -> dict[str, str | list[str]]:
    form: dict[str, str | list[str]] = {
        "enterprise_uscc": SUBJECT,
        "purpose": "credit_approval",
        "scope_categories": ["administrative"],
        "scope_items": ["utility_payment"],
        "data_from": "2025-01-01",
        "data_to": "2026-06-30",
        "fetch_type": "periodic",
        "frequency_max": "4",
        "frequency_unit": "month",
        "data_life_days": "90",
        "validity_days": "60",
        "note": "<script>alert(1)</script>流动资金贷款",
    }
    if csrf is not None:
        form["csrf_token"] = csrf
    form.update(changes)
    return form


def _authorization_id(response: httpx.Response) -> str:
    match = re.match(r"^/authorizations/([0-9a-f-]{36})\?created=1$", response.headers["location"])
    assert match, response.headers.get("location")
    return match.group(1)


def test_request_approve_pause_revoke_through_the_pages(app: FastAPI, people: People) -> None:
    with _client(app) as bank, _client(app) as firm, _client(app) as other_bank:
        _log_in(bank, people.usernames["officer_a"])
        page = bank.get("/authorizations")
        assert page.status_code == 200
        assert "授权申请" in page.text
        assert 'name="scope_items" value="tax_payment"' in page.text
        assert 'value="admin_penalty"' not in page.text  # public items need no authorization
        csrf = _hidden(page.text, "csrf_token")
        # A form post without the CSRF token is refused and creates nothing.
        assert bank.post("/authorizations", data=_request_form(None)).status_code == 403
        assert "本机构还没有授权申请" in bank.get("/authorizations").text
        too_wide = bank.post("/authorizations", data=_request_form(csrf, validity_days="400"))
        assert too_wide.status_code == 422
        assert "最长授权期限" in too_wide.text
        created = bank.post("/authorizations", data=_request_form(csrf))
        assert created.status_code == 303, created.text
        auth_id = _authorization_id(created)
        detail = bank.get(f"/authorizations/{auth_id}?created=1")
        assert "授权申请已提交" in detail.text
        assert "待企业确认" in detail.text
        assert "<script>alert(1)</script>" not in detail.text
        assert "&lt;script&gt;" in detail.text
        assert 'id="approve-form"' not in detail.text  # the institution cannot approve

        _log_in(firm, people.usernames["enterprise"])
        manage = firm.get("/authorizations")
        assert "授权管理" in manage.text
        assert "闽信银行福州分行" in manage.text
        assert 'id="consent-notice"' in manage.text
        clauses_page = firm.get(f"/authorizations/{auth_id}")
        html = clauses_page.text
        # The standard-form clauses are shown prominently: in a highlighted box, the key ones in bold.
        assert re.search(r'<div class="alert alert-warn" id="clauses">', html)
        assert re.search(r"<li><strong>本企业（统一社会信用代码 .*授信审批.*</strong></li>", html)
        assert "<strong>机构不得将所获信息用于上述用途以外的目的" in html
        firm_csrf = _hidden(html, "csrf_token")
        digest = _hidden(html, "clauses_sha256")
        approve = {"password": PASSWORD, "clauses_sha256": digest, "agree": "yes"}
        not_agreed = firm.post(f"/authorizations/{auth_id}/approve", data={**approve, "agree": "", "csrf_token": firm_csrf})
        assert not_agreed.status_code == 422
        assert "请先阅读并勾选" in not_agreed.text
        wrong = firm.post(
            f"/authorizations/{auth_id}/approve", data={**approve, "password": "Wrong-Horse-9", "csrf_token": firm_csrf}
        )
        assert wrong.status_code == 403
        assert "密码不正确" in wrong.text
        done = firm.post(f"/authorizations/{auth_id}/approve", data={**approve, "csrf_token": firm_csrf})
        assert done.status_code == 303
        active = firm.get(f"/authorizations/{auth_id}?done=1").text
        assert "生效中" in active
        assert 'id="artefact"' in active
        assert 'id="pause-form"' in active

        assert firm.post(f"/authorizations/{auth_id}/pause", data={"reason": "暂不融资"}).status_code == 403
        paused = firm.post(f"/authorizations/{auth_id}/pause", data={"reason": "暂不融资", "csrf_token": firm_csrf})
        assert paused.status_code == 303
        assert "已暂停" in firm.get(f"/authorizations/{auth_id}").text
        assert firm.post(f"/authorizations/{auth_id}/resume", data={"csrf_token": firm_csrf}).status_code == 303
        assert firm.post(f"/authorizations/{auth_id}/revoke", data={"csrf_token": firm_csrf}).status_code == 303
        again = firm.post(f"/authorizations/{auth_id}/revoke", data={"csrf_token": firm_csrf})
        assert again.status_code == 409
        assert "不能撤销授权" in again.text
        history = firm.get("/authorizations").text
        assert 'id="history"' in history
        assert "已撤销" in history
        assert "暂不融资" in firm.get(f"/authorizations/{auth_id}").text

        # Bank B sees none of it: 404, not 403.
        _log_in(other_bank, people.usernames["officer_b"])
        assert other_bank.get(f"/authorizations/{auth_id}").status_code == 404
        assert "本机构还没有授权申请" in other_bank.get("/authorizations").text
        assert other_bank.get("/authorizations/not-an-id").status_code == 404


def test_enterprise_sees_only_its_own_and_cannot_request(app: FastAPI, people: People, db: Database, clock: FrozenClock) -> None:
    from tests.integration.consent.consent_support import terms

    view = consent.request_authorization(db, actor=people.officer_a, clock=clock, enterprise_uscc=SUBJECT, terms=terms(clock))
    with _client(app) as firm:
        _log_in(firm, people.usernames["other_enterprise"])
        page = firm.get("/authorizations")
        assert "暂无待确认的授权申请" in page.text
        assert firm.get(f"/authorizations/{view.id}").status_code == 404
        csrf = _hidden(page.text, "csrf_token")
        assert firm.post("/authorizations", data=_request_form(csrf)).status_code == 403
        # Approving another enterprise's authorization: 404 as well.
        refused = firm.post(f"/authorizations/{view.id}/approve", data={"password": PASSWORD, "agree": "yes", "csrf_token": csrf})
        assert refused.status_code == 404


def test_operator_sets_fair_use_bounds_on_its_page(app: FastAPI, people: People, db: Database) -> None:
    with _client(app) as operator, _client(app) as bank:
        _log_in(operator, people.usernames["operator"])
        page = operator.get("/consent/policies")
        assert page.status_code == 200
        assert "授权公平使用规则" in page.text
        csrf = _hidden(page.text, "csrf_token")
        row = {
            "purpose": "guarantee",
            "max_validity_days": "200",
            "max_data_range_days": "700",
            "max_frequency_fetches": "2",
            "max_frequency_unit": "month",
            "max_data_life_days": "100",
        }
        assert operator.post("/consent/policies", data=row).status_code == 403
        saved = operator.post("/consent/policies", data={**row, "csrf_token": csrf})
        assert saved.status_code == 200
        assert "“担保”的公平使用规则已保存" in saved.text
        guarantee = next(p for p in consent.list_policies(db) if p.purpose is consent.Purpose.GUARANTEE)
        assert (guarantee.max_validity_days, guarantee.max_data_life_days) == (200, 100)
        bad = operator.post("/consent/policies", data={**row, "max_validity_days": "x", "csrf_token": csrf})
        assert bad.status_code == 422
        _log_in(bank, people.usernames["officer_a"])
        assert bank.get("/consent/policies").status_code in (303, 403)


def test_approve_form_without_csrf_is_refused_and_audited(app: FastAPI, people: People, db: Database, clock: FrozenClock) -> None:
    from tests.integration.consent.consent_support import terms

    view = consent.request_authorization(db, actor=people.officer_a, clock=clock, enterprise_uscc=SUBJECT, terms=terms(clock))
    with _client(app) as firm:
        _log_in(firm, people.usernames["enterprise"])
        refused = firm.post(f"/authorizations/{view.id}/approve", data={"password": PASSWORD, "agree": "yes"})
        assert refused.status_code == 403
    with db.transaction() as s:
        denied = s.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "access.denied", AuditEvent.target_type == "route")
        ).all()
    assert [e.reasons[0] for e in denied] == ["csrf_failed"]
    assert str(view.id) in (denied[0].target_id or "")
    assert consent.get_authorization(db, actor=people.enterprise, clock=clock, authorization_id=view.id).status is (
        consent.AuthorizationStatus.REQUESTED
    )
