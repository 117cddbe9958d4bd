"""The product domain end to end through the ASGI app on each database: products' life cycle and tenancy, the
market, needs that share only the chosen fields, matches with reasons, idempotency keys and route permissions."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.factories import ADMIN, PASSWORD, RegistrationRowFactory, uscc_for
from xinyidai import principal, registry
from xinyidai.app import create_app
from xinyidai.audit.tables import AuditEvent
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.principal import Role

SUBJECT = uscc_for(8101)
OTHER = uscc_for(8102)


@dataclass
class World:
    app: Any
    users: dict[str, str]

    def client(self, who: str | None = None) -> TestClient:
        client = TestClient(self.app, base_url="https://testserver", follow_redirects=False)
        if who is not None:
            form = client.get("/login")
            login_csrf = re.search(r'name="login_csrf" value="([^"]*)"', form.text)
            assert login_csrf
            r = client.post(
                "/login", data={"username": self.users[who], "password": PASSWORD, "login_csrf": login_csrf.group(1), "next": "/"}
            )
            assert r.status_code == 303, r.text
            csrf = re.search(r'name="csrf_token" value="([^"]*)"', client.get("/").text)
            assert csrf
            client.headers["X-CSRF-Token"] = csrf.group(1)
        return client


@pytest.fixture
def world(db: Database, database_url: str, clock: FrozenClock, cipher: PiiCipher, unique: str) -> World:
    bank_a = principal.create_institution(
        db, actor=ADMIN, clock=clock, code=f"PA{unique}", name="闽信银行", kind="bank", region_code="350100"
    )
    bank_b = principal.create_institution(
        db, actor=ADMIN, clock=clock, code=f"PB{unique}", name="榕城农商行", kind="bank", region_code="350100"
    )
    rows = [
        RegistrationRowFactory(uscc=SUBJECT, name="福州测试科技有限公司", established_on="2018-03-02", region_code="350102"),
        RegistrationRowFactory(uscc=OTHER, name="另一家公司", region_code="350102"),
    ]
    registry.load_registrations(db, actor=ADMIN, clock=clock, cipher=cipher, rows=list(enumerate(rows, 1)), source="test")
    users = {
        "a": (Role.INSTITUTION_OFFICER, {"institution_id": bank_a}),
        "b": (Role.INSTITUTION_OFFICER, {"institution_id": bank_b}),
        "ent": (Role.ENTERPRISE, {"enterprise_uscc": SUBJECT}),
        "other": (Role.ENTERPRISE, {"enterprise_uscc": OTHER}),
    }
    names = {}
    for key, (role, kw) in users.items():
        names[key] = f"p{key}{unique}"
        principal.create_user(
            db, actor=ADMIN, clock=clock, cipher=cipher, username=names[key], password=PASSWORD, role=role,
            display_name=f"{role.label}{key}", **kw,
        )  # fmt: skip
    app = create_app(make_settings(database_url), db=db, clock=clock)
    return World(app, names)


PRODUCT: dict[str, Any] = {
    "name": "科技信用贷",
    "type": "pure_credit",
    "credit_loan": True,
    "amount_min": "10",
    "amount_max": "300",
    "term_min": 6,
    "term_max": 36,
    "rate_min": "3.45",
    "rate_max": "6.00",
    "repayment_methods": ["interest_first", "equal_instalment"],
    "scope_items": ["tax_payment"],
    "purpose": "credit_approval",
    "rules": {"regions": ["3501"], "industries": ["I"], "min_years": 3, "min_grade": "B"},
}


def _create(client: TestClient, body: dict[str, Any] | None = None, **headers: str) -> dict[str, Any]:
    r = client.post("/api/v1/products", json=body or PRODUCT, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def _audit(db: Database, action: str) -> list[AuditEvent]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


def test_life_cycle_and_tenancy(world: World, db: Database) -> None:
    a, b = world.client("a"), world.client("b")
    product = _create(a)
    assert product["status"] == "draft"
    pid = product["id"]
    # B can neither see nor touch A's draft: 404, audited
    assert b.get(f"/api/v1/products/{pid}").status_code == 404
    r = b.post(f"/api/v1/products/{pid}/publish")
    assert r.status_code == 404
    assert r.json()["code"] == "product_not_found"
    assert _audit(db, "product.product.publish.denied")
    assert b.get("/api/v1/products").json()["total"] == 0
    # draft → published → withdrawn; anything else 409
    assert a.post(f"/api/v1/products/{pid}/withdraw").status_code == 409
    assert a.post(f"/api/v1/products/{pid}/publish").json()["status"] == "published"
    assert b.get(f"/api/v1/products/{pid}").status_code == 200  # published products are public to logged-in users
    assert a.post(f"/api/v1/products/{pid}/publish").status_code == 409
    assert b.post(f"/api/v1/products/{pid}/withdraw").status_code == 404
    assert a.post(f"/api/v1/products/{pid}/withdraw").json()["status"] == "withdrawn"
    assert a.post(f"/api/v1/products/{pid}/publish").json()["code"] == "product_state_conflict"
    assert [e.target_id for e in _audit(db, "product.product.publish")] == [pid]
    assert len(_audit(db, "product.product.withdraw")) == 1


def test_market_filters_and_pagination(world: World) -> None:
    a = world.client("a")
    credit = _create(a)
    mortgage = _create(
        a,
        {
            **PRODUCT,
            "name": "厂房抵押贷",
            "type": "mortgage",
            "credit_loan": False,
            "amount_max": "2000",
            "rules": {"regions": ["44"]},
        },
    )
    draft = _create(a, {**PRODUCT, "name": "未发布产品"})
    for p in (credit, mortgage):
        a.post(f"/api/v1/products/{p['id']}/publish")
    ent = world.client("ent")
    everything = ent.get("/api/v1/market").json()
    assert {p["id"] for p in everything["items"]} == {credit["id"], mortgage["id"]}
    assert draft["id"] not in {p["id"] for p in everything["items"]}
    assert everything["total"] == 2
    assert everything["limit"] == 20
    assert everything["offset"] == 0
    assert [p["id"] for p in ent.get("/api/v1/market", params={"credit_only": True}).json()["items"]] == [credit["id"]]
    assert [p["id"] for p in ent.get("/api/v1/market", params={"amount": "1000"}).json()["items"]] == [mortgage["id"]]
    assert [p["id"] for p in ent.get("/api/v1/market", params={"region_code": "350102"}).json()["items"]] == [credit["id"]]
    assert [p["id"] for p in ent.get("/api/v1/market", params={"type": "mortgage"}).json()["items"]] == [mortgage["id"]]
    assert ent.get("/api/v1/market", params={"term_months": 48}).json()["total"] == 0
    page = ent.get("/api/v1/market", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 2
    assert len(page["items"]) == 1


def test_needs_share_only_chosen_fields(world: World) -> None:
    a = world.client("a")
    pid = _create(a)["id"]
    a.post(f"/api/v1/products/{pid}/publish")
    ent = world.client("ent")
    r = ent.post(
        "/api/v1/needs",
        json={
            "amount": "100",
            "term_months": 12,
            "purpose": "采购原材料",
            "urgency": "urgent",
            "shared_fields": ["name", "size_class"],
        },
    )
    assert r.status_code == 201, r.text
    need = r.json()
    assert need["shared"] == {"name": "福州测试科技有限公司", "size_class": None}
    # another enterprise's need that no product of A serves (amount too large)
    world.client("other").post(
        "/api/v1/needs", json={"amount": "5000", "term_months": 12, "purpose": "扩产", "shared_fields": ["uscc"]}
    )
    seen = a.get("/api/v1/needs").json()
    assert [n["id"] for n in seen["items"]] == [need["id"]]
    item = seen["items"][0]
    assert item["shared"] == {"name": "福州测试科技有限公司", "size_class": None}
    assert SUBJECT not in str(item)  # the USCC was not shared
    assert "facts" not in item
    assert item["product_ids"] == [pid]
    assert world.client("b").get("/api/v1/needs").json()["total"] == 0  # B has no published product
    mine = ent.get("/api/v1/needs").json()
    assert [n["id"] for n in mine["items"]] == [need["id"]]
    bad = ent.post("/api/v1/needs", json={"amount": "1", "term_months": 1, "purpose": "x", "shared_fields": ["legal_rep_id_no"]})
    assert bad.status_code == 422


def test_matches_show_reasons_and_unknowns(world: World) -> None:
    a = world.client("a")
    for body in (
        PRODUCT,
        {**PRODUCT, "name": "外省产品", "rules": {"regions": ["44"]}},
        {**PRODUCT, "name": "无门槛", "rules": {}},
    ):
        a.post(f"/api/v1/products/{_create(a, body)['id']}/publish")
    found = world.client("ent").get("/api/v1/matches").json()
    by_name = {m["product"]["name"]: m for m in found["items"]}
    assert [m["product"]["name"] for m in found["items"]] == ["无门槛", "科技信用贷", "外省产品"]
    assert by_name["无门槛"]["outcome"] == "pass"
    assert by_name["无门槛"]["estimate_wan"] is None  # no grade from the default provider
    assert "缺少信用评价等级" in by_name["无门槛"]["estimate_note"]
    credit = by_name["科技信用贷"]
    assert credit["outcome"] == "unknown"
    reasons = {r["rule"]: r for r in credit["reasons"]}
    assert reasons["region"]["outcome"] == "pass"
    assert reasons["industry"]["outcome"] == "pass"  # 6510 is in 门类 I
    assert reasons["years"]["outcome"] == "pass"
    assert reasons["grade"]["outcome_label"] == "无法判断"
    assert by_name["外省产品"]["outcome"] == "fail"
    assert "不在产品服务区域" in by_name["外省产品"]["reasons"][0]["reason"]


def test_idempotency_keys(world: World, db: Database) -> None:
    a = world.client("a")
    first = a.post("/api/v1/products", json=PRODUCT, headers={"Idempotency-Key": "k-1"})
    again = a.post("/api/v1/products", json=PRODUCT, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert a.get("/api/v1/products").json()["total"] == 1
    other = a.post("/api/v1/products", json={**PRODUCT, "name": "另一个"}, headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    # a failed request releases its key; keys are per caller
    bad = a.post("/api/v1/products", json={**PRODUCT, "amount_min": "500"}, headers={"Idempotency-Key": "k-2"})
    assert bad.status_code == 422
    assert a.post("/api/v1/products", json={**PRODUCT, "name": "修正后"}, headers={"Idempotency-Key": "k-2"}).status_code == 201
    assert world.client("b").post("/api/v1/products", json=PRODUCT, headers={"Idempotency-Key": "k-1"}).status_code == 201
    pid = first.json()["id"]
    p1 = a.post(f"/api/v1/products/{pid}/publish", headers={"Idempotency-Key": "pub"})
    p2 = a.post(f"/api/v1/products/{pid}/publish", headers={"Idempotency-Key": "pub"})
    assert p1.status_code == p2.status_code == 200  # the replay, not a 409 from publishing twice
    assert len(_audit(db, "product.product.publish")) == 1
    ent = world.client("ent")
    need = {"amount": "50", "term_months": 6, "purpose": "周转", "shared_fields": []}
    n1 = ent.post("/api/v1/needs", json=need, headers={"Idempotency-Key": "n"})
    n2 = ent.post("/api/v1/needs", json=need, headers={"Idempotency-Key": "n"})
    assert n1.json()["id"] == n2.json()["id"]
    assert ent.get("/api/v1/needs").json()["total"] == 1


def test_route_permissions(world: World) -> None:
    anonymous = world.client()
    for method, path in [
        ("get", "/api/v1/market"),
        ("get", "/api/v1/products"),
        ("post", "/api/v1/products"),
        ("get", "/api/v1/needs"),
        ("get", "/api/v1/matches"),
        ("post", f"/api/v1/products/{uuid.uuid4()}/publish"),
    ]:
        assert getattr(anonymous, method)(path).status_code == 401, path
    ent = world.client("ent")
    assert ent.post("/api/v1/products", json=PRODUCT).status_code == 403
    assert ent.get("/api/v1/products").status_code == 403
    a = world.client("a")
    assert a.get("/api/v1/matches").status_code == 403
    assert a.post("/api/v1/needs", json={"amount": "1", "term_months": 1, "purpose": "x"}).status_code == 403
