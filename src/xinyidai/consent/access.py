"""The access check every read of a subject's data goes through: `decide_access` for each item, the fetch counted
against the authorization's cap, one audit event with every reason — all in the caller's transaction."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from xinyidai import audit, catalog
from xinyidai.consent.model import (
    AccessAction,
    AccessDecision,
    AccessorKind,
    DateRange,
    ItemRef,
    Purpose,
    decide_access,
    fetch_cap,
    fetch_window_start,
)
from xinyidai.consent.service import AUTHORIZATION_FIELDS, AuthorizationNotFound, authorization_of, normalize_uscc
from xinyidai.consent.tables import ConsentAuthorization, ConsentFetch
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock
from xinyidai.kernel.errors import Forbidden
from xinyidai.kernel.ids import new_id
from xinyidai.principal import Principal, Role

#: Audit action of a fetch with at least one item allowed, by access action (suffixes the access trail recognises).
_ACCESS_EVENTS = {
    AccessAction.READ.value: "consent.access.read",
    AccessAction.REPORT.value: "consent.access.pull",
    AccessAction.VERIFY.value: "consent.access.verify",
}
#: Audit action of a fetch with every item denied.
DENIED_EVENT = "consent.access.denied"


class AccessDenied(Forbidden):
    """A read the access decision refused; raised by callers after the denial's audit event is committed."""

    code: ClassVar[str] = "access_denied"
    title: ClassVar[str] = "未获授权，不能查询该信息"


@dataclass(frozen=True, slots=True)
class AccessCheck:
    """The decisions of one fetch (one or more items about one subject), as audited."""

    decisions: tuple[AccessDecision, ...]
    authorization_id: uuid.UUID | None
    #: The consent_fetch row when the fetch counted against the authorization's cap.
    fetch_id: uuid.UUID | None
    audit_event_id: uuid.UUID

    @property
    def allowed(self) -> bool:
        """True when every item is allowed."""
        return all(d.allowed for d in self.decisions)

    @property
    def allowed_items(self) -> tuple[str, ...]:
        """Codes of the items that may be returned."""
        return tuple(d.item for d in self.decisions if d.allowed)

    @property
    def denied_items(self) -> tuple[str, ...]:
        """Codes of the items that must not be returned."""
        return tuple(d.item for d in self.decisions if not d.allowed)

    @property
    def reasons(self) -> tuple[str, ...]:
        """Every reason, prefixed with its item."""
        return tuple(f"{d.item}: {r}" for d in self.decisions for r in d.reasons)

    @property
    def data_range(self) -> DateRange | None:
        """The data period records may be returned for, when the fetch is made under an authorization."""
        return next((d.data_range for d in self.decisions if d.data_range is not None), None)

    @property
    def hidden(self) -> bool:
        """The authorization named is missing or another institution's: answer 404, never 403."""
        return any(d.foreign for d in self.decisions)

    def decision(self, item: str) -> AccessDecision:
        """The decision for one item."""
        return next(d for d in self.decisions if d.item == item)

    def raise_for_denial(self) -> None:
        """Raise the refusal a route should answer with, when any item was denied (call after committing)."""
        if self.allowed:
            return
        if self.hidden:
            raise AuthorizationNotFound()
        denied = [d for d in self.decisions if not d.allowed]
        raise AccessDenied("；".join(f"{d.item}: {'，'.join(d.reasons)}" for d in denied), items=[d.item for d in denied])


def accessor_kind(who: Principal | None) -> AccessorKind:
    """How the access decision classes a principal."""
    if who is None:
        return AccessorKind.ANONYMOUS
    if who.role is Role.ENTERPRISE and who.enterprise_uscc:
        return AccessorKind.ENTERPRISE
    if who.institution_id is not None:
        return AccessorKind.INSTITUTION
    if who.department_id is not None:
        return AccessorKind.DEPARTMENT
    return AccessorKind.PLATFORM


@functools.lru_cache(maxsize=4096)
def _item_ref(code: str) -> ItemRef | None:
    """What the decision needs of a catalog item, once per code: the catalog is read once per process and never
    changes in it (`catalog.load_catalog`)."""
    try:
        item = catalog.load_catalog().item(code)
    except catalog.NotInCatalog:
        return None
    return ItemRef(item.code, item.category, item.disclosure.value)


#: The columns the decision and the audit event need, locked (FOR UPDATE on PostgreSQL; SQLite's transactions
#: already hold the write lock) so that concurrent fetches cannot both slip under the cap. A Core select built
#: once: no ORM identity-map work, and the signed artefact (the widest column) is not read.
_AUTHORIZATION = (
    sa.select(*(ConsentAuthorization.__table__.c[name] for name in AUTHORIZATION_FIELDS))
    .where(ConsentAuthorization.__table__.c.id == sa.bindparam("id"))
    .with_for_update()
)

_FETCH_TABLE = ConsentFetch.metadata.tables[ConsentFetch.__tablename__]
_FETCHES = sa.select(sa.func.count()).select_from(_FETCH_TABLE).where(_FETCH_TABLE.c.authorization_id == sa.bindparam("id"))
#: Fetches in the cap's current window (the index on authorization_id, at serves it).
_FETCHES_SINCE = _FETCHES.where(_FETCH_TABLE.c.at >= sa.bindparam("start"))
_INSERT_FETCH = sa.insert(_FETCH_TABLE)


def _count_and_record(windowed: bool) -> sa.Select[Any]:
    """PostgreSQL: the fetches already made in the window and, when they are below the cap, this fetch recorded —
    one statement (a data-modifying CTE); returns (count before, recorded?)."""
    f = _FETCH_TABLE.c
    counted = (
        sa.select(sa.func.count().label("n"))
        .select_from(_FETCH_TABLE)
        .where(f.authorization_id == sa.bindparam("authorization_id"))
    )
    if windowed:
        counted = counted.where(f.at >= sa.bindparam("start", type_=f.at.type))
    used = counted.cte("used")
    names = ["id", "authorization_id", "institution_id", "subject_uscc", "action", "purpose", "items", "actor_id", "at"]
    values = sa.select(*(sa.bindparam(name, type_=f[name].type) for name in names)).where(used.c.n < sa.bindparam("cap"))
    added = sa.insert(_FETCH_TABLE).from_select(names, values).returning(f.id).cte("added")
    return sa.select(used.c.n, sa.exists(sa.select(added.c.id)))


#: Built once per kind of window (counted since a start, or since the beginning for one-time authorizations).
_COUNT_AND_RECORD = {windowed: _count_and_record(windowed) for windowed in (True, False)}


def check_access(
    session: Session,
    *,
    principal: Principal | None,
    action: AccessAction,
    subject_uscc: str,
    items: Sequence[str],
    purpose: Purpose | None,
    authorization_id: uuid.UUID | None,
    clock: Clock,
    data_range: DateRange | None = None,
    then: Callable[[AccessCheck], Mapping[str, Any]] | None = None,
) -> AccessCheck:
    """Decide, count and audit one fetch of `items` about `subject_uscc`, in the caller's transaction.

    Loads the authorization (locked, so concurrent fetches cannot both slip under the cap), counts
    the fetches already made in its current window, decides every item, records one consent_fetch
    row when any non-public item is allowed under the authorization, and appends one audit event
    with every reason: `consent.access.read`, `.pull` (reports) or `.verify` when some item is
    allowed (`data.denied` lists the others), `consent.access.denied` when none is. The allowed
    ones are access events of the enterprise's trail (`audit` counts actions ending in .read,
    .pull, .verify), so the reader need not append another. It never raises for a denial: the caller commits
    (so the event stays) and then calls `AccessCheck.raise_for_denial()`, or returns only
    `allowed_items`, clipped to `data_range`.

    ``then`` is what the caller does with an allowed fetch when that is itself a change (a report issued from
    it): called with the check (its ``audit_event_id`` already chosen) after the fetch is counted and before the
    event is appended, its result goes into the event's data as ``outcome`` — one event records the access and
    what came of it, chained after the change it describes. It is not called when every item is denied; if it
    raises, the caller's transaction rolls back with nothing recorded.
    """
    if not items:
        raise ValueError("check_access needs at least one item")
    at = clock.now()
    uscc = normalize_uscc(subject_uscc)
    kind = accessor_kind(principal)
    # Core statements on the transaction's connection (the caller's pending changes flushed first): the ORM
    # execution layer would cost more than these small statements themselves.
    session.flush()
    conn = session.connection()
    row = conn.execute(_AUTHORIZATION, {"id": authorization_id}).first() if authorization_id is not None else None
    authorization = authorization_of(row) if row is not None else None

    def decide_all(fetch_count: int) -> list[AccessDecision]:
        decisions: list[AccessDecision] = []
        for code in dict.fromkeys(items):
            ref = _item_ref(code)
            if ref is None:
                decisions.append(AccessDecision(False, (f"目录中没有信息项 {code}",), item=code))
                continue
            decision = decide_access(
                principal_kind=kind,
                principal_institution=principal.institution_id if principal else None,
                principal_enterprise=principal.enterprise_uscc if principal else None,
                action=action,
                subject_uscc=uscc,
                item=ref,
                purpose=purpose,
                authorization=authorization,
                at=at,
                fetch_count=fetch_count,
                data_range=data_range,
            )
            if authorization_id is not None and row is None and not decision.allowed:
                # A missing authorization is reported exactly like another institution's.
                decision = AccessDecision(False, ("授权不存在",), authorization_id=authorization_id, item=code, foreign=True)
            decisions.append(decision)
        return decisions

    fetch_count = 0
    fetch_id: uuid.UUID | None = None
    decisions = decide_all(0)
    if authorization is not None:
        start = fetch_window_start(authorization, at=at)
        institution = principal.institution_id if principal is not None else None
        held = authorization.id

        def fetch_row(items: list[str], reader: Principal) -> dict[str, Any]:
            return {
                "id": new_id(),
                "authorization_id": held,
                "institution_id": institution,
                "subject_uscc": uscc,
                "action": AccessAction(action).value,
                "purpose": purpose.value if purpose else "",
                "items": items,
                "actor_id": str(reader.id),
                "at": at,
            }

        counted = [d.item for d in decisions if d.allowed and d.counted]
        if counted and institution is not None and principal is not None and conn.dialect.name == "postgresql":
            # The decision reads the count only through "below the cap?" (and shows it in a reason), so it is
            # first made as if no fetch had been made yet; when that counts a fetch, one statement counts the
            # window's fetches and records this one only below the cap (`_COUNT_AND_RECORD`), and the decision
            # is made again with the count: the same items allowed, or the cap reached and nothing recorded. The
            # authorization's row lock (taken above) orders concurrent fetches, and the statement's snapshot,
            # taken after it, sees every fetch committed before.
            fetch = fetch_row(counted, principal)
            statement = _COUNT_AND_RECORD[start is not None]
            used, recorded = conn.execute(statement, {**fetch, "start": start, "cap": fetch_cap(authorization)}).one()
            fetch_count = int(used)
            if fetch_count:
                decisions = decide_all(fetch_count)
            if recorded:
                if [d.item for d in decisions if d.allowed and d.counted] != counted:  # pragma: no cover - invariant
                    raise RuntimeError("a fetch recorded below the cap must leave the decision unchanged")
                fetch_id = fetch["id"]
        else:
            # SQLite (whose transactions already hold the write lock), or nothing to record: count, decide, record.
            if start is None:
                fetch_count = int(conn.execute(_FETCHES, {"id": authorization.id}).scalar() or 0)
            else:
                fetch_count = int(conn.execute(_FETCHES_SINCE, {"id": authorization.id, "start": start}).scalar() or 0)
            if fetch_count:
                decisions = decide_all(fetch_count)
            counted = [d.item for d in decisions if d.allowed and d.counted]
            if counted and institution is not None and principal is not None:
                fetch = fetch_row(counted, principal)
                conn.execute(_INSERT_FETCH, fetch)
                fetch_id = fetch["id"]
    any_allowed = any(d.allowed for d in decisions)
    check = AccessCheck(tuple(decisions), authorization_id, fetch_id, new_id())
    outcome = then(check) if then is not None and any_allowed else None
    actor = principal.ref if principal is not None else ActorRef.anonymous()
    own_row = row is not None and principal is not None and row.institution_id == principal.institution_id
    # The fields the enterprise's access trail (谁查询了我的信息) shows; see audit/README.md.
    data: dict[str, Any] = {
        "action": str(action),
        "purpose": purpose.value if purpose else None,
        "purpose_label": purpose.label_zh if purpose else None,
        "institution_id": str(principal.institution_id) if principal and principal.institution_id else None,
        "institution_name": row.institution_name if own_row and row is not None else None,
        "authorization_id": str(authorization_id) if authorization_id else None,
        "items": [d.item for d in decisions if d.allowed],
        "denied": [d.item for d in decisions if not d.allowed],
        "fetch_id": str(fetch_id) if fetch_id else None,
        "fetch_count_before": fetch_count,
    }
    if outcome is not None:
        data["outcome"] = dict(outcome)
    audit.record(
        session,
        actor=actor,
        action=_ACCESS_EVENTS.get(str(action), "consent.access.read") if any_allowed else DENIED_EVENT,
        subject=uscc,
        target_type="authorization" if authorization_id else None,
        target_id=authorization_id,
        reasons=[f"{d.item}: {r}" for d in decisions for r in d.reasons],
        data=data,
        clock=clock,
        event_id=check.audit_event_id,
    )
    return check
