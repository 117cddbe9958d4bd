"""The HTML pages end to end through the ASGI app (no browser): login, CSRF, role home pages, headers, escaping."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Connection, Engine

from tests.conftest import make_settings
from tests.factories import ADMIN, RegistrationRowFactory, uscc_for
from xinyidai import audit, principal, registry
from xinyidai.app import create_app
from xinyidai.db import Database
from xinyidai.demo import DemoLogin, seed_principals
from xinyidai.http.container import Container
from xinyidai.kernel.clock import FrozenClock
from xinyidai.principal import SESSION_COOKIE
from xinyidai.web.pages import LOGIN_CSRF_COOKIE, safe_next

ENTERPRISE_USCC = "91350100M000100Y43"
OTHER_USCC = uscc_for(4242)
ID_NUMBER = "350102198805061234"


@dataclass
class Site:
    """A client on the app, the app's services and the demo logins by username."""

    client: TestClient
    container: Container
    logins: dict[str, DemoLogin]


@dataclass
class _Seeded:
    connection: Connection
    app: FastAPI
    logins: dict[str, DemoLogin]


@pytest.fixture(scope="module")
def seeded(engine: Engine, database_url: str) -> Iterator[_Seeded]:
    """The app on one connection whose outer transaction is rolled back after the module.

    Seeding the seven demo users hashes seven passwords (argon2, deliberately slow), so
    it is done once per module; each test then runs inside a savepoint of its own.
    """
    with engine.connect() as connection:
        outer = connection.begin()
        clock = FrozenClock(datetime(2026, 6, 30, 2, 0, tzinfo=UTC))
        app = create_app(make_settings(database_url), db=Database(connection, node_id="city-350100"), clock=clock)
        container: Container = app.state.container
        logins = {login.username: login for login in seed_principals(container, enterprise_uscc=ENTERPRISE_USCC)}
        rows = [
            RegistrationRowFactory(uscc=ENTERPRISE_USCC, name="福州闽信示范科技有限公司", legal_rep_id_no=ID_NUMBER),
            RegistrationRowFactory(uscc=OTHER_USCC, name="福州鼓楼榕城贸易有限公司", status="在业"),
            RegistrationRowFactory(name="福州海峡新能源装备有限公司", status="吊销"),
        ]
        summary = registry.load_registrations(
            container.db, actor=ADMIN, clock=clock, cipher=container.cipher, rows=enumerate(rows, start=2), source="test"
        )
        assert summary.accepted == 3
        yield _Seeded(connection, app, logins)
        outer.rollback()


@pytest.fixture
def site(seeded: _Seeded) -> Iterator[Site]:
    """A fresh client (no cookies); whatever the test changes is rolled back with its savepoint."""
    savepoint = seeded.connection.begin_nested()
    # https: the test settings mark cookies Secure, and a client sends those only over https.
    with TestClient(seeded.app, base_url="https://testserver", follow_redirects=False) as client:
        yield Site(client, seeded.app.state.container, seeded.logins)
    if savepoint.is_active:
        savepoint.rollback()


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


def _log_in(client: TestClient, username: str, password: str, next_path: str = "/") -> httpx.Response:
    form = client.get("/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "login_csrf": _hidden(form.text, "login_csrf"), "next": next_path},
    )


def _log_in_as(site: Site, username: str) -> None:
    login = site.logins[username]
    response = _log_in(site.client, login.username, login.password)
    assert response.status_code == 303, response.text


def _figure(html: str, label: str) -> str:
    match = re.search(rf'<p class="stat-label">{label}</p>\s*<p class="stat-value">([^<]*)</p>', html)
    assert match, f"no figure {label}"
    return match.group(1)


def _set_cookie(response: httpx.Response, name: str) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    return headers[0]


def _assert_security_headers(response: httpx.Response) -> None:
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-content-type-options"] == "nosniff"


# --- login --------------------------------------------------------------------------------------


def test_login_page_sets_a_double_submit_token_and_security_headers(site: Site) -> None:
    r = site.client.get("/login")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    _assert_security_headers(r)
    cookie = _set_cookie(r, LOGIN_CSRF_COOKIE)
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/login" in cookie
    assert "Secure" in cookie
    assert site.client.cookies[LOGIN_CSRF_COOKIE] == _hidden(r.text, "login_csrf")
    assert "用户登录" in r.text
    # Everything the page loads is served by the platform itself.
    assert re.findall(r'(?:href|src)="(https?:)?//', r.text) == []


def test_login_opens_a_session_with_a_hardened_cookie_and_goes_to_next(site: Site) -> None:
    login = site.logins["operator"]
    r = _log_in(site.client, login.username, login.password, next_path="/audit")
    assert r.status_code == 303
    assert r.headers["location"] == "/audit"
    cookie = _set_cookie(r, SESSION_COOKIE)
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" in cookie
    assert f"Max-Age={site.container.settings.session_hours * 3600}" in cookie
    assert site.client.get("/audit").status_code == 200
    # Already logged in: the login page sends the user on.
    r = site.client.get("/login", params={"next": "/subjects"})
    assert r.status_code == 303
    assert r.headers["location"] == "/subjects"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/subjects?q=%E7%A6%8F%E5%B7%9E", "/subjects?q=%E7%A6%8F%E5%B7%9E"),
        ("/audit", "/audit"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/\tevil", "/"),
        ("javascript:alert(1)", "/"),
        ("/login", "/"),
        ("/logout", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_next_is_followed_only_to_local_paths(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_login_without_the_matching_token_is_refused(site: Site) -> None:
    login = site.logins["operator"]
    site.client.get("/login")
    r = site.client.post("/login", data={"username": login.username, "password": login.password, "login_csrf": "forged"})
    assert r.status_code == 403
    assert "登录页面已过期或请求来源不可信" in r.text
    assert SESSION_COOKIE not in site.client.cookies
    site.client.cookies.clear()
    r = site.client.post("/login", data={"username": login.username, "password": login.password, "login_csrf": "x" * 43})
    assert r.status_code == 403


def test_wrong_password_is_refused_in_chinese_and_then_throttled(site: Site) -> None:
    r = _log_in(site.client, "officer", "wrong-password-1")
    assert r.status_code == 401
    assert "用户名或密码错误" in r.text
    assert 'value="officer"' in r.text
    assert "wrong-password-1" not in r.text
    _assert_security_headers(r)
    for _ in range(site.container.settings.login_max_failures - 1):
        assert _log_in(site.client, "officer", "wrong-password-1").status_code == 401
    # Now even the right password is refused until the window has passed.
    r = _log_in(site.client, "officer", site.logins["officer"].password)
    assert r.status_code == 429
    assert "登录失败次数过多" in r.text
    assert SESSION_COOKIE not in site.client.cookies


# --- home pages and navigation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "figure_label"),
    [
        ("operator", "市场主体"),
        ("enterprise", None),
        ("officer", "已归集市场主体"),
        ("bankadmin", "已归集市场主体"),
        ("clerk", "已归集市场主体"),
        ("regulator", "市场主体总数"),
        ("auditor", "审计事件总数"),
    ],
)
def test_each_role_sees_its_home_page_with_real_figures(site: Site, username: str, figure_label: str | None) -> None:
    _log_in_as(site, username)
    r = site.client.get("/")
    assert r.status_code == 200
    _assert_security_headers(r)
    assert r.headers["cache-control"] == "no-store"
    login = site.logins[username]
    assert f'<span class="role-chip role-chip-light" id="role-label">{login.role.label}</span>' in r.text
    assert login.display_name in r.text
    db = site.container.db
    if username == "enterprise":
        assert "福州闽信示范科技有限公司" in r.text
        assert "350102********1234" in r.text
        assert ID_NUMBER not in r.text
    elif username == "auditor":
        assert _figure(r.text, figure_label or "") == f"{audit.count_since(db):,}"
        assert _figure(r.text, "哈希链校验") == "完整"
    else:
        assert _figure(r.text, figure_label or "") == f"{registry.subject_figures(db)['total']:,}"
    if username == "operator":
        assert _figure(r.text, "平台用户") == f"{principal.counts(db)['users']:,}"
        assert _figure(r.text, "审计事件") == f"{audit.count_since(db):,}"
    if username == "clerk":
        assert _figure(r.text, "所属部门") == "福州市市场监督管理局"


@pytest.mark.parametrize(
    ("username", "allowed", "hidden"),
    [
        ("operator", ["/", "/subjects", f"/subjects/{OTHER_USCC}", "/audit", "/catalog", "/uscc"], []),
        ("auditor", ["/", "/audit", "/subjects"], []),
        ("regulator", ["/", "/subjects", "/subjects?status=%E5%90%8A%E9%94%80"], ["/audit"]),
        ("officer", ["/", "/subjects?q=%E7%A6%8F%E5%B7%9E&page=1"], ["/audit"]),
        ("bankadmin", ["/", "/subjects"], ["/audit"]),
        ("clerk", ["/", "/subjects"], ["/audit"]),
        ("enterprise", ["/", f"/subjects/{ENTERPRISE_USCC}", "/catalog"], ["/subjects", "/audit"]),
    ],
)
def test_pages_per_role(site: Site, username: str, allowed: list[str], hidden: list[str]) -> None:
    _log_in_as(site, username)
    home = site.client.get("/").text
    for path in allowed:
        r = site.client.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        _assert_security_headers(r)
    for path in hidden:
        # The navigation offers only what the role may use, and the route refuses the rest.
        assert f'href="{path}"' not in home
        assert site.client.get(path).status_code == 403


def test_subject_search_filters_and_paginates(site: Site) -> None:
    _log_in_as(site, "officer")
    r = site.client.get("/subjects", params={"q": "榕城"})
    assert "福州鼓楼榕城贸易有限公司" in r.text
    assert "福州闽信示范科技有限公司" not in r.text
    assert re.search(r"共 <strong>1</strong> 户", r.text)
    r = site.client.get("/subjects", params={"status": "吊销"})
    assert "福州海峡新能源装备有限公司" in r.text
    assert "福州鼓楼榕城贸易有限公司" not in r.text
    r = site.client.get("/subjects", params={"region_code": "abc", "status": "不存在", "page": "x"})
    assert r.status_code == 200
    assert "已忽略该条件" in r.text
    assert re.search(r"共 <strong>3</strong> 户", r.text)


def test_enterprise_cannot_open_another_subject(site: Site) -> None:
    _log_in_as(site, "enterprise")
    r = site.client.get(f"/subjects/{OTHER_USCC}")
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("text/html")
    assert "无权查看该主体" in r.text
    assert "福州鼓楼榕城贸易有限公司" not in r.text
    denied = [e for e in audit.recent(site.container.db, actor=ADMIN, limit=5) if e.action == "registry.subject.read.denied"]
    assert denied
    assert denied[0].subject == OTHER_USCC
    # A route the role lacks entirely is refused by its dependency (problem+json for now).
    r = site.client.get("/subjects")
    assert r.status_code == 403
    assert r.json()["code"] == "forbidden"


def test_unknown_subject_is_a_friendly_404(site: Site) -> None:
    _log_in_as(site, "operator")
    r = site.client.get(f"/subjects/{uscc_for(9999)}")
    assert r.status_code == 404
    assert "未找到该市场主体" in r.text


# --- logout ---------------------------------------------------------------------------------------


def test_logout_needs_the_csrf_token_and_revokes_the_session(site: Site) -> None:
    _log_in_as(site, "officer")
    session = site.client.cookies[SESSION_COOKIE]
    r = site.client.post("/logout")
    assert r.status_code == 403
    assert r.json()["code"] == "csrf_failed"
    r = site.client.post("/logout", data={"csrf_token": "not-the-token"})
    assert r.status_code == 403
    assert site.client.get("/").status_code == 200  # still logged in

    token = _hidden(site.client.get("/").text, "csrf_token")
    r = site.client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303
    assert r.headers["location"] == "/login"
    assert 'xyd_session=""' in _set_cookie(r, SESSION_COOKIE)
    assert SESSION_COOKIE not in site.client.cookies
    r = site.client.get("/subjects")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/subjects"
    # The old cookie no longer opens anything: the session was revoked on the server.
    r = site.client.get("/", headers={"cookie": f"{SESSION_COOKIE}={session}"})
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/"


def test_protected_pages_send_anonymous_visitors_to_login(site: Site) -> None:
    for path in ("/", "/subjects", f"/subjects/{ENTERPRISE_USCC}", "/audit"):
        r = site.client.get(path)
        assert r.status_code == 303
        assert r.headers["location"] == f"/login?next={path}"
    assert site.client.post("/logout").status_code == 303


# --- public pages ---------------------------------------------------------------------------------


def test_uscc_tool_validates_and_escapes(site: Site) -> None:
    r = site.client.get("/uscc", params={"codes": f"{ENTERPRISE_USCC}\n91350100M000100Y44"})
    assert r.status_code == 200
    _assert_security_headers(r)
    assert "共 2 个，通过 1 个" in r.text
    assert "第18位校验码应为" in r.text
    assert "福建省福州市" in r.text
    r = site.client.get("/uscc", params={"codes": '<script>alert(1)</script> "><img src=x>'})
    assert "<script>alert" not in r.text
    assert "<img src=x>" not in r.text
    assert "&lt;script&gt;" in r.text
    r = site.client.get("/uscc", params={"codes": "91350100M0001TGQXM", "lenient": "1"})
    assert "已知的试点期代码" in r.text
    assert '<span class="badge badge-ok">有效</span>' in r.text


def test_catalog_page_lists_versions_items_and_disclosure(site: Site) -> None:
    r = site.client.get("/catalog")
    assert r.status_code == 200
    assert "全国公共信用信息基础目录（2024年版）" in r.text
    assert "2021 年版" in r.text
    assert "纳税信息" in r.text
    assert '<span class="badge badge-info">授权查询</span>' in r.text
    assert '<span class="badge badge-ok">公开</span>' in r.text
    r = site.client.get("/catalog", params={"version": "2021"})
    assert "全国公共信用信息基础目录（2021年版）" in r.text
    assert "遵守法律法规情况信息" not in r.text
    r = site.client.get("/catalog", params={"version": "1999"})
    assert r.status_code == 404
    assert "未找到该目录版本" in r.text


def test_static_files_are_served(site: Site) -> None:
    r = site.client.get("/static/site.css")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/css")
    assert "Noto Sans CJK SC" in r.text
    assert site.client.get("/static/favicon.svg").status_code == 200
