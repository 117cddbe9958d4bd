"""The one idempotency code path (`xinyidai.http.idempotency`) over both tables: the product's (keys per route,
state column, crashed reservations taken over after 5 minutes) and lending's (keys per caller, null status while
pending, no take-over, its own conflict code)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from xinyidai.db import Database
from xinyidai.http.idempotency import IdempotencyInProgress, IdempotencyKeyReused, KeyStore, idempotent, purge, request_digest
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.errors import InvalidInput
from xinyidai.kernel.ids import new_id
from xinyidai.lending.service import IDEMPOTENCY_STORE as LENDING
from xinyidai.lending.service import IdempotencyConflict
from xinyidai.product.idempotency import STORE as PRODUCT


class Crash(Exception):
    """The use case failing."""


def _call(db: Database, store: KeyStore, clock: FrozenClock, runs: list[int], *, key: str = "k", scope: str = "POST /x",
          body: Any = None) -> tuple[int, Any, bool]:  # fmt: skip
    def run() -> tuple[int, Any]:
        runs.append(1)
        return 201, {"n": len(runs)}

    stored = idempotent(db, store=store, clock=clock, owner="o", key=key, scope=scope, body=body or {"a": 1}, run=run)
    return stored.status_code, stored.body, stored.replayed


@pytest.mark.parametrize("store", [PRODUCT, LENDING], ids=["product", "lending"])
def test_replay_conflict_and_release(db: Database, store: KeyStore) -> None:
    clock, runs = FrozenClock(datetime(2026, 6, 30, 2, 0, tzinfo=UTC)), list[int]()
    assert _call(db, store, clock, runs) == (201, {"n": 1}, False)
    assert _call(db, store, clock, runs) == (201, {"n": 1}, True)  # replayed, not run again
    assert len(runs) == 1
    with pytest.raises(IdempotencyKeyReused) as reused:
        _call(db, store, clock, runs, body={"a": 2})
    assert reused.value.code == ("idempotency_conflict" if store is LENDING else "idempotency_key_reused")
    assert isinstance(reused.value, IdempotencyConflict) is (store is LENDING)
    # another route with the same key: its own key for the product, a different request for lending
    if store is PRODUCT:
        assert _call(db, store, clock, runs, scope="POST /y") == (201, {"n": 2}, False)
    else:
        with pytest.raises(IdempotencyConflict):
            _call(db, store, clock, runs, scope="POST /y")

    def fail() -> tuple[int, Any]:
        raise Crash

    with pytest.raises(Crash):
        idempotent(db, store=store, clock=clock, owner="o", key="f", scope="POST /x", body=None, run=fail)
    assert _call(db, store, clock, runs, key="f")[2] is False  # the failure released the key
    with pytest.raises(InvalidInput):
        _call(db, store, clock, runs, key=" ")
    clock.advance(timedelta(days=2))
    assert purge(db, store, clock=clock) >= 2


@pytest.mark.parametrize("store", [PRODUCT, LENDING], ids=["product", "lending"])
def test_a_crashed_reservation(db: Database, store: KeyStore) -> None:
    clock, runs = FrozenClock(datetime(2026, 6, 30, 2, 0, tzinfo=UTC)), list[int]()
    with db.transaction() as s:  # a first request that reserved the key and died
        fields: dict[str, Any] = {"id": new_id(), store.owner: "o", "key": "k", "created_at": clock.now()}
        fields[store.digest] = request_digest("POST /x", {"a": 1})
        if store.scope:
            fields[store.scope] = "POST /x"
        if store.state:
            fields[store.state] = "pending"
        s.add(store.model(**fields))
    with pytest.raises(IdempotencyInProgress):
        _call(db, store, clock, runs)
    clock.advance(timedelta(minutes=6))
    if store is PRODUCT:  # taken over after 5 minutes
        assert _call(db, store, clock, runs) == (201, {"n": 1}, False)
        assert _call(db, store, clock, runs)[2] is True
    else:  # never taken over: the caller checks the resource
        with pytest.raises(IdempotencyInProgress):
            _call(db, store, clock, runs)
    assert (len(runs) == 1) is (store is PRODUCT)
