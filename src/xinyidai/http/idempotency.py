"""Idempotency keys for POST routes: one code path for every domain, each keeping its keys in its own table.

A client sends ``Idempotency-Key: <1-200 chars>``; the first request with that key *reserves* it (a committed row
holding the SHA-256 of the scope — method and path — and the canonical JSON body), runs the use case, then stores
the response. A repeat with the same request replays the stored status and JSON (header ``Idempotent-Replayed:
true``); a repeat with another request is 409 (the store's `reused` error, ``idempotency_key_reused`` by default);
a repeat while the first is still running is 409 ``idempotency_in_progress``. When the use case raises, the
reservation is dropped so the client may retry. Rows older than `RETENTION` are purged when a key is reserved (and
by `purge`, for a job). A store may let a reservation left pending by a crash be taken over after `stale_after`;
without it the caller gets 409 in progress and must check the resource itself.

A `KeyStore` names the ORM class and its columns, so tables of different shapes share this code: with a `scope`
column a key is per (owner, scope, key), without one per (owner, key) and the scope only enters the digest (the
same key on another route is then a different request: 409); with a `state` column a reservation is "pending" /
"done", without one a null response status means pending.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

import sqlalchemy as sa
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from xinyidai.db import Database
from xinyidai.kernel.clock import Clock
from xinyidai.kernel.errors import Conflict, InvalidInput
from xinyidai.kernel.ids import new_id

RETENTION = timedelta(days=1)
MAX_KEY = 200
REPLAYED_HEADER = "Idempotent-Replayed"


class IdempotencyKeyReused(Conflict):
    """The key was used before with a different request."""

    code: ClassVar[str] = "idempotency_key_reused"
    title: ClassVar[str] = "幂等键已用于另一个请求"


class IdempotencyInProgress(Conflict):
    """The first request with this key has not finished."""

    code: ClassVar[str] = "idempotency_in_progress"
    title: ClassVar[str] = "相同幂等键的请求正在处理中"


@dataclass(frozen=True, slots=True)
class KeyStore:
    """Where a domain keeps its keys: the mapped class and the names of its columns (see the module doc)."""

    model: type[Any]
    owner: str
    digest: str
    response_status: str
    response_body: str
    scope: str | None = None
    state: str | None = None
    completed_at: str | None = None
    stale_after: timedelta | None = None
    reused: type[Conflict] = IdempotencyKeyReused

    def column(self, name: str) -> Any:
        """The mapped attribute `name` (for queries)."""
        return getattr(self.model, name)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The answer to a request: run now, or the stored answer to the first request with the key (`replayed`)."""

    status_code: int
    body: Any
    replayed: bool

    def response(self) -> JSONResponse:
        """As a JSON response; a replay carries ``Idempotent-Replayed: true``."""
        headers = {REPLAYED_HEADER: "true"} if self.replayed else {}
        return JSONResponse(self.body, status_code=self.status_code, headers=headers)


def request_digest(scope: str, body: Any) -> str:
    """SHA-256 of the scope (e.g. ``POST /api/v1/loans``) and the canonical JSON of the body: "the same request"."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{scope}\n{canonical}".encode()).hexdigest()


def idempotent(
    db: Database,
    *,
    store: KeyStore,
    clock: Clock,
    owner: str,
    key: str | None,
    scope: str,
    body: Any,
    run: Callable[[], tuple[int, Any]],
) -> StoredResponse:
    """Run `run` (returning status and a JSON-able body) at most once per owner and key; see the module doc."""
    if key is None:
        status, payload = run()
        return StoredResponse(status, payload, False)
    key = key.strip()
    if not key or len(key) > MAX_KEY:
        raise InvalidInput(f"Idempotency-Key 应为1-{MAX_KEY}个字符")
    digest = request_digest(scope, body)
    try:
        reserved = _reserve(db, store, now=clock.now(), owner=owner, scope=scope, key=key, digest=digest)
    except IntegrityError:  # a concurrent first request inserted the same key a moment ago
        raise IdempotencyInProgress() from None
    if isinstance(reserved, StoredResponse):
        return reserved
    try:
        status, payload = run()
    except BaseException:
        with db.transaction() as s:
            s.execute(sa.delete(store.model).where(store.column("id") == reserved))
        raise
    done: dict[str, Any] = {store.response_status: status, store.response_body: payload}
    if store.state is not None:
        done[store.state] = "done"
    if store.completed_at is not None:
        done[store.completed_at] = clock.now()
    with db.transaction() as s:
        s.execute(sa.update(store.model).where(store.column("id") == reserved).values(**done))
    return StoredResponse(status, payload, False)


def _reserve(
    db: Database, store: KeyStore, *, now: datetime, owner: str, scope: str, key: str, digest: str
) -> uuid.UUID | StoredResponse:
    """Reserve the key (committed), or return the stored response to replay."""
    with db.transaction() as s:
        s.execute(sa.delete(store.model).where(store.column("created_at") < now - RETENTION))
        where = [store.column(store.owner) == owner, store.column("key") == key]
        if store.scope is not None:
            where.append(store.column(store.scope) == scope)
        found = s.scalar(sa.select(store.model).where(*where).with_for_update())
        if found is not None:
            if getattr(found, store.digest) != digest:
                raise store.reused(f"幂等键 {key} 已用于内容不同的请求")
            status = getattr(found, store.response_status)
            finished = getattr(found, store.state) == "done" if store.state is not None else status is not None
            if finished:
                return StoredResponse(status or 200, getattr(found, store.response_body), True)
            if store.stale_after is None or found.created_at > now - store.stale_after:
                raise IdempotencyInProgress()
            found.created_at = now  # a crashed first attempt: take the reservation over
            record_id: uuid.UUID = found.id
        else:
            record_id = new_id()
            fields: dict[str, Any] = {"id": record_id, store.owner: owner, "key": key, store.digest: digest, "created_at": now}
            if store.scope is not None:
                fields[store.scope] = scope
            if store.state is not None:
                fields[store.state] = "pending"
            s.add(store.model(**fields))
    return record_id


def purge(db: Database, store: KeyStore, *, clock: Clock, older_than: timedelta = RETENTION) -> int:
    """Delete the store's keys older than `older_than`; the number deleted."""
    with db.transaction() as s:
        result = s.execute(sa.delete(store.model).where(store.column("created_at") < clock.now() - older_than))
        return int(getattr(result, "rowcount", 0) or 0)
