"""Benchmark the authorized-report endpoint over loopback at a fixed arrival rate; prints one JSON object per database.

Usage: python benchmarks/report_api.py [--db sqlite|postgresql|both] [--rate 300] [--seconds 10] [--requests N]
                                       [--enterprises 200] [--concurrency 16] [--saturation-seconds S]
                                       [--connections 64] [--drain-seconds 30] [--client raw|httpx]
                                       [--endpoints report subject health]
                                       [--state DIR]

For each database a fresh store is made (a SQLite file under a temporary directory; PostgreSQL
``XINYIDAI_BENCH_POSTGRES_URL``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/xinyidai_bench_report``,
dropped and created afresh), migrated, and seeded through the services: a demo-data directory of about
``--enterprises`` enterprises ingested, one institution with an API client (``report:authorized:pull``,
``registry:subject:read``), and per enterprise an enterprise user and an authorization requested by the institution
and approved by the enterprise with its password (active, signed). ``--state DIR`` keeps that store and its settings
under ``DIR/<db>`` (PostgreSQL: in the database named with a ``_state`` suffix) and reuses them on later runs
(seeding takes minutes; for development — the store then holds the earlier runs' reports and audit events). The
real application is then served by uvicorn in a process of its own (one worker, 127.0.0.1, a free port, no jobs in
the server, log level WARNING).

Phases, each against that one server, all traffic bounded in count and time:

- ``open_loop``: requests sent at a fixed arrival rate (send times scheduled ahead, not waiting for replies; at most
  ``--requests`` of them and at most ``--seconds`` of sending, replies awaited at most ``--drain-seconds`` longer,
  the rest counted as errors); latency is measured from the scheduled send time, so a server that falls behind
  shows it. Endpoints: ``POST /api/v1/reports/authorized`` (format json; authorization
  checks, records read, report numbered, signed, stored and audited), ``GET /api/v1/subjects/{uscc}`` (the bare
  endpoint: one subject row read by key through the same stack — middleware, routing, bearer token and permission
  check, a transaction — plus the audit event every read of a subject's record writes, as the registry requires)
  and ``GET /api/v1/health`` (the stack's floor).
- ``saturation``: closed loop, ``--concurrency`` clients each sending its next request when the last one is
  answered, for ``--saturation-seconds``: the most the single worker gives. ``ratio`` is the report's saturation
  throughput over the bare endpoint's.

Each phase also gives ``server_cpu_ms_per_request``: the server process's CPU time (user + system, from /proc)
over the phase divided by the requests answered, and ``cpu_ratio`` is the bare endpoint's over the report's;
``client_cpu_ms_per_request`` is the load generator's own CPU per request (it shares the machine's cores).

The load generator (``--client raw``, the default) is cheap next to the cheapest endpoint: asyncio protocols on
uvloop, HTTP/1.1 keep-alive over a pool of ``--connections`` connections, every request's bytes encoded before the
run, a response read only as its status line and Content-Length (or chunks). ``--client httpx`` is the generator
used before (httpx.AsyncClient), kept for comparison: it spends several ms of CPU per request and capped even
/health near 350 req/s on 2 cores, so its open-loop figures measured the generator, not the server.

Targets (issue 4, 2 cores): report p99 <= 25 ms at 300 req/s with zero errors; saturation ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

PG_ENV = "XINYIDAI_BENCH_POSTGRES_URL"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/xinyidai_bench_report"
TARGETS = {"report_p99_ms": 25.0, "rate": 300, "errors": 0, "saturation_ratio": 0.5}
PASSWORD = "Bench-Passw0rd!2026"  # noqa: S105 - a throwaway benchmark database's users
API = "/api/v1"
#: The frequency cap of the benchmark's authorizations (and of the purpose's fair-use bound, raised to allow it).
FETCHES_PER_DAY = 1000
#: The endpoints driven, in order.
ENDPOINTS = ("report", "subject", "health")

Request = tuple[str, str, dict[str, Any] | None]  # method, path, JSON body


# --- the database and its seed ------------------------------------------------------------------------


def database_url(kind: str, work: Path, *, suffix: str = "") -> str:
    """A fresh benchmark database of a kind, migrated to head (PostgreSQL: the configured name plus ``suffix``)."""
    import sqlalchemy as sa

    from xinyidai.db import create_database_engine
    from xinyidai.db import migrate as db_migrate

    if kind == "sqlite":
        url = f"sqlite:///{work / 'bench.db'}"
    else:
        parsed = sa.make_url(os.environ.get(PG_ENV, PG_DEFAULT))
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        parsed = parsed.set(database=f"{parsed.database}{suffix}")
        admin = create_database_engine(parsed.set(database="postgres").render_as_string(hide_password=False))
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
        url = parsed.render_as_string(hide_password=False)
    db_migrate.upgrade(url)
    return url


def server_env(url: str, work: Path) -> dict[str, str]:
    """The settings of the server (and of the seeding, so that both sign and encrypt alike), as environment."""
    return {
        "XINYIDAI_ENVIRONMENT": "development",
        "XINYIDAI_DATABASE_URL": url,
        "XINYIDAI_SECRET_KEY": secrets.token_urlsafe(48),
        "XINYIDAI_DATA_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "XINYIDAI_VAR_DIR": str(work / "var"),
        "XINYIDAI_JOBS_IN_SERVER": "false",
        "XINYIDAI_LOG_LEVEL": "WARNING",
    }


def seed(env: dict[str, str], work: Path, enterprises: int) -> dict[str, Any]:
    """Records of about ``enterprises`` enterprises, an institution with an API client, an active authorization each."""
    import sqlalchemy as sa

    from xinyidai import consent, ingest, principal
    from xinyidai.app import build_container
    from xinyidai.config import Settings
    from xinyidai.consent import AuthorizationTerms, DateRange, FetchType, Frequency, FrequencyUnit, Purpose, Scope
    from xinyidai.consent.model import DEFAULT_POLICIES
    from xinyidai.demodata import generate
    from xinyidai.kernel.actor import ActorKind, ActorRef
    from xinyidai.principal import ROLE_PERMISSIONS, Principal, Role
    from xinyidai.principal.model import AuthMethod

    os.environ.update(env)
    try:
        settings = Settings()
    finally:
        for key in env:
            os.environ.pop(key, None)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    container = build_container(settings)
    db, clock, cipher = container.db, container.clock, container.cipher
    keyring = consent.keyring_for(container)
    admin = ActorRef.system("benchmark")
    started = time.perf_counter()

    demo = work / "demo"
    generate(enterprises=enterprises, seed=20260630, out_dir=demo)
    ingest.seed_sources(db, admin, clock)
    ingest.ingest_directory(db, actor=admin, clock=clock, cipher=cipher, var_dir=settings.var_dir, directory=demo)
    with db.transaction() as s:
        usccs = list(s.scalars(sa.text("SELECT uscc FROM subject ORDER BY uscc LIMIT :n"), {"n": enterprises}))
        records = s.scalar(sa.text("SELECT count(*) FROM ingest_record"))

    bank = principal.create_institution(
        db, actor=admin, clock=clock, code="BENCH01", name="闽信银行福州分行", kind="bank", region_code="350100"
    )
    creds = principal.create_client(
        db,
        actor=admin,
        clock=clock,
        name="压测客户端",
        scopes={"report:authorized:pull", "registry:subject:read"},
        institution_id=bank,
    )
    officer_id = principal.create_user(
        db,
        actor=admin,
        clock=clock,
        cipher=cipher,
        username="bench_officer",
        password=PASSWORD,
        role=Role.INSTITUTION_OFFICER,
        display_name="客户经理",
        institution_id=bank,
    )
    officer = Principal(
        kind=ActorKind.USER,
        id=officer_id,
        label="客户经理",
        permissions=ROLE_PERMISSIONS[Role.INSTITUTION_OFFICER],
        method=AuthMethod.SESSION,
        role=Role.INSTITUTION_OFFICER,
        institution_id=bank,
    )
    # The operator's fair-use bound for the purpose: the default (10 fetches a month) would refuse a load test's
    # repeated pulls of the same enterprise; the other bounds stay as the migration seeded them.
    operator = Principal(
        kind=ActorKind.USER,
        id=uuid.uuid4(),
        label="运营人员",
        permissions=ROLE_PERMISSIONS[Role.OPERATOR],
        method=AuthMethod.SESSION,
        role=Role.OPERATOR,
    )
    default = DEFAULT_POLICIES[Purpose.CREDIT_APPROVAL]
    consent.set_policies(
        db, actor=operator, clock=clock, policies=[replace(default, max_frequency=Frequency(FETCHES_PER_DAY, FrequencyUnit.DAY))]
    )
    now = clock.now()
    pairs: list[tuple[str, str]] = []
    for n, uscc in enumerate(usccs):
        terms = AuthorizationTerms(
            purpose=Purpose.CREDIT_APPROVAL,
            scope=Scope(frozenset({"administrative"}), frozenset({"utility_payment", "tax_payment"})),
            data_range=DateRange(now.date() - timedelta(days=1095), now.date()),
            fetch_type=FetchType.PERIODIC,
            frequency=Frequency(FETCHES_PER_DAY, FrequencyUnit.DAY),
            data_life_days=90,
            starts_at=None,
            expires_at=now + timedelta(days=150),
        )
        view = consent.request_authorization(db, actor=officer, clock=clock, enterprise_uscc=uscc, terms=terms)
        user_id = principal.create_user(
            db,
            actor=admin,
            clock=clock,
            cipher=cipher,
            username=f"bench_ent_{n:04d}",
            password=PASSWORD,
            role=Role.ENTERPRISE,
            display_name=f"企业经办人{n}",
            enterprise_uscc=uscc,
        )
        owner = Principal(
            kind=ActorKind.USER,
            id=user_id,
            label=f"企业经办人{n}",
            permissions=ROLE_PERMISSIONS[Role.ENTERPRISE],
            method=AuthMethod.SESSION,
            role=Role.ENTERPRISE,
            enterprise_uscc=uscc,
        )
        approved = consent.approve_authorization(
            db, actor=owner, clock=clock, keyring=keyring, authorization_id=view.id, password=PASSWORD
        )
        pairs.append((uscc, str(approved.id)))
    container.db.dispose()
    return {
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        "pairs": pairs,
        "records": records,
        "seed_seconds": round(time.perf_counter() - started, 1),
    }


# --- the server -------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """The real application under uvicorn: one worker, a process of its own, loopback only."""
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "xinyidai.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
        "--timeout-keep-alive",
        "60",
    ]
    with log.open("wb") as out:
        return subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def server_peak_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def server_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds the server process has used so far (Linux /proc), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_server_cpu(summary: dict[str, Any], before: float | None, after: float | None) -> dict[str, Any]:
    """Add the server's CPU ms per answered request over a phase: what a request costs, whatever else runs."""
    answered = summary["ok"] + summary["errors"]
    if before is not None and after is not None and answered:
        summary["server_cpu_ms_per_request"] = round((after - before) * 1000 / answered, 2)
    return summary


# --- load ---------------------------------------------------------------------------------------------------
#
# The load generator shares the 2 cores with the server, so it must cost far less per request than the cheapest
# endpoint it drives (/health, ~1 ms of server CPU). httpx spends about as much per request as the server does
# (it capped /health near 350 req/s here), so the default client is a raw one: asyncio protocols on uvloop, HTTP/1.1
# keep-alive over a pool of connections, each request's bytes encoded once before the run, a response read as its
# status line and Content-Length (or chunks) only. `--client httpx` keeps the old generator, to compare.


class HttpError(Exception):
    """A malformed or cut-off response."""


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False
        self._reusable = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or HttpError("connection closed"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None:
            return
        try:
            status = self._parse()
        except (ValueError, HttpError) as exc:
            self._fail(HttpError(str(exc)))
            self.close()
            return
        if status is not None:
            waiter, self.waiter = self.waiter, None
            if not waiter.done():
                waiter.set_result(status)
            if not self._reusable:
                self.close()

    def _parse(self) -> int | None:
        """The status of the complete response at the head of the buffer (consumed), or None while incomplete."""
        buf = self.buffer
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(buf[:end]).lower()
        status = int(head[9:12])
        body = end + 4
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            total = body + int(head[at + 17 : stop if stop >= 0 else len(head)])
            if len(buf) < total:
                return None
        elif b"\r\ntransfer-encoding: chunked" in head:
            total = body
            while True:
                line_end = buf.find(b"\r\n", total)
                if line_end < 0:
                    return None
                size = int(bytes(buf[total:line_end]).split(b";", 1)[0], 16)
                if size == 0:
                    trailer_end = buf.find(b"\r\n\r\n", line_end)
                    if trailer_end < 0:
                        return None
                    total = trailer_end + 4
                    break
                total = line_end + 2 + size + 2
                if len(buf) < total:
                    return None
        else:
            total = body  # 204/304 or no body: nothing more to read
        self._reusable = b"\r\nconnection: close" not in head
        del buf[:total]
        return status

    def _fail(self, exc: BaseException) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def request(self, data: bytes, timeout: float) -> int:
        """Send one pre-encoded request and wait for its response's status."""
        if self.closed or self.transport is None:
            raise HttpError("connection closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        try:
            return await asyncio.wait_for(self.waiter, timeout)
        except BaseException:
            # Timed out or cancelled: its response may still come, and must not be read as the next request's.
            self.close()
            raise


class RawClient:
    """A pool of up to ``size`` keep-alive connections to one host; a request waits for a free connection (that
    wait is part of its latency when measured from its scheduled time)."""

    def __init__(self, host: str, port: int, *, size: int, timeout: float = 10.0) -> None:
        self.host, self.port, self.size, self.timeout = host, port, size, timeout
        self.headers: dict[str, str] = {}
        self._idle: list[_Connection] = []
        self._open = 0
        self._waiters: collections.deque[asyncio.Future[_Connection | None]] = collections.deque()

    def encode(self, request: Request) -> bytes:
        """A request's bytes, built once."""
        method, path, body = request
        payload = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(payload)}"]
        if body is not None:
            lines.append("Content-Type: application/json")
        lines.extend(f"{name}: {value}" for name, value in self.headers.items())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload

    async def _acquire(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
            self._open -= 1
        if self._open >= self.size:
            waiter: asyncio.Future[_Connection | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            handed = await waiter
            if handed is not None:
                return handed
        self._open += 1
        try:
            _, conn = await asyncio.get_running_loop().create_connection(_Connection, self.host, self.port)
        except BaseException:
            self._open -= 1
            raise
        return conn

    def _release(self, conn: _Connection) -> None:
        if conn.closed:
            self._open -= 1
            while self._waiters:
                waiter = self._waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the waiter opens a connection of its own
                    return
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    async def send(self, data: bytes) -> int:
        """One request's status (raises on a connection failure or timeout)."""
        conn = await self._acquire()
        try:
            return await conn.request(data, self.timeout)
        finally:
            self._release(conn)

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


#: One request of an endpoint by index: None when answered as expected, else what went wrong.
Call = Callable[[int], Awaitable[str | None]]


def raw_call(client: RawClient, make: Callable[[int], Request], expect: int, variants: int) -> Call:
    """The endpoint's requests encoded once (``variants`` distinct ones, used round robin), sent raw."""
    encoded = [client.encode(make(i)) for i in range(variants)]

    async def call(i: int) -> str | None:
        try:
            status = await client.send(encoded[i % variants])
        except Exception as exc:  # noqa: BLE001 - every failure is counted, by kind
            return type(exc).__name__
        return None if status == expect else f"HTTP {status}"

    return call


def httpx_call(client: Any, make: Callable[[int], Request], expect: int) -> Call:
    """The endpoint's requests through httpx (the generator before session 4, kept to compare)."""

    async def call(i: int) -> str | None:
        method, path, body = make(i)
        try:
            response = await client.request(method, path, json=body)
        except Exception as exc:  # noqa: BLE001 - every failure is counted, by kind
            return type(exc).__name__
        return None if response.status_code == expect else f"HTTP {response.status_code}"

    return call


def _summary(latencies: list[float], errors: dict[str, int], sent: int, seconds: float) -> dict[str, Any]:
    ok = len(latencies)
    return {
        "sent": sent,
        "ok": ok,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "seconds": round(seconds, 2),
        "achieved_rate": round(ok / seconds, 1) if seconds else None,
        "p50_ms": _pct(latencies, 0.50),
        "p99_ms": _pct(latencies, 0.99),
        "max_ms": round(max(latencies), 2) if latencies else None,
    }


async def open_loop(call: Call, *, rate: float, seconds: float, requests: int, drain: float = 30.0) -> dict[str, Any]:
    """Send at a fixed arrival rate (request i at start + i/rate), never waiting for replies; latency from schedule
    (a request that waits for a free connection, or behind a late sender, counts that wait: no coordinated omission).
    Requests still unanswered ``drain`` seconds after the last send are given up and counted as errors
    (``Unanswered``): a server far behind the rate would otherwise stretch the phase without bound."""
    count = min(requests, int(rate * seconds))
    latencies: list[float] = []
    errors: dict[str, int] = {}
    # perf_counter, not the loop's clock: uvloop's ticks in whole milliseconds.
    clock = time.perf_counter
    start = clock() + 0.05

    async def one(i: int, scheduled: float) -> None:
        problem = await call(i)
        if problem is None:
            latencies.append((clock() - scheduled) * 1000)
        else:
            errors[problem] = errors.get(problem, 0) + 1

    tasks = []
    lag = 0.0
    for i in range(count):
        scheduled = start + i / rate
        delay = scheduled - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        lag = max(lag, clock() - scheduled)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    if tasks:
        _done, pending = await asyncio.wait(tasks, timeout=drain)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            errors["Unanswered"] = errors.get("Unanswered", 0) + len(pending)
    summary = _summary(latencies, errors, count, clock() - start)
    summary["target_rate"] = rate
    # The latest the sender dispatched a request after its scheduled time: whether the load generator kept up.
    summary["sender_lag_ms"] = round(lag * 1000, 1)
    return summary


async def closed_loop(call: Call, *, concurrency: int, seconds: float, requests: int) -> dict[str, Any]:
    """``concurrency`` clients, each sending its next request when the last is answered, until time or count is up."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    clock = time.perf_counter
    start = clock()
    deadline = start + seconds
    counter = iter(range(requests))

    async def worker() -> None:
        for i in counter:
            if clock() >= deadline:
                return
            sent = clock()
            problem = await call(i)
            if problem is None:
                latencies.append((clock() - sent) * 1000)
            else:
                errors[problem] = errors.get(problem, 0) + 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    summary = _summary(latencies, errors, len(latencies) + sum(errors.values()), clock() - start)
    summary["concurrency"] = concurrency
    return summary


def _token(base: str, seeded: dict[str, Any]) -> str:
    import httpx

    response = httpx.post(
        f"{base}{API}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": seeded["client_id"], "client_secret": seeded["client_secret"]},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


async def _measured(pid: int, phase: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """A phase with the server's and the load generator's CPU ms per answered request."""
    before, client_before = server_cpu_seconds(pid), time.process_time()
    summary = await phase
    client_cpu = time.process_time() - client_before
    summary = with_server_cpu(summary, before, server_cpu_seconds(pid))
    answered = summary["ok"] + summary["errors"]
    if answered:
        summary["client_cpu_ms_per_request"] = round(client_cpu * 1000 / answered, 3)
    return summary


async def drive(base: str, seeded: dict[str, Any], args: argparse.Namespace, pid: int) -> dict[str, Any]:
    pairs: list[tuple[str, str]] = seeded["pairs"]
    token = _token(base, seeded)

    def report(i: int) -> Request:
        uscc, authorization_id = pairs[i % len(pairs)]
        body = {"uscc": uscc, "authorization_id": authorization_id, "purpose": "credit_approval"}
        return ("POST", f"{API}/reports/authorized?format=json", body)

    def subject(i: int) -> Request:
        return ("GET", f"{API}/subjects/{pairs[i % len(pairs)][0]}", None)

    def health(_i: int) -> Request:
        return ("GET", f"{API}/health", None)

    makers = {"report": (report, 201, len(pairs)), "subject": (subject, 200, len(pairs)), "health": (health, 200, 1)}
    makers = {name: makers[name] for name in args.endpoints}
    size = max(args.connections, args.concurrency)
    closing: Callable[[], Awaitable[None]]
    if args.client == "raw":
        host, port = base.removeprefix("http://").rsplit(":", 1)
        raw = RawClient(host, int(port), size=size)
        raw.headers["Authorization"] = f"Bearer {token}"
        endpoints = {name: raw_call(raw, make, expect, n) for name, (make, expect, n) in makers.items()}

        async def closing() -> None:
            raw.close()

    else:
        import httpx

        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        client = httpx.AsyncClient(
            base_url=base, limits=limits, timeout=httpx.Timeout(10.0), headers={"Authorization": f"Bearer {token}"}
        )
        endpoints = {name: httpx_call(client, make, expect) for name, (make, expect, _n) in makers.items()}
        closing = client.aclose
    try:
        # Warm up: connections opened, code paths and caches exercised once.
        for name, call in endpoints.items():
            for i in range(20):
                problem = await call(i)
                if problem is not None:
                    raise RuntimeError(f"warm-up request failed: {name} #{i} -> {problem}")
        result: dict[str, Any] = {"open_loop": {}, "saturation": {}}
        for name, call in endpoints.items():
            phase = open_loop(call, rate=args.rate, seconds=args.seconds, requests=args.requests, drain=args.drain_seconds)
            result["open_loop"][name] = await _measured(pid, phase)
        for name, call in endpoints.items():
            sat = closed_loop(call, concurrency=args.concurrency, seconds=args.saturation_seconds, requests=args.requests * 10)
            result["saturation"][name] = await _measured(pid, sat)
    finally:
        await closing()
    return result


# --- one database -------------------------------------------------------------------------------------------


def prepare(kind: str, args: argparse.Namespace, work: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """The server's settings and the seed: made afresh, or with ``--state DIR`` kept there and reused."""
    state = Path(args.state) / kind if args.state else None
    saved = state / "seed.json" if state else None
    if saved is not None and saved.exists():
        kept = json.loads(saved.read_text())
        return kept["env"], kept["seeded"]
    home = state or work
    home.mkdir(parents=True, exist_ok=True)
    # A kept PostgreSQL store has a name of its own, so that a fresh run does not drop it.
    url = database_url(kind, home, suffix="_state" if state else "")
    env = server_env(url, home)
    seeded = seed(env, home, args.enterprises)
    if saved is not None:
        saved.write_text(json.dumps({"env": env, "seeded": seeded}))
    return env, seeded


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (it comes with uvicorn[standard]): a cheaper loop for the load generator too."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"xinyidai-bench-report-{kind}-") as tmp:
        work = Path(tmp)
        env, seeded = prepare(kind, args, work)
        port = free_port()
        log = work / "server.log"
        server = start_server(env, port, log)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180  # imports alone take a minute on a busy shared machine
            import httpx

            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
                try:
                    if httpx.get(f"{base}{API}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start within 180 s")
                time.sleep(0.1)
            with asyncio.Runner(loop_factory=_event_loop) as runner:
                figures = runner.run(drive(base, seeded, args, server.pid))
            peak = server_peak_mb(server.pid)
        finally:
            stop_server(server)
        server_log = log.read_text(errors="replace").strip().splitlines()

    open_report = figures["open_loop"].get("report")
    saturation = figures["saturation"]
    report_sat = saturation.get("report", {}).get("achieved_rate")
    subject_sat = saturation.get("subject", {}).get("achieved_rate")
    ratio = round(report_sat / subject_sat, 3) if report_sat and subject_sat else None
    report_cpu = saturation.get("report", {}).get("server_cpu_ms_per_request")
    subject_cpu = saturation.get("subject", {}).get("server_cpu_ms_per_request")
    cpu_ratio = round(subject_cpu / report_cpu, 3) if report_cpu and subject_cpu else None
    met: dict[str, bool | None] = {
        "report_p99": None,
        "report_rate": None,
        "report_errors": None,
        "saturation_ratio": None if ratio is None else ratio >= TARGETS["saturation_ratio"],
    }
    if open_report is not None:
        met["report_p99"] = open_report["p99_ms"] is not None and open_report["p99_ms"] <= TARGETS["report_p99_ms"]
        met["report_rate"] = open_report["achieved_rate"] is not None and open_report["achieved_rate"] >= 0.95 * args.rate
        met["report_errors"] = open_report["errors"] == 0
    return {
        "benchmark": "report_api",
        "db": kind,
        "server": {"workers": 1, "peak_mb": peak, "log_lines": len(server_log), "log_tail": server_log[-5:]},
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "data": {
            "enterprises": len(seeded["pairs"]),
            "authorizations": len(seeded["pairs"]),
            "records": seeded["records"],
            "seed_seconds": seeded["seed_seconds"],
        },
        "settings": {
            "rate": args.rate,
            "seconds": args.seconds,
            "requests": args.requests,
            "concurrency": args.concurrency,
            "saturation_seconds": args.saturation_seconds,
            "connections": args.connections,
            "drain_seconds": args.drain_seconds,
            "client": args.client,
            "endpoints": list(args.endpoints),
            "reused_state": bool(args.state),
        },
        **figures,
        "ratio": ratio,
        # The same comparison by cost rather than throughput: the bare endpoint's server CPU per request over the
        # report's (saturation phases), which a machine shared with other work disturbs far less.
        "cpu_ratio": cpu_ratio,
        "targets": TARGETS,
        "met": met,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rate", type=float, default=300.0, help="open-loop arrival rate, requests per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="longest open-loop sending time per endpoint")
    parser.add_argument("--requests", type=int, default=5000, help="most requests per open-loop phase")
    parser.add_argument("--enterprises", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop clients of the saturation runs")
    parser.add_argument("--saturation-seconds", type=float, default=None, help="default: --seconds")
    parser.add_argument("--connections", type=int, default=64, help="the client's connection pool")
    parser.add_argument(
        "--drain-seconds", type=float, default=30.0, help="open loop: longest wait for replies after the last send"
    )
    parser.add_argument(
        "--client", choices=["raw", "httpx"], default="raw", help="load generator: raw asyncio HTTP/1.1 (default) or httpx"
    )
    parser.add_argument(
        "--endpoints", nargs="+", choices=list(ENDPOINTS), default=list(ENDPOINTS), help="endpoints to drive (default all)"
    )
    parser.add_argument(
        "--state",
        default=None,
        help="keep the seeded database and its settings under DIR/<db> and reuse them on later runs (for development: "
        "the store then holds the earlier runs' reports and audit events)",
    )
    args = parser.parse_args()
    if args.saturation_seconds is None:
        args.saturation_seconds = args.seconds
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        print(json.dumps(run(kind, args), ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
