"""The ingest API through the ASGI app: streaming upload, the department tenancy rule, rejects, sources, 413."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.factories import ADMIN, PASSWORD, make_org, make_user
from tests.integration.ingest.conftest import AUTHORITY, OTHER_AUTHORITY, PENALTY_FIELDS, penalty_row
from xinyidai import ingest, principal
from xinyidai.app import create_app
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.principal import CSRF_HEADER, Permission, Role

SCOPES = {Permission.BATCH_CREATE.value, Permission.BATCH_READ.value, Permission.SOURCE_READ.value}


@dataclass
class Api:
    """The client and bearer headers of two departments' API clients."""

    client: TestClient
    dept_a: dict[str, str]
    dept_b: dict[str, str]
    var_dir: Path


def _csv_bytes(rows: list[dict[str, str | None]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PENALTY_FIELDS)
    for row in rows:
        writer.writerow(["" if row.get(f) is None else row.get(f) for f in PENALTY_FIELDS])
    return out.getvalue().encode()


def _token(client: TestClient, creds: principal.ClientCredentials) -> dict[str, str]:
    r = client.post(
        "/api/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": creds.client_secret},
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
def api(db: Database, database_url: str, clock: FrozenClock, tmp_path: Path) -> Iterator[Api]:
    var_dir = tmp_path / "var"
    app = create_app(make_settings(database_url, var_dir=var_dir, max_upload_mb=1), db=db, clock=clock)
    a, b = make_org(db, clock, "IA"), make_org(db, clock, "IB")
    ingest.create_source(
        db, actor=ADMIN, clock=clock, code=AUTHORITY, name="甲市场监管局", department_code="admin_bodies",
        items=["admin_penalty"], department_id=a.department_id,
    )  # fmt: skip
    ingest.create_source(
        db, actor=ADMIN, clock=clock, code=OTHER_AUTHORITY, name="乙市场监管局", department_code="admin_bodies",
        items=["admin_penalty"], department_id=b.department_id,
    )  # fmt: skip
    creds_a = principal.create_client(
        db, actor=ADMIN, clock=clock, name="甲报送系统", scopes=SCOPES, department_id=a.department_id
    )
    creds_b = principal.create_client(
        db, actor=ADMIN, clock=clock, name="乙报送系统", scopes=SCOPES, department_id=b.department_id
    )
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield Api(client, _token(client, creds_a), _token(client, creds_b), var_dir)


def test_a_department_uploads_a_raw_body_and_rows_of_other_sources_are_rejected(api: Api) -> None:
    body = _csv_bytes([penalty_row(1), penalty_row(2), penalty_row(3, CF_SJLYDM=OTHER_AUTHORITY)])
    r = api.client.post(
        "/api/v1/batches?filename=penalties.csv", content=body, headers={**api.dept_a, "Content-Type": "text/csv"}
    )
    assert r.status_code == 201, r.text
    batch = r.json()
    assert (batch["rows"], batch["accepted"], batch["rejected"], batch["item_code"]) == (3, 2, 1, "admin_penalty")
    assert batch["channel"] == "api"
    assert batch["file_name"] == "penalties.csv"
    assert r.headers["location"] == f"/api/v1/batches/{batch['id']}"
    rejects = api.client.get(f"/api/v1/batches/{batch['id']}/rejects", headers=api.dept_a).json()
    assert rejects["total"] == 1
    assert rejects["items"][0] == {
        "line": 4,
        "field": "CF_SJLYDM",
        "value": OTHER_AUTHORITY,
        "code": "source_forbidden",
        "reason": "无权报送该数据来源单位的数据",
    }
    download = api.client.get(f"/api/v1/batches/{batch['id']}/rejects?format=csv", headers=api.dept_a)
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    text = download.content.decode("utf-8-sig")
    assert text.splitlines()[0] == "line,field,value,code,reason"
    assert "source_forbidden" in text


def test_multipart_upload_and_the_same_file_again_is_a_replay(api: Api) -> None:
    body = _csv_bytes([penalty_row(5)])
    files = {"file": ("penalty.csv", body, "text/csv")}
    first = api.client.post("/api/v1/batches", files=files, data={"item": "admin_penalty"}, headers=api.dept_a)
    assert first.status_code == 201, first.text
    assert (first.json()["accepted"], first.json()["file_name"]) == (1, "penalty.csv")
    again = api.client.post("/api/v1/batches", files=files, headers=api.dept_a)
    assert again.status_code == 201
    assert (again.json()["unchanged"], again.json()["replay_of"]) == (1, first.json()["id"])


def test_departments_see_only_their_own_batches_and_sources(api: Api) -> None:
    r = api.client.post("/api/v1/batches", content=_csv_bytes([penalty_row(1)]), headers=api.dept_a)
    batch_id = r.json()["id"]
    assert api.client.get(f"/api/v1/batches/{batch_id}", headers=api.dept_a).status_code == 200
    other = api.client.get(f"/api/v1/batches/{batch_id}", headers=api.dept_b)
    assert other.status_code == 404
    assert other.headers["content-type"] == "application/problem+json"
    assert api.client.get(f"/api/v1/batches/{batch_id}/rejects", headers=api.dept_b).status_code == 404
    assert api.client.get("/api/v1/batches", headers=api.dept_b).json()["total"] == 0
    assert api.client.get("/api/v1/batches", headers=api.dept_a).json()["total"] == 1
    sources = api.client.get("/api/v1/sources", headers=api.dept_b).json()
    assert [s["code"] for s in sources["items"]] == [OTHER_AUTHORITY]
    # Department B cannot deliver under A's source code either.
    refused = api.client.post(f"/api/v1/batches?source={AUTHORITY}", content=_csv_bytes([penalty_row(9)]), headers=api.dept_b)
    assert refused.status_code == 403


def test_uploads_past_the_limit_are_refused_with_413_and_reading_stops(api: Api, db: Database) -> None:
    big = _csv_bytes([penalty_row(1)]) + b"x" * (1024 * 1024 + 10)
    declared = api.client.post("/api/v1/batches", content=big, headers=api.dept_a)
    assert declared.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"
    assert declared.json()["code"] == "upload_too_large"

    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b"y" * 65536  # 4 MiB in all, streamed without a Content-Length

    streamed = api.client.post("/api/v1/batches", content=chunks(), headers=api.dept_a)
    assert streamed.status_code == 413
    assert streamed.json()["code"] == "upload_too_large"
    assert ingest.list_batches(db, restricted=False, tenant=None)[1] == 0
    assert list((api.var_dir / "uploads").glob("*")) == []


def test_an_unreadable_upload_is_a_problem_and_the_routes_need_permissions(api: Api) -> None:
    r = api.client.post("/api/v1/batches", content=b"just,some,columns\n1,2,3\n", headers=api.dept_a)
    assert r.status_code == 422
    assert r.json()["code"] == "file_unreadable"
    assert api.client.post("/api/v1/batches", content=b"a").status_code == 401
    assert api.client.post("/api/v1/sources/X/confirm", headers=api.dept_a).status_code == 403


def test_an_operator_sees_every_batch_and_confirms_pending_sources(
    api: Api, db: Database, clock: FrozenClock, cipher: PiiCipher, tmp_path: Path
) -> None:
    api.client.post("/api/v1/batches", content=_csv_bytes([penalty_row(1)]), headers=api.dept_a)
    make_user(db, clock, cipher, role=Role.OPERATOR, username="ops-ingest")
    login = principal.login(
        db, clock=clock, username="ops-ingest", password=PASSWORD, ip=None, user_agent=None,
        session_hours=8, max_failures=5, window_minutes=15,
    )  # fmt: skip
    api.client.cookies.set(principal.SESSION_COOKIE, login.session_token)
    batches = api.client.get("/api/v1/batches").json()
    assert batches["total"] == 1
    pending = ingest.ingest_file(
        db, actor=ADMIN, clock=clock, cipher=cipher, var_dir=api.var_dir, path=_pending_file(tmp_path), register_unknown=True
    )
    assert pending.accepted == 1
    listed = api.client.get("/api/v1/sources?status=pending").json()
    assert listed["total"] == 1
    code = listed["items"][0]["code"]
    no_csrf = api.client.post(f"/api/v1/sources/{code}/confirm")
    assert no_csrf.status_code == 403
    csrf = principal.principal_from_session(db, clock=clock, token=login.session_token)
    assert csrf is not None
    assert csrf.csrf_token
    ok = api.client.post(f"/api/v1/sources/{code}/confirm", headers={CSRF_HEADER: csrf.csrf_token})
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "active"


def _pending_file(tmp_path: Path) -> Path:
    from xinyidai.kernel.uscc import make_uscc

    path = tmp_path / "pending.csv"
    path.write_bytes(_csv_bytes([penalty_row(3, CF_SJLYDM=make_uscc("1", "1", "350100", "00000033"), CF_SJLY="新单位")]))
    return path
