"""Composition root: builds settings, engine, services and the FastAPI app, and mounts every router."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from xinyidai import __version__, consent, evaluation, lending, product
from xinyidai.config import Settings
from xinyidai.db import Database, create_database_engine
from xinyidai.db import migrate as db_migrate
from xinyidai.http.container import Container, get_container
from xinyidai.http.observability import Metrics, RequestContextMiddleware, configure_logging
from xinyidai.http.problems import install_problem_handlers, problem_response
from xinyidai.job import BackgroundWorker, JobRegistry, register_builtin_jobs
from xinyidai.job.webhook import WebhookTransport
from xinyidai.kernel.clock import Clock, SystemClock
from xinyidai.kernel.errors import DomainError
from xinyidai.kernel.pii import cipher_from_settings
from xinyidai.plugins import domain_modules, package_modules
from xinyidai.principal import PUBLIC, LoginRequired, Permission, require, unguarded_routes
from xinyidai.web import STATIC_DIR
from xinyidai.web import layout as web_layout

log = logging.getLogger("xinyidai.app")

#: Where the JSON API is mounted.
API_PREFIX = "/api/v1"


def build_container(settings: Settings, *, db: Database | None = None, clock: Clock | None = None) -> Container:
    """Build the long-lived services once."""
    if db is None:
        db = Database(create_database_engine(settings.database_url))
    db.node_id = settings.node_id
    cipher = cipher_from_settings(settings)
    container = Container(settings=settings, db=db, clock=clock or SystemClock(), cipher=cipher)
    container.services[lending.HOOKS_SERVICE] = lending.default_hooks(container)
    # Matching reads grades, scores and list facts from the evaluation domain (registry facts underneath).
    container.services[product.FACTS_SERVICE] = evaluation.EvaluationFacts(container.db, clock=container.clock)
    return container


def build_job_registry(container: Container) -> JobRegistry:
    """Every background job the platform runs; later capabilities register theirs here."""
    registry = JobRegistry(default_max_attempts=container.settings.job_max_attempts, services=container.services)
    # Each subscriber's secret is looked up by destination; a destination without one fails and is
    # retried, then reported — never dropped.
    webhooks = WebhookTransport(secret_for=consent.webhook_secret_lookup(container.db, container.cipher), clock=container.clock)
    register_builtin_jobs(registry, transports={"https": webhooks, "http": webhooks})
    for module in domain_modules("jobs"):
        module.register_jobs(registry, container)
    return registry


def _ops_router() -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get("/health", dependencies=[Depends(PUBLIC)], summary="存活检查")
    def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "version": __version__}

    @router.get("/ready", dependencies=[Depends(PUBLIC)], summary="就绪检查", response_model=None)
    def ready(container: Annotated[Container, Depends(get_container)]) -> Response | dict[str, Any]:
        """Readiness: the database answers and its schema is at the migrations' head."""
        try:
            with container.db.transaction() as s:
                s.execute(text("SELECT 1"))
                current = db_migrate.current_revision(s.connection())
            head = db_migrate.head_revision(container.settings.database_url)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return problem_response(status=503, code="not_ready", title="服务暂不可用", detail=type(exc).__name__)
        if current != head:
            return problem_response(
                status=503, code="not_migrated", title="数据库未迁移到最新版本", detail=f"{current} != {head}"
            )
        return {
            "status": "ready",
            "database": container.db.dialect,
            "revision": str(current),
            "node_id": container.settings.node_id,
        }

    return router


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(
    settings: Settings | None = None, *, db: Database | None = None, clock: Clock | None = None, run_jobs: bool | None = None
) -> FastAPI:
    """Build the FastAPI application; settings are read here, never at import time."""
    settings = settings or Settings()
    configure_logging(level=settings.log_level, json_logs=settings.log_json)
    container = build_container(settings, db=db, clock=clock)
    metrics = Metrics()
    jobs = build_job_registry(container)
    container.services["jobs"] = jobs
    container.services["metrics"] = metrics
    in_server = settings.jobs_in_server if run_jobs is None else run_jobs

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if in_server:
            worker = BackgroundWorker(
                container.db,
                jobs,
                clock=container.clock,
                poll_seconds=settings.jobs_poll_seconds,
                metrics=metrics,
                worker_id=f"{settings.node_id}-web",
            )
            await worker.start()
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()

    app = FastAPI(
        title="信易贷融资信用服务平台 API",
        version=__version__,
        description="xinyidai: financing credit service platform. Errors are RFC 9457 problem+json with a stable `code`.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        # One schema per model (not "-Input"/"-Output" pairs) so client generators get one class per name.
        separate_input_output_schemas=False,
        # Operation ids are the handlers' names (unique across the API; a test checks), so generated clients get
        # `get_catalog`, not `get_catalog_api_v1_catalog_get`.
        generate_unique_id_function=_operation_id,
        lifespan=lifespan,
    )
    app.state.container = container
    install_problem_handlers(app)

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, _exc: LoginRequired) -> Response:
        return RedirectResponse(url=f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> Response:
        # Machines get problem+json; a person's browser gets the same refusal as a Chinese page.
        wants_page = not request.url.path.startswith(("/api/", "/metrics")) and "text/html" in request.headers.get("accept", "")
        if wants_page:
            return web_layout.render_error(request, exc)
        return problem_response(
            status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, instance=request.url.path, **exc.extra
        )

    # Each domain's router is included in the app itself under the API prefix, not in an "/api/v1" router that
    # is then included: FastAPI matches an included router's routes once to choose it and again to dispatch, so
    # every level of nesting adds a pass over the routes before it on every request (ADR 0013, session 4).
    app.include_router(_ops_router(), prefix=API_PREFIX)
    for module in domain_modules("api"):
        app.include_router(module.router, prefix=API_PREFIX)

    @app.get("/metrics", summary="Prometheus 指标", include_in_schema=False)
    def prometheus(_p: Annotated[object, Depends(require(Permission.METRICS_READ))]) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    for module in package_modules("xinyidai.web", suffix="_pages"):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(RequestContextMiddleware, metrics=metrics)

    missing = unguarded_routes(app)
    if missing:
        raise RuntimeError(f"routes without a permission or PUBLIC marker (deny by default): {missing}")
    return app
