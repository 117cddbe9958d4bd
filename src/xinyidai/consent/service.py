"""Consent use cases: request, approve after the password, pause/resume/revoke, expire, read within tenancy,
fair-use policies, webhook endpoints, and `check_access`, which decides and audits every read of non-public data.

Each use case is one transaction. Refusals that must leave a trace (a denied read, a wrong password, an
over-broad request, another institution's authorization) record their audit event in a transaction that
commits, and raise after it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from xinyidai import audit, catalog, job, principal
from xinyidai.consent.model import (
    CHINA_TIME,
    ENTERPRISE_TRANSITIONS,
    TRANSITIONS,
    Authorization,
    AuthorizationStateConflict,
    AuthorizationStatus,
    AuthorizationTerms,
    DateRange,
    FairUseExceeded,
    FairUsePolicy,
    FetchType,
    Frequency,
    FrequencyUnit,
    Purpose,
    Scope,
    Transition,
    check_fair_use,
    effective_status,
    next_status,
    validate_policy,
    validate_terms,
)
from xinyidai.consent.model import DEFAULT_POLICIES as _DEFAULT_POLICIES
from xinyidai.consent.signing import ARTEFACT_TYPE, NOTICE_TYPE, Keyring, SignatureInvalid, keyring_from_settings, same_digest
from xinyidai.consent.tables import ConsentAuthorization, ConsentEndpoint, ConsentPolicy, ConsentTransition
from xinyidai.db import Database
from xinyidai.http.container import Container
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock, today
from xinyidai.kernel.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from xinyidai.kernel.ids import new_id
from xinyidai.kernel.pii import PiiCipher
from xinyidai.kernel.uscc import validate as validate_uscc
from xinyidai.principal import Principal, Role

#: The actor expiry is recorded under.
EXPIRY_ACTOR = ActorRef.system("consent-expiry")
#: Topic prefix of status pushes: consent.authorization.approved, .rejected, .paused, .resumed, .revoked, .expired.
TOPIC_PREFIX = "consent.authorization."
#: Associated data the endpoint secrets are encrypted with (see encrypted.py).
SECRET_CONTEXT = "consent_endpoint.secret"  # noqa: S105 - the cipher context label, not a secret
MIN_WEBHOOK_SECRET = 24

_PUSHED_STATUS = {
    Transition.APPROVE: "approved",
    Transition.REJECT: "rejected",
    Transition.PAUSE: "paused",
    Transition.RESUME: "resumed",
    Transition.REVOKE: "revoked",
    Transition.EXPIRE: "expired",
}


# --- errors -------------------------------------------------------------------------------------


class AuthorizationNotFound(NotFound):
    """No such authorization — or one the caller may not know exists (another institution's, another enterprise's)."""

    code: ClassVar[str] = "authorization_not_found"
    title: ClassVar[str] = "未找到该授权"


class PasswordConfirmationFailed(Forbidden):
    """Approving needs the enterprise user's password again, and it was wrong."""

    code: ClassVar[str] = "password_confirmation_failed"
    title: ClassVar[str] = "密码确认失败"


class ClausesChanged(Forbidden):
    """The clauses the enterprise accepted are not the ones the authorization now states."""

    code: ClassVar[str] = "consent_clauses_mismatch"
    title: ClassVar[str] = "授权条款已变化，请重新阅读后确认"


# --- views --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransitionView:
    """One step of an authorization's history."""

    transition: str
    from_status: str | None
    to_status: str
    reason: str | None
    actor_label: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Clause:
    """One sentence of the standard-form consent; `key` marks the ones pages must show most prominently."""

    text: str
    key: bool = False


@dataclass(frozen=True, slots=True)
class AuthorizationView:
    """An authorization as its enterprise and its institution see it; `status` is the one in force when read."""

    id: uuid.UUID
    enterprise_uscc: str
    institution_id: uuid.UUID
    institution_code: str
    institution_name: str
    purpose: Purpose
    scope_categories: tuple[str, ...]
    scope_items: tuple[str, ...]
    catalog_version: str
    data_from: date
    data_to: date
    fetch_type: FetchType
    frequency: Frequency | None
    data_life_days: int
    starts_at: datetime | None
    expires_at: datetime
    note: str | None
    status: AuthorizationStatus
    requested_at: datetime
    requested_by: str
    decided_at: datetime | None
    valid_from: datetime | None
    status_changed_at: datetime
    artefact: str | None
    artefact_kid: str | None
    artefact_alg: str | None
    clauses_sha256: str | None
    history: tuple[TransitionView, ...] = ()

    @property
    def terms(self) -> AuthorizationTerms:
        """The terms as the rules see them."""
        return AuthorizationTerms(
            purpose=self.purpose,
            scope=Scope(frozenset(self.scope_categories), frozenset(self.scope_items)),
            data_range=DateRange(self.data_from, self.data_to),
            fetch_type=self.fetch_type,
            frequency=self.frequency,
            data_life_days=self.data_life_days,
            starts_at=self.starts_at,
            expires_at=self.expires_at,
        )

    @property
    def enterprise_actions(self) -> tuple[Transition, ...]:
        """The transitions the enterprise may make now (for pages)."""
        return tuple(t for t in Transition if t in ENTERPRISE_TRANSITIONS and (self.status, t) in TRANSITIONS)


@dataclass(frozen=True, slots=True)
class AuthorizationPage:
    """A page of authorizations: `{items, total, limit, offset}`."""

    items: tuple[AuthorizationView, ...]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class EndpointView:
    """An institution's webhook endpoint; the secret only when the platform has just generated it."""

    institution_id: uuid.UUID
    url: str
    secret_set: bool
    updated_at: datetime
    generated_secret: str | None = None


@dataclass(frozen=True, slots=True)
class Verification:
    """What POST /authorizations/verify says about a token."""

    valid: bool
    reason: str | None
    authorization_id: str | None
    kid: str | None
    alg: str | None
    claims: dict[str, Any] | None
    status: str | None


# --- helpers ------------------------------------------------------------------------------------


def _frequency(row: ConsentAuthorization | sa.Row[Any]) -> Frequency | None:
    if row.frequency_unit is None or row.frequency_max is None:
        return None
    return Frequency(row.frequency_max, FrequencyUnit(row.frequency_unit))


def _view(row: ConsentAuthorization, *, at: datetime, history: Iterable[ConsentTransition] = ()) -> AuthorizationView:
    return AuthorizationView(
        id=row.id,
        enterprise_uscc=row.enterprise_uscc,
        institution_id=row.institution_id,
        institution_code=row.institution_code,
        institution_name=row.institution_name,
        purpose=Purpose(row.purpose),
        scope_categories=tuple(row.scope_categories),
        scope_items=tuple(row.scope_items),
        catalog_version=row.catalog_version,
        data_from=row.data_from,
        data_to=row.data_to,
        fetch_type=FetchType(row.fetch_type),
        frequency=_frequency(row),
        data_life_days=row.data_life_days,
        starts_at=row.starts_at,
        expires_at=row.expires_at,
        note=row.note,
        status=effective_status(AuthorizationStatus(row.status), expires_at=row.expires_at, at=at),
        requested_at=row.requested_at,
        requested_by=row.requested_by,
        decided_at=row.decided_at,
        valid_from=row.valid_from,
        status_changed_at=row.status_changed_at,
        artefact=row.artefact,
        artefact_kid=row.artefact_kid,
        artefact_alg=row.artefact_alg,
        clauses_sha256=row.clauses_sha256,
        history=tuple(TransitionView(h.transition, h.from_status, h.to_status, h.reason, h.actor_label, h.at) for h in history),
    )


#: The columns `authorization_of` reads.
AUTHORIZATION_FIELDS = (
    "id",
    "enterprise_uscc",
    "institution_id",
    "institution_name",
    "status",
    "purpose",
    "scope_categories",
    "scope_items",
    "data_from",
    "data_to",
    "fetch_type",
    "frequency_unit",
    "frequency_max",
    "data_life_days",
    "starts_at",
    "expires_at",
    "valid_from",
)


def authorization_of(row: ConsentAuthorization | sa.Row[Any]) -> Authorization:
    """The pure view of a stored authorization, as `decide_access` takes it: from the mapped row, or from a Core
    row holding at least the `AUTHORIZATION_FIELDS` columns."""
    return Authorization(
        id=row.id,
        enterprise_uscc=row.enterprise_uscc,
        institution_id=row.institution_id,
        status=AuthorizationStatus(row.status),
        terms=AuthorizationTerms(
            purpose=Purpose(row.purpose),
            scope=Scope(frozenset(row.scope_categories), frozenset(row.scope_items)),
            data_range=DateRange(row.data_from, row.data_to),
            fetch_type=FetchType(row.fetch_type),
            frequency=_frequency(row),
            data_life_days=row.data_life_days,
            starts_at=row.starts_at,
            expires_at=row.expires_at,
        ),
        valid_from=row.valid_from,
    )


def _history(session: Session, authorization_id: uuid.UUID) -> list[ConsentTransition]:
    return list(
        session.scalars(
            sa.select(ConsentTransition)
            .where(ConsentTransition.authorization_id == authorization_id)
            .order_by(ConsentTransition.at, ConsentTransition.id)
        )
    )


def _timestamp(moment: datetime) -> int:
    return int(moment.timestamp())


def normalize_uscc(code: str) -> str:
    """A USCC stripped and upper-cased (no validation)."""
    return code.strip().upper()


def _catalog_names() -> tuple[dict[str, str], dict[str, str]]:
    cat = catalog.load_catalog()
    categories = {c.code: c.name_zh for v in cat.versions for c in v.categories}
    items = {i.code: i.name_zh for i in cat.items}
    return categories, items


def scope_labels(view: AuthorizationView) -> tuple[list[str], list[str]]:
    """The Chinese names of the categories and items an authorization covers."""
    categories, items = _catalog_names()
    return [categories.get(c, c) for c in view.scope_categories], [items.get(i, i) for i in view.scope_items]


def consent_clauses(view: AuthorizationView) -> tuple[Clause, ...]:
    """The standard-form consent (格式条款) the enterprise reads and accepts; the key terms are marked for prominence."""
    categories, items = scope_labels(view)
    scope = "；".join(x for x in ("、".join(categories), "、".join(items)) if x)
    fetch = "一次性查询：授权期内仅可查询一次" if view.fetch_type is FetchType.ONE_TIME else f"周期性查询：{view.frequency}"
    start = view.starts_at.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M") if view.starts_at else "本企业同意之时"
    life = (
        "机构仅可查看，不得留存所获数据"
        if view.data_life_days == 0
        else f"机构获取数据后最多保存 {view.data_life_days} 天，期满应予删除"
    )
    return (
        Clause(
            f"本企业（统一社会信用代码 {view.enterprise_uscc}）授权 {view.institution_name}（机构代码 {view.institution_code}）"
            f"通过本平台查询本企业的下列信用信息，仅用于“{view.purpose.label_zh}”。",
            key=True,
        ),
        Clause(f"授权查询的信息范围：{scope}。", key=True),
        Clause(f"所查数据的期间：{view.data_from.isoformat()} 至 {view.data_to.isoformat()}。"),
        Clause(f"查询方式：{fetch}。"),
        Clause(f"授权期限：自{start}起，至 {view.expires_at.astimezone(CHINA_TIME).strftime('%Y-%m-%d %H:%M')} 止。", key=True),
        Clause(f"数据保存期限：{life}。", key=True),
        Clause("机构不得将所获信息用于上述用途以外的目的，未经本企业同意不得向任何第三方提供。", key=True),
        Clause("本企业可随时暂停或撤销本授权，暂停或撤销自机构的下一次查询起生效，平台将即时通知机构。", key=True),
        Clause("平台记录依据本授权进行的每一次查询（查询机构、时间、用途、授权编号、信息项），本企业可随时查看。"),
    )


def clauses_digest(clauses: Sequence[Clause]) -> str:
    """SHA-256 (hex) of the clauses' text, bound into the signed artefact."""
    return hashlib.sha256("\n".join(c.text for c in clauses).encode()).hexdigest()


def _resolve_scope(scope: Scope, *, on: date) -> tuple[str, list[str]]:
    """Check every category and item against the catalog version in force; return that version and the problems."""
    version = catalog.version_for(None, on=on)
    problems: list[str] = []
    known_categories = {c.code for c in version.categories}
    known_items = {i.code for i in version.items}
    for code in sorted(scope.categories - known_categories):
        problems.append(f"目录 {version.key} 版中没有信息类别 {code}")
    for code in sorted(scope.items - known_items):
        problems.append(f"目录 {version.key} 版中没有信息项 {code}")
    return version.key, problems


def _policy_from_row(row: ConsentPolicy) -> FairUsePolicy:
    return FairUsePolicy(
        purpose=Purpose(row.purpose),
        max_validity_days=row.max_validity_days,
        max_data_range_days=row.max_data_range_days,
        max_frequency=Frequency(row.max_frequency_fetches, FrequencyUnit(row.max_frequency_unit)),
        max_data_life_days=row.max_data_life_days,
    )


def _policy_for(session: Session, purpose: Purpose) -> FairUsePolicy:
    row = session.get(ConsentPolicy, purpose.value)
    # A purpose added after the migration seeded the table falls back to its coded default.
    return _policy_from_row(row) if row is not None else _DEFAULT_POLICIES[purpose]


def _record_refusal(
    db: Database,
    *,
    actor: ActorRef,
    clock: Clock,
    action: str,
    reasons: Sequence[str],
    subject: str | None = None,
    target_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Audit a refusal in its own transaction, which commits before the caller raises."""
    with db.transaction() as s:
        audit.record(
            s,
            actor=actor,
            action=action,
            subject=subject,
            target_type="authorization" if target_id else None,
            target_id=target_id,
            reasons=list(reasons),
            data=data,
            clock=clock,
        )


def _uscc_acceptable(code: str) -> bool:
    """Strictly valid, or one of the known pilot codes that were really issued though they fail a check."""
    if validate_uscc(code).valid:
        return True
    lenient = validate_uscc(code, lenient=True)
    return lenient.valid and "legacy_pilot" in lenient.warning_codes


def _institution_of(who: Principal) -> uuid.UUID:
    if who.institution_id is None:
        raise Forbidden("仅金融机构（或其接口客户端）可以申请授权")
    return who.institution_id


def _may_see(row: ConsentAuthorization, who: Principal) -> bool:
    """Tenancy: an institution sees only its own authorizations, an enterprise only those it gave."""
    if who.institution_id is not None:
        return row.institution_id == who.institution_id
    if who.enterprise_uscc is not None and who.role is Role.ENTERPRISE:
        return row.enterprise_uscc == who.enterprise_uscc
    return False


# --- request ------------------------------------------------------------------------------------


def request_authorization(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    enterprise_uscc: str,
    terms: AuthorizationTerms,
    note: str | None = None,
) -> AuthorizationView:
    """An institution asks an enterprise for an authorization; refused when unsound or wider than fair use."""
    institution_id = _institution_of(actor)
    now = clock.now()
    uscc = normalize_uscc(enterprise_uscc)
    problems = [] if _uscc_acceptable(uscc) else [f"统一社会信用代码无效：{'；'.join(validate_uscc(uscc).errors)}"]
    problems += validate_terms(terms, now=now)
    catalog_version, scope_problems = _resolve_scope(terms.scope, on=today(clock))
    problems += scope_problems
    if problems:
        raise InvalidInput("；".join(problems), problems=problems)
    institution = principal.get_institution(db, institution_id=institution_id)
    if institution is None:
        raise Forbidden("申请机构不存在")
    with db.transaction() as s:
        breaches = check_fair_use(terms, _policy_for(s, terms.purpose), now=now)
    if breaches:
        refusal = FairUseExceeded(terms.purpose, breaches)
        _record_refusal(
            db,
            actor=actor.ref,
            clock=clock,
            action="consent.authorization.request.refused",
            subject=uscc,
            reasons=[b.message for b in breaches],
            data={"purpose": terms.purpose.value, "bounds": [b.bound.value for b in breaches]},
        )
        raise refusal
    with db.transaction() as s:
        row = ConsentAuthorization(
            id=new_id(),
            enterprise_uscc=uscc,
            institution_id=institution_id,
            institution_code=institution.code,
            institution_name=institution.name,
            purpose=terms.purpose.value,
            scope_categories=sorted(terms.scope.categories),
            scope_items=sorted(terms.scope.items),
            catalog_version=catalog_version,
            data_from=terms.data_range.start,
            data_to=terms.data_range.end,
            fetch_type=terms.fetch_type.value,
            frequency_unit=terms.frequency.unit.value if terms.frequency else None,
            frequency_max=terms.frequency.max_fetches if terms.frequency else None,
            data_life_days=terms.data_life_days,
            starts_at=terms.starts_at,
            expires_at=terms.expires_at,
            note=(note or "").strip()[:500] or None,
            status=AuthorizationStatus.REQUESTED.value,
            requested_at=now,
            requested_by=actor.label[:200],
            status_changed_at=now,
        )
        s.add(row)
        s.flush()
        step = ConsentTransition(
            id=new_id(),
            authorization_id=row.id,
            transition="request",
            from_status=None,
            to_status=AuthorizationStatus.REQUESTED.value,
            reason=row.note,
            actor_kind=actor.kind.value,
            actor_id=str(actor.id),
            actor_label=actor.label[:200],
            at=now,
        )
        s.add(step)
        audit.record(
            s,
            actor=actor.ref,
            action="consent.authorization.request",
            subject=uscc,
            target_type="authorization",
            target_id=row.id,
            data={
                "institution_id": str(institution_id),
                "purpose": terms.purpose.value,
                "categories": row.scope_categories,
                "items": row.scope_items,
                "expires_at": terms.expires_at.isoformat(),
            },
            clock=clock,
        )
        return _view(row, at=now, history=[step])


# --- reads --------------------------------------------------------------------------------------


def _denied_read(db: Database, *, actor: Principal, clock: Clock, authorization_id: uuid.UUID, reason: str) -> None:
    _record_refusal(
        db,
        actor=actor.ref,
        clock=clock,
        action="consent.authorization.read.denied",
        target_id=authorization_id,
        reasons=[reason],
    )


def get_authorization(db: Database, *, actor: Principal, clock: Clock, authorization_id: uuid.UUID) -> AuthorizationView:
    """One authorization with its history; another tenant's answers 404 exactly like a missing one (and is audited)."""
    now = clock.now()
    with db.transaction() as s:
        row = s.get(ConsentAuthorization, authorization_id)
        if row is not None and _may_see(row, actor):
            audit.record(
                s,
                actor=actor.ref,
                action="consent.authorization.read",
                subject=row.enterprise_uscc,
                target_type="authorization",
                target_id=row.id,
                clock=clock,
            )
            return _view(row, at=now, history=_history(s, row.id))
        reason = "授权不存在" if row is None else "不属于本机构或本企业的授权"
    _denied_read(db, actor=actor, clock=clock, authorization_id=authorization_id, reason=reason)
    raise AuthorizationNotFound()


def _status_filter(status: AuthorizationStatus, now: datetime) -> sa.ColumnElement[bool]:
    """Rows whose status in force at `now` is `status` (time-driven expiry included)."""
    live = [s.value for s in AuthorizationStatus if not s.terminal]
    if status is AuthorizationStatus.EXPIRED:
        return sa.or_(
            ConsentAuthorization.status == status.value,
            sa.and_(ConsentAuthorization.status.in_(live), ConsentAuthorization.expires_at <= now),
        )
    if status.terminal:
        return ConsentAuthorization.status == status.value
    return sa.and_(ConsentAuthorization.status == status.value, ConsentAuthorization.expires_at > now)


def list_authorizations(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    status: AuthorizationStatus | None = None,
    enterprise_uscc: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AuthorizationPage:
    """The caller's own authorizations, newest first: an institution's requests, or those an enterprise gave."""
    now = clock.now()
    query = sa.select(ConsentAuthorization)
    if actor.institution_id is not None:
        query = query.where(ConsentAuthorization.institution_id == actor.institution_id)
    elif actor.role is Role.ENTERPRISE and actor.enterprise_uscc:
        query = query.where(ConsentAuthorization.enterprise_uscc == actor.enterprise_uscc)
    else:
        raise Forbidden("仅金融机构和企业可以查看授权")
    if status is not None:
        query = query.where(_status_filter(status, now))
    if enterprise_uscc:
        query = query.where(ConsentAuthorization.enterprise_uscc == normalize_uscc(enterprise_uscc))
    with db.transaction() as s:
        total = int(s.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0)
        rows = s.scalars(
            query.order_by(ConsentAuthorization.requested_at.desc(), ConsentAuthorization.id.desc()).limit(limit).offset(offset)
        ).all()
        audit.record(
            s,
            actor=actor.ref,
            action="consent.authorization.list",
            subject=actor.enterprise_uscc if actor.institution_id is None else None,
            data={"count": len(rows), "total": total, "status": status.value if status else None},
            clock=clock,
        )
        return AuthorizationPage(tuple(_view(r, at=now) for r in rows), total, limit, offset)


# --- transitions --------------------------------------------------------------------------------


def endpoint_url(session: Session, institution_id: uuid.UUID) -> str | None:
    """The institution's webhook URL, read in the caller's transaction (None when it has set none)."""
    return session.scalar(sa.select(ConsentEndpoint.url).where(ConsentEndpoint.institution_id == institution_id))


_endpoint_url = endpoint_url


def find_active_authorization(
    db: Database, *, enterprise_uscc: str, institution_id: uuid.UUID, clock: Clock, purposes: Sequence[str] | None = None
) -> uuid.UUID | None:
    """The newest active, unexpired authorization of the enterprise to the institution (for one of `purposes`)."""
    now = clock.now()
    query = sa.select(ConsentAuthorization.id).where(
        ConsentAuthorization.enterprise_uscc == enterprise_uscc.strip().upper(),
        ConsentAuthorization.institution_id == institution_id,
        ConsentAuthorization.status == AuthorizationStatus.ACTIVE.value,
        ConsentAuthorization.expires_at > now,
    )
    if purposes:
        query = query.where(ConsentAuthorization.purpose.in_(list(purposes)))
    with db.transaction() as s:
        return s.scalar(query.order_by(ConsentAuthorization.requested_at.desc()).limit(1))


def _notice(
    keyring: Keyring, row: ConsentAuthorization, *, transition: Transition, reason: str | None, at: datetime, node_id: str
) -> str:
    return keyring.sign(
        {
            "iss": node_id,
            "jti": str(new_id()),
            "iat": _timestamp(at),
            "sub": row.enterprise_uscc,
            "aud": row.institution_code,
            "authorization_id": str(row.id),
            "status": row.status,
            "transition": transition.value,
            "reason": reason,
            "at": at.isoformat(),
        },
        typ=NOTICE_TYPE,
    )


def _push(
    session: Session,
    row: ConsentAuthorization,
    *,
    transition: Transition,
    previous: AuthorizationStatus,
    reason: str | None,
    at: datetime,
    keyring: Keyring,
    clock: Clock,
) -> uuid.UUID | None:
    """Queue the signed status push to the institution's endpoint, in the caller's transaction (none configured: None)."""
    url = _endpoint_url(session, row.institution_id)
    if url is None:
        return None
    node_id = str(session.info.get("node_id", "unknown"))
    payload: dict[str, Any] = {
        "authorization_id": str(row.id),
        "enterprise_uscc": row.enterprise_uscc,
        "institution_code": row.institution_code,
        "status": row.status,
        "previous_status": previous.value,
        "transition": transition.value,
        "reason": reason,
        "at": at.isoformat(),
        "notice": _notice(keyring, row, transition=transition, reason=reason, at=at, node_id=node_id),
    }
    if transition is Transition.APPROVE:
        payload["artefact"] = row.artefact
    return job.enqueue_outbox(
        session, topic=TOPIC_PREFIX + _PUSHED_STATUS[transition], destination=url, payload=payload, clock=clock
    )


def _apply(
    session: Session,
    row: ConsentAuthorization,
    *,
    transition: Transition,
    actor: ActorRef,
    reason: str | None,
    at: datetime,
    keyring: Keyring,
    clock: Clock,
    data: dict[str, Any] | None = None,
) -> None:
    """Move the row through `transition`: history, audit event and push, all in the caller's transaction."""
    previous = AuthorizationStatus(row.status)
    target = next_status(previous, transition)
    row.status = target.value
    row.status_changed_at = at
    session.add(
        ConsentTransition(
            id=new_id(),
            authorization_id=row.id,
            transition=transition.value,
            from_status=previous.value,
            to_status=target.value,
            reason=reason,
            actor_kind=actor.kind.value,
            actor_id=actor.id,
            actor_label=actor.label[:200],
            at=at,
        )
    )
    session.flush()
    outbox_id = _push(session, row, transition=transition, previous=previous, reason=reason, at=at, keyring=keyring, clock=clock)
    audit.record(
        session,
        actor=actor,
        action=f"consent.authorization.{transition.value}",
        subject=row.enterprise_uscc,
        target_type="authorization",
        target_id=row.id,
        reasons=[reason] if reason else [],
        data={
            "from": previous.value,
            "to": target.value,
            "institution_id": str(row.institution_id),
            "pushed": outbox_id is not None,
            "outbox_id": str(outbox_id) if outbox_id else None,
            **(data or {}),
        },
        clock=clock,
    )


def _enterprise_row(session: Session, *, actor: Principal, authorization_id: uuid.UUID) -> ConsentAuthorization | None:
    row = session.get(ConsentAuthorization, authorization_id, with_for_update=True)
    if row is None or actor.role is not Role.ENTERPRISE or not actor.enterprise_uscc:
        return None
    return row if row.enterprise_uscc == actor.enterprise_uscc else None


def _artefact_claims(row: ConsentAuthorization, *, approver: Principal, at: datetime, node_id: str) -> dict[str, Any]:
    frequency = _frequency(row)
    valid_from = row.valid_from or at
    return {
        "iss": node_id,
        "jti": str(row.id),
        "sub": row.enterprise_uscc,
        "aud": row.institution_code,
        "iat": _timestamp(at),
        "nbf": _timestamp(valid_from),
        "exp": _timestamp(row.expires_at),
        "authorization": {
            "version": 1,
            "enterprise": {"uscc": row.enterprise_uscc},
            "institution": {"id": str(row.institution_id), "code": row.institution_code, "name": row.institution_name},
            "purpose": {"code": row.purpose, "name": Purpose(row.purpose).label_zh},
            "scope": {"catalog_version": row.catalog_version, "categories": row.scope_categories, "items": row.scope_items},
            "data_range": {"from": row.data_from.isoformat(), "to": row.data_to.isoformat()},
            "fetch": {
                "type": row.fetch_type,
                "max_fetches": frequency.max_fetches if frequency else 1,
                "per": frequency.unit.value if frequency else None,
            },
            "data_life_days": row.data_life_days,
            "valid_from": valid_from.isoformat(),
            "expires_at": row.expires_at.isoformat(),
            "requested_at": row.requested_at.isoformat(),
            "approved_at": at.isoformat(),
            "approved_by": str(approver.id),
            "clauses_sha256": row.clauses_sha256,
        },
    }


def approve_authorization(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    keyring: Keyring,
    authorization_id: uuid.UUID,
    password: str,
    clauses_sha256: str | None = None,
) -> AuthorizationView:
    """The enterprise approves after re-entering its password; the platform signs the artefact and pushes it.

    The password is checked by `principal.reauthenticate` (audited there, and counted by the login
    throttle); a wrong one is refused here as 403 `password_confirmation_failed`, not 401: the
    session itself is fine.
    """
    now = clock.now()
    with db.transaction() as s:
        visible = _enterprise_row(s, actor=actor, authorization_id=authorization_id) is not None
    if not visible:
        _denied_read(db, actor=actor, clock=clock, authorization_id=authorization_id, reason="不属于本企业的授权")
        raise AuthorizationNotFound()
    try:
        principal.reauthenticate(db, clock=clock, principal=actor, password=password, purpose=f"同意授权 {authorization_id}")
    except Unauthenticated as exc:
        _record_refusal(
            db,
            actor=actor.ref,
            clock=clock,
            action="consent.authorization.approve.refused",
            subject=actor.enterprise_uscc,
            target_id=authorization_id,
            reasons=["确认密码错误"],
        )
        raise PasswordConfirmationFailed("密码不正确，授权未生效") from exc
    return _change(
        db,
        actor=actor,
        clock=clock,
        keyring=keyring,
        authorization_id=authorization_id,
        transition=Transition.APPROVE,
        reason=None,
        clauses_sha256=clauses_sha256,
        at=now,
    )


def _change(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    keyring: Keyring,
    authorization_id: uuid.UUID,
    transition: Transition,
    reason: str | None,
    at: datetime,
    clauses_sha256: str | None = None,
) -> AuthorizationView:
    refusal: Exception | None = None
    with db.transaction() as s:
        row = _enterprise_row(s, actor=actor, authorization_id=authorization_id)
        if row is None:
            refusal = AuthorizationNotFound()
        else:
            current = AuthorizationStatus(row.status)
            if (
                effective_status(current, expires_at=row.expires_at, at=at) is AuthorizationStatus.EXPIRED
                and not current.terminal
            ):
                # Time has already ended it: record the expiry (audited, pushed), then refuse what was asked.
                _apply(
                    s,
                    row,
                    transition=Transition.EXPIRE,
                    actor=EXPIRY_ACTOR,
                    reason="授权已到期",
                    at=at,
                    keyring=keyring,
                    clock=clock,
                )
                current = AuthorizationStatus.EXPIRED
            try:
                next_status(current, transition)
            except AuthorizationStateConflict as exc:
                refusal = exc
            else:
                if transition is Transition.APPROVE:
                    refusal = _approve(s, row, actor=actor, keyring=keyring, clauses_sha256=clauses_sha256, at=at, clock=clock)
                else:
                    _apply(s, row, transition=transition, actor=actor.ref, reason=reason, at=at, keyring=keyring, clock=clock)
            if refusal is None:
                return _view(row, at=at, history=_history(s, row.id))
    if isinstance(refusal, AuthorizationNotFound):
        _denied_read(db, actor=actor, clock=clock, authorization_id=authorization_id, reason="不属于本企业的授权")
    elif isinstance(refusal, AuthorizationStateConflict | FairUseExceeded | ClausesChanged):
        _record_refusal(
            db,
            actor=actor.ref,
            clock=clock,
            action=f"consent.authorization.{transition.value}.refused",
            subject=actor.enterprise_uscc,
            target_id=authorization_id,
            reasons=[str(refusal)],
        )
    assert refusal is not None
    raise refusal


def _approve(
    session: Session,
    row: ConsentAuthorization,
    *,
    actor: Principal,
    keyring: Keyring,
    clauses_sha256: str | None,
    at: datetime,
    clock: Clock,
) -> Exception | None:
    """Approve in the caller's transaction, or return why not (fair use tightened meanwhile, clauses changed)."""
    view = _view(row, at=at)
    breaches = check_fair_use(view.terms, _policy_for(session, view.purpose), now=at)
    if breaches:
        return FairUseExceeded(view.purpose, breaches)
    digest = clauses_digest(consent_clauses(view))
    if clauses_sha256 is not None and not same_digest(clauses_sha256, digest):
        return ClausesChanged()
    row.clauses_sha256 = digest
    row.decided_at = at
    row.approved_by = actor.id
    row.valid_from = max(row.starts_at or at, at)
    node_id = str(session.info.get("node_id", "unknown"))
    row.artefact = keyring.sign(_artefact_claims(row, approver=actor, at=at, node_id=node_id), typ=ARTEFACT_TYPE)
    row.artefact_kid = keyring.kid
    row.artefact_alg = keyring.algorithm.value
    _apply(
        session,
        row,
        transition=Transition.APPROVE,
        actor=actor.ref,
        reason=None,
        at=at,
        keyring=keyring,
        clock=clock,
        data={"kid": keyring.kid, "alg": keyring.algorithm.value, "clauses_sha256": digest},
    )
    return None


def change_authorization(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    keyring: Keyring,
    authorization_id: uuid.UUID,
    transition: Transition,
    reason: str | None = None,
) -> AuthorizationView:
    """The enterprise rejects, pauses, resumes or revokes; effective on the institution's next request, and pushed.

    Approving needs the password: use `approve_authorization`. A transition the life cycle lacks from
    the current status (revoking a revoked one) is a 409 `authorization_state_conflict`.
    """
    if transition is Transition.APPROVE or transition not in ENTERPRISE_TRANSITIONS:
        raise InvalidInput(f"企业不能直接执行“{transition.label_zh}”")
    text = (reason or "").strip()[:500] or None
    return _change(
        db,
        actor=actor,
        clock=clock,
        keyring=keyring,
        authorization_id=authorization_id,
        transition=transition,
        reason=text,
        at=clock.now(),
    )


def expire_due(db: Database, *, clock: Clock, keyring: Keyring, limit: int = 500) -> int:
    """Record the expiry of every authorization whose time has run out (audited and pushed); returns how many."""
    now = clock.now()
    live = [s.value for s in AuthorizationStatus if not s.terminal]
    with db.transaction() as s:
        ids = list(
            s.scalars(
                sa.select(ConsentAuthorization.id)
                .where(ConsentAuthorization.status.in_(live), ConsentAuthorization.expires_at <= now)
                .order_by(ConsentAuthorization.expires_at)
                .limit(limit)
            )
        )
    expired = 0
    for authorization_id in ids:
        # One transaction each: one bad row never holds back the others.
        with db.transaction() as s:
            row = s.get(ConsentAuthorization, authorization_id, with_for_update=True)
            if row is None or AuthorizationStatus(row.status).terminal or row.expires_at > now:
                continue
            _apply(
                s,
                row,
                transition=Transition.EXPIRE,
                actor=EXPIRY_ACTOR,
                reason="授权已到期",
                at=now,
                keyring=keyring,
                clock=clock,
            )
            expired += 1
    return expired


# --- verification -------------------------------------------------------------------------------


def verify_token(db: Database, *, keyring: Keyring, clock: Clock, token: str) -> Verification:
    """Check an artefact's signature with the published keys, and tell its status now (online verification)."""
    try:
        verified = keyring.verify(token)
    except SignatureInvalid as exc:
        return Verification(False, exc.detail, None, None, None, None, None)
    claims = verified.payload
    authorization_id = str(claims.get("jti", ""))
    status: str | None = None
    try:
        key = uuid.UUID(authorization_id)
    except ValueError:
        key = None
    if key is not None:
        with db.transaction() as s:
            row = s.get(ConsentAuthorization, key)
            if row is not None:
                status = effective_status(AuthorizationStatus(row.status), expires_at=row.expires_at, at=clock.now()).value
    return Verification(True, None, authorization_id, verified.header.get("kid"), verified.header.get("alg"), claims, status)


# --- fair-use policies --------------------------------------------------------------------------


def list_policies(db: Database) -> list[FairUsePolicy]:
    """The fair-use bounds of every purpose, in the order of `Purpose`."""
    with db.transaction() as s:
        return [_policy_for(s, purpose) for purpose in Purpose]


def set_policies(db: Database, *, actor: Principal, clock: Clock, policies: Sequence[FairUsePolicy]) -> list[FairUsePolicy]:
    """Replace the bounds of the purposes given (others keep theirs); audited with the old and new values."""
    problems = [p for policy in policies for p in validate_policy(policy)]
    purposes = [p.purpose for p in policies]
    if len(set(purposes)) != len(purposes):
        problems.append("同一用途只能出现一次")
    if problems:
        raise InvalidInput("；".join(problems), problems=problems)
    now = clock.now()
    with db.transaction() as s:
        changes = []
        for policy in policies:
            row = s.get(ConsentPolicy, policy.purpose.value)
            before = _policy_from_row(row) if row is not None else None
            if row is None:
                row = ConsentPolicy(purpose=policy.purpose.value)
                s.add(row)
            row.max_validity_days = policy.max_validity_days
            row.max_data_range_days = policy.max_data_range_days
            row.max_frequency_fetches = policy.max_frequency.max_fetches
            row.max_frequency_unit = policy.max_frequency.unit.value
            row.max_data_life_days = policy.max_data_life_days
            row.updated_at = now
            row.updated_by = actor.label[:200]
            changes.append({"purpose": policy.purpose.value, "before": _policy_json(before), "after": _policy_json(policy)})
        audit.record(
            s,
            actor=actor.ref,
            action="consent.policy.update",
            target_type="consent_policy",
            data={"changes": changes},
            clock=clock,
        )
        s.flush()
        return [_policy_for(s, purpose) for purpose in Purpose]


def _policy_json(policy: FairUsePolicy | None) -> dict[str, Any] | None:
    if policy is None:
        return None
    return {
        "max_validity_days": policy.max_validity_days,
        "max_data_range_days": policy.max_data_range_days,
        "max_frequency": {"max_fetches": policy.max_frequency.max_fetches, "unit": policy.max_frequency.unit.value},
        "max_data_life_days": policy.max_data_life_days,
    }


# --- webhook endpoints --------------------------------------------------------------------------


def _check_url(url: str, *, allow_insecure: bool) -> list[str]:
    parts = urlsplit(url)
    problems = []
    if parts.scheme not in ("https", "http") or not parts.hostname:
        problems.append("回调地址须为 http(s) 网址")
        return problems
    if parts.scheme != "https" and not allow_insecure:
        problems.append("回调地址须使用 https")
    if parts.username or parts.password or parts.fragment:
        problems.append("回调地址不能含用户名、密码或片段")
    if not allow_insecure:
        try:
            address = ipaddress.ip_address(parts.hostname)
        except ValueError:
            address = None
        if address is not None and (address.is_private or address.is_loopback or address.is_link_local or address.is_reserved):
            # Pushes leave from the platform's network: never let them be aimed at its own neighbours.
            problems.append("回调地址不能指向内网、回环或保留地址")
    return problems


def set_endpoint(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    cipher: PiiCipher,
    url: str,
    secret: str | None = None,
    allow_insecure: bool = False,
) -> EndpointView:
    """An institution admin sets where status pushes go and the HMAC secret; a missing secret is generated and shown once."""
    institution_id = _institution_of(actor)
    url = url.strip()
    problems = _check_url(url, allow_insecure=allow_insecure)
    if len(url) > 500:
        problems.append("回调地址过长")
    if secret is not None and len(secret) < MIN_WEBHOOK_SECRET:
        problems.append(f"签名密钥至少 {MIN_WEBHOOK_SECRET} 个字符")
    if problems:
        raise InvalidInput("；".join(problems), problems=problems)
    generated = None if secret is not None else secrets.token_urlsafe(32)
    value = secret if secret is not None else generated
    assert value is not None
    now = clock.now()
    with db.transaction() as s:
        taken = s.scalar(
            sa.select(ConsentEndpoint.institution_id).where(
                ConsentEndpoint.url == url, ConsentEndpoint.institution_id != institution_id
            )
        )
        if taken is not None:
            raise InvalidInput("该回调地址已被其他机构使用")
        row = s.get(ConsentEndpoint, institution_id)
        if row is None:
            row = ConsentEndpoint(institution_id=institution_id)
            s.add(row)
        row.url = url
        row.secret_enc = cipher.encrypt(value, context=SECRET_CONTEXT)
        row.updated_at = now
        row.updated_by = actor.label[:200]
        audit.record(
            s,
            actor=actor.ref,
            action="consent.endpoint.set",
            target_type="institution",
            target_id=institution_id,
            data={"url": url, "secret_generated": generated is not None},
            clock=clock,
        )
        return EndpointView(institution_id, url, True, now, generated)


def get_endpoint(db: Database, *, actor: Principal) -> EndpointView | None:
    """The caller's institution's endpoint (the secret is never shown again)."""
    institution_id = _institution_of(actor)
    with db.transaction() as s:
        row = s.get(ConsentEndpoint, institution_id)
        return None if row is None else EndpointView(row.institution_id, row.url, True, row.updated_at)


def webhook_secret_lookup(db: Database, cipher: PiiCipher) -> Callable[[str], str | None]:
    """`secret_for(destination)` for `job.WebhookTransport`: the secret of the institution endpoint at that URL."""

    def secret_for(destination: str) -> str | None:
        with db.transaction() as s:
            encrypted = s.scalar(sa.select(ConsentEndpoint.secret_enc).where(ConsentEndpoint.url == destination))
        return None if encrypted is None else cipher.decrypt(encrypted, context=SECRET_CONTEXT)

    return secret_for


# --- composition --------------------------------------------------------------------------------

#: Key under which the keyring is kept in `Container.services` (tests put their own there).
KEYRING_SERVICE = "consent.keyring"


def keyring_for(container: Container) -> Keyring:
    """The platform's signing keyring, built from the settings once and kept in the container."""
    found = container.services.get(KEYRING_SERVICE)
    if not isinstance(found, Keyring):
        found = keyring_from_settings(container.settings)
        container.services[KEYRING_SERVICE] = found
    return found
