"""Interface-call use cases: configure department endpoints, and fetch a subject's records through them.

``fetch`` is the one use case that spans two transactions, on purpose: the department is called
between them, never inside one, because a transaction held open across a network call would hold
SQLite's write lock (and a PostgreSQL connection) for as long as the slowest department takes. The
first transaction reads the endpoint and the cache (and, on a fresh cache hit, finishes the query);
the second stores the answer, logs the call and writes the audit event together.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import threading
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from xinyidai import audit
from xinyidai.catalog import Disclosure, FieldType, Item, load_catalog
from xinyidai.db import Database
from xinyidai.exchange.connector import TOKEN_CONTEXT, CallReport, ConnectorRegistry
from xinyidai.exchange.model import (
    AccessDecider,
    AccessQuery,
    CallOutcome,
    EndpointSettings,
    FetchResult,
    FetchStatus,
    age_seconds,
    allowed_sources,
    is_fresh,
    max_age,
    operator_only,
)
from xinyidai.exchange.tables import ExchangeCache, ExchangeCall, ExchangeEndpoint
from xinyidai.http.container import Container
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock
from xinyidai.kernel.context import current_request_id
from xinyidai.kernel.errors import Forbidden, InvalidInput
from xinyidai.kernel.ids import new_id
from xinyidai.kernel.pii import PiiCipher, mask_id_number
from xinyidai.kernel.uscc import parse as parse_uscc

#: Keys under which the composition root may put the long-lived registry and the access hook.
REGISTRY_SERVICE: Final = "exchange.connectors"
DECIDE_SERVICE: Final = "exchange.decide"
_registry_lock = threading.Lock()
log = logging.getLogger("xinyidai.exchange")


class SourceNotAllowed(InvalidInput):
    """The source named does not own the item asked about."""

    code = "exchange_source_mismatch"
    title = "该数据源不提供此信息项"


class QueryRefused(Forbidden):
    """The access decision refused the query (reasons in ``detail``)."""

    code = "exchange_query_refused"
    title = "无权查询该信息"


# --- the long-lived pieces ----------------------------------------------------------------------


def connector_registry(container: Container) -> ConnectorRegistry:
    """The process's connector registry, kept in ``container.services`` so breakers outlive requests."""
    with _registry_lock:
        found = container.services.get(REGISTRY_SERVICE)
        if not isinstance(found, ConnectorRegistry):
            found = container.services[REGISTRY_SERVICE] = ConnectorRegistry(cipher=container.cipher)
        return found


def access_decider(container: Container) -> AccessDecider:
    """The access hook the composition root installed under ``DECIDE_SERVICE``; ``operator_only`` until then."""
    found = container.services.get(DECIDE_SERVICE)
    return found if callable(found) else operator_only


# --- endpoints ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EndpointView:
    """An endpoint as shown to operators: everything but the token."""

    source: str
    base_url: str
    has_token: bool
    timeout_ms: int
    max_attempts: int
    backoff_base_ms: int
    backoff_cap_ms: int
    deadline_ms: int
    breaker_failures: int
    breaker_window_s: int
    breaker_cooldown_s: int
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return {
            "source": self.source,
            "base_url": self.base_url,
            "has_token": self.has_token,
            "timeout_ms": self.timeout_ms,
            "max_attempts": self.max_attempts,
            "backoff_base_ms": self.backoff_base_ms,
            "backoff_cap_ms": self.backoff_cap_ms,
            "deadline_ms": self.deadline_ms,
            "breaker_failures": self.breaker_failures,
            "breaker_window_s": self.breaker_window_s,
            "breaker_cooldown_s": self.breaker_cooldown_s,
            "updated_at": self.updated_at.isoformat(),
        }


_TUNABLES: Final = (
    "timeout_ms",
    "max_attempts",
    "backoff_base_ms",
    "backoff_cap_ms",
    "deadline_ms",
    "breaker_failures",
    "breaker_window_s",
    "breaker_cooldown_s",
)
#: A well-formed endpoint whose numbers are the defaults; new endpoints and validation start from it.
_DEFAULT_ENDPOINT: Final = EndpointSettings(source="default", base_url="http://localhost")


def _view(row: ExchangeEndpoint) -> EndpointView:
    return EndpointView(
        source=row.source,
        base_url=row.base_url,
        has_token=row.token_enc is not None,
        updated_at=row.updated_at,
        **{name: getattr(row, name) for name in _TUNABLES},
    )


def set_endpoint(
    db: Database,
    *,
    actor: ActorRef,
    clock: Clock,
    cipher: PiiCipher,
    source: str,
    base_url: str,
    token: str | None = None,
    keep_token: bool = False,
    **tunables: int,
) -> EndpointView:
    """Create or replace the endpoint of a source department (a catalog department code); audited.

    ``tunables`` are the ``EndpointSettings`` numbers (``timeout_ms``, ``max_attempts``, …); any not
    given keep their current value, or the defaults for a new endpoint. ``keep_token`` keeps the
    stored token when ``token`` is None (otherwise None removes it).
    """
    with db.transaction() as s:
        return _set_endpoint(
            s,
            actor=actor,
            clock=clock,
            cipher=cipher,
            source=source,
            base_url=base_url,
            token=token,
            keep_token=keep_token,
            **tunables,
        )


def set_endpoints_at(
    db: Database, *, actor: ActorRef, clock: Clock, cipher: PiiCipher, url: str, token: str | None, sources: Iterable[str]
) -> list[EndpointView]:
    """Point several sources at one service, each at ``{url}/{source}`` (the simulator's layout), in one transaction.

    This is what the demo does after starting the department simulator.
    """
    root = url.rstrip("/")
    with db.transaction() as s:
        return [
            _set_endpoint(s, actor=actor, clock=clock, cipher=cipher, source=source, base_url=f"{root}/{source}", token=token)
            for source in sorted(set(sources))
        ]


def _set_endpoint(
    s: Session,
    *,
    actor: ActorRef,
    clock: Clock,
    cipher: PiiCipher,
    source: str,
    base_url: str,
    token: str | None,
    keep_token: bool = False,
    **tunables: int,
) -> EndpointView:
    unknown = set(tunables) - set(_TUNABLES)
    if unknown:
        raise InvalidInput(f"unknown endpoint settings: {', '.join(sorted(unknown))}")
    departments = {d.code for d in load_catalog().departments}
    if source not in departments:
        raise InvalidInput(f"unknown source department {source!r} (known: {', '.join(sorted(departments))})")
    now = clock.now()
    row = s.scalars(sa.select(ExchangeEndpoint).where(ExchangeEndpoint.source == source)).one_or_none()
    values = {name: tunables.get(name, getattr(row if row else _DEFAULT_ENDPOINT, name)) for name in _TUNABLES}
    _check_settings(source=source, base_url=base_url, values=values)
    token_enc = cipher.encrypt(token, context=TOKEN_CONTEXT) if token else None
    if row is None:
        row = ExchangeEndpoint(id=new_id(), source=source, created_at=now)
        s.add(row)
    elif token is None and keep_token:
        token_enc = row.token_enc
    row.base_url = base_url
    row.token_enc = token_enc
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = now
    s.flush()
    audit.record(
        s,
        actor=actor,
        action="exchange.endpoint.set",
        target_type="exchange_endpoint",
        target_id=source,
        data={"base_url": base_url, "has_token": token_enc is not None, **values},
        clock=clock,
    )
    return _view(row)


def _check_settings(*, source: str, base_url: str, values: Mapping[str, Any]) -> None:
    try:
        dataclasses.replace(_DEFAULT_ENDPOINT, source=source, base_url=base_url, **values)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def list_endpoints(db: Database) -> list[EndpointView]:
    """Every configured endpoint, by source code."""
    with db.transaction() as s:
        return [_view(r) for r in s.scalars(sa.select(ExchangeEndpoint).order_by(ExchangeEndpoint.source))]


# --- fetch --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Cached:
    """A cache row with its records in clear."""

    records: list[dict[str, Any]]
    as_of: datetime
    fetched_at: datetime
    etag: str | None


def fetch(
    db: Database,
    connector_registry: ConnectorRegistry,
    *,
    actor: ActorRef,
    source: str | None,
    item: str,
    uscc: str,
    purpose: str | None,
    clock: Clock,
    permissions: Collection[str] = (),
    decide: AccessDecider = operator_only,
) -> FetchResult:
    """A subject's records of a catalog item from its source department, through the cache.

    Within the item's ``freshness`` the cached answer is served without a call (``cached``);
    otherwise the department is called (``fresh`` on success). When the call fails or the source's
    breaker is open the answer degrades: the cached copy marked ``stale`` with its age, or
    ``unavailable`` when there is none — a failing source never raises here. Bad input does:
    an unknown item (404), an invalid USCC (422), a source that does not own the item (422).

    AUTHORIZATION HOOK: ``decide`` is asked first, with the actor, the ``permissions`` it holds,
    the item's disclosure class and the ``purpose``. The default, ``operator_only``, admits holders
    of ``exchange:query:run`` (platform operators); the consent engineer's ``check_access`` replaces it
    for institutions querying under an enterprise's authorization. A refusal is audited
    (``exchange.query.denied``) in a committed transaction, then raised as 403.

    Every query is logged in ``exchange_call``; a query of non-public data is audited
    (``exchange.query``, subject = the USCC, ``data.purpose``) in the transaction that logs it.
    """
    entry = load_catalog().item(item)
    code = parse_uscc(uscc, lenient=True)
    owners = allowed_sources(entry.department.code, [d.code for _, d in entry.department_by_value])
    chosen = source or entry.department.code
    if chosen not in owners:
        raise SourceNotAllowed(f"{item} comes from {', '.join(sorted(owners))}, not {chosen!r}")
    query = AccessQuery(
        actor=actor,
        permissions=frozenset(str(p) for p in permissions),
        source=chosen,
        item=entry.code,
        disclosure=entry.disclosure.value,
        uscc=code,
        purpose=purpose,
    )
    decision = decide(query)
    if not decision.allowed:
        with db.transaction() as s:
            audit.record(
                s,
                actor=actor,
                action="exchange.query.denied",
                subject=code,
                target_type="catalog_item",
                target_id=entry.code,
                reasons=decision.reasons,
                data={"purpose": purpose, "source": chosen},
                clock=clock,
            )
        raise QueryRefused("；".join(decision.reasons))

    freshness = max_age(months=entry.freshness.months, days=entry.freshness.days, seconds=entry.freshness.seconds)
    cipher = connector_registry.cipher
    started_at = clock.now()
    with db.transaction() as s:
        endpoint_row = s.scalars(sa.select(ExchangeEndpoint).where(ExchangeEndpoint.source == chosen)).one_or_none()
        cache_row = s.scalars(
            sa.select(ExchangeCache).where(
                ExchangeCache.source == chosen, ExchangeCache.item == entry.code, ExchangeCache.uscc == code
            )
        ).one_or_none()
        cached = _readable(cache_row, entry, cipher) if cache_row else None
        if cached is not None and is_fresh(cached.fetched_at, started_at, freshness):
            result = _from_cache(FetchStatus.CACHED, entry, chosen, code, cached, started_at)
            _log_call(s, result=result, report=None, started_at=started_at, from_cache=True)
            _audit_read(s, actor=actor, query=query, entry=entry, result=result, reasons=decision.reasons, clock=clock)
            return result
        endpoint, unusable = _endpoint_settings(endpoint_row, connector_registry) if endpoint_row else (None, None)

    if endpoint is None:
        detail = unusable or f"no endpoint configured for {chosen}"
        report = CallReport(CallOutcome.NOT_CONFIGURED, attempts=0, duration_ms=0, detail=detail)
    else:
        connector = connector_registry.connector(endpoint)
        report = connector.query(item=entry, uscc=code, clock=clock, etag=cached.etag if cached else None)

    finished_at = clock.now()
    with db.transaction() as s:
        if report.ok and report.answer is not None:
            records = [dict(r) for r in report.answer.records]
            _store(s, source=chosen, entry=entry, uscc=code, records=records, report=report, at=finished_at, cipher=cipher)
            result = FetchResult(
                status=FetchStatus.FRESH,
                source=chosen,
                item=entry.code,
                uscc=code,
                records=tuple(_masked(entry, r) for r in records),
                as_of=report.answer.as_of,
                fetched_at=finished_at,
                age_seconds=0,
            )
        elif report.ok and cached is not None:  # 304: the cached copy is current again
            _touch(s, source=chosen, item=entry.code, uscc=code, at=finished_at)
            refreshed = _Cached(cached.records, cached.as_of, finished_at, cached.etag)
            result = _from_cache(FetchStatus.FRESH, entry, chosen, code, refreshed, finished_at)
        elif cached is not None:
            result = _from_cache(FetchStatus.STALE, entry, chosen, code, cached, finished_at, report=report)
        else:
            result = FetchResult(
                status=FetchStatus.UNAVAILABLE,
                source=chosen,
                item=entry.code,
                uscc=code,
                reason=_failure_reason(report),
                detail=report.detail,
            )
        _log_call(s, result=result, report=report, started_at=started_at, from_cache=result.status is FetchStatus.STALE)
        _audit_read(s, actor=actor, query=query, entry=entry, result=result, reasons=decision.reasons, clock=clock)
        return result


def _failure_reason(report: CallReport) -> str:
    # A 304 without a cached copy cannot happen (we only send If-None-Match with one); treat it as an error.
    return CallOutcome.ERROR.value if report.ok else report.outcome.value


def _endpoint_settings(row: ExchangeEndpoint, registry: ConnectorRegistry) -> tuple[EndpointSettings | None, str | None]:
    """The endpoint's settings, or None and why it cannot be used (a token under a retired key)."""
    try:
        token = registry.decrypt_token(row.token_enc)
    except (ValueError, KeyError, InvalidTag):
        log.warning("exchange endpoint token cannot be decrypted", extra={"source": row.source})
        return None, f"the token of endpoint {row.source} cannot be decrypted (retired key?); set it again"
    settings = dataclasses.replace(
        _DEFAULT_ENDPOINT,
        source=row.source,
        base_url=row.base_url,
        token=token,
        **{name: getattr(row, name) for name in _TUNABLES},
    )
    return settings, None


def _from_cache(
    status: FetchStatus,
    entry: Item,
    source: str,
    uscc: str,
    cached: _Cached,
    now: datetime,
    *,
    report: CallReport | None = None,
) -> FetchResult:
    records = tuple(_masked(entry, r) for r in cached.records)
    return FetchResult(
        status=status,
        source=source,
        item=entry.code,
        uscc=uscc,
        records=records,
        as_of=cached.as_of,
        fetched_at=cached.fetched_at,
        age_seconds=age_seconds(cached.fetched_at, now),
        reason=None if report is None else report.outcome.value,
        detail=None if report is None else report.detail,
    )


# --- personal data in the cache -----------------------------------------------------------------


def _readable(row: ExchangeCache, entry: Item, cipher: PiiCipher) -> _Cached | None:
    """The cached answer in clear, or None when it can no longer be decrypted (its key was retired).

    The cache is only a copy: after a key rotation an unreadable entry is simply a miss, refilled by
    the next call, rather than an error or something the rotation has to reach into JSON for.
    """
    try:
        records = [_decrypted(entry, r, cipher) for r in row.payload]
    except (ValueError, KeyError, InvalidTag):
        log.warning("unreadable exchange cache entry treated as missing", extra={"source": row.source, "item": row.item})
        return None
    return _Cached(records, row.as_of, row.fetched_at, row.etag)


def _id_fields(entry: Item) -> tuple[str, ...]:
    return tuple(f.name for f in entry.record_schema if f.type is FieldType.ID_NUMBER)


def _context(entry: Item, field_name: str) -> str:
    return f"exchange_cache.{entry.code}.{field_name}"


def _encrypted(entry: Item, record: Mapping[str, Any], cipher: PiiCipher) -> dict[str, Any]:
    out = dict(record)
    for name in _id_fields(entry):
        if out.get(name):
            out[name] = cipher.encrypt(str(out[name]), context=_context(entry, name))
    return out


def _decrypted(entry: Item, record: Mapping[str, Any], cipher: PiiCipher) -> dict[str, Any]:
    out = dict(record)
    for name in _id_fields(entry):
        if out.get(name):
            out[name] = cipher.decrypt(str(out[name]), context=_context(entry, name))
    return out


def _masked(entry: Item, record: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(record)
    for name in _id_fields(entry):
        if out.get(name):
            out[name] = mask_id_number(str(out[name]))
    return out


def content_hash(records: list[dict[str, Any]], cipher: PiiCipher) -> str:
    """Keyed SHA-256 of the canonical JSON of clear records (keyed: the records hold personal data)."""
    canonical = json.dumps(records, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    key = hashlib.sha256(cipher.digest("exchange_cache.content_hash").encode()).digest()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


# --- writes -------------------------------------------------------------------------------------


def _store(
    s: Session,
    *,
    source: str,
    entry: Item,
    uscc: str,
    records: list[dict[str, Any]],
    report: CallReport,
    at: datetime,
    cipher: PiiCipher,
) -> None:
    """Insert or replace the cached answer; a concurrent worker's newer answer is never overwritten by an older one."""
    assert report.answer is not None
    values = {
        "id": new_id(),
        "source": source,
        "item": entry.code,
        "uscc": uscc,
        "payload": [_encrypted(entry, r, cipher) for r in records],
        "record_count": len(records),
        "as_of": report.answer.as_of,
        "fetched_at": at,
        "etag": (report.etag or "")[:200] or None,
        "content_hash": content_hash(records, cipher),
    }
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(ExchangeCache).values(**values)
    changed = {k: statement.excluded[k] for k in ("payload", "record_count", "as_of", "fetched_at", "etag", "content_hash")}
    s.execute(
        statement.on_conflict_do_update(
            index_elements=["source", "item", "uscc"],
            set_=changed,
            where=ExchangeCache.fetched_at <= statement.excluded.fetched_at,
        )
    )


def _touch(s: Session, *, source: str, item: str, uscc: str, at: datetime) -> None:
    s.execute(
        sa.update(ExchangeCache)
        .where(
            ExchangeCache.source == source,
            ExchangeCache.item == item,
            ExchangeCache.uscc == uscc,
            ExchangeCache.fetched_at <= at,
        )
        .values(fetched_at=at)
    )


def _log_call(s: Session, *, result: FetchResult, report: CallReport | None, started_at: datetime, from_cache: bool) -> None:
    from_cache = from_cache or result.status is FetchStatus.CACHED
    s.add(
        ExchangeCall(
            id=new_id(),
            source=result.source,
            item=result.item,
            started_at=started_at,
            duration_ms=report.duration_ms if report else 0,
            outcome=report.outcome.value if report else CallOutcome.OK.value,
            status=result.status.value,
            from_cache=from_cache,
            attempts=report.attempts if report else 0,
            http_status=report.http_status if report else None,
            detail=report.detail if report else None,
            request_id=current_request_id(),
        )
    )


def _audit_read(
    s: Session,
    *,
    actor: ActorRef,
    query: AccessQuery,
    entry: Item,
    result: FetchResult,
    reasons: tuple[str, ...],
    clock: Clock,
) -> None:
    """Audit a query of non-public data (public items are logged in ``exchange_call`` only)."""
    if entry.disclosure is Disclosure.PUBLIC:
        return
    audit.record(
        s,
        actor=actor,
        action="exchange.query",
        subject=query.uscc,
        target_type="catalog_item",
        target_id=entry.code,
        reasons=reasons,
        data={
            "purpose": query.purpose,
            "source": query.source,
            "disclosure": entry.disclosure.value,
            "status": result.status.value,
            "records": len(result.records),
            "as_of": result.as_of.isoformat() if result.as_of else None,
        },
        clock=clock,
    )


# --- reading the log ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallView:
    """One row of the call log."""

    id: uuid.UUID
    source: str
    item: str
    started_at: datetime
    duration_ms: int
    outcome: str
    status: str
    from_cache: bool
    attempts: int
    http_status: int | None
    detail: str | None


def recent_calls(db: Database, *, source: str | None = None, item: str | None = None, limit: int = 100) -> list[CallView]:
    """The latest calls, newest first (for monitoring and tests)."""
    with db.transaction() as s:
        query = sa.select(ExchangeCall).order_by(ExchangeCall.started_at.desc(), ExchangeCall.id.desc()).limit(limit)
        if source:
            query = query.where(ExchangeCall.source == source)
        if item:
            query = query.where(ExchangeCall.item == item)
        return [
            CallView(
                id=r.id,
                source=r.source,
                item=r.item,
                started_at=r.started_at,
                duration_ms=r.duration_ms,
                outcome=r.outcome,
                status=r.status,
                from_cache=r.from_cache,
                attempts=r.attempts,
                http_status=r.http_status,
                detail=r.detail,
            )
            for r in s.scalars(query)
        ]
