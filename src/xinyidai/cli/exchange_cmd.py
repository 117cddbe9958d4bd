"""`xinyidai exchange …` (interface calls to departments) and `xinyidai simulator serve` (the department simulator)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from xinyidai.cli.root import emit, settings
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.errors import DomainError

exchange_app = typer.Typer(help="Interface calls (系统接口调用): department endpoints and queries.", no_args_is_help=True)
simulator_app = typer.Typer(help="The department simulator (serves the synthetic department data).", no_args_is_help=True)
CLI_ACTOR = ActorRef.system("cli")
#: The CLI is the operator's tool: it queries with the operator's permission.
CLI_PERMISSIONS = frozenset({"exchange:query:run"})


def _fail(exc: DomainError) -> NoReturn:
    sys.stderr.write(f"{exc.code}: {exc.detail}\n")
    raise typer.Exit(2)


def _tunables(**values: int | None) -> dict[str, int]:
    return {name: value for name, value in values.items() if value is not None}


@exchange_app.command("set-endpoint")
def set_endpoint(
    source: Annotated[str, typer.Option(help="Department code (catalog), e.g. tax, samr, hrss, utilities.")],
    base_url: Annotated[str, typer.Option(help="Base URL of its query interface; items are queried at BASE/{item}?uscc=…")],
    token: Annotated[
        str | None, typer.Option(envvar="XINYIDAI_EXCHANGE_TOKEN", help="Bearer token the department expects (stored encrypted).")
    ] = None,
    keep_token: Annotated[bool, typer.Option(help="Keep the stored token when --token is not given.")] = False,
    timeout_ms: Annotated[int | None, typer.Option(help="Timeout of each phase of one attempt.")] = None,
    max_attempts: Annotated[int | None, typer.Option(help="Attempts per query (retries + 1).")] = None,
    backoff_base_ms: Annotated[int | None, typer.Option(help="First retry wait; doubles each retry.")] = None,
    backoff_cap_ms: Annotated[int | None, typer.Option(help="Longest retry wait.")] = None,
    deadline_ms: Annotated[int | None, typer.Option(help="Budget of one query over all attempts.")] = None,
    breaker_failures: Annotated[int | None, typer.Option(help="Failures within the window that open the breaker.")] = None,
    breaker_window_s: Annotated[int | None, typer.Option(help="Window in which failures are counted.")] = None,
    breaker_cooldown_s: Annotated[int | None, typer.Option(help="Time an open breaker waits before a probe.")] = None,
) -> None:
    """Create or replace a department's endpoint; print it (without the token)."""
    from xinyidai import exchange
    from xinyidai.app import build_container

    container = build_container(settings())
    try:
        view = exchange.set_endpoint(
            container.db,
            actor=CLI_ACTOR,
            clock=container.clock,
            cipher=container.cipher,
            source=source,
            base_url=base_url,
            token=token,
            keep_token=keep_token,
            **_tunables(
                timeout_ms=timeout_ms,
                max_attempts=max_attempts,
                backoff_base_ms=backoff_base_ms,
                backoff_cap_ms=backoff_cap_ms,
                deadline_ms=deadline_ms,
                breaker_failures=breaker_failures,
                breaker_window_s=breaker_window_s,
                breaker_cooldown_s=breaker_cooldown_s,
            ),
        )
    except DomainError as exc:
        _fail(exc)
    finally:
        container.db.dispose()
    emit(view.to_json())


@exchange_app.command("use-simulator")
def use_simulator(
    url: Annotated[str, typer.Option(help="The simulator's address, e.g. http://127.0.0.1:8100.")],
    token: Annotated[
        str | None, typer.Option(envvar="XINYIDAI_SIMULATOR_TOKEN", help="The token the simulator was started with.")
    ] = None,
) -> None:
    """Point every department the simulator serves at it (one endpoint per department); print them."""
    import httpx

    from xinyidai import exchange
    from xinyidai.app import build_container

    try:
        served: dict[str, Any] = httpx.get(url.rstrip("/") + "/", timeout=10).json()["departments"]
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        sys.stderr.write(f"simulator_unreachable: {exc}\n")
        raise typer.Exit(2) from None
    container = build_container(settings())
    try:
        views = exchange.set_endpoints_at(
            container.db, actor=CLI_ACTOR, clock=container.clock, cipher=container.cipher, url=url, token=token, sources=served
        )
    except DomainError as exc:
        _fail(exc)
    finally:
        container.db.dispose()
    emit({"endpoints": [v.to_json() for v in views]})


@exchange_app.command("endpoints")
def endpoints() -> None:
    """Print the configured endpoints (tokens never shown)."""
    from xinyidai import exchange
    from xinyidai.app import build_container

    container = build_container(settings())
    try:
        emit({"endpoints": [v.to_json() for v in exchange.list_endpoints(container.db)]})
    finally:
        container.db.dispose()


@exchange_app.command("fetch")
def fetch(
    item: Annotated[str, typer.Option(help="Catalog item code, e.g. tax_payment.")],
    uscc: Annotated[str, typer.Option(help="The enterprise's unified social credit code.")],
    source: Annotated[str | None, typer.Option(help="Department code (default: the item's department).")] = None,
    purpose: Annotated[str | None, typer.Option(help="Why the data is needed (written to the audit log).")] = None,
) -> None:
    """Query the department (or the cache) and print the FetchResult JSON; exit 0 even when degraded, 2 on bad input."""
    from xinyidai import exchange
    from xinyidai.app import build_container

    container = build_container(settings())
    registry = exchange.connector_registry(container)
    try:
        result = exchange.fetch(
            container.db,
            registry,
            actor=CLI_ACTOR,
            source=source,
            item=item,
            uscc=uscc,
            purpose=purpose,
            clock=container.clock,
            permissions=CLI_PERMISSIONS,
        )
    except DomainError as exc:
        _fail(exc)
    finally:
        registry.close()
        container.db.dispose()
    emit(result.to_json())


@simulator_app.command("serve")
def serve(
    data: Annotated[Path, typer.Option(help="A directory written by `xinyidai demo-data generate`.")],
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8100,
    token: Annotated[
        str | None,
        typer.Option(envvar="XINYIDAI_SIMULATOR_TOKEN", help="Bearer token every department requires (none: open, dev only)."),
    ] = None,
    department_token: Annotated[list[str] | None, typer.Option(help="A department's own token, DEPT=TOKEN (repeatable).")] = None,
    control_token: Annotated[
        str | None, typer.Option(envvar="XINYIDAI_SIMULATOR_CONTROL_TOKEN", help="Token required by /_control.")
    ] = None,
    mode: Annotated[str, typer.Option(help="Starting fault mode: normal | slow | fail | malformed | flaky.")] = "normal",
    delay_ms: Annotated[int, typer.Option(help="Delay before each answer.")] = 0,
    fail_rate: Annotated[float, typer.Option(help="Failure probability in flaky mode.")] = 0.5,
) -> None:
    """Serve the department files through query interfaces (GET /{department}/{item}?uscc=…)."""
    from xinyidai.simulator import DataDirectoryError, DataIndex, FaultPlan, SimulatorState, create_simulator_app
    from xinyidai.simulator import serve as run

    tokens: dict[str, str] = {}
    for pair in department_token or []:
        dept, sep, value = pair.partition("=")
        if not sep or not dept or not value:
            sys.stderr.write(f"bad --department-token {pair!r}: use DEPT=TOKEN\n")
            raise typer.Exit(2)
        tokens[dept] = value
    try:
        plan = FaultPlan.from_json({"mode": mode, "delay_ms": delay_ms, "fail_rate": fail_rate})
        index = DataIndex.load(data)
    except (ValueError, DataDirectoryError) as exc:
        sys.stderr.write(f"{exc}\n")
        raise typer.Exit(2) from None
    state = SimulatorState()
    state.set_plan(plan)
    app = create_simulator_app(index, tokens=tokens, default_token=token, control_token=control_token, state=state)
    sys.stderr.write(
        f"部门接口模拟服务：http://{host}:{port}/ （{len(index.departments())} 个部门，数据日期 {index.snapshot_date}）\n"
    )
    run(app, host=host, port=port)


def register(app: typer.Typer) -> None:
    """Attach the commands."""
    app.add_typer(exchange_app, name="exchange")
    app.add_typer(simulator_app, name="simulator")
