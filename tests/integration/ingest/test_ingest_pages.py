"""The aggregation pages through the ASGI app: sources (confirm), batches and rejects, and "我的信用记录"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.factories import ADMIN, PASSWORD, make_org, make_user
from tests.integration.ingest.conftest import AUTHORITY, OTHER_AUTHORITY, penalty_row, write_csv
from xinyidai import ingest, principal
from xinyidai.app import create_app
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.principal import Role

ENTERPRISE = penalty_row(1)["CF_XDR_SHXYM"]


@dataclass
class Pages:
    """A client on the app and the batch of the test's delivery."""

    client: TestClient
    db: Database
    clock: FrozenClock
    batch: ingest.BatchResult


def _login(pages: Pages, username: str) -> str:
    result = principal.login(
        pages.db, clock=pages.clock, username=username, password=PASSWORD, ip=None, user_agent=None,
        session_hours=8, max_failures=5, window_minutes=15,
    )  # fmt: skip
    pages.client.cookies.clear()
    pages.client.cookies.set(principal.SESSION_COOKIE, result.session_token)
    me = principal.principal_from_session(pages.db, clock=pages.clock, token=result.session_token)
    assert me is not None
    assert me.csrf_token
    return me.csrf_token


@pytest.fixture
def pages(db: Database, database_url: str, clock: FrozenClock, cipher: PiiCipher, tmp_path: Path) -> Iterator[Pages]:
    var_dir = tmp_path / "var"
    app = create_app(make_settings(database_url, var_dir=var_dir), db=db, clock=clock)
    org = make_org(db, clock, "PG")
    ingest.create_source(
        db, actor=ADMIN, clock=clock, code=AUTHORITY, name="甲市场监管局", department_code="admin_bodies",
        items=["admin_penalty"], department_id=org.department_id,
    )  # fmt: skip
    rows = [
        penalty_row(1),
        penalty_row(2, CF_JDRQ="2025-13-01"),
        penalty_row(3, CF_SJLYDM=OTHER_AUTHORITY, CF_SJLY="<b>乙</b>单位"),
    ]
    batch = ingest.ingest_file(
        db,
        actor=ADMIN,
        clock=clock,
        cipher=cipher,
        var_dir=var_dir,
        path=write_csv(tmp_path / "p.csv", rows),
        register_unknown=True,
    )
    make_user(db, clock, cipher, role=Role.OPERATOR, username="ops")
    make_user(db, clock, cipher, role=Role.DEPARTMENT_CLERK, username="clerk", org=org)
    make_user(db, clock, cipher, role=Role.ENTERPRISE, username="firm", uscc=str(ENTERPRISE))
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield Pages(client, db, clock, batch)


def test_operators_see_sources_and_confirm_a_pending_one(pages: Pages) -> None:
    csrf = _login(pages, "ops")
    page = pages.client.get("/ingest/sources?status=pending")
    assert page.status_code == 200
    assert "待确认" in page.text
    assert OTHER_AUTHORITY in page.text
    assert "&lt;b&gt;乙&lt;/b&gt;单位" in page.text  # names from files are escaped
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    done = pages.client.post(f"/ingest/sources/{OTHER_AUTHORITY}/confirm", data={"csrf_token": csrf})
    assert done.status_code == 303
    assert ingest.list_sources(pages.db, status="pending")[1] == 0
    forged = pages.client.post(f"/ingest/sources/{OTHER_AUTHORITY}/confirm", data={"csrf_token": "nope"})
    assert forged.status_code == 403


def test_batch_pages_show_the_summary_and_rejects(pages: Pages) -> None:
    _login(pages, "ops")
    listing = pages.client.get("/ingest/batches")
    assert listing.status_code == 200
    assert f"/ingest/batches/{pages.batch.batch_id}" in listing.text
    detail = pages.client.get(f"/ingest/batches/{pages.batch.batch_id}")
    assert detail.status_code == 200
    assert re.search(r'id="reject-total">1<', detail.text)
    assert "2025-13-01" in detail.text
    assert f"/api/v1/batches/{pages.batch.batch_id}/rejects?format=csv" in detail.text
    csv_download = pages.client.get(f"/api/v1/batches/{pages.batch.batch_id}/rejects?format=csv")
    assert csv_download.status_code == 200
    assert pages.client.get("/ingest/batches/not-a-uuid").status_code == 404


def test_a_department_clerk_sees_its_sources_but_no_other_batches(pages: Pages) -> None:
    _login(pages, "clerk")
    sources = pages.client.get("/ingest/sources")
    assert sources.status_code == 200
    assert AUTHORITY in sources.text
    assert OTHER_AUTHORITY not in sources.text
    assert "确认</button>" not in sources.text
    # The operator's CLI batch is not the department's.
    assert pages.client.get(f"/ingest/batches/{pages.batch.batch_id}").status_code == 404
    assert pages.client.get("/records/mine").status_code in (303, 403)


def test_an_enterprise_sees_its_own_records_with_marks(pages: Pages) -> None:
    record = ingest.visible_records(pages.db, uscc=str(ENTERPRISE), as_of=pages.clock.now().date())[0]
    with pages.db.transaction() as s:
        ingest.mark_disputed(s, actor=ADMIN, record_id=record.id, reason="test")
    _login(pages, "firm")
    page = pages.client.get("/records/mine")
    assert page.status_code == 200
    assert "行政处罚信息" in page.text
    assert "有异议" in page.text
    assert "榕市监罚〔2025〕1号" in page.text
    assert str(penalty_row(1)["CF_FR_ZJHM"]) not in page.text
    assert "OBJECTION ACTION" not in page.text  # the marked place is a template comment
    assert pages.client.get("/ingest/batches").status_code in (303, 403)
