"""Idempotency keys for POST routes (reusable by any domain through `xinyidai.product`).

A client sends ``Idempotency-Key: <up to 200 chars>``; the first request with that key *reserves* it (a committed
``pending`` row holding the SHA-256 of method, path and canonical body), runs the use case, then stores the response
(``done``). A repeat with the same body replays the stored status and JSON; a repeat with another body is 409
``idempotency_key_reused``; a repeat while the first is still running is 409 ``idempotency_in_progress``. When the
use case raises, the reservation is dropped so the client may retry. A reservation left ``pending`` by a crash
longer than `STALE_AFTER` is taken over. Keys are scoped per caller (principal id) and route, kept `RETENTION`.

Usage in a route::

    return idempotent(container.db, clock=container.clock, owner=str(who.id), key=idempotency_key,
                      scope="POST /products", body=body.model_dump(mode="json"),
                      run=lambda: (201, ProductRead.of(service.create_product(...)).model_dump(mode="json")))
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar

import sqlalchemy as sa
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from xinyidai.db import Database
from xinyidai.kernel.clock import Clock
from xinyidai.kernel.errors import Conflict, InvalidInput
from xinyidai.kernel.ids import new_id
from xinyidai.product.tables import IdempotencyRecord

STALE_AFTER = timedelta(minutes=5)
RETENTION = timedelta(days=1)
MAX_KEY = 200


class IdempotencyKeyReused(Conflict):
    """The key was used before with a different request."""

    code: ClassVar[str] = "idempotency_key_reused"
    title: ClassVar[str] = "幂等键已用于另一个请求"


class IdempotencyInProgress(Conflict):
    """The first request with this key has not finished."""

    code: ClassVar[str] = "idempotency_in_progress"
    title: ClassVar[str] = "相同幂等键的请求正在处理中"


def request_digest(scope: str, body: Any) -> str:
    """SHA-256 of the scope and the canonical JSON of the body."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{scope}\n{canonical}".encode()).hexdigest()


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
    """Run `run` (returning status and a JSON-able body) at most once per (owner, scope, key); see the module doc."""
    if key is None:
        status, payload = run()
        return JSONResponse(payload, status_code=status)
    key = key.strip()
    if not key or len(key) > MAX_KEY:
        raise InvalidInput(f"Idempotency-Key 应为1-{MAX_KEY}个字符")
    digest = request_digest(scope, body)
    now = clock.now()
    try:
        record_id = _reserve(db, now=now, owner=owner, scope=scope, key=key, digest=digest)
    except IntegrityError:  # a concurrent first request inserted the same key a moment ago
        raise IdempotencyInProgress() from None
    if isinstance(record_id, JSONResponse):
        return record_id
    try:
        status, payload = run()
    except BaseException:
        with db.transaction() as s:
            s.execute(sa.delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
        raise
    with db.transaction() as s:
        row = s.get(IdempotencyRecord, record_id)
        if row is not None:
            row.state, row.response_status, row.response_body, row.completed_at = "done", status, payload, clock.now()
    return JSONResponse(payload, status_code=status)


def _reserve(db: Database, *, now: datetime, owner: str, scope: str, key: str, digest: str) -> uuid.UUID | JSONResponse:
    """Reserve the key (committed), or return the stored response to replay."""
    with db.transaction() as s:
        s.execute(sa.delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - RETENTION))
        found = s.scalar(
            sa.select(IdempotencyRecord)
            .where(IdempotencyRecord.owner == owner, IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
            .with_for_update()
        )
        if found is not None:
            if found.request_hash != digest:
                raise IdempotencyKeyReused(f"幂等键 {key} 已用于内容不同的请求")
            if found.state == "done":
                response = JSONResponse(found.response_body, status_code=found.response_status or 200)
                response.headers["Idempotent-Replayed"] = "true"
                return response
            if found.created_at > now - STALE_AFTER:
                raise IdempotencyInProgress()
            found.created_at = now  # a crashed first attempt: take the reservation over
            record_id = found.id
        else:
            record_id = new_id()
            s.add(
                IdempotencyRecord(
                    id=record_id, owner=owner, scope=scope, key=key, request_hash=digest, state="pending", created_at=now
                )
            )
    return record_id
