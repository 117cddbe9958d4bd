"""Benchmark the authorized-report endpoint over loopback at a fixed arrival rate; prints one JSON object per database.

Usage: python benchmarks/report_api.py [--db sqlite|postgresql|both] [--rate 300] [--seconds 10] [--requests N]
                                       [--enterprises 200] [--concurrency 16] [--saturation-seconds S]

For each database a fresh store is made (a SQLite file under a temporary directory; PostgreSQL
``XINYIDAI_BENCH_POSTGRES_URL``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/xinyidai_bench_report``,
dropped and created afresh), migrated, and seeded through the services: a demo-data directory of about
``--enterprises`` enterprises ingested, one institution with an API client (``report:authorized:pull``,
``registry:subject:read``), and per enterprise an enterprise user and an authorization requested by the institution
and approved by the enterprise with its password (active, signed). The real application is then served by uvicorn
in a process of its own (one worker, 127.0.0.1, a free port, no jobs in the server, log level WARNING).

Phases, each against that one server, all traffic bounded in count and time:

- ``open_loop``: requests sent at a fixed arrival rate (send times scheduled ahead, not waiting for replies; at most
  ``--requests`` of them and at most ``--seconds`` of sending); latency is measured from the scheduled send time, so
  a server that falls behind shows it. Endpoints: ``POST /api/v1/reports/authorized`` (format json; authorization
  checks, records read, report numbered, signed, stored and audited), ``GET /api/v1/subjects/{uscc}`` (the bare
  endpoint: one subject row by key, token checked, the read audited) and ``GET /api/v1/health`` (the stack's floor).
- ``saturation``: closed loop, ``--concurrency`` clients each sending its next request when the last one is
  answered, for ``--saturation-seconds``: the most the single worker gives. ``ratio`` is the report's saturation
  throughput over the bare endpoint's.

Each phase also gives ``server_cpu_ms_per_request``: the server process's CPU time (user + system, from /proc)
over the phase divided by the requests answered, and ``cpu_ratio`` is the bare endpoint's over the report's.

Targets (issue 4, 2 cores): report p99 <= 25 ms at 300 req/s with zero errors; saturation ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
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

Request = tuple[str, str, dict[str, Any] | None]  # method, path, JSON body


# --- the database and its seed ------------------------------------------------------------------------


def database_url(kind: str, work: Path) -> str:
    """A fresh benchmark database of a kind, migrated to head."""
    import sqlalchemy as sa

    from xinyidai.db import create_database_engine
    from xinyidai.db import migrate as db_migrate

    if kind == "sqlite":
        url = f"sqlite:///{work / 'bench.db'}"
    else:
        parsed = sa.make_url(os.environ.get(PG_ENV, PG_DEFAULT))
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
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


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


async def _send(client: Any, request: Request, expect: int) -> str | None:
    """One request; None when answered as expected, else what went wrong."""
    method, path, body = request
    try:
        response = await client.request(method, path, json=body)
    except Exception as exc:  # noqa: BLE001 - every failure is counted, by kind
        return type(exc).__name__
    return None if response.status_code == expect else f"HTTP {response.status_code}"


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


async def open_loop(
    client: Any, make: Callable[[int], Request], expect: int, *, rate: float, seconds: float, requests: int
) -> dict[str, Any]:
    """Send at a fixed arrival rate (request i at start + i/rate), never waiting for replies; latency from schedule."""
    count = min(requests, int(rate * seconds))
    latencies: list[float] = []
    errors: dict[str, int] = {}
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05

    async def one(i: int, scheduled: float) -> None:
        problem = await _send(client, make(i), expect)
        if problem is None:
            latencies.append((loop.time() - scheduled) * 1000)
        else:
            errors[problem] = errors.get(problem, 0) + 1

    tasks = []
    lag = 0.0
    for i in range(count):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        lag = max(lag, loop.time() - scheduled)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    summary = _summary(latencies, errors, count, loop.time() - start)
    summary["target_rate"] = rate
    # The latest the sender dispatched a request after its scheduled time: whether the load generator kept up.
    summary["sender_lag_ms"] = round(lag * 1000, 1)
    return summary


async def closed_loop(
    client: Any, make: Callable[[int], Request], expect: int, *, concurrency: int, seconds: float, requests: int
) -> dict[str, Any]:
    """``concurrency`` clients, each sending its next request when the last is answered, until time or count is up."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + seconds
    counter = iter(range(requests))

    async def worker() -> None:
        for i in counter:
            if loop.time() >= deadline:
                return
            sent = loop.time()
            problem = await _send(client, make(i), expect)
            if problem is None:
                latencies.append((loop.time() - sent) * 1000)
            else:
                errors[problem] = errors.get(problem, 0) + 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    summary = _summary(latencies, errors, len(latencies) + sum(errors.values()), loop.time() - start)
    summary["concurrency"] = concurrency
    return summary


async def drive(base: str, seeded: dict[str, Any], args: argparse.Namespace, pid: int) -> dict[str, Any]:
    import httpx

    pairs: list[tuple[str, str]] = seeded["pairs"]
    limits = httpx.Limits(max_connections=args.connections, max_keepalive_connections=args.connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=httpx.Timeout(10.0)) as client:
        token = await client.post(
            f"{API}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": seeded["client_id"],
                "client_secret": seeded["client_secret"],
            },
        )
        token.raise_for_status()
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

        def report(i: int) -> Request:
            uscc, authorization_id = pairs[i % len(pairs)]
            body = {"uscc": uscc, "authorization_id": authorization_id, "purpose": "credit_approval"}
            return ("POST", f"{API}/reports/authorized?format=json", body)

        def subject(i: int) -> Request:
            return ("GET", f"{API}/subjects/{pairs[i % len(pairs)][0]}", None)

        def health(_i: int) -> Request:
            return ("GET", f"{API}/health", None)

        endpoints = {"report": (report, 201), "subject": (subject, 200), "health": (health, 200)}
        # Warm up: connections opened, code paths and caches exercised once.
        for make, expect in endpoints.values():
            for i in range(20):
                problem = await _send(client, make(i), expect)
                if problem is not None:
                    raise RuntimeError(f"warm-up request failed: {make(i)[:2]} -> {problem}")

        result: dict[str, Any] = {"open_loop": {}, "saturation": {}}
        for name, (make, expect) in endpoints.items():
            before = server_cpu_seconds(pid)
            summary = await open_loop(client, make, expect, rate=args.rate, seconds=args.seconds, requests=args.requests)
            result["open_loop"][name] = with_server_cpu(summary, before, server_cpu_seconds(pid))
        for name, (make, expect) in endpoints.items():
            before = server_cpu_seconds(pid)
            summary = await closed_loop(
                client,
                make,
                expect,
                concurrency=args.concurrency,
                seconds=args.saturation_seconds,
                requests=args.requests * 10,
            )
            result["saturation"][name] = with_server_cpu(summary, before, server_cpu_seconds(pid))
    return result


# --- one database -------------------------------------------------------------------------------------------


def run(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"xinyidai-bench-report-{kind}-") as tmp:
        work = Path(tmp)
        url = database_url(kind, work)
        env = server_env(url, work)
        seeded = seed(env, work, args.enterprises)
        port = free_port()
        log = work / "server.log"
        server = start_server(env, port, log)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
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
                    raise RuntimeError("server did not start within 60 s")
                time.sleep(0.1)
            figures = asyncio.run(drive(base, seeded, args, server.pid))
            peak = server_peak_mb(server.pid)
        finally:
            stop_server(server)
        server_log = log.read_text(errors="replace").strip().splitlines()

    report = figures["open_loop"]["report"]
    report_sat = figures["saturation"]["report"]["achieved_rate"]
    subject_sat = figures["saturation"]["subject"]["achieved_rate"]
    ratio = round(report_sat / subject_sat, 3) if report_sat and subject_sat else None
    report_cpu = figures["saturation"]["report"].get("server_cpu_ms_per_request")
    subject_cpu = figures["saturation"]["subject"].get("server_cpu_ms_per_request")
    cpu_ratio = round(subject_cpu / report_cpu, 3) if report_cpu and subject_cpu else None
    return {
        "benchmark": "report_api",
        "db": kind,
        "server": {"workers": 1, "peak_mb": peak, "log_lines": len(server_log), "log_tail": server_log[-5:]},
        "cpus": os.cpu_count(),
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
        },
        **figures,
        "ratio": ratio,
        # The same comparison by cost rather than throughput: the bare endpoint's server CPU per request over the
        # report's (saturation phases), which a machine shared with other work disturbs far less.
        "cpu_ratio": cpu_ratio,
        "targets": TARGETS,
        "met": {
            "report_p99": report["p99_ms"] is not None and report["p99_ms"] <= TARGETS["report_p99_ms"],
            "report_rate": report["achieved_rate"] is not None and report["achieved_rate"] >= 0.95 * args.rate,
            "report_errors": report["errors"] == 0,
            "saturation_ratio": ratio is not None and ratio >= TARGETS["saturation_ratio"],
        },
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
    args = parser.parse_args()
    if args.saturation_seconds is None:
        args.saturation_seconds = args.seconds
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        print(json.dumps(run(kind, args), ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
