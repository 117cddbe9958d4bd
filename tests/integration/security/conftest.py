"""Security-suite fixtures: bank A and bank B with API clients, an enterprise with a web session, a data-source
department's client, the subject's records, and bank A's authorizations in every state — seeded once per module,
each test in a savepoint of its own."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Connection, Engine

from tests.conftest import TEST_DATA_KEY, TEST_SECRET, make_settings
from tests.factories import ADMIN, PASSWORD, RegistrationRowFactory
from tests.integration.consent.consent_support import SUBJECT, as_principal, terms
from tests.integration.report.report_support import load, penalty, tax, utility
from xinyidai import consent, ingest, principal, registry, report
from xinyidai.consent import Ed25519Key, Frequency, FrequencyUnit, Keyring, Purpose, Scope, Transition
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.principal import Permission, Principal, Role

NOW = datetime(2026, 6, 30, 2, 0, tzinfo=UTC)
#: Bearer tokens are issued for a week so the expired-authorization case can move the clock on.
TOKEN_MINUTES = 7 * 24 * 60
INSTITUTION_SCOPES = {
    Permission.SUBJECT_READ.value,
    Permission.AUTHORIZATION_READ.value,
    Permission.REPORT_PULL.value,
    Permission.VERIFICATION_ASK.value,
    Permission.PRODUCT_READ.value,
}


@dataclass
class World:
    """What every security test of the module shares."""

    connection: Connection
    keyring: Keyring
    token_a: str
    token_b: str
    token_dept: str
    expired_token: str
    session_cookie: str
    active: uuid.UUID
    paused: uuid.UUID
    revoked: uuid.UUID
    expiring: uuid.UUID
    report_a: str
    registered_uscc: str


def _token(db: Database, clock: FrozenClock, name: str, scopes: set[str], minutes: int = TOKEN_MINUTES, **org: uuid.UUID) -> str:
    creds = principal.create_client(db, actor=ADMIN, clock=clock, name=name, scopes=scopes, **org)  # type: ignore[arg-type]
    settings = make_settings("sqlite://")
    return principal.issue_token(
        db,
        clock=clock,
        client_id=creds.client_id,
        client_secret=creds.client_secret,
        requested_scope=None,
        secret_key=TEST_SECRET,
        issuer=settings.node_id,
        audience=settings.token_audience,
        minutes=minutes,
    ).access_token


def _authorization(
    db: Database, clock: FrozenClock, keyring: Keyring, officer: Principal, enterprise: Principal, **changes: object
) -> uuid.UUID:
    values: dict[str, object] = {
        "scope": Scope(frozenset(), frozenset({"tax_payment"})),
        "frequency": Frequency(10, FrequencyUnit.MONTH),
        "expires_at": clock.now() + timedelta(days=150),
    }
    values.update(changes)
    view = consent.request_authorization(db, actor=officer, clock=clock, enterprise_uscc=SUBJECT, terms=terms(clock, **values))
    consent.approve_authorization(db, actor=enterprise, clock=clock, keyring=keyring, authorization_id=view.id, password=PASSWORD)
    return view.id


@pytest.fixture(scope="module")
def world(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with engine.connect() as connection:
        outer = connection.begin()
        db = Database(connection, node_id="city-350100")
        clock = FrozenClock(NOW)
        cipher = PiiCipher(key=base64.b64decode(TEST_DATA_KEY), key_id="t1")
        unique = uuid.uuid4().hex[:8]
        bank_a = principal.create_institution(
            db, actor=ADMIN, clock=clock, code=f"SA{unique}", name="闽信银行福州分行", kind="bank", region_code="350100"
        )
        bank_b = principal.create_institution(
            db, actor=ADMIN, clock=clock, code=f"SB{unique}", name="榕城农商银行", kind="bank", region_code="350100"
        )
        dept = principal.create_department(
            db, actor=ADMIN, clock=clock, code=f"SD{unique}", name="福州市税务局", region_code="350100"
        )
        oa = principal.create_user(
            db, actor=ADMIN, clock=clock, cipher=cipher, username=f"soa{unique}", password=PASSWORD,
            role=Role.INSTITUTION_OFFICER, display_name="A行客户经理", institution_id=bank_a,
        )  # fmt: skip
        en = principal.create_user(
            db, actor=ADMIN, clock=clock, cipher=cipher, username=f"sen{unique}", password=PASSWORD,
            role=Role.ENTERPRISE, display_name="企业经办人", enterprise_uscc=SUBJECT,
        )  # fmt: skip
        officer_a = as_principal(oa, Role.INSTITUTION_OFFICER, institution_id=bank_a, label="A行客户经理")
        enterprise = as_principal(en, Role.ENTERPRISE, enterprise_uscc=SUBJECT, label="企业经办人")

        data = tmp_path_factory.mktemp("security-data")
        ingest.seed_sources(db, ADMIN, clock)
        load(db, clock=clock, cipher=cipher, tmp=data, item="admin_penalty", rows=[penalty(SUBJECT, 1, "2025-05-20")])
        load(db, clock=clock, cipher=cipher, tmp=data, item="tax_payment", rows=[tax(SUBJECT, "2025-04-15")])
        load(db, clock=clock, cipher=cipher, tmp=data, item="utility_payment", rows=[utility(SUBJECT, "2025-03")])
        row = RegistrationRowFactory.build()
        registry.load_registrations(db, actor=ADMIN, clock=clock, cipher=cipher, rows=[(2, row)], source="t")

        keyring = Keyring(Ed25519Key.generate())
        active = _authorization(db, clock, keyring, officer_a, enterprise)
        paused = _authorization(db, clock, keyring, officer_a, enterprise)
        revoked = _authorization(db, clock, keyring, officer_a, enterprise)
        expiring = _authorization(db, clock, keyring, officer_a, enterprise, expires_at=clock.now() + timedelta(days=1))
        for auth_id, transition in ((paused, Transition.PAUSE), (revoked, Transition.REVOKE)):
            consent.change_authorization(
                db, actor=enterprise, clock=clock, keyring=keyring, authorization_id=auth_id, transition=transition
            )
        doc = report.create_authorized_report(
            db, actor=officer_a, clock=clock, keyring=keyring, uscc=SUBJECT, authorization_id=active,
            purpose=Purpose.CREDIT_APPROVAL,
        )  # fmt: skip
        login = principal.login(
            db, clock=clock, username=f"sen{unique}", password=PASSWORD, ip=None, user_agent=None,
            session_hours=8, max_failures=5, window_minutes=15,
        )  # fmt: skip
        yield World(
            connection=connection,
            keyring=keyring,
            token_a=_token(db, clock, "A行信贷系统", INSTITUTION_SCOPES, institution_id=bank_a),
            token_b=_token(db, clock, "B行信贷系统", INSTITUTION_SCOPES, institution_id=bank_b),
            token_dept=_token(db, clock, "税务报送", {Permission.BATCH_CREATE.value}, department_id=dept),
            expired_token=_token(
                db, FrozenClock(NOW - timedelta(days=1)), "过期令牌", INSTITUTION_SCOPES, minutes=15, institution_id=bank_a
            ),
            session_cookie=login.session_token,
            active=active,
            paused=paused,
            revoked=revoked,
            expiring=expiring,
            report_a=doc.number,
            registered_uscc=row["uscc"],
        )
        outer.rollback()


@pytest.fixture
def db(world: World) -> Iterator[Database]:
    """The module's connection, inside a savepoint rolled back after the test."""
    savepoint = world.connection.begin_nested()
    yield Database(world.connection, node_id="city-350100")
    if savepoint.is_active:
        savepoint.rollback()


@pytest.fixture
def var_dir(tmp_path: Path) -> Path:
    """A scratch var/ directory for uploads."""
    path = tmp_path / "var"
    path.mkdir()
    return path
