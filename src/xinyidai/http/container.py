"""The services the composition root builds once and hands to every route through app.state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from xinyidai.config import Settings
from xinyidai.db import Database
from xinyidai.kernel.clock import Clock
from xinyidai.kernel.pii import PiiCipher


@dataclass
class Container:
    """Everything long-lived: settings, the database, the clock, the personal-data cipher, extra services."""

    settings: Settings
    db: Database
    clock: Clock
    cipher: PiiCipher
    services: dict[str, Any] = field(default_factory=dict)


def container_of(conn: HTTPConnection) -> Container:
    """The app's container, for code that holds the request."""
    container: Container = conn.app.state.container
    return container


async def get_container(conn: HTTPConnection) -> Container:
    """FastAPI dependency: the app's container. A coroutine, so that FastAPI calls it on the event loop: a plain
    function dependency would be sent to the thread pool and back on every request of every route using it."""
    return container_of(conn)
