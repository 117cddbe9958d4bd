"""Report fixtures: the consent tests' banks and people, department sources, and one subject's records, seeded
once per module; each test runs in a savepoint of its own."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Connection, Engine

from tests.conftest import TEST_DATA_KEY
from tests.factories import ADMIN, PASSWORD
from tests.integration.consent.consent_support import OTHER_SUBJECT, SUBJECT, People, as_principal
from tests.integration.report.report_support import coercion, load, penalty, tax, utility
from xinyidai import ingest, principal
from xinyidai.consent.signing import Ed25519Key, Keyring
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.principal import Role


@dataclass
class _World:
    connection: Connection
    people: People


@pytest.fixture(scope="module")
def _world(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_World]:
    with engine.connect() as connection:
        outer = connection.begin()
        seeded = Database(connection, node_id="city-350100")
        clock = FrozenClock(datetime(2026, 6, 30, 2, 0, tzinfo=UTC))
        cipher = PiiCipher(key=base64.b64decode(TEST_DATA_KEY), key_id="t1")
        people = _seed_people(seeded, clock, cipher, uuid.uuid4().hex[:8])
        _seed_records(seeded, clock, cipher, tmp_path_factory.mktemp("report-data"))
        yield _World(connection, people)
        outer.rollback()


@pytest.fixture
def db(_world: _World) -> Iterator[Database]:
    """This module's connection, inside a savepoint rolled back after the test."""
    savepoint = _world.connection.begin_nested()
    yield Database(_world.connection, node_id="city-350100")
    if savepoint.is_active:
        savepoint.rollback()


@pytest.fixture
def people(_world: _World, db: Database) -> People:
    """The banks and people seeded for this module."""
    return _world.people


@pytest.fixture(scope="session")
def keyring() -> Keyring:
    """An EdDSA keyring generated for the tests."""
    return Keyring(Ed25519Key.generate())


def _seed_records(db: Database, clock: FrozenClock, cipher: PiiCipher, tmp: Path) -> None:
    """SUBJECT: a current and an expired penalty, a coercion, tax and utility bills (one outside any data range)."""
    ingest.seed_sources(db, ADMIN, clock)
    load(db, clock=clock, cipher=cipher, tmp=tmp, item="admin_penalty", rows=[penalty(SUBJECT, 1, "2025-05-20")])
    load(db, clock=clock, cipher=cipher, tmp=tmp, item="admin_penalty", rows=[penalty(SUBJECT, 2, "2021-03-10")])
    load(db, clock=clock, cipher=cipher, tmp=tmp, item="admin_coercion", rows=[coercion(SUBJECT, "2024-02-01")])
    load(db, clock=clock, cipher=cipher, tmp=tmp, item="tax_payment", rows=[tax(SUBJECT, "2025-04-15")])
    load(
        db,
        clock=clock,
        cipher=cipher,
        tmp=tmp,
        item="utility_payment",
        rows=[utility(SUBJECT, "2025-03"), utility(SUBJECT, "2021-01")],
    )
    load(db, clock=clock, cipher=cipher, tmp=tmp, item="admin_penalty", rows=[penalty(OTHER_SUBJECT, 3, "2025-06-01")])


def _seed_people(db: Database, clock: FrozenClock, cipher: PiiCipher, unique: str) -> People:
    bank_a = principal.create_institution(
        db, actor=ADMIN, clock=clock, code=f"RA{unique}", name="闽信银行福州分行", kind="bank", region_code="350100"
    )
    bank_b = principal.create_institution(
        db, actor=ADMIN, clock=clock, code=f"RB{unique}", name="榕城农商银行", kind="bank", region_code="350100"
    )
    names = {
        "officer_a": f"roa{unique}",
        "admin_a": f"raa{unique}",
        "officer_b": f"rob{unique}",
        "enterprise": f"ren{unique}",
        "other_enterprise": f"reo{unique}",
        "operator": f"rop{unique}",
    }

    def user(role: Role, key: str, **kw: Any) -> uuid.UUID:
        return principal.create_user(
            db,
            actor=ADMIN,
            clock=clock,
            cipher=cipher,
            username=names[key],
            password=PASSWORD,
            role=role,
            display_name=f"{role.label}{key}",
            **kw,
        )

    oa = user(Role.INSTITUTION_OFFICER, "officer_a", institution_id=bank_a)
    aa = user(Role.INSTITUTION_ADMIN, "admin_a", institution_id=bank_a)
    ob = user(Role.INSTITUTION_OFFICER, "officer_b", institution_id=bank_b)
    en = user(Role.ENTERPRISE, "enterprise", enterprise_uscc=SUBJECT)
    eo = user(Role.ENTERPRISE, "other_enterprise", enterprise_uscc=OTHER_SUBJECT)
    op = user(Role.OPERATOR, "operator")
    return People(
        bank_a=bank_a,
        bank_b=bank_b,
        officer_a=as_principal(oa, Role.INSTITUTION_OFFICER, institution_id=bank_a, label="A行客户经理"),
        admin_a=as_principal(aa, Role.INSTITUTION_ADMIN, institution_id=bank_a, label="A行管理员"),
        officer_b=as_principal(ob, Role.INSTITUTION_OFFICER, institution_id=bank_b, label="B行客户经理"),
        enterprise=as_principal(en, Role.ENTERPRISE, enterprise_uscc=SUBJECT, label="企业经办人"),
        other_enterprise=as_principal(eo, Role.ENTERPRISE, enterprise_uscc=OTHER_SUBJECT, label="另一企业"),
        operator=as_principal(op, Role.OPERATOR, label="运营人员"),
        usernames=names,
    )
