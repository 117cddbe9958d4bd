"""Consent fixtures: two institutions, an enterprise and their people; a signing keyring; a real webhook receiver."""

from __future__ import annotations

import base64
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import uvicorn
from sqlalchemy.engine import Connection, Engine

from tests.conftest import TEST_DATA_KEY
from tests.factories import ADMIN, PASSWORD
from tests.integration.consent.consent_support import (
    OTHER_SUBJECT,
    RECEIVER_SECRET,
    SUBJECT,
    People,
    Receiver,
    as_principal,
)
from xinyidai import principal
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
def _world(engine: Engine) -> Iterator[_World]:
    """One connection per test module whose outer transaction is rolled back at the end, with the people seeded once.

    Creating six users hashes six passwords (Argon2, deliberately slow), so it is done once per
    module; every test then runs in a savepoint of its own (the `db` fixture below).
    """
    with engine.connect() as connection:
        outer = connection.begin()
        seeded = Database(connection, node_id="city-350100")
        clock = FrozenClock(datetime(2026, 6, 30, 2, 0, tzinfo=UTC))
        cipher = PiiCipher(key=base64.b64decode(TEST_DATA_KEY), key_id="t1")
        yield _World(connection, _seed_people(seeded, clock, cipher, uuid.uuid4().hex[:8]))
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


def _seed_people(db: Database, clock: FrozenClock, cipher: PiiCipher, unique: str) -> People:
    """Two banks and the six people of the tests."""
    bank_a = principal.create_institution(
        db, actor=ADMIN, clock=clock, code=f"BA{unique}", name="闽信银行福州分行", kind="bank", region_code="350100"
    )
    bank_b = principal.create_institution(
        db, actor=ADMIN, clock=clock, code=f"BB{unique}", name="榕城农商银行", kind="bank", region_code="350100"
    )
    names = {
        "officer_a": f"oa{unique}",
        "admin_a": f"aa{unique}",
        "officer_b": f"ob{unique}",
        "enterprise": f"en{unique}",
        "other_enterprise": f"eo{unique}",
        "operator": f"op{unique}",
    }

    def user(role: Role, key: str, **kw: Any) -> uuid.UUID:
        created = principal.create_user(
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
        return created

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


@pytest.fixture(scope="session")
def keyring() -> Keyring:
    """An EdDSA keyring generated for the tests."""
    return Keyring(Ed25519Key.generate())


@pytest.fixture
def consent_receiver(clock: FrozenClock) -> Iterator[Receiver]:
    """A receiver served by uvicorn on a free loopback port for this test."""
    receiver = Receiver(secret=RECEIVER_SECRET, clock=clock)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        receiver.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none", http="h11", loop="asyncio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("webhook receiver did not start")
        time.sleep(0.01)
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
