"""The access-trail API and the page 谁查询了我的信息 through the ASGI app: public checkpoints, guarded proofs."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.factories import PASSWORD, make_org, make_user
from tests.integration.audit.trail_helpers import append, execute
from xinyidai import audit, principal
from xinyidai.app import create_app
from xinyidai.audit.jobs import trail_keys
from xinyidai.audit.merkle import verify_consistency, verify_inclusion
from xinyidai.audit.tables import AuditEvent
from xinyidai.db import Database
from xinyidai.http.container import Container
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.principal import Role
from xinyidai.principal.deps import _guards

MINE = "91350100M000100Y43"
OTHER = "91350102MA2YA1B23X"


@pytest.fixture
def client(db: Database, database_url: str, clock: FrozenClock) -> Iterator[TestClient]:
    app = create_app(make_settings(database_url), db=db, clock=clock)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        yield c


def _container(client: TestClient) -> Container:
    container: Container = client.app.state.container  # type: ignore[attr-defined]
    return container


def _login(client: TestClient, db: Database, clock: FrozenClock, cipher: PiiCipher, role: Role, **kw: object) -> None:
    username = f"{role.value}-user"
    make_user(db, clock, cipher, role=role, username=username, **kw)  # type: ignore[arg-type]
    result = principal.login(
        db,
        clock=clock,
        username=username,
        password=PASSWORD,
        ip=None,
        user_agent=None,
        session_hours=8,
        max_failures=5,
        window_minutes=15,
    )
    client.cookies.set(principal.SESSION_COOKIE, result.session_token)


def _seed(client: TestClient, db: Database, clock: FrozenClock) -> tuple[list[str], list[str]]:
    mine = append(
        db,
        3,
        subject=MINE,
        action="report.authorized.pull",
        data={
            "purpose_label": "贷前审查",
            "authorization_id": "A-9",
            "outcome": {"report": {"number": "CITY-350100-20260630-000007"}},
        },
    )
    theirs = append(db, 2, subject=OTHER, action="registry.subject.read")
    audit.create_checkpoint(db, keys=trail_keys(_container(client)), clock=clock)
    return mine, theirs


def _routes(app: Any) -> list[tuple[str, set[str], Any]]:
    """Every route with its dependant, also those FastAPI ≥ 0.16x keeps inside included routers."""
    found: list[tuple[str, set[str], Any]] = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            found.append((route.path, set(route.methods or ()), route.dependant))
        elif hasattr(route, "effective_route_contexts"):
            found.extend((c.path, set(c.methods or ()), c.dependant) for c in route.effective_route_contexts())
    return found


def test_trail_routes_are_guarded_and_only_checkpoints_and_key_are_public(client: TestClient) -> None:
    mine = [(p, m, d) for p, m, d in _routes(client.app) if p.startswith(("/api/v1/audit", "/trail"))]
    assert len(mine) == 7
    public = set()
    for path, methods, dependant in mine:
        assert _guards(dependant), path
        sample = path.replace("{size}", "1").replace("{event_id}", "x")
        for method in methods - {"HEAD"}:
            status = client.request(method, sample, params={"event_id": "x", "first": 1, "second": 1}).status_code
            if status not in (401, 303):
                public.add(path)
    assert public == {"/api/v1/audit/key", "/api/v1/audit/checkpoints/latest", "/api/v1/audit/checkpoints/{size}"}


def test_an_anonymous_proof_download_goes_to_the_login_page(client: TestClient) -> None:
    # 'GET /trail/events/<uuid>/proof.json' is longer than audit_event.target_id: the denial must still be recorded.
    response = client.get("/trail/events/018f0000-0000-7000-8000-000000000000/proof.json")
    assert response.status_code == 303


def test_checkpoints_and_the_key_are_public_and_verify(client: TestClient, db: Database, clock: FrozenClock) -> None:
    assert client.get("/api/v1/audit/checkpoints/latest").status_code == 404
    _seed(client, db, clock)
    key = client.get("/api/v1/audit/key").json()
    assert key["algorithm"] == "Ed25519"
    verifier = audit.VerifierKey.parse(key["verifier_key"])
    assert base64.b64decode(key["public_key"]) == verifier.public_key
    latest = client.get("/api/v1/audit/checkpoints/latest")
    assert latest.status_code == 200
    cp = audit.Checkpoint.from_json(latest.json())
    assert cp.tree_size == 5
    assert audit.verify_checkpoint(cp, [verifier])
    assert client.get("/api/v1/audit/checkpoints/5").json() == latest.json()
    assert client.get("/api/v1/audit/checkpoints/4").status_code == 404
    assert client.get("/api/v1/audit/checkpoints/0").status_code == 422


def test_proofs_need_a_trail_permission(client: TestClient, db: Database, clock: FrozenClock, cipher: PiiCipher) -> None:
    mine, _ = _seed(client, db, clock)
    assert client.get("/api/v1/audit/proofs/inclusion", params={"event_id": mine[0]}).status_code == 401
    assert client.get("/api/v1/audit/proofs/consistency", params={"first": 1, "second": 5}).status_code == 401
    org = make_org(db, clock, "T1")
    _login(client, db, clock, cipher, Role.INSTITUTION_OFFICER, org=org)
    assert client.get("/api/v1/audit/proofs/inclusion", params={"event_id": mine[0]}).status_code == 403


def test_an_auditor_proves_any_event_and_checks_it_offline(
    client: TestClient, db: Database, clock: FrozenClock, cipher: PiiCipher
) -> None:
    mine, theirs = _seed(client, db, clock)
    _login(client, db, clock, cipher, Role.AUDITOR)
    for eid in (mine[1], theirs[0]):
        body = client.get("/api/v1/audit/proofs/inclusion", params={"event_id": eid}).json()
        assert body["verified"] is True
        # Offline: recompute the leaf from leaf_input, walk the path, compare with the signed root.
        leaf = hashlib.sha256(b"\x00" + base64.b64decode(body["leaf_input"])).digest()
        assert leaf.hex() == body["leaf_hash"]
        path = [bytes.fromhex(h) for h in body["proof"]]
        assert verify_inclusion(leaf, body["leaf_index"], body["tree_size"], path, bytes.fromhex(body["checkpoint"]["root_hash"]))
    append(db, 2)
    result = audit.create_checkpoint(db, keys=trail_keys(_container(client)), clock=clock)
    assert result is not None
    n = result.checkpoint.tree_size
    c = client.get("/api/v1/audit/proofs/consistency", params={"first": 5, "second": n}).json()
    assert c["verified"]
    assert c["first_checkpoint"]["tree_size"] == 5
    assert c["second_checkpoint"]["tree_size"] == n
    assert c["second_root"] == result.checkpoint.root_hash.hex()
    proof = [bytes.fromhex(h) for h in c["proof"]]
    assert verify_consistency(5, n, bytes.fromhex(c["first_root"]), bytes.fromhex(c["second_root"]), proof)
    assert client.get("/api/v1/audit/proofs/consistency", params={"first": 6, "second": n + 50}).status_code == 422


def test_an_enterprise_gets_proofs_only_for_itself(
    client: TestClient, db: Database, clock: FrozenClock, cipher: PiiCipher
) -> None:
    mine, theirs = _seed(client, db, clock)
    _login(client, db, clock, cipher, Role.ENTERPRISE, uscc=MINE)
    ok = client.get("/api/v1/audit/proofs/inclusion", params={"event_id": mine[0]})
    assert ok.status_code == 200
    assert ok.json()["verified"] is True
    refused = client.get("/api/v1/audit/proofs/inclusion", params={"event_id": theirs[0]})
    assert refused.status_code == 404
    assert refused.headers["content-type"].startswith("application/problem+json")
    with db.transaction() as s:
        row = s.scalar(sa.select(AuditEvent).where(AuditEvent.action == "audit.proof.denied"))
    assert row is not None
    assert row.subject == OTHER
    assert row.target_id == theirs[0]


def test_the_page_lists_accesses_with_proofs_and_downloads_them(
    client: TestClient, db: Database, clock: FrozenClock, cipher: PiiCipher
) -> None:
    mine, _ = _seed(client, db, clock)
    _login(client, db, clock, cipher, Role.ENTERPRISE, uscc=MINE)
    page = client.get("/trail", headers={"accept": "text/html"})
    assert page.status_code == 200
    html = page.text
    assert "谁查询了我的信息" in html
    assert "贷前审查" in html
    assert "A-9" in html
    # The report each pull produced, by its number (verifiable on the public page).
    assert html.count("CITY-350100-20260630-000007") == 3
    assert html.count('data-proof="verified"') == 3
    assert "Content-Security-Policy" in page.headers
    download = client.get(f"/trail/events/{mine[2]}/proof.json")
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.json()["verified"] is True
    assert download.json()["verifier_key"]
    # Another enterprise's trail: refused, with a page and an audit event.
    other = client.get(f"/trail?uscc={OTHER}", headers={"accept": "text/html"})
    assert other.status_code == 403
    with db.transaction() as s:
        assert s.scalar(sa.select(AuditEvent.subject).where(AuditEvent.action == "audit.trail.denied")) == OTHER
    # A tampered access shows ✗.
    stored_id = mine[0] if db.dialect == "postgresql" else mine[0].replace("-", "")  # SQLite keeps uuids as hex
    execute(db, f"UPDATE audit_event SET actor_label = '冒名' WHERE id = '{stored_id}'")
    assert 'data-proof="failed"' in client.get("/trail", headers={"accept": "text/html"}).text


def test_an_auditor_picks_the_subject_and_others_cannot_open_the_page(
    client: TestClient, db: Database, clock: FrozenClock, cipher: PiiCipher
) -> None:
    _seed(client, db, clock)
    _login(client, db, clock, cipher, Role.AUDITOR)
    assert "请输入要查看的统一社会信用代码" in client.get("/trail").text
    page = client.get(f"/trail?uscc={OTHER}")
    assert page.status_code == 200
    assert page.text.count('data-proof="verified"') == 2
    client.cookies.clear()
    assert client.get("/trail").status_code == 303  # to the login page
