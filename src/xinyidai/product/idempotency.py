"""The product domain's idempotency keys: the shared code path of `xinyidai.http.idempotency` over the product
table `idempotency_record` (keys per caller and route; a reservation left by a crash is taken over after 5 minutes).

Usage in a route::

    return idempotent(container.db, clock=container.clock, owner=str(who.id), key=idempotency_key,
                      scope="POST /products", body=body.model_dump(mode="json"),
                      run=lambda: (201, ProductRead.of(service.create_product(...)).model_dump(mode="json")))
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.responses import JSONResponse

from xinyidai.db import Database
from xinyidai.http import idempotency as shared
from xinyidai.http.idempotency import IdempotencyInProgress, IdempotencyKeyReused, request_digest
from xinyidai.kernel.clock import Clock
from xinyidai.product.tables import IdempotencyRecord

STALE_AFTER = timedelta(minutes=5)
RETENTION = shared.RETENTION

STORE = shared.KeyStore(
    model=IdempotencyRecord,
    owner="owner",
    scope="scope",
    digest="request_hash",
    state="state",
    response_status="response_status",
    response_body="response_body",
    completed_at="completed_at",
    stale_after=STALE_AFTER,
)

__all__ = ["STORE", "IdempotencyInProgress", "IdempotencyKeyReused", "idempotent", "request_digest"]


def idempotent(
    db: Database,
    *,
    clock: Clock,
    owner: str,
    key: str | None,
    scope: str,
    body: Any,
    run: Callable[[], tuple[int, Any]],
) -> JSONResponse:
    """`xinyidai.http.idempotency.idempotent` over the product table, answered as a JSON response."""
    return shared.idempotent(db, store=STORE, clock=clock, owner=owner, key=key, scope=scope, body=body, run=run).response()
