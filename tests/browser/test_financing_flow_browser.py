"""The financing flow in real Chromium: the enterprise finds a product in 产品超市 and applies, authorizing with its
password; the officer accepts and approves on the work queue and registers the loan; the enterprise sees the loan."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI

from tests.browser.conftest import ENTERPRISE_USCC, OTHER_USCC, log_in
from xinyidai.demo import DemoLogin, seed_financing

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def financing(live_app: FastAPI) -> None:
    """The demo products, needs and applications (idempotent: the session's app may have them already)."""
    others = [OTHER_USCC, "92350104L00001233A", "93350181MA3PQR0785", OTHER_USCC]
    seed_financing(live_app.state.container, enterprise_uscc=ENTERPRISE_USCC, other_usccs=others)


def _log_out(page: Page) -> None:
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url("**/login")


def test_enterprise_applies_officer_decides_enterprise_sees_the_loan(
    financing: None, page: Page, live_server: str, demo_logins: dict[str, DemoLogin]
) -> None:
    enterprise = demo_logins["enterprise"]
    log_in(page, enterprise.username, enterprise.password)
    page.wait_for_url(f"{live_server}/")
    # 产品超市: filter to credit loans, find the product, read why it qualifies or not.
    page.goto("/market")
    page.get_by_label("只看信用贷款").check()
    page.get_by_role("button", name="筛选").click()
    page.wait_for_url("**/market?*credit=1*")
    row = page.locator("#market tr", has=page.get_by_role("link", name="科技信用贷", exact=True))
    assert row.count() == 1
    assert "所属行业" in row.inner_text()
    row.get_by_role("link", name="申请").click()
    page.wait_for_url("**/apply")
    # The authorization the product needs is shown; the enterprise confirms with its password.
    assert "纳税信息" in page.locator("#auth-scope").inner_text()
    page.get_by_label("申请金额（万元）").fill("80")
    page.get_by_label("期限（月）").fill("12")
    page.get_by_label("借款用途").fill("研发投入和采购")
    page.get_by_label("我已阅读并同意上述授权").check()
    page.get_by_label("登录密码（确认授权）").fill(enterprise.password)
    page.get_by_role("button", name="确认授权并提交申请").click()
    page.wait_for_url("**/lending/applications/*?done=1")
    application_url = page.url.split("?")[0]
    assert "已提交" in page.content() or "待受理" in page.content()
    _log_out(page)

    # The officer: accept on the work queue, approve, register the loan.
    officer = demo_logins["officer"]
    log_in(page, officer.username, officer.password)
    page.wait_for_url(f"{live_server}/")
    page.goto("/lending/applications")
    page.locator(f'a[href="{application_url.removeprefix(live_server)}"]').first.click()
    page.get_by_role("button", name="受理该申请").click()
    page.wait_for_url("**?done=1")
    page.get_by_label("年利率（%）").fill("3.9")
    page.get_by_role("button", name="批准", exact=True).click()
    page.wait_for_url("**?done=1")
    page.get_by_role("button", name="登记", exact=True).click()
    page.wait_for_url("**?done=1")
    _log_out(page)

    # The enterprise sees its loan.
    log_in(page, enterprise.username, enterprise.password)
    page.wait_for_url(f"{live_server}/")
    page.goto("/lending/loans")
    page.locator(f'#loans a[href="{application_url.removeprefix(live_server)}"]').click()
    assert page.get_by_text("科技信用贷").first.is_visible()
