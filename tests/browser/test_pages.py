"""The web UI in real Chromium: each role's login and home page, errors, logout, access refusals, the look."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI

from tests.browser.conftest import ENTERPRISE_USCC, OTHER_USCC, log_in
from xinyidai import audit, principal, registry
from xinyidai.demo import DemoLogin

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Page, Request

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/xinyidai-home.png")


def _figure(page: Page, label: str) -> str:
    card = page.locator(".stat-card").filter(has=page.get_by_text(label, exact=True))
    return card.locator(".stat-value").inner_text().strip()


def _watch(page: Page, base_url: str) -> tuple[list[str], list[str]]:
    """Collect console errors (a CSP violation is one) and requests that leave the platform."""
    errors: list[str] = []
    foreign: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    def on_request(request: Request) -> None:
        if not request.url.startswith(base_url):
            foreign.append(request.url)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", on_request)
    return errors, foreign


def _expected_figure(app: FastAPI, username: str) -> tuple[str, str]:
    """(card label, value) that the role's home page must show, read from the services."""
    db = app.state.container.db
    total = f"{registry.subject_figures(db)['total']:,}"
    return {
        "operator": ("平台用户", f"{principal.counts(db)['users']:,}"),
        "officer": ("已归集市场主体", total),
        "bankadmin": ("已归集市场主体", total),
        "clerk": ("所属部门", "福州市市场监督管理局"),
        "regulator": ("市场主体总数", total),
        "auditor": ("审计事件总数", f"{audit.count_since(db):,}"),
    }[username]


@pytest.mark.parametrize("username", ["enterprise", "officer", "bankadmin", "clerk", "operator", "regulator", "auditor"])
def test_each_role_logs_in_and_sees_its_home_page(
    page: Page, live_server: str, live_app: FastAPI, demo_logins: dict[str, DemoLogin], username: str
) -> None:
    errors, foreign = _watch(page, live_server)
    login = demo_logins[username]
    log_in(page, login.username, login.password)
    page.wait_for_url(f"{live_server}/")
    assert page.locator("#role-label").inner_text() == login.role.label
    assert page.locator(".user-box .role-chip").inner_text() == login.role.label
    assert page.locator(".user-name").inner_text() == login.display_name
    assert page.locator(".brand-name").inner_text() == "信易贷融资信用服务平台"
    assert "福建省福州市" in page.locator(".brand-node").inner_text()
    if username == "enterprise":
        assert page.get_by_role("heading", name="福州闽信示范科技有限公司").is_visible()
        assert page.locator("#legal-rep-id").inner_text() == "350102********1234"
    else:
        label, value = _expected_figure(live_app, username)
        assert _figure(page, label) == value
    if username == "operator":
        assert _figure(page, "市场主体") == f"{registry.subject_figures(live_app.state.container.db)['total']:,}"
    if username == "auditor":
        assert _figure(page, "哈希链校验") == "完整"
    assert errors == []
    assert foreign == []


def test_wrong_password_shows_the_error(page: Page, live_server: str) -> None:
    with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as answer:
        log_in(page, "regulator", "not-the-password-1")
    assert answer.value.status == 401
    alert = page.get_by_role("alert")
    assert "用户名或密码错误" in alert.inner_text()
    assert page.get_by_label("用户名").input_value() == "regulator"
    assert page.get_by_label("密码").input_value() == ""
    assert page.url == f"{live_server}/login"


def test_logout_then_protected_pages_redirect_to_login(page: Page, live_server: str, demo_logins: dict[str, DemoLogin]) -> None:
    login = demo_logins["officer"]
    log_in(page, login.username, login.password)
    page.wait_for_url(f"{live_server}/")
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url(f"{live_server}/login")
    assert page.get_by_role("heading", name="用户登录").is_visible()
    page.goto("/subjects")
    assert page.url == f"{live_server}/login?next=/subjects"
    # Logging in again from there leads back to the page asked for.
    page.get_by_label("用户名").fill(login.username)
    page.get_by_label("密码").fill(login.password)
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url(f"{live_server}/subjects")
    assert page.get_by_role("heading", name="市场主体查询").is_visible()


def test_enterprise_cannot_open_another_subject(page: Page, live_server: str, demo_logins: dict[str, DemoLogin]) -> None:
    login = demo_logins["enterprise"]
    log_in(page, login.username, login.password)
    page.wait_for_url(f"{live_server}/")
    response = page.goto(f"/subjects/{OTHER_USCC}")
    assert response is not None
    assert response.status == 403
    assert page.get_by_role("heading", name="无权查看该主体").is_visible()
    assert "福州鼓楼榕城贸易有限公司" not in page.content()
    # Its own record opens from the navigation.
    page.get_by_role("link", name="本企业登记信息").click()
    page.wait_for_url(f"{live_server}/subjects/{ENTERPRISE_USCC}")
    assert page.get_by_role("heading", name="福州闽信示范科技有限公司").is_visible()


def test_subject_search_in_the_browser(page: Page, live_server: str, demo_logins: dict[str, DemoLogin]) -> None:
    login = demo_logins["officer"]
    log_in(page, login.username, login.password)
    page.wait_for_url(f"{live_server}/")
    page.get_by_label("企业名称或统一社会信用代码").fill("福清")
    page.get_by_role("button", name="查询", exact=True).click()
    page.wait_for_url("**/subjects?q=*")
    rows = page.locator("table.data-table tbody tr")
    assert rows.count() == 1
    assert "福清市龙田果蔬专业合作社" in rows.first.inner_text()
    rows.first.get_by_role("link").click()
    assert page.get_by_role("heading", name="福清市龙田果蔬专业合作社").is_visible()


def test_operator_home_screenshot(page: Page, live_server: str, demo_logins: dict[str, DemoLogin]) -> None:
    login = demo_logins["operator"]
    log_in(page, login.username, login.password)
    page.wait_for_url(f"{live_server}/")
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000


def test_every_page_loads_only_platform_files_without_console_errors(
    page: Page, live_server: str, demo_logins: dict[str, DemoLogin]
) -> None:
    """The Content-Security-Policy would report any inline script or style, or any outside file, as an error."""
    errors, foreign = _watch(page, live_server)
    for path in ("/login", "/catalog", "/catalog?version=2021", f"/uscc?codes={ENTERPRISE_USCC}%0A123"):
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, path
    login = demo_logins["auditor"]
    log_in(page, login.username, login.password)
    page.wait_for_url(f"{live_server}/")
    for path in ("/", "/subjects", "/subjects?status=%E5%AD%98%E7%BB%AD", f"/subjects/{OTHER_USCC}", "/audit"):
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, path
        assert page.locator("link[rel=stylesheet]").evaluate("link => link.sheet !== null")
    assert page.get_by_role("status").filter(has_text="哈希链校验通过").is_visible()
    assert errors == []
    assert foreign == []


def test_keyboard_users_can_skip_to_the_content_and_see_focus(page: Page, live_server: str) -> None:
    page.goto("/catalog")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="跳到主要内容")
    assert skip.evaluate("el => el === document.activeElement")
    assert skip.is_visible()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    # The next stop is inside the main content (the first version tab), not the header again.
    assert page.evaluate("() => document.getElementById('main').contains(document.activeElement)")
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "2021 年版"
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") == "solid"
