"""The evaluation pages over HTTP with real logins: the enterprise's grade with reasons linked to its records, the
institution's pushed evaluations, a model version's validation report, the grade distribution — and tenancy: an
institution never sees another's pushes, an enterprise never sees another's evaluation."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.factories import PASSWORD, make_user
from tests.integration.evaluation.evaluation_world import HOOK_SECRET, HOOK_URL, authorize, build_world, evaluate
from tests.integration.evaluation.test_evaluation_registry_models import _synthetic
from xinyidai import consent
from xinyidai.app import create_app
from xinyidai.consent import Ed25519Key, Keyring
from xinyidai.db import Database
from xinyidai.evaluation import push, training
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.principal import Role


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


def test_pages_and_tenancy(
    db: Database, database_url: str, clock: FrozenClock, cipher: PiiCipher, tmp_path: Path, unique: str
) -> None:
    keyring = Keyring(Ed25519Key.generate())
    w = build_world(db, clock, cipher, unique, base=9500)
    consent.set_endpoint(db, actor=w.admin_a, clock=clock, cipher=cipher, url=HOOK_URL, secret=HOOK_SECRET)
    push.set_subscription(db, actor=w.admin_a, clock=clock, active=True)
    push.set_subscription(db, actor=w.admin_b, clock=clock, active=True)
    authorize(db, clock, keyring, officer=w.officer_a, enterprise=w.enterprises[w.bad])
    table, outcomes = _synthetic()
    card = training.train_scorecard_on(
        db, actor=training.TRAINING_ACTOR, clock=clock, indicators=table, snapshot_id=None, as_of=date(2026, 6, 30),
        outcomes=outcomes,
    )  # fmt: skip
    run = evaluate(db, clock, tmp_path)
    assert push.push_run(db, clock=clock, run_id=run.run_id).pushed == 1
    make_user(db, clock, cipher, role=Role.OPERATOR, username=f"op{unique}")
    client = TestClient(
        create_app(make_settings(database_url), db=db, clock=clock), base_url="https://testserver", follow_redirects=False
    )

    # The enterprise: its grade, the deductions with advice, each linked to its records; never another's evaluation.
    _log_in(client, w.usernames["bad"])
    page = client.get("/evaluation")
    assert page.status_code == 200
    assert 'id="grade"' in page.text
    assert ">D<" in page.text
    assert "失信被执行人" in page.text
    assert "/records/mine#group-dishonest_debtor" in page.text
    assert "/records/mine#group-admin_penalty" in page.text
    assert w.bad in page.text
    assert w.good not in page.text
    assert client.get(f"/api/v1/evaluations/{w.good}").status_code == 403
    mine = client.get(f"/api/v1/evaluations/{w.bad}")
    assert mine.status_code == 200
    assert mine.json()["grade"] == "D"
    assert mine.json()["run_id"] == str(run.run_id)
    assert client.get("/evaluation/pushed").status_code in (302, 303, 403)
    assert client.get("/evaluation/models").status_code in (302, 303, 403)

    # A clean enterprise: what earned its grade, linked to the records behind it.
    _log_in(client, w.usernames["good"])
    good = client.get("/evaluation")
    assert good.status_code == 200
    assert ">A<" in good.text
    assert "纳税信用A级" in good.text
    assert "/records/mine#group-tax_credit_grade" in good.text

    # Bank A sees what was pushed to it and may pull the evaluation it is authorized for, nothing else.
    _log_in(client, w.usernames["officer_a"])
    pushed = client.get("/evaluation/pushed")
    assert pushed.status_code == 200
    assert w.bad in pushed.text
    assert "共 1 条" in pushed.text
    assert client.get("/api/v1/evaluation/pushes").json()["total"] == 1
    pulled = client.get(f"/api/v1/evaluations/{w.bad}", params={"purpose": "credit_approval"})
    assert pulled.status_code == 200
    assert pulled.json()["grade"] == "D"
    assert client.get(f"/api/v1/evaluations/{w.good}", params={"purpose": "credit_approval"}).status_code == 403

    # Bank B, subscribed too, was pushed nothing and sees none of bank A's pushes.
    _log_in(client, w.usernames["admin_b"])
    other = client.get("/evaluation/pushed")
    assert other.status_code == 200
    assert w.bad not in other.text
    assert "尚未向本机构推送评价结果" in other.text
    assert client.get("/api/v1/evaluation/pushes").json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
    assert client.get(f"/api/v1/evaluations/{w.bad}", params={"purpose": "credit_approval"}).status_code == 403

    # The operator: the scorecard's validation report, and the grade distribution.
    _log_in(client, f"op{unique}")
    report = client.get(f"/evaluation/models/{card.id}")
    assert report.status_code == 200
    assert card.label in report.text
    assert "<svg" in report.text
    assert "AUC" in report.text
    assert "KS" in report.text
    assert "Hosmer" in report.text or "HL" in report.text
    models_page = client.get("/evaluation/models")
    assert models_page.status_code == 200
    assert card.label in models_page.text
    dist = client.get("/evaluation/distribution")
    assert dist.status_code == 200
    assert "<svg" in dist.text
    assert "福州" in dist.text
    body = client.get("/api/v1/evaluation/distribution").json()
    assert body["total"] == 3
    assert body["overall"]["D"] >= 1
    assert body["overall"]["A"] >= 1
    assert client.get("/evaluation/models/not-a-uuid").status_code == 404
