"""Job fixtures: a real database with committed transactions (SQLite file; PostgreSQL when configured) and
real local webhook receivers served by uvicorn."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from xinyidai.audit import tables as audit_tables
from xinyidai.db import Base, Database, create_database_engine
from xinyidai.db import migrate as db_migrate
from xinyidai.job import WebhookVerificationError, verify_webhook
from xinyidai.job import tables as job_tables
from xinyidai.kernel.clock import Clock

PG_ENV = "XINYIDAI_TEST_POSTGRES_URL"
NODE_ID = "city-350100"

# Only the tables these tests touch: the job runner writes jobs, outbox messages and audit events.
# Job tests need real commits (run_due opens several transactions, some from other threads), so
# unlike the rest of the suite they do not run inside one rolled-back outer transaction.
_TABLES = [Base.metadata.tables[t.__tablename__] for t in (audit_tables.AuditEvent, job_tables.Job, job_tables.OutboxMessage)]


def _backends() -> list[Any]:
    params: list[Any] = [pytest.param("sqlite", id="sqlite")]
    if os.environ.get(PG_ENV):
        params.append(pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres))
    return params


def _pg_base_url() -> sa.URL:
    url = sa.make_url(os.environ[PG_ENV])
    return url.set(drivername="postgresql+psycopg") if url.drivername == "postgresql" else url


@pytest.fixture(scope="module", params=_backends())
def job_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An engine on a fresh schema for this test module: a SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        sqlite_url = f"sqlite:///{tmp_path_factory.mktemp('jobdb') / 'job.db'}"
        engine = create_database_engine(sqlite_url)
        db_migrate.upgrade(sqlite_url)  # the schema comes from the migrations, as everywhere in the suite
        yield engine
        engine.dispose()
        return
    base = _pg_base_url()
    schema = f"test_job_{uuid.uuid4().hex[:12]}"
    admin = create_database_engine(base.render_as_string(hide_password=False))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    engine = create_database_engine(url.render_as_string(hide_password=False))
    db_migrate.upgrade(url.render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def db(job_engine: Engine) -> Iterator[Database]:
    """A Database on the module's schema, emptied after each test."""
    database = Database(job_engine, node_id=NODE_ID)
    yield database
    with database.transaction() as s:
        for table in reversed(_TABLES):
            s.execute(sa.delete(table))


# --- webhook receivers ----------------------------------------------------------------------------


@dataclass
class Receiver:
    """A real HTTP endpoint that checks signatures like a subscriber would and records what it got."""

    secret: str
    clock: Clock
    status: int = 204
    url: str = ""
    #: Message id of every request with a valid signature, in arrival order (repeats included).
    attempts: list[str] = field(default_factory=list)
    #: Bodies of first deliveries (replays of an id already accepted are dropped, as receivers should).
    accepted: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    #: Why requests were refused.
    rejected: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        """The receiving application."""

        async def hook(request: Request) -> Response:
            body = await request.body()
            try:
                message_id = verify_webhook(self.secret, request.headers, body, now=self.clock.now())
            except WebhookVerificationError as exc:
                self.rejected.append(str(exc))
                return Response(status_code=401)
            self.attempts.append(message_id)
            if self.status >= 300:
                return Response("receiver is failing on purpose", status_code=self.status)
            if message_id not in {d["id"] for d in self.accepted}:
                self.accepted.append(json.loads(body))
                self.headers.append(dict(request.headers))
            return Response(status_code=self.status)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def _serve(receiver: Receiver) -> Iterator[Receiver]:
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


@pytest.fixture
def receiver(clock: Clock) -> Iterator[Receiver]:
    """A receiver that accepts correctly signed deliveries."""
    yield from _serve(Receiver(secret="subscriber-secret-1", clock=clock))


@pytest.fixture
def failing_receiver(clock: Clock) -> Iterator[Receiver]:
    """A receiver that checks signatures, then answers 500."""
    yield from _serve(Receiver(secret="subscriber-secret-2", clock=clock, status=500))


@pytest.fixture
def closed_port_url() -> str:
    """A URL on which nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@pytest.fixture
def tmp_sqlite_url(tmp_path: Path) -> str:
    """A URL for an empty SQLite file of this test's own."""
    return f"sqlite:///{tmp_path / 'own.db'}"
