"""The product market's pages through the ASGI app: the market with reasons and estimates, applying with the
authorization the product needs (password confirmation), needs, product management, and tenancy between
institutions and between enterprises. The demo financing data (`xinyidai.demo.seed_financing`) is the fixture."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Connection, Engine

from tests.conftest import make_settings
from tests.factories import ADMIN, RegistrationRowFactory, uscc_for
from xinyidai import lending, principal, product, registry
from xinyidai.app import create_app
from xinyidai.db import Database
from xinyidai.demo import DemoLogin, seed_financing, seed_principals
from xinyidai.http.container import Container
from xinyidai.kernel.clock import FrozenClock
from xinyidai.lending.seed import DEMO_PRODUCTS, DemoFinancing
from xinyidai.principal import Role

ENTERPRISE_USCC = "91350100M000100Y43"
OTHER_USCC = uscc_for(4242)
OTHERS = [OTHER_USCC, uscc_for(4243), uscc_for(4244), uscc_for(4245)]
RCB_PASSWORD = "Rural-Bank-Officer-9"


@dataclass
class Site:
    """A client on the app, the services, the demo logins and what the financing seed made."""

    client: TestClient
    container: Container
    logins: dict[str, DemoLogin]
    seeded: DemoFinancing


@dataclass
class _Seeded:
    connection: Connection
    app: FastAPI
    logins: dict[str, DemoLogin]
    financing: DemoFinancing


@pytest.fixture(scope="module")
def seeded(engine: Engine, database_url: str) -> Iterator[_Seeded]:
    """Demo logins, registered enterprises and the demo financing data, on one connection rolled back at the end."""
    with engine.connect() as connection:
        outer = connection.begin()
        clock = FrozenClock(datetime(2026, 6, 30, 2, 0, tzinfo=UTC))
        app = create_app(make_settings(database_url), db=Database(connection, node_id="city-350100"), clock=clock)
        container: Container = app.state.container
        logins = {login.username: login for login in seed_principals(container, enterprise_uscc=ENTERPRISE_USCC)}
        rows = [
            RegistrationRowFactory(uscc=ENTERPRISE_USCC, name="福州闽信示范科技有限公司", industry_code="I6510"),
            *(RegistrationRowFactory(uscc=u, status="在业") for u in OTHERS),
        ]
        summary = registry.load_registrations(
            container.db, actor=ADMIN, clock=clock, cipher=container.cipher, rows=enumerate(rows, start=2), source="test"
        )
        assert summary.accepted == len(rows)
        financing = seed_financing(container, enterprise_uscc=ENTERPRISE_USCC, other_usccs=OTHERS)
        rural = principal.find_institution(container.db, code="DEMO-RCB")
        principal.create_user(
            container.db, actor=ADMIN, clock=clock, cipher=container.cipher, username="rcbofficer", password=RCB_PASSWORD,
            role=Role.INSTITUTION_OFFICER, display_name="农商行客户经理", phone="13800138001", institution_id=rural,
        )  # fmt: skip
        principal.create_user(
            container.db, actor=ADMIN, clock=clock, cipher=container.cipher, username="otherent", password=RCB_PASSWORD,
            role=Role.ENTERPRISE, display_name="另一企业", phone="13800138002", enterprise_uscc=OTHER_USCC,
        )  # fmt: skip
        yield _Seeded(connection, app, logins, financing)
        outer.rollback()


@pytest.fixture
def site(seeded: _Seeded) -> Iterator[Site]:
    """A fresh client; whatever the test changes is rolled back with its savepoint."""
    savepoint = seeded.connection.begin_nested()
    with TestClient(seeded.app, base_url="https://testserver", follow_redirects=False) as client:
        yield Site(client, seeded.app.state.container, seeded.logins, seeded.financing)
    if savepoint.is_active:
        savepoint.rollback()


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


def _log_in(site: Site, username: str, password: str | None = None) -> str:
    """Log in; returns the session's CSRF token (read from a page)."""
    form = site.client.get("/login")
    r = site.client.post(
        "/login",
        data={
            "username": username,
            "password": password or site.logins[username].password,
            "login_csrf": _hidden(form.text, "login_csrf"),
            "next": "/",
        },
    )
    assert r.status_code == 303, r.text
    return _hidden(site.client.get("/lending/applications").text, "csrf_token") if username != "rcbofficer" else ""


def _csrf(site: Site, path: str) -> str:
    return _hidden(site.client.get(path).text, "csrf_token")


def _product_named(site: Site, name: str) -> product.Product:
    found = [p for p in product.published_products(site.container.db) if p.terms.name == name]
    assert len(found) == 1
    return found[0]


def test_seed_made_every_state_and_is_idempotent(site: Site) -> None:
    assert len(site.seeded.products) == len(DEMO_PRODUCTS) >= 12
    assert set(site.seeded.applications) == {"submitted", "accepted", "approved", "rejected", "withdrawn", "overdue"}
    again = seed_financing(site.container, enterprise_uscc=ENTERPRISE_USCC, other_usccs=OTHERS)
    assert again.products == ()
    statuses = {
        k: lending.get_application(
            site.container.db, actor=_bank(site), clock=site.container.clock, application_id=v
        ).status.value
        for k, v in site.seeded.applications.items()
    }
    assert statuses == {
        "submitted": "submitted",
        "accepted": "accepted",
        "approved": "approved",
        "rejected": "rejected",
        "withdrawn": "withdrawn",
        "overdue": "accepted",
    }


def _bank(site: Site) -> principal.Principal:
    from xinyidai.lending.seed import _as

    bank = principal.find_institution(site.container.db, code="DEMO-BANK")
    return _as(Role.INSTITUTION_OFFICER, "示范商业银行福州分行", institution_id=bank)


def test_market_shows_each_rule_outcome_reason_and_estimate(site: Site) -> None:
    _log_in(site, "enterprise")
    r = site.client.get("/market")
    assert r.status_code == 200
    total = int(re.search(r'id="market-total">(\d+)<', r.text).group(1))  # type: ignore[union-attr]
    assert total == len(DEMO_PRODUCTS)
    # 惠农快贷 is for agriculture (section A): the enterprise (section I) does not qualify, and is told why.
    farm = _product_named(site, "惠农快贷")
    row = re.search(rf'<tr data-product="{farm.id}" data-outcome="(\w+)">(.*?)</tr>', r.text, re.S)
    assert row is not None
    assert row.group(1) == "fail"
    assert "不属于产品支持的行业" in row.group(2)
    assert "不符合" in row.group(2)
    # Filters: credit loans only, and one institution.
    credit = site.client.get("/market?credit=1")
    assert all(_product_named(site, n).terms.credit_loan for n in re.findall(r'<a href="/market/[^"]+">([^<]+)</a>', credit.text))
    detail = site.client.get(f"/market/{farm.id}")
    assert detail.status_code == 200
    assert 'id="match-outcome">不符合<' in detail.text


def test_apply_gives_the_authorization_with_the_password_then_attaches_it(site: Site) -> None:
    csrf = _log_in(site, "enterprise")
    target = _product_named(site, "科技信用贷")
    page = site.client.get(f"/market/{target.id}/apply")
    assert page.status_code == 200
    assert "纳税信息（tax_payment）" in page.text
    assert "确认授权并提交申请" in page.text
    form = {"csrf_token": csrf, "amount_wan": "100", "term_months": "12", "purpose": "研发投入", "agree": "yes"}
    before = lending.list_applications(site.container.db, actor=_bank(site), clock=site.container.clock, limit=500).total
    wrong = site.client.post(f"/market/{target.id}/apply", data={**form, "password": "not-my-password-1"})
    assert wrong.status_code == 403
    assert "密码不正确" in wrong.text
    assert lending.list_applications(site.container.db, actor=_bank(site), clock=site.container.clock, limit=500).total == before
    right = site.client.post(f"/market/{target.id}/apply", data={**form, "password": site.logins["enterprise"].password})
    assert right.status_code == 303, right.text
    app_id = uuid.UUID(right.headers["location"].split("/")[-1].split("?")[0])
    view = lending.get_application(site.container.db, actor=_bank(site), clock=site.container.clock, application_id=app_id)
    assert view.authorization_id is not None
    # The same institution's other product with the same needs: the authorization is already there, no password.
    again = site.client.get(f"/market/{_product_named(site, '纳税信用贷').id}/apply")
    assert 'id="auth-existing"' in again.text


def test_apply_without_consent_box_or_password_files_nothing(site: Site) -> None:
    csrf = _log_in(site, "enterprise")
    target = _product_named(site, "闽信e贷")
    base = {"csrf_token": csrf, "amount_wan": "50", "term_months": "12", "purpose": "周转"}
    assert site.client.post(f"/market/{target.id}/apply", data=base).status_code == 422
    assert site.client.post(f"/market/{target.id}/apply", data={**base, "agree": "yes"}).status_code == 422


def test_needs_post_list_close_and_tenancy(site: Site) -> None:
    csrf = _log_in(site, "enterprise")
    r = site.client.post(
        "/needs",
        data={
            "csrf_token": csrf,
            "amount": "120",
            "term_months": "12",
            "purpose": "订单备货",
            "urgency": "urgent",
            "shared": ["name"],
        },
    )
    assert r.status_code == 303
    mine = site.client.get("/needs").text
    assert "订单备货" in mine
    assert "支付货款" not in mine  # another enterprise's need (seeded) is never shown
    need_id = re.search(r'<tr data-need="([^"]+)">\s*<td>120</td>', mine)
    assert need_id is not None
    # The other enterprise cannot close it: 404.
    site.client.post("/logout", data={"csrf_token": csrf})
    other_csrf = _log_in(site, "otherent", RCB_PASSWORD)
    assert site.client.post(f"/needs/{need_id.group(1)}/close", data={"csrf_token": other_csrf}).status_code == 404
    assert "订单备货" not in site.client.get("/needs").text
    assert site.client.get(f"/lending/applications/{site.seeded.applications['approved']}").status_code == 404


def test_institution_sees_only_its_products_and_servable_needs(site: Site) -> None:
    _log_in(site, "officer")
    own = site.client.get("/products").text
    assert "闽信e贷" in own
    assert "惠农快贷" not in own  # the rural bank's
    rural_product = _product_named(site, "惠农快贷")
    assert site.client.get(f"/products/{rural_product.id}").status_code == 404
    csrf = _csrf(site, "/products")
    assert site.client.post(f"/products/{rural_product.id}/withdraw", data={"csrf_token": csrf}).status_code == 404
    servable = site.client.get("/products/needs")
    assert servable.status_code == 200
    # The demo enterprise shared its name: shown. Its facts snapshot and unshared fields are not.
    assert "采购原材料、补充流动资金" in servable.text
    assert "registered_capital" not in servable.text
    assert "农资采购" in servable.text
    assert "企业未共享" in servable.text  # that enterprise shared nothing
    assert not any(u in servable.text for u in [ENTERPRISE_USCC, *OTHERS])  # nobody shared the code
    # The rural bank's officer sees the needs its own products could serve, named by its own products only.
    site.client.post("/logout", data={"csrf_token": _csrf(site, "/products")})
    _log_in(site, "rcbofficer", RCB_PASSWORD)
    theirs = site.client.get("/products/needs").text
    assert "闽信e贷" not in theirs


def test_product_draft_edit_publish_withdraw_on_pages(site: Site) -> None:
    _log_in(site, "officer")
    csrf = _csrf(site, "/products")
    form = {
        "csrf_token": csrf, "name": "测试信用贷", "type": "pure_credit", "credit_loan": "yes", "amount_min": "5",
        "amount_max": "100", "term_min": "3", "term_max": "24", "rate_min": "3.9", "rate_max": "6",
        "methods": ["equal_instalment"], "scope_items": ["tax_payment"], "purpose": "credit_approval", "regions": "35",
        "industries": "I", "min_years": "1",
        "dishonesty": "yes", "description": "测试",
    }  # fmt: skip
    created = site.client.post("/products", data=form)
    assert created.status_code == 303, created.text
    pid = created.headers["location"].split("/")[-1].split("?")[0]
    edited = site.client.post(f"/products/{pid}", data={**form, "name": "测试信用贷二期", "amount_max": "abc"})
    assert edited.status_code == 422
    assert site.client.post(f"/products/{pid}", data={**form, "name": "测试信用贷二期"}).status_code == 303
    before = {p.id for p in product.market_matcher(site.container.db).products}
    assert pid not in before
    assert site.client.post(f"/products/{pid}/publish", data={"csrf_token": csrf}).status_code == 303
    assert pid in {p.id for p in product.market_matcher(site.container.db).products}  # the cache follows the revision
    assert site.client.post(f"/products/{pid}", data=form).status_code == 409  # published: fixed
    assert site.client.post(f"/products/{pid}/withdraw", data={"csrf_token": csrf}).status_code == 303
    assert pid not in {p.id for p in product.market_matcher(site.container.db).products}
    assert site.client.post(f"/products/{pid}/publish", data={"csrf_token": csrf}).status_code == 409


def test_rural_bank_officer_sees_its_own_side_only(site: Site) -> None:
    _log_in(site, "rcbofficer", RCB_PASSWORD)
    own = site.client.get("/products").text
    assert "惠农快贷" in own
    assert "闽信e贷" not in own
    queue = site.client.get("/lending/applications").text
    assert "闽信e贷" not in queue
    assert site.client.get(f"/lending/applications/{site.seeded.applications['submitted']}").status_code == 404


def test_default_hooks_attach_only_a_covering_authorization(site: Site) -> None:
    hooks = lending.default_hooks(site.container)
    target = _product_named(site, "科技信用贷")
    inst = uuid.UUID(target.institution_id)
    assert hooks.authorization(ENTERPRISE_USCC, inst, uuid.UUID(target.id)) is None
    ref = hooks.product(uuid.UUID(target.id))
    assert ref is not None
    assert ref.institution_id == inst
    # Another institution id than the product's: never an authorization.
    assert hooks.authorization(ENTERPRISE_USCC, uuid.uuid4(), uuid.UUID(target.id)) is None


def test_whole_flow_on_pages_enterprise_applies_officer_decides_enterprise_sees_loan(site: Site) -> None:
    csrf = _log_in(site, "enterprise")
    target = _product_named(site, "科技信用贷")
    applied = site.client.post(
        f"/market/{target.id}/apply",
        data={"csrf_token": csrf, "amount_wan": "80", "term_months": "12", "purpose": "研发投入", "agree": "yes",
              "password": site.logins["enterprise"].password},
    )  # fmt: skip
    assert applied.status_code == 303
    path = applied.headers["location"].split("?")[0]
    site.client.post("/logout", data={"csrf_token": csrf})
    officer = _log_in(site, "officer")
    assert path in site.client.get("/lending/applications").text  # on the work queue
    assert site.client.post(f"{path}/accept", data={"csrf_token": officer}).status_code == 303
    decided = site.client.post(
        f"{path}/decide",
        data={"csrf_token": officer, "outcome": "approved", "amount_wan": "80", "annual_rate_pct": "3.9", "term_months": "12"},
    )
    assert decided.status_code == 303, decided.text
    loan = site.client.post(
        f"{path}/loan",
        data={"csrf_token": officer, "amount_wan": "80", "annual_rate_pct": "3.9", "start_on": "2026-07-01", "term_months": "12",
              "repayment_method": "equal_instalment", "credit_loan": "yes", "guarantee": ""},
    )  # fmt: skip
    assert loan.status_code == 303, loan.text
    site.client.post("/logout", data={"csrf_token": officer})
    _log_in(site, "enterprise")
    loans = site.client.get("/lending/loans").text
    assert f'<a href="{path}">' in loans  # the loan, linked to its application
    assert "科技信用贷" in site.client.get(path).text
