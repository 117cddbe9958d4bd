"""Browser tests: the real app served by uvicorn in a thread, with demo data, driven by Chromium through Playwright."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvicorn
from fastapi import FastAPI

from xinyidai.app import create_app
from xinyidai.config import Settings
from xinyidai.db import migrate
from xinyidai.demo import DemoLogin, load_registration_file, seed_principals

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

ENTERPRISE_USCC = "91350100M000100Y43"
OTHER_USCC = "91350102MA2XYW011F"

REGISTRATION_CSV = """\
uscc,name,entity_type,legal_rep_name,legal_rep_id_type,legal_rep_id_no,registered_capital,established_on,region_code,industry_code,address,business_scope,status,registration_authority
91350100M000100Y43,福州闽信示范科技有限公司,有限责任公司,林晓明,居民身份证,350102198805061234,500,2016-03-18,350100,I6510,福州市鼓楼区五四路100号,软件开发；信息技术咨询服务,存续,福州市市场监督管理局
91350102MA2XYW011F,福州鼓楼榕城贸易有限公司,有限责任公司,陈立新,居民身份证,350102197902114321,120.5,2018-07-02,350102,F5191,福州市鼓楼区东街8号,日用百货批发,在业,福州市鼓楼区市场监督管理局
92350104L00001233A,仓山区阿芳小吃店,个体工商户,黄阿芳,居民身份证,350104198512122468,3,2020-11-09,350104,H6210,福州市仓山区上渡路22号,小吃服务,存续,福州市仓山区市场监督管理局
91350100MA34TT8Q7J,福州海峡新能源装备有限公司,有限责任公司,郑海峰,居民身份证,350105197501013579,8000,2015-05-20,350100,C3819,福州市马尾区快安路6号,新能源装备制造,吊销,福州市市场监督管理局
93350181MA3PQR0785,福清市龙田果蔬专业合作社,农民专业合作社,吴永福,居民身份证,350181196808082222,50,2019-04-16,350181,A0141,福清市龙田镇上一村,蔬菜水果种植与销售,存续,福清市市场监督管理局
91350203MA2Y3K4LXL,厦门思明鹭岛文化传媒有限公司,有限责任公司,许文静,居民身份证,350203199001014444,300,2017-09-01,350203,R8710,厦门市思明区湖滨南路9号,文化艺术交流,注销,厦门市思明区市场监督管理局
"""


def build_settings(database_url: str) -> Settings:
    """Test settings: real secrets (not placeholders), no background worker, JSON logs."""
    return Settings(
        database_url=database_url,
        environment="test",
        secret_key="browser-test-secret-key-0123456789-abcdef",
        data_key=base64.b64encode(b"browser-test-data-key-32-bytes!!").decode(),
        jobs_in_server=False,
        log_json=True,
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The app on a fresh SQLite file, with one demo login per role and a few registered subjects."""
    tmp = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{tmp}/b.db"
    migrate.upgrade(url)  # the schema as production builds it: by the migrations
    app = create_app(build_settings(url))
    container = app.state.container
    app.state.demo_logins = seed_principals(container, enterprise_uscc=ENTERPRISE_USCC)
    csv_path = tmp / "registration.csv"
    csv_path.write_text(REGISTRATION_CSV, encoding="utf-8")
    summary = load_registration_file(container, csv_path)
    assert summary.rejected == [], summary.rejected
    yield app
    container.db.dispose()


@pytest.fixture(scope="session")
def demo_logins(live_app: FastAPI) -> dict[str, DemoLogin]:
    """The demo accounts by username."""
    return {login.username: login for login in live_app.state.demo_logins}


@pytest.fixture(scope="session")
def live_server(live_app: FastAPI) -> Iterator[str]:
    """Serve the app with uvicorn on a free local port in a background thread; yields the base URL."""
    port = _free_port()
    # No websockets: the app has none, and the websockets library's deprecation warnings would be errors here.
    config = uvicorn.Config(live_app, host="127.0.0.1", port=port, lifespan="on", ws="none", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)
    assert not thread.is_alive(), "the live server did not stop"


# Module scope: the sync Playwright API keeps an event loop running in the main thread while it is open,
# which would break later tests that call asyncio.run.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium (Debian's), launched once per session; skipped, saying why, when it cannot run."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (Debian package 'chromium'); it is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.skip(f"browser tests need the 'playwright' Python package, which cannot be imported: {exc}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, live_server: str) -> Iterator[Page]:
    """A fresh browser context (no cookies) per test, on a desktop-sized window, in Chinese."""
    context = browser.new_context(base_url=live_server, locale="zh-CN", viewport={"width": 1366, "height": 900})
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()


def log_in(page: Page, username: str, password: str) -> None:
    """Fill in and submit the login form."""
    page.goto("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录", exact=True).click()
