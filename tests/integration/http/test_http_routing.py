"""The composition root's routing: every domain router sits directly under the app at the API prefix (one level of
included routers, so a request is matched in one pass over the routes), with every route it declares."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from tests.conftest import make_settings
from xinyidai.app import API_PREFIX, create_app
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.plugins import domain_modules
from xinyidai.principal.deps import api_routes


@pytest.fixture
def app_routes(db: Database, database_url: str, clock: FrozenClock) -> list[object]:
    return list(create_app(make_settings(database_url), db=db, clock=clock).routes)


def test_domain_routers_are_included_once_at_the_api_prefix(app_routes: list[object]) -> None:
    included = {id(r.original_router): r for r in app_routes if hasattr(r, "original_router")}  # type: ignore[attr-defined]
    for module in domain_modules("api"):
        assert id(module.router) in included, module.__name__
        # No router inside a domain's included router: nesting makes FastAPI match the routes before it once per level.
        assert not any(hasattr(r, "original_router") for r in module.router.routes), module.__name__
        assert included[id(module.router)].include_context.prefix == API_PREFIX  # type: ignore[attr-defined]


def test_every_declared_api_route_is_served_under_the_prefix(db: Database, database_url: str, clock: FrozenClock) -> None:
    app = create_app(make_settings(database_url), db=db, clock=clock)
    served = {(path, method) for r in api_routes(app) for path in [r.path] for method in r.methods}
    for module in domain_modules("api"):
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            for method in route.methods:
                assert (API_PREFIX + route.path, method) in served, (module.__name__, route.path, method)
    assert (f"{API_PREFIX}/health", "GET") in served
