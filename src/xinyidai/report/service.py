"""Report use cases: issue the public, authorized and special reports; serve them to their owner; verify them.

The public and authorized reports are one transaction each: the access decision (authorized report), the records
(`ingest.report_records`, read in that transaction), the number, the stored report and its audit events. The special
report reads `ingest.visible_records` first, in a read transaction of its own.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xinyidai import audit, catalog, consent, ingest
from xinyidai.consent import AccessAction, Keyring, Purpose, SignatureInvalid
from xinyidai.db import Database
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock, today
from xinyidai.kernel.errors import Forbidden
from xinyidai.kernel.ids import new_id
from xinyidai.principal import Permission, Principal
from xinyidai.report.model import (
    MARK_REPAIRED,
    SCHEMA,
    SIGNATURE_TYPE,
    VERIFY_PATH,
    DailyLimitReached,
    Entry,
    ReportKind,
    ReportNotFound,
    SectionSpec,
    advice,
    build_sections,
    canonical_json,
    check_period,
    content_sha256,
    in_period,
    load_layout,
    new_verification_code,
    normalize_code,
    presented_content,
    report_number,
    shown_value,
    signature_claims,
)
from xinyidai.report.tables import Report, ReportSequence

#: Fields of a record that may carry the subject's name (registration first).
_NAME_FIELDS = ("name", "subject_name", "CF_XDR_MC", "XK_XDR_MC")


@dataclass(frozen=True, slots=True)
class ReportDocument:
    """An issued report: its metadata, the signed document, its hash and the platform's signature."""

    id: uuid.UUID
    number: str
    kind: ReportKind
    special_type: str | None
    subject_uscc: str
    subject_name: str | None
    generated_at: datetime
    verification_code: str
    sha256: str
    signature: str
    key_id: str
    content: dict[str, Any]
    #: The content's canonical JSON (what `sha256` covers) when the document was just issued; lets the JSON
    #: delivery embed the bytes already hashed instead of serialising the document again.
    canonical: bytes | None = None

    @property
    def title(self) -> str:
        """The report's Chinese title."""
        return str(self.content["title"])

    def envelope_json(self) -> bytes:
        """`envelope()` as UTF-8 JSON bytes, the document embedded as its canonical JSON."""
        body = self.canonical if self.canonical is not None else canonical_json(self.content)
        rest = json.dumps(
            {"sha256": self.sha256, "signature": self.signature, "signature_type": SIGNATURE_TYPE, "key_id": self.key_id},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        return b'{"report":' + body + b"," + rest[1:]

    def envelope(self) -> dict[str, Any]:
        """What a JSON download holds: the document, its hash and the signature over it."""
        return {
            "report": self.content,
            "sha256": self.sha256,
            "signature": self.signature,
            "signature_type": SIGNATURE_TYPE,
            "key_id": self.key_id,
        }


@dataclass(frozen=True, slots=True)
class ReportSummary:
    """One line of a list of reports."""

    number: str
    kind: ReportKind
    title: str
    subject_uscc: str
    subject_name: str | None
    generated_at: datetime
    verification_code: str


@dataclass(frozen=True, slots=True)
class ReportVerification:
    """What the public verification tells about a code, and whether a presented document matches."""

    number: str
    kind: ReportKind
    title: str
    subject_uscc: str
    subject_name: str | None
    generated_at: datetime
    sha256: str
    key_id: str
    #: The platform's signature over the stored hash verifies with a published key.
    signature_valid: bool
    #: None when nothing was presented; else whether the presented document hashes to the signed hash.
    matches: bool | None
    presented_sha256: str | None
    signature: str


# --- helpers -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Disclosure:
    """The item codes of a catalog version in force, public and not (in category order)."""

    public: tuple[str, ...]
    private: tuple[str, ...]
    public_set: frozenset[str]
    #: Every item of the version.
    every: frozenset[str]


@functools.lru_cache(maxsize=8)
def _disclosure(version_key: str) -> _Disclosure:
    """Worked out once per catalog version: the catalog is read once per process and never changes in it."""
    version = catalog.version_for(version_key)
    items = [item for category in version.categories for item in version.items_in(category.code)]
    public = tuple(i.code for i in items if i.disclosure is catalog.Disclosure.PUBLIC)
    private = tuple(i.code for i in items if i.disclosure is not catalog.Disclosure.PUBLIC)
    return _Disclosure(public, private, frozenset(public), frozenset(public + private))


def _disclosure_on(day: date) -> _Disclosure:
    return _disclosure(catalog.version_for(None, on=day).key)


_Shown = tuple[tuple[str, str, bool, bool], ...]
#: A record as a report reads it: the lean `ingest.ReportRecord` (public and authorized reports) or a full view
#: (the special report, which also needs publication dates).
_ShownRecord = ingest.ReportRecord | ingest.RecordView


def _shown_fields(item: catalog.Item) -> _Shown:
    """The fields a report shows of an item's records: (name, Chinese label, masked, is an ID number), in schema
    order, the subject field left out; worked out once per item (`_shown_item`)."""
    out: list[tuple[str, str, bool, bool]] = []
    for spec in item.record_schema:
        if spec.name == item.subject_field:
            continue
        is_id = spec.type is catalog.FieldType.ID_NUMBER or spec.name.endswith("ZJHM") or spec.name.endswith("_id_no")
        out.append((spec.name, spec.label_zh, spec.personal or is_id, is_id))
    return tuple(out)


def _entry(record: _ShownRecord, item: catalog.Item | None, shown: _Shown | None = None) -> Entry:
    fields: list[tuple[str, str]] = []
    if item is not None:
        data = record.data
        for name, label, personal, is_id in shown if shown is not None else _shown_fields(item):
            value = data.get(name)
            if value is None or value == "":
                continue
            # Most values are plain text shown as stored (what `shown_value` returns for them): no call needed.
            if type(value) is not str or personal:
                value = shown_value(value, personal=personal, id_number=is_id)
            fields.append((label, value))
    # Positional: one entry per record, and keyword construction of a named tuple costs more.
    return Entry(
        str(record.id),
        record.item_code,
        record.item_name,
        item.category if item is not None else "",
        record.event_date,
        tuple(fields),
        record.negative,
        record.disputed,
        record.repaired,
        record.statement,
    )


@functools.lru_cache(maxsize=1024)
def _shown_item(code: str) -> tuple[catalog.Item | None, _Shown]:
    """An item and the fields a report shows of it, once per code: the catalog is read once per process and never
    changes in it (`catalog.load_catalog`)."""
    try:
        item = catalog.load_catalog().item(code)
    except catalog.NotInCatalog:
        return None, ()
    return item, _shown_fields(item)


def _entries(records: Iterable[_ShownRecord]) -> list[Entry]:
    out: list[Entry] = []
    for record in records:
        item, shown = _shown_item(record.item_code)
        out.append(_entry(record, item, shown))
    return out


def _subject_name(records: Sequence[_ShownRecord]) -> str | None:
    ordered = sorted(records, key=lambda r: r.item_code != "registration")
    for record in ordered:
        for name in _NAME_FIELDS:
            value = record.data.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def _owner_of(who: Principal | None) -> str | None:
    if who is None:
        return None
    if who.institution_id is not None:
        return f"institution:{who.institution_id}"
    if who.enterprise_uscc:
        return f"enterprise:{who.enterprise_uscc}"
    return f"user:{who.id}"


def _actor(who: Principal | None) -> ActorRef:
    return who.ref if who is not None else ActorRef.anonymous()


def _sequence_upsert(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = Report.metadata.tables[ReportSequence.__tablename__]
    return (
        insert(table)
        .values(node_id=sa.bindparam("node_id"), day=sa.bindparam("day"), last=1)
        .on_conflict_do_update(index_elements=[table.c.node_id, table.c.day], set_={"last": table.c.last + 1})
        .returning(table.c.last)
    )


#: The number upsert of each dialect, built once (its compiled form is then reused from SQLAlchemy's cache).
_SEQUENCE_UPSERT = {dialect: _sequence_upsert(dialect) for dialect in ("postgresql", "sqlite")}


def _next_sequence(session: Session, node_id: str, day: date) -> int:
    """Take the next number of the day atomically (an upsert, so concurrent issuers never collide)."""
    conn = session.connection()
    return int(conn.execute(_SEQUENCE_UPSERT[conn.dialect.name], {"node_id": node_id, "day": day}).scalar_one())


def _document(row: Report) -> ReportDocument:
    return ReportDocument(
        id=row.id,
        number=row.number,
        kind=ReportKind(row.kind),
        special_type=row.special_type,
        subject_uscc=row.subject_uscc,
        subject_name=row.subject_name,
        generated_at=row.generated_at,
        verification_code=row.verification_code,
        sha256=row.content_sha256,
        signature=row.signature,
        key_id=row.key_id,
        content=dict(row.content),
    )


@dataclass(frozen=True, slots=True)
class _Draft:
    kind: ReportKind
    title: str
    uscc: str
    subject_name: str | None
    sections: list[dict[str, Any]]
    advice: list[str]
    extra: dict[str, Any]
    owner: str | None
    special_type: str | None = None
    authorization_id: uuid.UUID | None = None
    purpose: str | None = None
    period: tuple[date, date] | None = None
    daily_key: str | None = None


def _insert_report(dialect: str) -> sa.Insert:
    """One Core INSERT of a report row (no ORM unit-of-work bookkeeping), the document bound as the canonical JSON
    text already made to hash it rather than serialised a second time by the JSON column type. PostgreSQL casts
    the text to its ``json`` column (checked and kept as sent: the stored text is the hashed one); SQLite stores it
    as is (a JSON column is text there; a CAST to JSON would not be)."""
    table = Report.metadata.tables[Report.__tablename__]
    text = sa.bindparam("content", type_=sa.Text())
    return sa.insert(table).values(content=sa.cast(text, postgresql.JSON()) if dialect == "postgresql" else text)


#: The report INSERT of each dialect, built once (its compiled form is then reused from SQLAlchemy's cache).
_INSERT_REPORT = {dialect: _insert_report(dialect) for dialect in ("postgresql", "sqlite")}


def _issue_data(document: ReportDocument, draft: _Draft) -> dict[str, Any]:
    """What an audit event records of an issued report."""
    return {
        "number": document.number,
        "sha256": document.sha256,
        "authorization_id": str(draft.authorization_id) if draft.authorization_id else None,
        "special_type": draft.special_type,
    }


def _issue(
    session: Session,
    *,
    node_id: str,
    clock: Clock,
    keyring: Keyring,
    who: Principal | None,
    draft: _Draft,
    audited: bool = True,
) -> ReportDocument:
    """Number, sign and store a report in the caller's transaction; audited as ``report.<kind>.issue`` unless
    ``audited`` is False: the authorized report is recorded by its access event instead (`_issue_data` in its
    ``outcome``), one event per pull.

    The content is serialised once: its canonical JSON is hashed, signed (through the hash) and handed to the
    JSON delivery with the document."""
    at = clock.now()
    day = today(clock)
    number = report_number(node_id, day, _next_sequence(session, node_id, day))
    code = new_verification_code()
    content: dict[str, Any] = {
        "schema": SCHEMA,
        "number": number,
        "kind": draft.kind.value,
        "title": draft.title,
        "node_id": node_id,
        "generated_at": at.isoformat(),
        "verification": {"code": code, "path": VERIFY_PATH},
        "subject": {"uscc": draft.uscc, "name": draft.subject_name},
        "catalog_version": catalog.version_for(None, on=day).key,
        "sections": draft.sections,
        "advice": draft.advice,
        "notes": [
            "本报告仅记载平台归集的信用信息事实，不作评价。",
            "个人证件号码等个人信息已按规定屏蔽显示。",
            "可凭验证码在平台公开页面核验本报告的真实性与完整性。",
        ],
        **draft.extra,
    }
    canonical = canonical_json(content)
    sha = hashlib.sha256(canonical).hexdigest()
    signature = keyring.sign(signature_claims(content, sha), typ=SIGNATURE_TYPE)
    report_id = new_id()
    conn = session.connection()
    conn.execute(
        _INSERT_REPORT[conn.dialect.name],
        {
            "id": report_id,
            "number": number,
            "verification_code": code,
            "kind": draft.kind.value,
            "special_type": draft.special_type,
            "subject_uscc": draft.uscc,
            "subject_name": draft.subject_name,
            "owner": draft.owner,
            "requested_by": str(who.id) if who is not None else "anonymous",
            "authorization_id": draft.authorization_id,
            "purpose": draft.purpose,
            "period_from": draft.period[0] if draft.period else None,
            "period_to": draft.period[1] if draft.period else None,
            "daily_key": draft.daily_key,
            "generated_at": at,
            "content_sha256": sha,
            "signature": signature,
            "key_id": keyring.kid,
            "content": canonical.decode(),
        },
    )
    document = ReportDocument(
        id=report_id,
        number=number,
        kind=draft.kind,
        special_type=draft.special_type,
        subject_uscc=draft.uscc,
        subject_name=draft.subject_name,
        generated_at=at,
        verification_code=code,
        sha256=sha,
        signature=signature,
        key_id=keyring.kid,
        content=content,
        canonical=canonical,
    )
    if audited:
        audit.record(
            session,
            actor=_actor(who),
            action=f"report.{draft.kind.value}.issue",
            subject=draft.uscc,
            target_type="report",
            target_id=report_id,
            data=_issue_data(document, draft),
            clock=clock,
        )
    return document


def _normalize_uscc(code: str) -> str:
    return code.strip().upper()


# --- use cases -----------------------------------------------------------------------------------


def create_public_report(db: Database, *, actor: Principal | None, clock: Clock, keyring: Keyring, uscc: str) -> ReportDocument:
    """公共信用信息报告 of any subject, for anyone: public items in publication, in the standard's sections."""
    code = _normalize_uscc(uscc)
    day = today(clock)
    layout = load_layout()
    with db.transaction() as s:
        records = ingest.report_records(s, uscc=code, items=_disclosure_on(day).public, as_of=day)
        entries = _entries(records)
        draft = _Draft(
            kind=ReportKind.PUBLIC,
            title=layout.public_title,
            uscc=code,
            subject_name=_subject_name(records),
            sections=build_sections(entries, layout.public_sections),
            advice=advice(entries, layout),
            extra={"scope": "public"},
            owner=_owner_of(actor),
        )
        return _issue(s, node_id=db.node_id, clock=clock, keyring=keyring, who=actor, draft=draft)


def create_authorized_report(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    keyring: Keyring,
    uscc: str,
    authorization_id: uuid.UUID,
    purpose: Purpose,
) -> ReportDocument:
    """The report an institution pulls under an authorization: public items plus the authorized ones, by scope.

    `consent.check_access` (action report → audit ``consent.access.pull``) decides every non-public
    item; records of allowed items are clipped to the authorization's data range. When no non-public
    item is allowed — authorization missing, another institution's (404), paused, revoked, expired,
    for another purpose or subject, or its cap used up (403) — nothing is issued, and the denial event stays.
    """
    code = _normalize_uscc(uscc)
    day = today(clock)
    layout = load_layout()
    split = _disclosure_on(day)
    public, private = split.public_set, split.private
    issued: list[ReportDocument] = []
    with db.transaction() as s:
        # The records are read in the report's transaction (one transaction per report), before the decision: the
        # decision takes the authorization's row lock, held until commit, and the read does not lengthen it. Every
        # item of the version is wanted, so the rows are kept by that item set here rather than by an IN list of
        # all of them in the query (whose expansion SQLAlchemy redoes on every execution): the same rows in the
        # same order.
        every = split.every
        records = [r for r in ingest.report_records(s, uscc=code, as_of=day) if r.item_code in every]

        def issue(check: consent.AccessCheck) -> dict[str, Any]:
            # Called by the access check when some non-public item is allowed, before its event is appended: the
            # one event of the pull records the access and the report it produced (number and hash), chained
            # after the report row. The document cites that event by the id the check chose for it.
            allowed = set(check.allowed_items)
            window = check.data_range
            kept = [
                r
                for r in records
                if r.item_code in public
                or (
                    r.item_code in allowed
                    and (window is None or (r.event_date is not None and window.start <= r.event_date <= window.end))
                )
            ]
            entries = _entries(kept)
            draft = _Draft(
                kind=ReportKind.AUTHORIZED,
                title=ReportKind.AUTHORIZED.label_zh,
                uscc=code,
                subject_name=_subject_name(records),
                sections=build_sections(entries, layout.public_sections),
                advice=advice(entries, layout),
                extra={
                    "scope": "public+authorized",
                    "authorization": {
                        "id": str(authorization_id),
                        "purpose": purpose.value,
                        "purpose_label": purpose.label_zh,
                        "institution_id": str(actor.institution_id),
                        "items": sorted(allowed),
                        "data_range": {"from": window.start.isoformat(), "to": window.end.isoformat()} if window else None,
                        "access_event_id": str(check.audit_event_id),
                    },
                },
                owner=_owner_of(actor),
                authorization_id=authorization_id,
                purpose=purpose.value,
            )
            document = _issue(s, node_id=db.node_id, clock=clock, keyring=keyring, who=actor, draft=draft, audited=False)
            issued.append(document)
            return {"report": {"id": str(document.id), "kind": draft.kind.value, **_issue_data(document, draft)}}

        check = consent.check_access(
            s,
            principal=actor,
            action=AccessAction.REPORT,
            subject_uscc=code,
            items=private,
            purpose=purpose,
            authorization_id=authorization_id,
            clock=clock,
            then=issue,
        )
    if not issued:
        check.raise_for_denial()
        raise consent.AccessDenied("授权未覆盖任何非公开信息项")  # pragma: no cover - raise_for_denial always raises here
    return issued[0]


def create_special_report(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    keyring: Keyring,
    report_type: str,
    period_from: date,
    period_to: date,
) -> ReportDocument:
    """专项信用报告 an enterprise requests for itself: the chosen period (up to 5 years), the type's sections,
    repaired records shown marked 已修复, one request per type per China day (409 past it)."""
    if not actor.enterprise_uscc:
        raise Forbidden("只有企业可以申请本企业的专项信用报告")
    code = _normalize_uscc(actor.enterprise_uscc)
    day = today(clock)
    layout = load_layout()
    special = layout.special_type(report_type)
    check_period(period_from, period_to, today=day)
    sections: tuple[SectionSpec, ...] = layout.special_items(special)
    wanted = sorted({i for s in sections for i in s.items})
    daily_key = f"{code}:{special.code}:{day.isoformat()}"
    with db.transaction() as s:
        taken = s.scalar(sa.select(Report.id).where(Report.daily_key == daily_key))
        if taken is not None:
            audit.record(
                s,
                actor=actor.ref,
                action="report.special.refused",
                subject=code,
                reasons=[f"今日已申请过{special.title}"],
                data={"special_type": special.code},
                clock=clock,
            )
    if taken is not None:
        raise DailyLimitReached(f"今日已申请过{special.title}，请明日再申请")
    records = ingest.visible_records(db, uscc=code, items=wanted, as_of=day, include_unpublished=True)
    kept = [r for r in records if (r.published_on(day) or r.repaired) and in_period(r.event_date, period_from, period_to)]
    entries = _entries(kept)
    draft = _Draft(
        kind=ReportKind.SPECIAL,
        title=special.title,
        uscc=code,
        subject_name=_subject_name(records),
        sections=build_sections(entries, sections),
        advice=advice(entries, layout),
        extra={
            "special_type": special.code,
            "period": {"from": period_from.isoformat(), "to": period_to.isoformat()},
            "conclusion": (
                "报告期内未发现行政处罚、行政强制及严重失信名单信息。"
                if not entries
                else f"报告期内共有 {len(entries)} 条相关信息，其中 {sum(e.repaired for e in entries)} 条{MARK_REPAIRED}。"
            ),
        },
        owner=_owner_of(actor),
        special_type=special.code,
        period=(period_from, period_to),
        daily_key=daily_key,
    )
    try:
        with db.transaction() as s:
            return _issue(s, node_id=db.node_id, clock=clock, keyring=keyring, who=actor, draft=draft)
    except IntegrityError as exc:  # a concurrent request of the same type won the day's slot
        if "daily_key" in str(exc.orig) or "report" in str(exc.orig):
            raise DailyLimitReached(f"今日已申请过{special.title}，请明日再申请") from exc
        raise


def get_report(db: Database, *, actor: Principal, clock: Clock, number: str) -> ReportDocument:
    """A report for its owner (the institution, enterprise or user that had it issued) or an operator holding
    report:report:read; anyone else gets 404, audited. Non-public reports are audited as downloads."""
    with db.transaction() as s:
        row = s.scalar(sa.select(Report).where(Report.number == number.strip().upper()))
        mine = row is not None and row.owner is not None and row.owner == _owner_of(actor)
        operator = Permission.REPORT_READ in actor.permissions
        if row is None or not (mine or operator):
            audit.record(
                s,
                actor=actor.ref,
                action="report.report.read.denied",
                subject=row.subject_uscc if row is not None else None,
                target_type="report",
                reasons=["报告不存在或不属于本人/本机构"],
                data={"number": number[:64]},
                clock=clock,
            )
            denied = True
        else:
            denied = False
            if row.kind != ReportKind.PUBLIC.value or not mine:
                audit.record(
                    s,
                    actor=actor.ref,
                    action="report.report.download",
                    subject=row.subject_uscc,
                    target_type="report",
                    target_id=row.id,
                    data={
                        "number": row.number,
                        "institution_id": str(actor.institution_id) if actor.institution_id else None,
                        "authorization_id": str(row.authorization_id) if row.authorization_id else None,
                        "purpose": row.purpose,
                    },
                    clock=clock,
                )
            document = _document(row)
    if denied:
        raise ReportNotFound()
    return document


def list_reports(db: Database, *, actor: Principal, limit: int = 100) -> list[ReportSummary]:
    """The caller's own reports, newest first."""
    owner = _owner_of(actor)
    with db.transaction() as s:
        rows = s.scalars(
            sa.select(Report).where(Report.owner == owner).order_by(Report.generated_at.desc(), Report.number.desc()).limit(limit)
        ).all()
        return [
            ReportSummary(
                number=r.number,
                kind=ReportKind(r.kind),
                title=str(r.content.get("title", ReportKind(r.kind).label_zh)),
                subject_uscc=r.subject_uscc,
                subject_name=r.subject_name,
                generated_at=r.generated_at,
                verification_code=r.verification_code,
            )
            for r in rows
        ]


def _signature_valid(keyring: Keyring, row: Report) -> bool:
    try:
        claims = keyring.verify(row.signature, expected_type=SIGNATURE_TYPE).payload
    except SignatureInvalid:
        return False
    return claims.get("sha256") == row.content_sha256 and claims.get("number") == row.number


def verify_report(db: Database, *, keyring: Keyring, code: str, presented: Mapping[str, Any] | None = None) -> ReportVerification:
    """Public check of a verification code: the report's facts, whether the platform's signature holds, and —
    when a document (the JSON download, or the JSON embedded in the PDF) is presented — whether it is unaltered."""
    canonical = normalize_code(code)
    if not canonical:
        raise ReportNotFound("验证码格式不正确")
    with db.transaction() as s:
        row = s.scalar(sa.select(Report).where(Report.verification_code == canonical))
        if row is None:
            raise ReportNotFound("验证码不存在")
        valid = _signature_valid(keyring, row) and content_sha256(row.content) == row.content_sha256
        matches: bool | None = None
        presented_sha: str | None = None
        if presented is not None:
            document = presented_content(presented)
            if document is None:
                matches = False
            else:
                presented_sha = content_sha256(document)
                matches = presented_sha == row.content_sha256
        return ReportVerification(
            number=row.number,
            kind=ReportKind(row.kind),
            title=str(row.content.get("title", ReportKind(row.kind).label_zh)),
            subject_uscc=row.subject_uscc,
            subject_name=row.subject_name,
            generated_at=row.generated_at,
            sha256=row.content_sha256,
            key_id=row.key_id,
            signature_valid=valid,
            matches=matches,
            presented_sha256=presented_sha,
            signature=row.signature,
        )
