"""Verification fixtures: two banks, an enterprise, generated department data plus a known tax history, an
approved authorization of bank A, and the signing keyring — seeded once per module, each test in a savepoint."""

from __future__ import annotations

import base64
import csv
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Connection, Engine

from tests.conftest import TEST_DATA_KEY
from tests.factories import ADMIN, PASSWORD
from tests.integration.consent.consent_support import SUBJECT, People, as_principal, terms
from xinyidai import consent, ingest, principal
from xinyidai.consent import Ed25519Key, Frequency, FrequencyUnit, Keyring, Scope
from xinyidai.db import Database
from xinyidai.demodata import generate
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.principal import Role

NOW = datetime(2026, 6, 30, 2, 0, tzinfo=UTC)
#: The subject's tax payments (所属期, 税种, 实缴税额 万元, 申报日期): the latest declared is 30 万元.
TAX_ROWS = [
    ("2025-01", "增值税", "10.5", "2025-02-10"),
    ("2025-02", "增值税", "20", "2025-03-10"),
    ("2025-03", "增值税", "30", "2025-04-10"),
]


@dataclass
class World:
    """What every test of the module shares."""

    connection: Connection
    people: People
    keyring: Keyring
    authorization_id: uuid.UUID
    tax_record_ids: list[uuid.UUID]


def write_tax(path: Path) -> Path:
    """The subject's tax file in the generator's layout."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["uscc", "period", "tax_type", "amount_paid", "declared_on", "paid_on", "overdue_days"])
        for period, tax_type, amount, declared in TAX_ROWS:
            writer.writerow([SUBJECT, period, tax_type, amount, declared, declared, "0"])
    return path


@pytest.fixture(scope="module")
def world(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Seed once: people, a generated delivery, the subject's tax file, bank A's approved authorization."""
    with engine.connect() as connection:
        outer = connection.begin()
        db = Database(connection, node_id="city-350100")
        clock = FrozenClock(NOW)
        cipher = PiiCipher(key=base64.b64decode(TEST_DATA_KEY), key_id="t1")
        unique = uuid.uuid4().hex[:8]
        people = _seed_people(db, clock, cipher, unique)
        var = tmp_path_factory.mktemp("var")
        generated = tmp_path_factory.mktemp("gen")
        generate(enterprises=8, seed=5, out_dir=generated)
        ingest.seed_sources(db, ADMIN, clock)
        ingest.ingest_directory(db, actor=ADMIN, clock=clock, cipher=cipher, var_dir=var, directory=generated)
        result = ingest.ingest_file(
            db, actor=ADMIN, clock=clock, cipher=cipher, var_dir=var, path=write_tax(var / "tax.csv"), item="tax_payment"
        )
        assert result.accepted == len(TAX_ROWS), result
        records = ingest.visible_records(db, uscc=SUBJECT, items=["tax_payment"], as_of=NOW.date())
        keyring = Keyring(Ed25519Key.generate())
        authorization_id = approved_authorization(db, clock, keyring, people)
        yield World(connection, people, keyring, authorization_id, [r.id for r in records])
        outer.rollback()


def approved_authorization(db: Database, clock: FrozenClock, keyring: Keyring, people: People, **changes: object) -> uuid.UUID:
    """Bank A's approved authorization over the subject's tax payments (credit approval, 10 fetches a month)."""
    values: dict[str, object] = {
        "scope": Scope(frozenset(), frozenset({"tax_payment", "utility_payment"})),
        "frequency": Frequency(10, FrequencyUnit.MONTH),
        "data_life_days": 90,
        "expires_at": clock.now() + timedelta(days=150),
    }
    values.update(changes)
    view = consent.request_authorization(
        db, actor=people.officer_a, clock=clock, enterprise_uscc=SUBJECT, terms=terms(clock, **values)
    )
    consent.approve_authorization(
        db, actor=people.enterprise, clock=clock, keyring=keyring, authorization_id=view.id, password=PASSWORD
    )
    return view.id


@pytest.fixture
def db(world: World) -> Iterator[Database]:
    """The module's connection, inside a savepoint rolled back after the test."""
    savepoint = world.connection.begin_nested()
    yield Database(world.connection, node_id="city-350100")
    if savepoint.is_active:
        savepoint.rollback()


def _seed_people(db: Database, clock: FrozenClock, cipher: PiiCipher, unique: str) -> People:
    bank_a = principal.create_institution(
        db, actor=ADMIN, clock=clock, code=f"VA{unique}", name="闽信银行福州分行", kind="bank", region_code="350100"
    )
    bank_b = principal.create_institution(
        db, actor=ADMIN, clock=clock, code=f"VB{unique}", name="榕城农商银行", kind="bank", region_code="350100"
    )

    def user(role: Role, name: str, **kw: object) -> uuid.UUID:
        return principal.create_user(
            db,
            actor=ADMIN,
            clock=clock,
            cipher=cipher,
            username=f"{name}{unique}",
            password=PASSWORD,
            role=role,
            display_name=name,
            **kw,  # type: ignore[arg-type]
        )

    oa = user(Role.INSTITUTION_OFFICER, "voa", institution_id=bank_a)
    ob = user(Role.INSTITUTION_OFFICER, "vob", institution_id=bank_b)
    en = user(Role.ENTERPRISE, "ven", enterprise_uscc=SUBJECT)
    officer_a = as_principal(oa, Role.INSTITUTION_OFFICER, institution_id=bank_a, label="A行客户经理")
    officer_b = as_principal(ob, Role.INSTITUTION_OFFICER, institution_id=bank_b, label="B行客户经理")
    enterprise = as_principal(en, Role.ENTERPRISE, enterprise_uscc=SUBJECT, label="企业经办人")
    return People(
        bank_a=bank_a,
        bank_b=bank_b,
        officer_a=officer_a,
        admin_a=officer_a,
        officer_b=officer_b,
        enterprise=enterprise,
        other_enterprise=enterprise,
        operator=officer_a,
        usernames={"enterprise": f"ven{unique}"},
    )
