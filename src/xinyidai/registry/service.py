"""Registry use cases: load registration records, find and read subjects, count them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from xinyidai import audit
from xinyidai.db import Database
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock
from xinyidai.kernel.errors import Forbidden, NotFound
from xinyidai.kernel.ids import new_id
from xinyidai.kernel.pii import PiiCipher, mask_id_number
from xinyidai.registry import industries, regions
from xinyidai.registry.model import Registration, may_read_subject, parse_registration
from xinyidai.registry.tables import Subject

_ID_CONTEXT = "subject.legal_rep_id"


@dataclass
class LoadSummary:
    """What a registration load did; every rejected row is listed with its line and reasons."""

    accepted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, list[str]]] = field(default_factory=list)


def _apply(row: Subject, reg: Registration, cipher: PiiCipher) -> None:
    row.name = reg.name
    row.entity_type = reg.entity_type
    row.authority_code = reg.authority_code
    row.org_type_code = reg.org_type_code
    row.region_code = reg.region_code
    row.industry_code = reg.industry_code
    row.legal_rep_name = reg.legal_rep_name
    row.legal_rep_id_type = reg.legal_rep_id_type
    if reg.legal_rep_id_no:
        row.legal_rep_id_enc = cipher.encrypt(reg.legal_rep_id_no, context=_ID_CONTEXT)
        row.legal_rep_id_mask = mask_id_number(reg.legal_rep_id_no)
        row.legal_rep_id_digest = cipher.digest(reg.legal_rep_id_no)
    else:
        row.legal_rep_id_enc = row.legal_rep_id_mask = row.legal_rep_id_digest = None
    row.registered_capital = reg.registered_capital
    row.established_on = reg.established_on
    row.address = reg.address
    row.business_scope = reg.business_scope
    row.status = reg.status
    row.registration_authority = reg.registration_authority
    row.content_hash = reg.content_hash()


def load_registrations(
    db: Database,
    *,
    actor: ActorRef,
    clock: Clock,
    cipher: PiiCipher,
    rows: Iterable[tuple[int, dict[str, Any]]],
    source: str,
) -> LoadSummary:
    """Load (line, row) registration records in one transaction: new subjects added, changed ones updated.

    Bad rows are reported and skipped; a re-run of the same rows changes nothing.
    """
    summary = LoadSummary()
    now = clock.now()
    with db.transaction() as s:
        pending: list[tuple[int, Registration]] = []

        def flush() -> None:
            codes = [reg.uscc for _, reg in pending]
            existing = {r.uscc: r for r in s.scalars(sa.select(Subject).where(Subject.uscc.in_(codes)))}
            for _line, reg in pending:
                current = existing.get(reg.uscc)
                if current is None:
                    current = Subject(id=new_id(), uscc=reg.uscc, created_at=now, updated_at=now)
                    _apply(current, reg, cipher)
                    s.add(current)
                    existing[reg.uscc] = current
                    summary.accepted += 1
                elif current.content_hash == reg.content_hash():
                    summary.unchanged += 1
                else:
                    _apply(current, reg, cipher)
                    current.updated_at = now
                    summary.updated += 1
            pending.clear()
            s.flush()

        for line, raw in rows:
            reg, errors = parse_registration(raw)
            if reg is None:
                summary.rejected.append((line, errors))
                continue
            pending.append((line, reg))
            if len(pending) >= 1000:
                flush()
        flush()
        audit.record(
            s,
            actor=actor,
            action="registry.subject.load",
            target_type="source",
            target_id=source,
            data={
                "accepted": summary.accepted,
                "updated": summary.updated,
                "unchanged": summary.unchanged,
                "rejected": len(summary.rejected),
            },
        )
    return summary


@dataclass(frozen=True, slots=True)
class SubjectSummary:
    """A subject in a list: public registration facts only."""

    uscc: str
    name: str
    region_code: str
    region_name: str | None
    industry_code: str | None
    status: str
    established_on: date | None


@dataclass(frozen=True, slots=True)
class SubjectDetail:
    """A subject's registration record for display; the legal representative's ID is masked."""

    uscc: str
    name: str
    entity_type: str | None
    authority_code: str
    org_type_code: str
    region_code: str
    region_name: str | None
    industry_code: str | None
    industry_name: str | None
    size_class: str | None
    legal_rep_name: str | None
    legal_rep_id_type: str | None
    legal_rep_id_masked: str | None
    registered_capital_wan: Decimal | None
    established_on: date | None
    address: str | None
    business_scope: str | None
    status: str
    registration_authority: str | None


def _summary(row: Subject) -> SubjectSummary:
    return SubjectSummary(
        uscc=row.uscc,
        name=row.name,
        region_code=row.region_code,
        region_name=regions.region_name(row.region_code),
        industry_code=row.industry_code,
        status=row.status,
        established_on=row.established_on,
    )


def search_subjects(
    db: Database,
    *,
    q: str | None = None,
    region_code: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[SubjectSummary], int]:
    """Subjects matching a name or code fragment, region prefix and status; with the total count."""
    query = sa.select(Subject)
    if q:
        like = f"%{q.strip()}%"
        query = query.where(sa.or_(Subject.name.like(like), Subject.uscc.like(f"{q.strip().upper()}%")))
    if region_code:
        query = query.where(Subject.region_code.like(f"{region_code.rstrip('0') or region_code}%"))
    if status:
        query = query.where(Subject.status == status)
    with db.transaction() as s:
        total = int(s.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0)
        rows = s.scalars(query.order_by(Subject.uscc).limit(limit).offset(offset)).all()
        return [_summary(r) for r in rows], total


def get_subject(
    db: Database, *, actor: ActorRef, uscc: str, can_read_all: bool, can_read_own: bool, own_uscc: str | None
) -> SubjectDetail:
    """One subject's record; the read is audited because it carries personal data (masked)."""
    code = uscc.strip().upper()
    decision = may_read_subject(can_read_all=can_read_all, can_read_own=can_read_own, own_uscc=own_uscc, uscc=code)
    with db.transaction() as s:
        if not decision.allowed:
            audit.record(s, actor=actor, action="registry.subject.read.denied", subject=code, reasons=list(decision.reasons))
        else:
            row = s.scalar(sa.select(Subject).where(Subject.uscc == code))
            if row is not None:
                audit.record(
                    s,
                    actor=actor,
                    action="registry.subject.read",
                    subject=code,
                    target_type="subject",
                    target_id=row.id,
                    reasons=list(decision.reasons),
                )
                industry = industries.industry(row.industry_code) if row.industry_code else None
                return SubjectDetail(
                    uscc=row.uscc,
                    name=row.name,
                    entity_type=row.entity_type,
                    authority_code=row.authority_code,
                    org_type_code=row.org_type_code,
                    region_code=row.region_code,
                    region_name=regions.region_name(row.region_code),
                    industry_code=row.industry_code,
                    industry_name=industry.name if industry else None,
                    size_class=row.size_class,
                    legal_rep_name=row.legal_rep_name,
                    legal_rep_id_type=row.legal_rep_id_type,
                    legal_rep_id_masked=row.legal_rep_id_mask,
                    registered_capital_wan=row.registered_capital,
                    established_on=row.established_on,
                    address=row.address,
                    business_scope=row.business_scope,
                    status=row.status,
                    registration_authority=row.registration_authority,
                )
    if not decision.allowed:
        raise Forbidden(decision.reasons[0])
    raise NotFound(f"未找到统一社会信用代码为 {code} 的市场主体")


def reveal_legal_rep_id(db: Database, *, actor: ActorRef, cipher: PiiCipher, uscc: str) -> str | None:
    """Decrypt a legal representative's ID number (for authorised processing only); audited."""
    with db.transaction() as s:
        row = s.scalar(sa.select(Subject).where(Subject.uscc == uscc))
        if row is None:
            raise NotFound("主体不存在")
        audit.record(s, actor=actor, action="registry.subject.reveal_id", subject=uscc, target_type="subject", target_id=row.id)
        return cipher.decrypt(row.legal_rep_id_enc, context=_ID_CONTEXT) if row.legal_rep_id_enc else None


def subject_figures(db: Database) -> dict[str, Any]:
    """Counts for dashboards: total, by status, and the top regions."""
    with db.transaction() as s:
        total = int(s.scalar(sa.select(sa.func.count()).select_from(Subject)) or 0)
        by_status = {k: int(v) for k, v in s.execute(sa.select(Subject.status, sa.func.count()).group_by(Subject.status))}
        top_regions = [
            (code, regions.region_name(code) or code, int(n))
            for code, n in s.execute(
                sa.select(Subject.region_code, sa.func.count())
                .group_by(Subject.region_code)
                .order_by(sa.func.count().desc(), Subject.region_code)
                .limit(8)
            )
        ]
        return {"total": total, "by_status": by_status, "top_regions": top_regions}
