"""Objections over HTTP: the multipart API, tenancy (404), attachment download with access checks, and the
Chinese pages (我的异议, the link target for 我的信用记录, the department queue and the resolve form)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.factories import PASSWORD, Org, make_user
from tests.integration.objection.conftest import World
from xinyidai import ingest
from xinyidai.app import create_app
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.principal import Role

PDF = b"%PDF-1.4\n" + b"x" * 64


def _client(db: Database, database_url: str, clock: FrozenClock, var_dir: Path) -> TestClient:
    app = create_app(make_settings(database_url, var_dir=var_dir), db=db, clock=clock)
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def _log_in(client: TestClient, username: str) -> dict[str, str]:
    client.cookies.clear()
    form = client.get("/login")
    login_csrf = re.search(r'name="login_csrf" value="([^"]*)"', form.text)
    assert login_csrf
    r = client.post("/login", data={"username": username, "password": PASSWORD, "login_csrf": login_csrf.group(1), "next": "/"})
    assert r.status_code == 303, r.text
    csrf = re.search(r'name="csrf_token" value="([^"]*)"', client.get("/").text)
    assert csrf
    return {"X-CSRF-Token": csrf.group(1)}


def _users(db: Database, clock: FrozenClock, cipher: PiiCipher, world: World, unique: str) -> dict[str, str]:
    names = {"ent": f"oe{unique}", "other": f"oo{unique}", "a": f"oa{unique}", "b": f"ob{unique}", "reg": f"or{unique}"}
    make_user(db, clock, cipher, role=Role.ENTERPRISE, username=names["ent"], uscc=world.enterprise.enterprise_uscc)
    make_user(db, clock, cipher, role=Role.ENTERPRISE, username=names["other"], uscc=world.other.enterprise_uscc)
    make_user(db, clock, cipher, role=Role.DEPARTMENT_CLERK, username=names["a"], org=Org(uuid.uuid4(), world.dept_a))
    make_user(db, clock, cipher, role=Role.DEPARTMENT_CLERK, username=names["b"], org=Org(uuid.uuid4(), world.dept_b))
    make_user(db, clock, cipher, role=Role.REGULATOR, username=names["reg"])
    return names


def test_api_file_queue_resolve_download(
    db: Database, database_url: str, clock: FrozenClock, cipher: PiiCipher, world: World, unique: str
) -> None:
    client = _client(db, database_url, clock, world.var_dir)
    names = _users(db, clock, cipher, world, unique)
    ent = _log_in(client, names["ent"])
    r = client.post(
        "/api/v1/objections",
        data={"record_id": str(world.record.id), "reasons": "处罚决定已被复议撤销。"},
        files=[("files", ("../../决定书.pdf", PDF, "text/html"))],
        headers=ent,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    oid, att = body["id"], body["attachments"][0]
    assert (body["status"], body["due_on"], body["tone"], att["media_type"], att["label"]) == (
        "open",
        "2026-07-20",
        "green",
        "application/pdf",
        "决定书.pdf",
    )
    assert client.get("/api/v1/objections", headers=ent).json()["total"] == 1
    dl = client.get(f"/api/v1/objections/{oid}/attachments/{att['id']}")
    assert dl.status_code == 200
    assert dl.content == PDF
    assert dl.headers["content-type"] == "application/pdf"
    assert "attachment" in dl.headers["content-disposition"]
    bad = client.post(
        "/api/v1/objections",
        data={"record_id": str(world.second.id), "reasons": "x"},
        files=[("files", ("a.pdf", b"MZ\x90\x00evil", "application/pdf"))],
        headers=ent,
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "objection_attachment_refused"
    assert not ingest.get_record(db, record_id=world.second.id).disputed

    other = _log_in(client, names["other"])
    assert client.get(f"/api/v1/objections/{oid}", headers=other).status_code == 404
    assert client.get(f"/api/v1/objections/{oid}/attachments/{att['id']}", headers=other).status_code == 404
    assert client.post(f"/api/v1/objections/{oid}/statement", json={"statement": "x"}, headers=other).status_code == 404
    mine = client.post("/api/v1/objections", data={"record_id": str(world.record.id), "reasons": "x"}, headers=other)
    assert mine.status_code == 404

    dept_b = _log_in(client, names["b"])
    assert client.get("/api/v1/objections/queue", headers=dept_b).json()["total"] == 0
    r = client.post(f"/api/v1/objections/{oid}/resolve", json={"outcome": "upheld", "answer": "x"}, headers=dept_b)
    assert r.status_code == 404
    assert client.get(f"/api/v1/objections/{oid}/attachments/{att['id']}", headers=dept_b).status_code == 404

    dept_a = _log_in(client, names["a"])
    queue = client.get("/api/v1/objections/queue", headers=dept_a).json()
    assert [i["id"] for i in queue["items"]] == [oid]
    assert (
        client.post("/api/v1/objections", data={"record_id": str(world.second.id), "reasons": "x"}, headers=dept_a).status_code
        == 403
    )
    r = client.post(
        f"/api/v1/objections/{oid}/resolve",
        json={"outcome": "corrected", "answer": "已更正罚款金额。", "changes": {"CF_NR_FK": "0.1"}},
        headers=dept_a,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["corrected_version"]) == ("corrected", 2)
    again = client.post(f"/api/v1/objections/{oid}/resolve", json={"outcome": "upheld", "answer": "x"}, headers=dept_a)
    assert again.status_code == 409

    ent = _log_in(client, names["ent"])
    seen = client.get("/api/v1/objections", headers=ent).json()["items"][0]
    assert (seen["status"], seen["answer"]) == ("corrected", "已更正罚款金额。")
    r = client.post(f"/api/v1/objections/{oid}/statement", json={"statement": "感谢核查。"}, headers=ent)
    assert r.status_code == 200
    assert ingest.get_record(db, record_id=world.record.id).statement == "感谢核查。"

    reg = _log_in(client, names["reg"])
    assert client.get("/api/v1/objections/queue?status=corrected", headers=reg).json()["total"] >= 1
    assert (
        client.post(f"/api/v1/objections/{oid}/resolve", json={"outcome": "upheld", "answer": "x"}, headers=reg).status_code
        == 403
    )


def test_pages_file_from_the_record_link_and_resolve_from_the_queue(
    db: Database, database_url: str, clock: FrozenClock, cipher: PiiCipher, world: World, unique: str
) -> None:
    client = _client(db, database_url, clock, world.var_dir)
    names = _users(db, clock, cipher, world, unique)
    ent = _log_in(client, names["ent"])
    page = client.get("/objections")
    assert page.status_code == 200
    assert "我的异议" in page.text
    new = client.get(f"/objections/new?record_id={world.record.id}")
    assert new.status_code == 200
    assert str(world.record.id) in new.text
    assert client.get(f"/objections/new?record_id={uuid.uuid4()}").status_code == 404
    r = client.post(
        "/objections",
        data={"record_id": str(world.record.id), "reasons": "金额有误。", "csrf_token": ent["X-CSRF-Token"]},
        files=[("files", ("凭证.png", b"\x89PNG\r\n\x1a\n" + b"0" * 20, "image/png"))],
    )
    assert r.status_code == 303, r.text
    detail_url = r.headers["location"]
    detail = client.get(detail_url)
    assert "有异议" in detail.text
    assert "凭证.png" in detail.text
    refused = client.post(
        "/objections", data={"record_id": str(world.record.id), "reasons": "再次", "csrf_token": ent["X-CSRF-Token"]}
    )
    assert refused.status_code == 409
    assert "正在核查" in refused.text
    oid = detail_url.split("/")[2].split("?")[0]

    _log_in(client, names["b"])
    assert client.get(f"/objections/{oid}").status_code == 404
    assert "暂无异议" in client.get("/objections/queue").text

    dept = _log_in(client, names["a"])
    queue = client.get("/objections/queue")
    assert queue.status_code == 200
    assert f"/objections/{oid}" in queue.text
    assert "期限充足" in queue.text
    assert 'id="resolve-form"' in client.get(f"/objections/{oid}").text
    bad = client.post(
        f"/objections/{oid}/resolve",
        data={"outcome": "corrected", "answer": "x", "changes": "无等号", "csrf_token": dept["X-CSRF-Token"]},
    )
    assert bad.status_code == 422
    done = client.post(
        f"/objections/{oid}/resolve", data={"outcome": "unresolved", "answer": "无法核实。", "csrf_token": dept["X-CSRF-Token"]}
    )
    assert done.status_code == 303
    after = client.get(f"/objections/{oid}")
    assert "无法核实（保留异议标注）" in after.text
    assert 'id="resolve-form"' not in after.text
    assert ingest.get_record(db, record_id=world.record.id).disputed
