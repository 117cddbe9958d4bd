"""The department simulator: a small ASGI service answering department-style queries from the synthetic data.

``GET /{department}/{item}?uscc=…`` answers ``{"department", "item", "uscc", "as_of", "snapshot_date",
"count", "records": […]}`` with an ``ETag`` (``If-None-Match`` gets 304). A department may require a
Bearer token. Faults are set per simulator, per department (``POST /_control``) or per request (the
``X-Simulator-Fault`` header carrying the same JSON), so tests and demos can make a department slow,
failing, flaky or malformed. ``GET /_control`` shows the plans and counts the requests each
department/item received.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import anyio.to_thread
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from xinyidai.kernel.clock import Clock, SystemClock
from xinyidai.kernel.uscc import validate as validate_uscc
from xinyidai.simulator.data import DataIndex
from xinyidai.simulator.model import Action, FaultPlan, MalformedKind, Reply, next_action

#: Header carrying a one-request fault plan (JSON, same keys as ``POST /_control``).
FAULT_HEADER: Final = "x-simulator-fault"
#: Key of the plan that applies to departments without their own.
ALL: Final = "*"
#: A subject the wrong-subject fault answers about (valid codes from DOMAIN.md).
_OTHER_SUBJECTS: Final = ("91350100M000100Y43", "914403001922038216")


@dataclass
class SimulatorState:
    """Fault plans, request counts and a short request log; shared by the app and the tests that drive it."""

    plans: dict[str, FaultPlan] = field(default_factory=lambda: {ALL: FaultPlan()})
    hits: Counter[str] = field(default_factory=Counter)
    log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=1000))
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_plan(self, plan: FaultPlan, department: str | None = None) -> None:
        """Apply a plan to one department, or to all (dropping per-department plans)."""
        with self.lock:
            if department is None:
                self.plans = {ALL: plan}
            else:
                self.plans[department] = plan

    def reset(self, *, seed: int = 0) -> None:
        """Back to normal for everyone, counters cleared."""
        with self.lock:
            self.plans = {ALL: FaultPlan()}
            self.hits.clear()
            self.log.clear()
            self.rng.seed(seed)

    def count(self, department: str | None = None, item: str | None = None) -> int:
        """Requests received by a department/item (any, when not given)."""
        with self.lock:
            return sum(n for key, n in self.hits.items() if _matches(key, department, item))

    def take_action(self, department: str, override: FaultPlan | None) -> Action:
        """Count one request and decide its answer (using up one forced failure if the plan has any)."""
        with self.lock:
            u = self.rng.random()
            if override is not None:
                return next_action(override, u=u)[0]
            key = department if department in self.plans else ALL
            action, after = next_action(self.plans[key], u=u)
            self.plans[key] = after
            return action

    def to_json(self) -> dict[str, Any]:
        """Plans and counts, as ``GET /_control`` shows them."""
        with self.lock:
            return {
                "plans": {k: p.to_json() for k, p in self.plans.items()},
                "hits": dict(self.hits),
                "total": sum(self.hits.values()),
            }


def _matches(key: str, department: str | None, item: str | None) -> bool:
    dept, _, code = key.partition("/")
    return (department is None or dept == department) and (item is None or code == item)


def create_simulator_app(
    data: DataIndex,
    *,
    tokens: Mapping[str, str] | None = None,
    default_token: str | None = None,
    control_token: str | None = None,
    clock: Clock | None = None,
    state: SimulatorState | None = None,
) -> Starlette:
    """The simulator as an ASGI app.

    ``tokens`` maps department codes to the Bearer token each requires; ``default_token`` applies
    to departments not listed; with neither, queries need no token (development only).
    ``control_token``, when set, is required (Bearer) by the ``/_control`` endpoints.
    """
    sim = state or SimulatorState()
    wall = clock or SystemClock()
    per_department = dict(tokens or {})
    served = data.departments()

    def expected_token(department: str) -> str | None:
        return per_department.get(department, default_token)

    def authorized(request: Request, expected: str | None) -> bool:
        if expected is None:
            return True
        scheme, _, sent = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), expected.encode())

    async def query(request: Request) -> Response:
        department = request.path_params["department"]
        code = request.path_params["item"]
        uscc = request.query_params.get("uscc", "").strip().upper()
        with sim.lock:
            sim.hits[f"{department}/{code}"] += 1
        if department not in served or code not in served[department]:
            return _problem(404, "not_served", f"{department} does not answer for {code!r} here")
        if not authorized(request, expected_token(department)):
            return _problem(401, "unauthorized", "missing or wrong department token")
        if not validate_uscc(uscc, lenient=True).valid:
            return _problem(400, "bad_uscc", "uscc must be a valid unified social credit code")
        try:
            override = _override(request)
        except ValueError as exc:
            return _problem(400, "bad_fault", str(exc))
        action = sim.take_action(department, override)
        _remember(sim, department, code, action)
        if action.delay_s:
            await asyncio.sleep(action.delay_s)
        if action.reply is Reply.FAILURE:
            return _problem(action.status, "simulated_failure", f"simulated {action.status}")
        records = await anyio.to_thread.run_sync(lambda: data.records(code, uscc, department=department))
        if action.reply is Reply.MALFORMED:
            return _malformed(action.malformed, department, code, uscc, records, data, wall)
        body_records = json.dumps(records, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        etag = '"' + hashlib.sha256(body_records.encode()).hexdigest()[:32] + '"'
        if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
            return Response(status_code=304, headers={"ETag": etag})
        envelope = _envelope(department, code, uscc, records, data, wall)
        return JSONResponse(envelope, headers={"ETag": etag})

    def control_allowed(request: Request) -> bool:
        return authorized(request, control_token)

    async def control(request: Request) -> Response:
        if not control_allowed(request):
            return _problem(401, "unauthorized", "missing or wrong control token")
        if request.method == "POST":
            try:
                body = await request.json()
                if not isinstance(body, dict):
                    raise ValueError("body must be a JSON object")
                plan = FaultPlan.from_json(body)
                department = body.get("department")
                if department is not None and not isinstance(department, str):
                    raise ValueError("department must be a string")
            except ValueError as exc:
                return _problem(400, "bad_fault", str(exc))
            sim.set_plan(plan, department)
        return JSONResponse(sim.to_json())

    async def reset(request: Request) -> Response:
        if not control_allowed(request):
            return _problem(401, "unauthorized", "missing or wrong control token")
        sim.reset()
        return JSONResponse(sim.to_json())

    async def index(_request: Request) -> Response:
        return JSONResponse(
            {
                "service": "xinyidai department simulator",
                "snapshot_date": data.snapshot_date.isoformat(),
                "enterprises": data.enterprises,
                "departments": served,
            }
        )

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/_health", health),
            Route("/_control", control, methods=["GET", "POST"]),
            Route("/_control/reset", reset, methods=["POST"]),
            Route("/{department}/{item}", query),
        ]
    )
    app.state.simulator = sim
    return app


def _override(request: Request) -> FaultPlan | None:
    raw = request.headers.get(FAULT_HEADER)
    if not raw:
        return None
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise ValueError(f"{FAULT_HEADER} must hold a JSON object")
    return FaultPlan.from_json(body)


def _remember(sim: SimulatorState, department: str, item: str, action: Action) -> None:
    with sim.lock:
        sim.log.append({"department": department, "item": item, "reply": action.reply.value, "status": action.status})


def _envelope(
    department: str, item: str, uscc: str, records: list[dict[str, Any]], data: DataIndex, clock: Clock
) -> dict[str, Any]:
    return {
        "department": department,
        "item": item,
        "uscc": uscc,
        "as_of": clock.now().isoformat(),
        "snapshot_date": data.snapshot_date.isoformat(),
        "count": len(records),
        "records": records,
    }


def _malformed(
    kind: MalformedKind, department: str, item: str, uscc: str, records: list[dict[str, Any]], data: DataIndex, clock: Clock
) -> Response:
    if kind is MalformedKind.BAD_JSON:
        text = json.dumps(_envelope(department, item, uscc, records, data, clock), ensure_ascii=False)
        return Response(text[: max(1, len(text) // 2)], media_type="application/json")
    if kind is MalformedKind.WRONG_SCHEMA:
        renamed = [{f"{k}_v2": v for k, v in r.items()} for r in records] or [{"unexpected_field": "1"}]
        return JSONResponse(_envelope(department, item, uscc, renamed, data, clock))
    other = _OTHER_SUBJECTS[0] if uscc != _OTHER_SUBJECTS[0] else _OTHER_SUBJECTS[1]
    entry = data.item(item)
    subject_field = entry.subject_field if entry else "uscc"
    moved = [{**r, subject_field: other} for r in records]
    return JSONResponse(_envelope(department, item, other, moved, data, clock))


def _problem(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {"type": f"urn:xinyidai-simulator:{code}", "status": status, "code": code, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )


# --- running it -----------------------------------------------------------------------------------


@dataclass
class RunningSimulator:
    """A simulator served by uvicorn in a background thread."""

    url: str
    state: SimulatorState
    server: uvicorn.Server
    thread: threading.Thread


@contextmanager
def running(app: Starlette, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningSimulator]:
    """Serve ``app`` on ``host:port`` (0: a free port) in a thread until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host=host,
        port=bound,
        log_level="warning",
        lifespan="off",
        ws="none",
        http="h11",
        loop="asyncio",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="department-simulator")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            sock.close()
            raise RuntimeError("the department simulator did not start")
        time.sleep(0.01)
    try:
        yield RunningSimulator(url=f"http://{host}:{bound}", state=app.state.simulator, server=server, thread=thread)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve(app: Starlette, *, host: str, port: int) -> None:
    """Serve in the foreground until interrupted (the CLI's ``simulator serve``)."""
    uvicorn.run(app, host=host, port=port, log_level="info", lifespan="off")
