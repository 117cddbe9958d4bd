"""The quality page and API through the ASGI app: numbers and SVG trends, acknowledge with CSRF, permissions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.factories import ADMIN, PASSWORD, make_user
from tests.integration.ingest.conftest import AUTHORITY, penalty_row, write_csv
from xinyidai import ingest, principal, quality
from xinyidai.app import create_app
from xinyidai.db import Database
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.principal import Role


@dataclass
class Site:
    client: TestClient
    db: Database
    clock: FrozenClock


def _login(site: Site, username: str) -> str:
    result = principal.login(
        site.db, clock=site.clock, username=username, password=PASSWORD, ip=None, user_agent=None,
        session_hours=8, max_failures=5, window_minutes=15,
    )  # fmt: skip
    site.client.cookies.clear()
    site.client.cookies.set(principal.SESSION_COOKIE, result.session_token)
    me = principal.principal_from_session(site.db, clock=site.clock, token=result.session_token)
    assert me is not None
    assert me.csrf_token
    return me.csrf_token


@pytest.fixture
def site(db: Database, database_url: str, clock: FrozenClock, cipher: PiiCipher, tmp_path: Path) -> Iterator[Site]:
    var_dir = tmp_path / "var"
    app = create_app(make_settings(database_url, var_dir=var_dir), db=db, clock=clock)
    ingest.create_source(
        db, actor=ADMIN, clock=clock, code=AUTHORITY, name="甲市场监管局", department_code="admin_bodies", items=["admin_penalty"]
    )
    rows = [penalty_row(1), penalty_row(2), penalty_row(3), penalty_row(4, CF_JDRQ="bad")]
    ingest.ingest_file(
        db, actor=ADMIN, clock=clock, cipher=cipher, var_dir=var_dir, path=write_csv(tmp_path / "p.csv", rows), source=AUTHORITY
    )
    quality.monitor(db, actor=ActorRef.system("t"), clock=clock)  # 75% valid < 90%: one alert
    make_user(db, clock, cipher, role=Role.OPERATOR, username="ops")
    make_user(db, clock, cipher, role=Role.REGULATOR, username="reg")
    make_user(db, clock, cipher, role=Role.ENTERPRISE, username="firm", uscc=str(rows[0]["CF_XDR_SHXYM"]))
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield Site(client, db, clock)


def test_the_page_shows_the_figures_and_svg_trends_without_scripts(site: Site) -> None:
    _login(site, "ops")
    page = site.client.get("/quality")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    row = re.search(rf'<tr data-source="{AUTHORITY}" data-item="admin_penalty">(.*?)</tr>', page.text, re.S)
    assert row is not None
    assert re.search(r'data-measure="validity">75.0%<', row.group(1))
    assert re.search(r'data-measure="uniqueness">100.0%<', row.group(1))
    assert "<svg" in row.group(1)
    assert "<polyline" not in row.group(1)
    assert re.search(r"<circle [^>]*><title>\d{4}-\d\d-\d\d：75%</title>", row.group(1))
    assert 'stroke-dasharray="4 3"' in row.group(1)  # the threshold line
    assert "<script" not in page.text
    assert "style=" not in page.text
    assert "有效率偏低" in page.text
    assert 'action="/quality/alerts/' in page.text


def test_operators_acknowledge_with_csrf_and_regulators_only_read(site: Site) -> None:
    [alert] = quality.list_alerts(site.db)
    _login(site, "reg")
    assert site.client.get("/quality").status_code == 200
    assert "确认</button>" not in site.client.get("/quality").text
    assert site.client.get("/api/v1/quality/alerts").json()["items"][0]["id"] == str(alert.id)
    assert site.client.post(f"/quality/alerts/{alert.id}/ack", data={"csrf_token": "x"}).status_code in (302, 303, 403)
    assert quality.list_alerts(site.db)[0].status == "open"
    csrf = _login(site, "ops")
    assert site.client.post(f"/quality/alerts/{alert.id}/ack", data={"csrf_token": "nope"}).status_code == 403
    done = site.client.post(f"/quality/alerts/{alert.id}/ack", data={"csrf_token": csrf})
    assert done.status_code == 303
    assert quality.list_alerts(site.db)[0].status == "acknowledged"


def test_api_lists_sources_and_alerts_and_refuses_others(site: Site) -> None:
    _login(site, "firm")
    assert site.client.get("/api/v1/quality/sources").status_code == 403
    assert site.client.get("/quality").status_code in (302, 303, 403)
    _login(site, "ops")
    body = site.client.get("/api/v1/quality/sources").json()
    [bulk] = [r for r in body["items"] if r["channel"] == "bulk"]
    assert bulk["latest"]["validity"] == 0.75
    assert bulk["latest"]["rows"] == 4
    assert bulk["age_days"] == 0
    alerts = site.client.get("/api/v1/quality/alerts?status=open").json()["items"]
    assert [a["kind"] for a in alerts] == ["low_validity"]
    site.clock.advance(timedelta(minutes=1))
    site.client.cookies.clear()
    assert site.client.get("/api/v1/quality/sources").status_code == 401
