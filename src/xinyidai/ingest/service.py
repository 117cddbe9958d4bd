"""Ingest use cases: sources, bulk deliveries (one transaction per batch), the record store's reads and the
changes objections and repair make to records, and the retention purge."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from xinyidai import audit, registry
from xinyidai.catalog import Disclosure, FieldType, Item, NotInCatalog, load_catalog
from xinyidai.db import Database
from xinyidai.ingest import frames, pipeline, readers
from xinyidai.ingest.frames import ChunkContext, ItemPlan
from xinyidai.ingest.model import (
    Channel,
    Counts,
    FileUnreadable,
    HeaderMatch,
    Layout,
    Origin,
    SourceMode,
    SourceRequired,
    SourceStatus,
    match_header,
    normalise_code,
    record_id,
)
from xinyidai.ingest.store import BulkStore
from xinyidai.ingest.tables import Batch, Record, RecordVersion, Reject, Source
from xinyidai.kernel import uscc as uscc_rules
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock, today
from xinyidai.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kernel.ids import new_id
from xinyidai.kernel.money import parse_wan
from xinyidai.kernel.pii import PiiCipher

log = logging.getLogger("xinyidai.ingest")

_PEPPER_LABEL = "xinyidai.ingest.content-hash"


def content_pepper(cipher: PiiCipher) -> str:
    """The secret prefix of content hashes, derived from the data cipher's digest key."""
    return cipher.digest(_PEPPER_LABEL)


# --- views --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceView:
    """A data source for display and the API."""

    id: uuid.UUID
    code: str
    name: str
    department_code: str
    department_name: str
    department_id: uuid.UUID | None
    items: list[str]
    modes: list[str]
    status: str
    created_at: datetime
    created_by: str
    confirmed_at: datetime | None
    confirmed_by: str | None


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one delivery did; ``contract()`` is the CLI's JSON object."""

    batch_id: uuid.UUID
    item_code: str
    rows: int
    accepted: int
    updated: int
    unchanged: int
    rejected: int
    duplicates: int
    rejects_file: str | None
    replay_of: uuid.UUID | None = None

    def contract(self) -> dict[str, Any]:
        """``{"batch_id", "accepted", "updated", "unchanged", "rejected", "rejects_file"}``."""
        return {
            "batch_id": str(self.batch_id),
            "accepted": self.accepted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "rejects_file": self.rejects_file,
        }


@dataclass(frozen=True, slots=True)
class BatchView:
    """A batch with its summary, for pages and the API."""

    id: uuid.UUID
    item_code: str
    item_name: str
    source_code: str | None
    department_id: uuid.UUID | None
    channel: str
    file_name: str
    file_sha256: str
    file_size: int
    format: str
    encoding: str | None
    layout: str
    rows: int
    accepted: int
    updated: int
    unchanged: int
    rejected: int
    duplicates: int
    rejects_file: str | None
    replay_of: uuid.UUID | None
    summary: dict[str, Any]
    actor_label: str
    started_at: datetime
    finished_at: datetime


@dataclass(frozen=True, slots=True)
class RejectView:
    """One reject of a batch."""

    line: int
    field: str
    value: str | None
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class RecordView:
    """The current version of a record as other domains and pages see it (personal fields masked)."""

    id: uuid.UUID
    item_code: str
    item_name: str
    disclosure: str
    negative: bool
    subject_uscc: str | None
    version: int
    content_hash: str
    data: dict[str, Any]
    event_date: date | None
    received_at: datetime
    severity: str | None
    publication_rule: str | None
    publication_min_end: date | None
    publication_end: date | None
    retention_end: date | None
    disputed: bool
    repaired: bool
    statement: str | None
    source_id: uuid.UUID | None
    batch_id: uuid.UUID | None
    origin: str
    #: The note kept with the record while it is disputed (an objection that ended unresolved).
    dispute_note: str | None = None

    def published_on(self, day: date) -> bool:
        """Whether the record may be shown, shared or used on ``day``."""
        from xinyidai.ingest.model import visible

        return visible(as_of=day, publication_end=self.publication_end, retention_end=self.retention_end)


@dataclass(frozen=True, slots=True)
class RecordVersionView:
    """One version of a record (the current one has no ``superseded_at``)."""

    record_id: uuid.UUID
    version: int
    content_hash: str
    data: dict[str, Any]
    event_date: date | None
    publication_end: date | None
    retention_end: date | None
    source_id: uuid.UUID | None
    batch_id: uuid.UUID | None
    origin: str
    received_at: datetime
    superseded_at: datetime | None


@dataclass
class PurgeSummary:
    """What a retention purge removed, per item."""

    records: dict[str, int] = field(default_factory=dict)
    versions: int = 0

    @property
    def total(self) -> int:
        """Records removed."""
        return sum(self.records.values())


# --- sources ------------------------------------------------------------------------------------


def _department_name(code: str) -> str:
    try:
        return load_catalog().department(code).name_zh
    except NotInCatalog:
        return code


def _source_view(row: Source) -> SourceView:
    return SourceView(
        id=row.id,
        code=row.code,
        name=row.name,
        department_code=row.department_code,
        department_name=_department_name(row.department_code),
        department_id=row.department_id,
        items=list(row.items),
        modes=list(row.modes),
        status=row.status,
        created_at=row.created_at,
        created_by=row.created_by,
        confirmed_at=row.confirmed_at,
        confirmed_by=row.confirmed_by,
    )


def _check_source_fields(code: str, department_code: str, items: Sequence[str], modes: Sequence[str]) -> None:
    catalog = load_catalog()
    if not code or len(code) > 40:
        raise InvalidInput("数据来源单位代码应为1至40个字符")
    try:
        catalog.department(department_code)
    except NotInCatalog as exc:
        raise InvalidInput(f"目录中没有部门 {department_code}") from exc
    for item in items:
        try:
            catalog.item(item)
        except NotInCatalog as exc:
            raise InvalidInput(f"目录中没有信息项 {item}") from exc
    for mode in modes:
        if mode not in {m.value for m in SourceMode}:
            raise InvalidInput(f"未知的共享方式 {mode}")


def _add_source(
    session: Session,
    *,
    actor: ActorRef,
    now: datetime,
    code: str,
    name: str,
    department_code: str,
    items: Sequence[str],
    modes: Sequence[str],
    status: SourceStatus,
    department_id: uuid.UUID | None = None,
    reasons: Sequence[str] = (),
) -> Source:
    row = Source(
        id=new_id(),
        code=code,
        name=name[:200],
        department_code=department_code,
        department_id=department_id,
        items=list(items),
        modes=list(modes),
        status=status.value,
        created_at=now,
        created_by=actor.label[:200],
        confirmed_at=now if status is SourceStatus.ACTIVE else None,
        confirmed_by=actor.label[:200] if status is SourceStatus.ACTIVE else None,
    )
    session.add(row)
    session.flush()
    action = "ingest.source.create" if status is SourceStatus.ACTIVE else "ingest.source.register_pending"
    audit.record(
        session,
        actor=actor,
        action=action,
        target_type="source",
        target_id=row.id,
        reasons=list(reasons),
        data={"code": code, "name": row.name, "department": department_code, "items": list(items), "status": status.value},
    )
    return row


def create_source(
    db: Database,
    *,
    actor: ActorRef,
    clock: Clock,
    code: str,
    name: str,
    department_code: str,
    items: Sequence[str],
    modes: Sequence[str] = (SourceMode.BULK.value,),
    department_id: uuid.UUID | None = None,
) -> SourceView:
    """Register an active source (an operator's act); audited."""
    code = code.strip().upper()
    _check_source_fields(code, department_code, items, modes)
    with db.transaction() as s:
        if s.scalar(sa.select(Source.id).where(Source.code == code)) is not None:
            raise Conflict(f"数据来源单位 {code} 已登记")
        row = _add_source(
            s,
            actor=actor,
            now=clock.now(),
            code=code,
            name=name.strip(),
            department_code=department_code,
            items=items,
            modes=modes,
            status=SourceStatus.ACTIVE,
            department_id=department_id,
        )
        return _source_view(row)


def confirm_source(db: Database, *, actor: ActorRef, clock: Clock, code: str) -> SourceView:
    """Confirm a pending source registered by a delivery; audited."""
    with db.transaction() as s:
        row = s.scalar(sa.select(Source).where(Source.code == code.strip().upper()).with_for_update())
        if row is None:
            raise NotFound(f"未找到数据来源单位 {code}")
        if row.status != SourceStatus.PENDING.value:
            raise Conflict(f"数据来源单位 {row.code} 不是待确认状态")
        row.status = SourceStatus.ACTIVE.value
        row.confirmed_at = clock.now()
        row.confirmed_by = actor.label[:200]
        audit.record(
            s, actor=actor, action="ingest.source.confirm", target_type="source", target_id=row.id, data={"code": row.code}
        )
        return _source_view(row)


def link_source(db: Database, *, actor: ActorRef, code: str, department_id: uuid.UUID | None) -> SourceView:
    """Attach a source to the principal department (tenant) that delivers for it; audited."""
    with db.transaction() as s:
        row = s.scalar(sa.select(Source).where(Source.code == code.strip().upper()))
        if row is None:
            raise NotFound(f"未找到数据来源单位 {code}")
        previous = row.department_id
        row.department_id = department_id
        audit.record(
            s,
            actor=actor,
            action="ingest.source.link",
            target_type="source",
            target_id=row.id,
            data={"code": row.code, "department_id": department_id, "previous": previous},
        )
        return _source_view(row)


def list_sources(
    db: Database,
    *,
    tenant: uuid.UUID | None = None,
    restricted: bool = False,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[SourceView], int]:
    """Sources, pending first; a restricted caller (a department) sees only its own."""
    query = sa.select(Source)
    if restricted:
        query = query.where(Source.department_id == tenant) if tenant is not None else query.where(sa.false())
    if status:
        query = query.where(Source.status == status)
    with db.transaction() as s:
        total = int(s.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0)
        rows = s.scalars(
            query.order_by(Source.status.desc(), Source.department_code, Source.code).limit(limit).offset(offset)
        ).all()
        return [_source_view(r) for r in rows], total


def get_source(db: Database, code: str | uuid.UUID) -> SourceView:
    """One source by its code (数据来源单位代码, normalised like a delivered value) or by its id; ``NotFound``
    if there is none. Sources are the platform's own register, not personal data: reads are not audited."""
    query = sa.select(Source)
    if isinstance(code, uuid.UUID):
        query = query.where(Source.id == code)
    else:
        query = query.where(Source.code == (normalise_code(code, upper=True) or ""))
    with db.transaction() as s:
        row = s.scalar(query)
        if row is None:
            raise NotFound("未找到该数据来源单位")
        return _source_view(row)


def source_counts(db: Database) -> dict[str, int]:
    """Sources by status (for home pages)."""
    with db.transaction() as s:
        return {str(k): int(v) for k, v in s.execute(sa.select(Source.status, sa.func.count()).group_by(Source.status))}


#: Departments whose items reach banks only under authorization also answer interface calls and verification.
def _modes_for(items: Sequence[Item]) -> list[str]:
    modes = [SourceMode.BULK.value]
    if any(i.disclosure is Disclosure.AUTHORIZED for i in items):
        modes += [SourceMode.INTERFACE.value, SourceMode.VERIFICATION.value]
    return modes


def seed_code(region_code: str, number: int) -> str:
    """A valid USCC (机关) for a seeded source: body ``0Y`` + 6 digits, never drawn by the demo generator."""
    return uscc_rules.make_uscc("1", "1", region_code, f"0Y{number:06d}")


def seed_sources(
    db: Database,
    actor: ActorRef,
    clock: Clock,
    *,
    region_code: str = "350100",
    departments: Mapping[str, uuid.UUID] | None = None,
) -> list[SourceView]:
    """One active source per catalog department that owns items (idempotent), for the demo and new nodes.

    ``departments`` maps catalog department codes (``samr``) to principal departments (tenants) whose
    users deliver for the source. 双公示 units register themselves as pending through the CLI.
    """
    catalog = load_catalog()
    owned: dict[str, list[Item]] = {}
    for item in catalog.items:
        if item.department.members:
            for _value, member in item.department_by_value:
                owned.setdefault(member.code, []).append(item)
        else:
            owned.setdefault(item.department.code, []).append(item)
    owned.pop("enterprise", None)  # the enterprise supplies its own data; it is no delivering source
    created: list[SourceView] = []
    with db.transaction() as s:
        existing = {r.department_code: r for r in s.scalars(sa.select(Source).where(Source.code.like("1_______0Y%")))}
        for number, department in enumerate(catalog.departments, start=1):
            items = owned.get(department.code)
            if not items or department.members:
                continue
            tenant = (departments or {}).get(department.code)
            row = existing.get(department.code)
            if row is None:
                row = _add_source(
                    s,
                    actor=actor,
                    now=clock.now(),
                    code=seed_code(region_code, number),
                    name=f"{department.name_zh}（汇总报送）",
                    department_code=department.code,
                    items=sorted({i.code for i in items}),
                    modes=_modes_for(items),
                    status=SourceStatus.ACTIVE,
                    department_id=tenant,
                    reasons=["初始化数据来源"],
                )
            elif tenant is not None and row.department_id != tenant:
                row.department_id = tenant
            created.append(_source_view(row))
    return created


# --- batches ------------------------------------------------------------------------------------


@dataclass
class _Sources:
    """The sources a delivery may use, by code."""

    by_code: dict[str, Source]

    def ids(self) -> dict[str, str]:
        return {code: row.id.hex for code, row in self.by_code.items()}

    def owning(self, item: str, *, department_code: str | None = None, tenant: uuid.UUID | None = None) -> list[Source]:
        return [
            r
            for r in self.by_code.values()
            if item in r.items
            and r.status == SourceStatus.ACTIVE.value
            and (department_code is None or r.department_code == department_code)
            and (tenant is None or r.department_id == tenant)
        ]


def _load_sources(db: Database) -> _Sources:
    with db.transaction() as s:
        rows = s.scalars(sa.select(Source)).all()
        for row in rows:
            s.expunge(row)
        return _Sources({r.code: r for r in rows})


def _specs(item_code: str | None) -> list[Any]:
    catalog = load_catalog()
    if item_code is not None:
        try:
            return [frames.plan_for(catalog.item(item_code)).spec]
        except NotInCatalog as exc:
            raise FileUnreadable(f"目录中没有信息项 {item_code}") from exc
    return [frames.plan_for(i).spec for i in catalog.items]


@dataclass
class _Delivery:
    """The resolved facts of one delivery before any row is read."""

    plan: ItemPlan
    match: HeaderMatch
    file_source: Source | None
    own_codes: frozenset[str] | None
    department_sources: dict[str, str]
    tenant: uuid.UUID | None


def _resolve(
    sources: _Sources, *, plan: ItemPlan, match: HeaderMatch, source_code: str | None, department_id: uuid.UUID | None
) -> _Delivery:
    item = plan.item
    own_codes: frozenset[str] | None = None
    if department_id is not None:
        own_codes = frozenset(c for c, r in sources.by_code.items() if r.department_id == department_id)
    file_source: Source | None = None
    if source_code is not None:
        file_source = sources.by_code.get(source_code.strip().upper())
        if file_source is None:
            raise SourceRequired(f"数据来源单位 {source_code} 未登记")
        if own_codes is not None and file_source.code not in own_codes:
            raise Forbidden(f"无权以数据来源单位 {file_source.code} 的名义报送")
    department_sources: dict[str, str] = {}
    if plan.source_fields is None or match.layout is Layout.LEGACY_2016:
        if item.department_by_value and file_source is None:
            for _value, dept in item.department_by_value:
                owners = sources.owning(item.code, department_code=dept.code, tenant=department_id)
                if len(owners) == 1:
                    department_sources[dept.code] = owners[0].code
            if not department_sources:
                raise SourceRequired(f"没有登记报送“{item.name_zh}”的数据来源单位")
        elif file_source is None:
            owners = sources.owning(item.code, tenant=department_id)
            if match.layout is Layout.LEGACY_2016 or len(owners) != 1:
                hint = "2016 版双公示文件" if match.layout is Layout.LEGACY_2016 else f"“{item.name_zh}”"
                raise SourceRequired(f"{hint}需要用 --source 指明数据来源单位（候选 {len(owners)} 个）")
            file_source = owners[0]
    tenant = department_id if department_id is not None else (file_source.department_id if file_source else None)
    return _Delivery(plan, match, file_source, own_codes, department_sources, tenant)


def _batch_result(row: Batch, var_dir: Path) -> BatchResult:
    return BatchResult(
        batch_id=row.id,
        item_code=row.item_code,
        rows=row.rows,
        accepted=row.accepted,
        updated=row.updated,
        unchanged=row.unchanged,
        rejected=row.rejected,
        duplicates=row.duplicates,
        rejects_file=str((var_dir / row.rejects_file).resolve()) if row.rejects_file else None,
        replay_of=row.replay_of,
    )


def _replay(
    db: Database,
    *,
    actor: ActorRef,
    clock: Clock,
    source: readers.SourceFile,
    delivery: _Delivery,
    channel: Channel,
    var_dir: Path,
) -> BatchResult | None:
    """A file identical to one already ingested for the same item, source and tenant changes nothing:
    recorded as a batch that replays the earlier one (every stored row unchanged, the same rejects)."""
    file_source_id = delivery.file_source.id if delivery.file_source else None
    with db.transaction() as s:
        earlier = s.scalar(
            sa.select(Batch)
            .where(
                Batch.file_sha256 == source.sha256,
                Batch.item_code == delivery.plan.item.code,
                Batch.replay_of.is_(None),
                Batch.source_id.is_(None) if file_source_id is None else Batch.source_id == file_source_id,
                Batch.department_id.is_(None) if delivery.tenant is None else Batch.department_id == delivery.tenant,
            )
            .order_by(Batch.finished_at.desc())
            .limit(1)
        )
        if earlier is None:
            return None
        now = clock.now()
        row = Batch(
            id=new_id(),
            item_code=earlier.item_code,
            source_id=earlier.source_id,
            department_id=earlier.department_id,
            channel=channel.value,
            file_name=source.name[:300],
            file_sha256=source.sha256,
            file_size=source.size,
            format=source.format,
            encoding=source.encoding,
            layout=earlier.layout,
            rows=earlier.rows,
            accepted=0,
            updated=0,
            unchanged=earlier.accepted + earlier.updated + earlier.unchanged,
            rejected=earlier.rejected,
            duplicates=earlier.duplicates,
            rejects_file=earlier.rejects_file,
            replay_of=earlier.id,
            summary={"replay_of": str(earlier.id), "note": "文件与已处理批次完全相同，未重复处理"},
            actor_id=actor.id[:64],
            actor_label=actor.label[:200],
            started_at=now,
            finished_at=now,
        )
        s.add(row)
        s.flush()
        audit.record(
            s,
            actor=actor,
            action="ingest.batch.replay",
            target_type="batch",
            target_id=row.id,
            data={"replay_of": earlier.id, "file": source.name, "sha256": source.sha256, "item": earlier.item_code},
        )
        return _batch_result(row, var_dir)


def _feed_registry(
    db: Database, *, actor: ActorRef, clock: Clock, cipher: PiiCipher, source: readers.SourceFile, ctx: ChunkContext
) -> tuple[dict[int, tuple[str, str]], dict[str, int]]:
    """Load the valid registration rows into the registry (its own idempotent transaction), before the
    batch: subjects exist before records name them, and a row the registry refuses is refused here too."""
    summary = registry.load_registrations(
        db, actor=actor, clock=clock, cipher=cipher, rows=pipeline.valid_values(source, ctx), source=source.name
    )
    refused: dict[int, tuple[str, str]] = {}
    for line, errors in summary.rejected:
        first = errors[0] if errors else "registry: 登记信息被拒收"
        name, _, text = first.partition(": ")
        refused[line] = (name if text else "", "登记信息无效：" + "；".join(errors))
    counts = {
        "accepted": summary.accepted,
        "updated": summary.updated,
        "unchanged": summary.unchanged,
        "rejected": len(summary.rejected),
    }
    return refused, counts


def ingest_file(
    db: Database,
    *,
    actor: ActorRef,
    clock: Clock,
    cipher: PiiCipher,
    var_dir: Path,
    path: Path,
    item: str | None = None,
    source: str | None = None,
    fmt: str = "auto",
    channel: Channel = Channel.CLI,
    department_id: uuid.UUID | None = None,
    register_unknown: bool = False,
    file_name: str | None = None,
    chunk_rows: int = pipeline.CHUNK_ROWS,
) -> BatchResult:
    """Ingest one delivered file as one batch, in one transaction: every row accepted, updated, unchanged
    or rejected (with line, field, value and reason), or nothing at all if the process dies midway.

    ``department_id`` restricts rows to that department's sources (API uploads); ``register_unknown``
    (the operator's CLI) registers a source unit a row names but the platform does not know as pending.
    A file identical to an earlier batch (same digest, item, source and tenant) is a replay: nothing is
    re-applied. Raises ``FileUnreadable`` when the file cannot be read at all.
    """
    started = clock.now()
    wall = time.perf_counter()
    tmp_dir = var_dir / "tmp"
    opened = readers.open_source(path, fmt=fmt, tmp_dir=tmp_dir, name=file_name)
    try:
        match = match_header(opened.header, _specs(item))
        plan = frames.plan_for(load_catalog().item(match.item_code))
        sources = _load_sources(db)
        delivery = _resolve(sources, plan=plan, match=match, source_code=source, department_id=department_id)
        pepper = content_pepper(cipher)
        ctx = ChunkContext(
            plan=plan,
            match=match,
            today=today(clock),
            pepper=pepper,
            source_ids=sources.ids(),
            file_source=delivery.file_source.code if delivery.file_source else None,
            file_source_name=delivery.file_source.name if delivery.file_source else None,
            own_codes=delivery.own_codes,
            department_sources=delivery.department_sources,
            lossy=opened.lossy,
        )
        registry_counts: dict[str, int] | None = None
        refused: dict[int, tuple[str, str]] = {}
        if plan.feeds_registry:
            refused, registry_counts = _feed_registry(db, actor=actor, clock=clock, cipher=cipher, source=opened, ctx=ctx)
        replayed = _replay(db, actor=actor, clock=clock, source=opened, delivery=delivery, channel=channel, var_dir=var_dir)
        if replayed is not None:
            return replayed
        scan = pipeline.first_pass(opened, match, ctx, chunk_rows=chunk_rows)
        return _run_batch(
            db,
            actor=actor,
            clock=clock,
            cipher=cipher,
            var_dir=var_dir,
            opened=opened,
            delivery=delivery,
            ctx=ctx,
            scan=scan,
            refused=refused,
            registry_counts=registry_counts,
            channel=channel,
            register_unknown=register_unknown,
            started=started,
            wall=wall,
            chunk_rows=chunk_rows,
        )
    finally:
        opened.cleanup()


def _register_pending(
    session: Session,
    *,
    actor: ActorRef,
    now: datetime,
    names: Mapping[str, str | None],
    known: Mapping[str, str],
    item: Item,
    file_name: str,
) -> dict[str, str]:
    """Register the valid source codes a CLI delivery names but the platform does not know, as pending
    sources of the item's department; one audit event lists them all. Returns code → id (hex).

    One bulk INSERT rather than ORM objects: a file may name thousands of units, and the unit of
    work's bookkeeping cost ≈ 0.1 ms each, paid before the first chunk is written."""
    rows: list[dict[str, Any]] = [
        {
            "id": new_id(),
            "code": code,
            "name": (name or code)[:200],
            "department_code": item.department.code,
            "department_id": None,
            "items": [item.code],
            "modes": [SourceMode.BULK.value],
            "status": SourceStatus.PENDING.value,
            "created_at": now,
            "created_by": actor.label[:200],
            "confirmed_at": None,
            "confirmed_by": None,
        }
        for code, name in names.items()
        if code not in known and uscc_rules.validate(code).valid
    ]
    if not rows:
        return {}
    session.execute(sa.insert(Source), rows)
    audit.record(
        session,
        actor=actor,
        action="ingest.source.register_pending",
        target_type="source",
        target_id=rows[0]["id"] if len(rows) == 1 else None,
        reasons=[f"批量报送文件 {file_name} 中出现未登记的数据来源单位"],
        data={"item": item.code, "count": len(rows), "codes": [r["code"] for r in rows[:1000]]},
    )
    return {r["code"]: r["id"].hex for r in rows}


def _first_delivery(session: Session, item_code: str) -> bool:
    """Whether the store holds no record of the item: records are only ever created by batches, so none
    of its batches accepted a row. (Batches of one item are serialised, so this cannot change midway.)"""
    earlier = session.scalar(
        sa.select(Batch.id).where(Batch.item_code == item_code, (Batch.accepted > 0) | (Batch.updated > 0)).limit(1)
    )
    return earlier is None


def _run_batch(
    db: Database,
    *,
    actor: ActorRef,
    clock: Clock,
    cipher: PiiCipher,
    var_dir: Path,
    opened: readers.SourceFile,
    delivery: _Delivery,
    ctx: ChunkContext,
    scan: pipeline.FirstPass,
    refused: dict[int, tuple[str, str]],
    registry_counts: dict[str, int] | None,
    channel: Channel,
    register_unknown: bool,
    started: datetime,
    wall: float,
    chunk_rows: int,
) -> BatchResult:
    plan = delivery.plan
    batch_id = new_id()
    rejects = pipeline.RejectWriter(var_dir / "rejects" / f"{batch_id}.csv")
    counts = Counts()
    registered: dict[str, str] = {}
    try:
        with db.transaction() as s:
            now = clock.now()
            store = BulkStore(s, item_code=plan.item.code, batch_id=batch_id, received_at=now)
            store.begin()
            try:
                source_ids = dict(ctx.source_ids)
                if register_unknown and delivery.own_codes is None:
                    registered = _register_pending(
                        s, actor=actor, now=now, names=scan.source_names, known=source_ids, item=plan.item, file_name=opened.name
                    )
                    source_ids.update(registered)
                batch = Batch(
                    id=batch_id,
                    item_code=plan.item.code,
                    source_id=delivery.file_source.id if delivery.file_source else None,
                    department_id=delivery.tenant,
                    channel=channel.value,
                    file_name=opened.name[:300],
                    file_sha256=opened.sha256,
                    file_size=opened.size,
                    format=opened.format,
                    encoding=opened.encoding,
                    layout=delivery.match.layout.value,
                    rows=0,
                    accepted=0,
                    updated=0,
                    unchanged=0,
                    rejected=0,
                    duplicates=0,
                    rejects_file=None,
                    replay_of=None,
                    summary={},
                    actor_id=actor.id[:64],
                    actor_label=actor.label[:200],
                    started_at=started,
                    finished_at=now,
                )
                s.add(batch)
                s.flush()
                run_ctx = ChunkContext(
                    plan=ctx.plan,
                    match=ctx.match,
                    today=ctx.today,
                    pepper=ctx.pepper,
                    source_ids=source_ids,
                    file_source=ctx.file_source,
                    file_source_name=ctx.file_source_name,
                    own_codes=ctx.own_codes,
                    department_sources=ctx.department_sources,
                    superseded=scan.superseded,
                    external_rejects=refused,
                    lossy=ctx.lossy,
                )

                fresh = _first_delivery(s, plan.item.code)

                def consume(prepared: frames.Prepared) -> None:
                    pipeline.write_chunk(store, prepared, cipher, counts, fresh=fresh)
                    store.insert_rejects(prepared.rejects)
                    rejects.write(prepared.rejects)

                pipeline.run_chunks(
                    opened,
                    run_ctx,
                    consume=consume,
                    chunk_rows=chunk_rows,
                    seal=cipher if fresh else None,
                    encode=store.encode_new if fresh else None,
                )
            finally:
                store.end()
            if not counts.balanced():  # pragma: no cover - a bug, never a data problem
                raise RuntimeError(f"batch counts do not add up: {counts}")
            path = rejects.commit()
            batch.rows = counts.rows
            batch.accepted = counts.accepted
            batch.updated = counts.updated
            batch.unchanged = counts.unchanged
            batch.rejected = counts.rejected
            batch.duplicates = counts.duplicates
            batch.rejects_file = str(path.relative_to(var_dir)) if path else None
            batch.finished_at = clock.now()
            batch.summary = {
                "rejects_by_code": dict(sorted(counts.by_code.items())),
                "reject_entries": rejects.count,
                "header_unknown": list(delivery.match.unknown),
                "header_missing": list(delivery.match.missing),
                "header_dropped": list(delivery.match.dropped),
                "sources_registered": sorted(registered),
                "registry": registry_counts,
                "lossy_encoding": opened.lossy,
                "seconds": round(time.perf_counter() - wall, 3),
            }
            audit.record(
                s,
                actor=actor,
                action="ingest.batch.create",
                target_type="batch",
                target_id=batch_id,
                data={
                    "item": plan.item.code,
                    "file": opened.name,
                    "sha256": opened.sha256,
                    "channel": channel.value,
                    "rows": counts.rows,
                    "accepted": counts.accepted,
                    "updated": counts.updated,
                    "unchanged": counts.unchanged,
                    "rejected": counts.rejected,
                    "sources_registered": len(registered),
                },
            )
            result = _batch_result(batch, var_dir)
    except BaseException:
        rejects.discard()
        if rejects.path.exists():
            rejects.path.unlink(missing_ok=True)
        raise
    log.info("ingest batch %s: %s", batch_id, result.contract())
    return result


#: Files of a generator directory are ingested registration first (subjects before their records).
def _directory_plan(directory: Path) -> list[tuple[Path, str | None]]:
    manifest = directory / "manifest.json"
    entries: list[tuple[Path, str | None]] = []
    if manifest.exists():
        body = json.loads(manifest.read_text(encoding="utf-8"))
        for entry in body.get("files", []):
            if entry.get("kind", "department") != "department" or not entry.get("item_code"):
                continue
            entries.append((directory / entry["file"], str(entry["item_code"])))
    else:
        for path in sorted(directory.iterdir()):
            if path.suffix.lower() in (".csv", ".xlsx", ".jsonl", ".ndjson") and path.is_file():
                entries.append((path, None))
    entries.sort(key=lambda e: 0 if (e[1] or e[0].stem) == "registration" else 1)
    return entries


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One file of a directory delivery: its result, or why it could not be ingested."""

    file: str
    result: BatchResult | None
    error: str | None


def record_refused_upload(db: Database, *, actor: ActorRef, limit_mb: int, content_length: str | None, reason: str) -> None:
    """Audit an upload refused before it became a batch (too large), in a transaction of its own."""
    with db.transaction() as s:
        audit.record(
            s,
            actor=actor,
            action="ingest.batch.refused",
            reasons=[reason],
            data={"limit_mb": limit_mb, "content_length": content_length},
        )


def ingest_directory(
    db: Database,
    *,
    actor: ActorRef,
    clock: Clock,
    cipher: PiiCipher,
    var_dir: Path,
    directory: Path,
    register_unknown: bool = True,
    chunk_rows: int = pipeline.CHUNK_ROWS,
) -> list[DirectoryEntry]:
    """Ingest every department file of a generator output directory (``manifest.json``), registration first;
    the ground-truth file is never loaded. A file that cannot be ingested is reported and the rest go on."""
    if not directory.is_dir():
        raise FileUnreadable(f"目录不存在：{directory}")
    entries: list[DirectoryEntry] = []
    for path, item in _directory_plan(directory):
        try:
            result = ingest_file(
                db,
                actor=actor,
                clock=clock,
                cipher=cipher,
                var_dir=var_dir,
                path=path,
                item=item,
                channel=Channel.DIRECTORY,
                register_unknown=register_unknown,
                chunk_rows=chunk_rows,
            )
        except (FileUnreadable, SourceRequired) as exc:
            entries.append(DirectoryEntry(path.name, None, exc.detail))
            continue
        entries.append(DirectoryEntry(path.name, result, None))
    return entries


def _batch_view(row: Batch, source_code: str | None) -> BatchView:
    try:
        name = load_catalog().item(row.item_code).name_zh
    except NotInCatalog:
        name = row.item_code
    return BatchView(
        id=row.id,
        item_code=row.item_code,
        item_name=name,
        source_code=source_code,
        department_id=row.department_id,
        channel=row.channel,
        file_name=row.file_name,
        file_sha256=row.file_sha256,
        file_size=row.file_size,
        format=row.format,
        encoding=row.encoding,
        layout=row.layout,
        rows=row.rows,
        accepted=row.accepted,
        updated=row.updated,
        unchanged=row.unchanged,
        rejected=row.rejected,
        duplicates=row.duplicates,
        rejects_file=row.rejects_file,
        replay_of=row.replay_of,
        summary=dict(row.summary),
        actor_label=row.actor_label,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def _tenant_filter(query: Any, *, restricted: bool, tenant: uuid.UUID | None) -> Any:
    if not restricted:
        return query
    return query.where(Batch.department_id == tenant) if tenant is not None else query.where(sa.false())


def list_batches(
    db: Database, *, restricted: bool, tenant: uuid.UUID | None, item: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[BatchView], int]:
    """Batches, newest first; a restricted caller (a department) sees only its own tenant's."""
    query = _tenant_filter(
        sa.select(Batch, Source.code).outerjoin(Source, Source.id == Batch.source_id), restricted=restricted, tenant=tenant
    )
    if item:
        query = query.where(Batch.item_code == item)
    with db.transaction() as s:
        total = int(s.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0)
        rows = s.execute(query.order_by(Batch.finished_at.desc(), Batch.id.desc()).limit(limit).offset(offset)).all()
        return [_batch_view(b, code) for b, code in rows], total


def get_batch(db: Database, *, batch_id: uuid.UUID, restricted: bool, tenant: uuid.UUID | None) -> BatchView:
    """One batch; a department asking for another's gets NotFound (it may not know the batch exists)."""
    query = _tenant_filter(
        sa.select(Batch, Source.code).outerjoin(Source, Source.id == Batch.source_id).where(Batch.id == batch_id),
        restricted=restricted,
        tenant=tenant,
    )
    with db.transaction() as s:
        found = s.execute(query).first()
        if found is None:
            raise NotFound("未找到该批次")
        return _batch_view(found[0], found[1])


def batch_rejects(
    db: Database,
    *,
    actor: ActorRef,
    batch_id: uuid.UUID,
    restricted: bool,
    tenant: uuid.UUID | None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[RejectView], int]:
    """A batch's rejects in line order; the read is audited (rejected values are delivered data)."""
    get_batch(db, batch_id=batch_id, restricted=restricted, tenant=tenant)
    with db.transaction() as s:
        total = int(s.scalar(sa.select(sa.func.count()).select_from(Reject).where(Reject.batch_id == batch_id)) or 0)
        rows = s.scalars(
            sa.select(Reject).where(Reject.batch_id == batch_id).order_by(Reject.line, Reject.id).limit(limit).offset(offset)
        ).all()
        audit.record(
            s, actor=actor, action="ingest.rejects.read", target_type="batch", target_id=batch_id, data={"count": len(rows)}
        )
        return [RejectView(r.line, r.field, r.value, r.code, r.reason) for r in rows], total


def rejects_file(
    db: Database, *, actor: ActorRef, batch_id: uuid.UUID, restricted: bool, tenant: uuid.UUID | None, var_dir: Path
) -> Path | None:
    """The rejects CSV of a batch (None when it had no rejects); the download is audited."""
    batch = get_batch(db, batch_id=batch_id, restricted=restricted, tenant=tenant)
    if not batch.rejects_file:
        return None
    path = (var_dir / batch.rejects_file).resolve()
    if not path.is_relative_to(var_dir.resolve()) or not path.exists():
        raise NotFound("拒收明细文件不存在")
    with db.transaction() as s:
        audit.record(s, actor=actor, action="ingest.rejects.download", target_type="batch", target_id=batch_id)
    return path


def batch_record_dates(db: Database, *, batch_id: uuid.UUID) -> list[tuple[date | None, datetime, uuid.UUID | None]]:
    """(event date, received at, source id) of every record version a batch wrote, current or superseded since
    (for data quality: timeliness is the delay from the event to receipt)."""
    with db.transaction() as s:
        current = s.execute(
            sa.select(Record.event_date, Record.received_at, Record.source_id).where(Record.batch_id == batch_id)
        ).all()
        older = s.execute(
            sa.select(RecordVersion.event_date, RecordVersion.received_at, RecordVersion.source_id).where(
                RecordVersion.batch_id == batch_id
            )
        ).all()
        return [(e, r, src) for e, r, src in [*current, *older]]


def batch_figures(db: Database) -> dict[str, Any]:
    """Counts for home pages: batches, rows by outcome, records by item."""
    with db.transaction() as s:
        totals = s.execute(
            sa.select(
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(Batch.accepted), 0),
                sa.func.coalesce(sa.func.sum(Batch.rejected), 0),
            )
        ).one()
        by_item = {str(k): int(v) for k, v in s.execute(sa.select(Record.item_code, sa.func.count()).group_by(Record.item_code))}
        return {"batches": int(totals[0]), "accepted": int(totals[1]), "rejected": int(totals[2]), "records_by_item": by_item}


# --- records ------------------------------------------------------------------------------------


def _record_view(row: Record | sa.Row[Any]) -> RecordView:
    catalog = load_catalog()
    try:
        item = catalog.item(row.item_code)
        name, disclosure, negative = item.name_zh, item.disclosure.value, item.negative
    except NotInCatalog:
        name, disclosure, negative = row.item_code, Disclosure.AUTHORIZED.value, False
    return RecordView(
        id=row.id,
        item_code=row.item_code,
        item_name=name,
        disclosure=disclosure,
        negative=negative,
        subject_uscc=row.subject_uscc,
        version=row.version,
        content_hash=row.content_hash,
        data=dict(row.data),
        event_date=row.event_date,
        received_at=row.received_at,
        severity=row.severity,
        publication_rule=row.publication_rule,
        publication_min_end=row.publication_min_end,
        publication_end=row.publication_end,
        retention_end=row.retention_end,
        disputed=row.disputed,
        repaired=row.repaired,
        statement=row.statement,
        source_id=row.source_id,
        batch_id=row.batch_id,
        origin=row.origin,
        dispute_note=row.dispute_note,
    )


def _visibility(query: Any, *, as_of: date, include_unpublished: bool) -> Any:
    query = query.where(sa.or_(Record.retention_end.is_(None), Record.retention_end >= as_of))
    if not include_unpublished:
        query = query.where(sa.or_(Record.publication_end.is_(None), Record.publication_end >= as_of))
    return query


def visible_records(
    db: Database, *, uscc: str, items: Iterable[str] | None = None, as_of: date, include_unpublished: bool = False
) -> list[RecordView]:
    """A subject's records that may be shown, shared or used on ``as_of`` (within publication and retention),
    newest event first. ``include_unpublished`` adds those whose publication has ended (the subject's own view).

    Not audited here: callers that show non-public data to someone audit their read (``my_records``).
    """
    # Core rows of the record's columns, not mapped objects: a report reads tens of records per request, and
    # identity-map bookkeeping for rows that are only turned into views was most of visible_records' cost.
    query = sa.select(*Record.__table__.c).where(Record.subject_uscc == uscc.strip().upper())
    wanted = list(items) if items is not None else None
    if wanted is not None:
        query = query.where(Record.item_code.in_(wanted))
    query = _visibility(query, as_of=as_of, include_unpublished=include_unpublished)
    with db.transaction() as s:
        rows = s.execute(query.order_by(Record.item_code, Record.event_date.desc().nulls_last(), Record.id)).all()
        return [_record_view(r) for r in rows]


class ReportRecord(NamedTuple):
    """The part of a shown record a credit report uses (``report_records``): lighter than ``RecordView``.

    A named tuple, built positionally (a report reads tens per request; a frozen dataclass sets each field through
    ``object.__setattr__``); ``id`` is the record id's text, as the report shows it."""

    id: str
    item_code: str
    item_name: str
    negative: bool
    data: dict[str, Any]
    event_date: date | None
    disputed: bool
    repaired: bool
    statement: str | None


def _report_query(dialect: str, *, filtered: bool) -> sa.Select[Any]:
    r = Record.__table__.c
    # The id as text, read as the database keeps it: PostgreSQL casts its uuid to the hyphenated text; SQLite keeps
    # the 32 hex digits, hyphenated in Python (`_hyphenated`). Neither builds a UUID object only to print it.
    ident = sa.cast(r.id, sa.Text()) if dialect == "postgresql" else sa.type_coerce(r.id, sa.Text())
    query = sa.select(ident, r.item_code, r.data, r.event_date, r.disputed, r.repaired, r.statement).where(
        r.subject_uscc == sa.bindparam("uscc")
    )
    if filtered:
        query = query.where(r.item_code.in_(sa.bindparam("items", expanding=True)))
    visible: sa.Select[Any] = _visibility(
        query,
        as_of=sa.bindparam("as_of", type_=sa.Date()),  # type: ignore[arg-type]  # bound per call
        include_unpublished=False,
    )
    return visible.order_by(r.item_code, r.event_date.desc().nulls_last(), r.id)


#: Built once: a report reads a subject's records on every request, and building the statement cost more than
#: running it. Keyed by dialect and whether the items are filtered.
_REPORT_QUERIES: dict[tuple[str, bool], sa.Select[Any]] = {
    (d, f): _report_query(d, filtered=f) for d in ("sqlite", "postgresql") for f in (True, False)
}


def _hyphenated(hex32: str) -> str:
    """A UUID's 32 hex digits (SQLite's storage) in the 8-4-4-4-12 form ``str(uuid.UUID(...))`` gives."""
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"


def _report_rows(session: Session, params: dict[str, Any], *, filtered: bool) -> tuple[Sequence[Any], str]:
    """The report query's rows on the session's connection, and the dialect they came from."""
    conn = session.connection()
    dialect = conn.dialect.name
    return conn.execute(_REPORT_QUERIES[dialect, filtered], params).all(), dialect


def report_records(
    source: Database | Session, *, uscc: str, items: Iterable[str] | None = None, as_of: date
) -> list[ReportRecord]:
    """What ``visible_records`` returns (same rows, same order: within publication and retention on ``as_of``),
    reduced to the columns a report shows; Core rows on the connection, catalog looked up once per item.

    Given a ``Session``, the read runs in the caller's transaction (a report reads its records in the transaction
    that decides, numbers and stores it: one transaction per request instead of two); given a ``Database``, in a
    read transaction of its own."""
    wanted = list(items) if items is not None else None
    params: dict[str, Any] = {"uscc": uscc.strip().upper(), "as_of": as_of}
    if wanted is not None:
        params["items"] = wanted
    if isinstance(source, Session):
        rows, dialect = _report_rows(source, params, filtered=wanted is not None)
    else:
        with source.transaction() as s:
            rows, dialect = _report_rows(s, params, filtered=wanted is not None)
    hyphenate = dialect != "postgresql"
    catalog = load_catalog()
    meta: dict[str, tuple[str, bool]] = {}
    out: list[ReportRecord] = []
    append = out.append
    for id_, code, data, event_date, disputed, repaired, statement in rows:
        found = meta.get(code)
        if found is None:
            try:
                item = catalog.item(code)
                found = (item.name_zh, item.negative)
            except NotInCatalog:
                found = (code, False)
            meta[code] = found
        # Positional (one record per row). ``data`` is the dict the JSON column just decoded for this row: nothing
        # else holds it, so it is not copied.
        append(
            ReportRecord(
                _hyphenated(id_) if hyphenate else id_, code, found[0], found[1], data, event_date, disputed, repaired, statement
            )
        )
    return out


def my_records(db: Database, *, actor: ActorRef, uscc: str, as_of: date) -> list[RecordView]:
    """An enterprise's own retained records, published or not (a subject may see its own information); audited."""
    records = visible_records(db, uscc=uscc, as_of=as_of, include_unpublished=True)
    with db.transaction() as s:
        audit.record(s, actor=actor, action="ingest.record.read_own", subject=uscc, data={"count": len(records)})
    return records


def get_record(db: Database, *, record_id: uuid.UUID) -> RecordView:
    """One record's current version."""
    with db.transaction() as s:
        row = s.get(Record, record_id)
        if row is None:
            raise NotFound("未找到该信用记录")
        return _record_view(row)


def find_record(db: Database, *, item: str, key: Mapping[str, str]) -> RecordView | None:
    """The record of an item with that natural key (values as delivered; they are normalised here)."""
    plan = frames.plan_for(load_catalog().item(item))
    values = [_canonical_key_value(plan, name, key.get(name)) for name in plan.item.natural_key]
    with db.transaction() as s:
        row = s.get(Record, record_id(item, values))
        return _record_view(row) if row is not None else None


def _canonical_key_value(plan: ItemPlan, name: str, value: str | None) -> str:
    if value is None:
        raise InvalidInput(f"缺少自然键字段 {name}")
    frame = pl.DataFrame({"c0": [value], frames.LINE: [1]})
    match = HeaderMatch(plan.item.code, Layout.CURRENT, ((0, name),), (), ())
    fields = frames.to_fields(frame, match, plan)
    canonical, _checks = frames.normalise_and_check(fields, plan)
    out = canonical[name][0]
    if out is None:
        raise InvalidInput(f"自然键字段 {name} 的值无效")
    return str(out)


def record_history(db: Database, *, record_id: uuid.UUID) -> list[RecordVersionView]:
    """Every version of a record, oldest first; the last one is the current version."""
    with db.transaction() as s:
        current = s.get(Record, record_id)
        if current is None:
            raise NotFound("未找到该信用记录")
        older = s.scalars(
            sa.select(RecordVersion).where(RecordVersion.record_id == record_id).order_by(RecordVersion.version)
        ).all()
        views = [
            RecordVersionView(
                record_id=v.record_id,
                version=v.version,
                content_hash=v.content_hash,
                data=dict(v.data),
                event_date=v.event_date,
                publication_end=v.publication_end,
                retention_end=v.retention_end,
                source_id=v.source_id,
                batch_id=v.batch_id,
                origin=v.origin,
                received_at=v.received_at,
                superseded_at=v.superseded_at,
            )
            for v in older
        ]
        views.append(
            RecordVersionView(
                record_id=current.id,
                version=current.version,
                content_hash=current.content_hash,
                data=dict(current.data),
                event_date=current.event_date,
                publication_end=current.publication_end,
                retention_end=current.retention_end,
                source_id=current.source_id,
                batch_id=current.batch_id,
                origin=current.origin,
                received_at=current.received_at,
                superseded_at=None,
            )
        )
        return views


def reveal_personal(db: Database, *, actor: ActorRef, cipher: PiiCipher, record_id: uuid.UUID) -> dict[str, str]:
    """The personal fields of a record in clear (for authorised processing only); audited."""
    with db.transaction() as s:
        row = s.get(Record, record_id)
        if row is None:
            raise NotFound("未找到该信用记录")
        audit.record(
            s, actor=actor, action="ingest.record.reveal", subject=row.subject_uscc, target_type="record", target_id=row.id
        )
        return _clear_pii(row.pii, cipher)


def _clear_pii(token: str | None, cipher: PiiCipher) -> dict[str, str]:
    if not token:
        return {}
    loaded = json.loads(cipher.decrypt(token, context=pipeline.PII_CONTEXT))
    return {str(k): str(v) for k, v in loaded.items() if v is not None}


def typed_values(record: RecordView) -> dict[str, Any]:
    """A record's values typed by the catalog schema: Decimal 万元, dates, integers, booleans, text."""
    item = load_catalog().item(record.item_code)
    out: dict[str, Any] = {}
    for spec in item.record_schema:
        value = record.data.get(spec.name)
        if value is None:
            out[spec.name] = None
        elif spec.type is FieldType.DECIMAL_WAN:
            out[spec.name] = parse_wan(str(value))
        elif spec.type is FieldType.DATE:
            out[spec.name] = date.fromisoformat(str(value))
        elif spec.type is FieldType.INTEGER:
            out[spec.name] = int(value)
        elif spec.type is FieldType.BOOLEAN:
            out[spec.name] = str(value) == "true"
        else:
            out[spec.name] = value
    return out


def record_count(db: Database, *, uscc: str | None = None) -> int:
    """How many records the store holds (for a subject, if given)."""
    query = sa.select(sa.func.count()).select_from(Record)
    if uscc:
        query = query.where(Record.subject_uscc == uscc)
    with db.transaction() as s:
        return int(s.scalar(query) or 0)


# --- changes to one record (objections, repair): in the caller's transaction -------------------------


def _locked(session: Session, record_id: uuid.UUID) -> Record:
    row = session.scalar(sa.select(Record).where(Record.id == record_id).with_for_update())
    if row is None:
        raise NotFound("未找到该信用记录")
    return row


#: Longest dispute note kept with a record (the same bound as a statement).
DISPUTE_NOTE_MAX_CHARS = 2000


def _set_disputed(
    session: Session,
    *,
    actor: ActorRef,
    record_id: uuid.UUID,
    disputed: bool,
    reason: str,
    objection_id: object | None,
    note: str | None = None,
) -> RecordView:
    text = None if note is None else note.strip()
    if text is not None and not 1 <= len(text) <= DISPUTE_NOTE_MAX_CHARS:
        raise InvalidInput(f"异议说明应为1至{DISPUTE_NOTE_MAX_CHARS}个字符")
    row = _locked(session, record_id)
    row.disputed = disputed
    if not disputed:
        row.dispute_note = None
    elif text is not None:
        row.dispute_note = text
    audit.record(
        session,
        actor=actor,
        action="ingest.record.dispute" if disputed else "ingest.record.dispute_clear",
        subject=row.subject_uscc,
        target_type="record",
        target_id=row.id,
        reasons=[reason],
        data={"objection_id": objection_id, "note": text is not None},
    )
    return _record_view(row)


def mark_disputed(
    session: Session,
    *,
    actor: ActorRef,
    record_id: uuid.UUID,
    reason: str,
    objection_id: object | None = None,
    note: str | None = None,
) -> RecordView:
    """Flag a record 有异议 at once, wherever it is shown (objection filed); audited in the caller's transaction.

    ``note`` (an objection that ended unresolved) is kept with the record while it stays disputed; without
    one, an earlier note stays. Clearing the flag removes the note.
    """
    return _set_disputed(
        session, actor=actor, record_id=record_id, disputed=True, reason=reason, objection_id=objection_id, note=note
    )


def clear_disputed(
    session: Session, *, actor: ActorRef, record_id: uuid.UUID, reason: str, objection_id: object | None = None
) -> RecordView:
    """Remove the 有异议 flag and its note (objection upheld or withdrawn); audited."""
    return _set_disputed(session, actor=actor, record_id=record_id, disputed=False, reason=reason, objection_id=objection_id)


def attach_statement(session: Session, *, actor: ActorRef, record_id: uuid.UUID, statement: str) -> RecordView:
    """Attach the subject's statement (情况说明) to a record, replacing an earlier one; audited."""
    text = statement.strip()
    if not text or len(text) > 2000:
        raise InvalidInput("说明应为1至2000个字符")
    row = _locked(session, record_id)
    row.statement = text
    audit.record(
        session, actor=actor, action="ingest.record.statement", subject=row.subject_uscc, target_type="record", target_id=row.id
    )
    return _record_view(row)


def mark_repaired(session: Session, *, actor: ActorRef, clock: Clock, record_id: uuid.UUID, reason: str) -> RecordView:
    """Mark a record 已修复: its publication ends today (no longer shown, shared or used); audited."""
    row = _locked(session, record_id)
    yesterday = today(clock) - timedelta(days=1)
    row.repaired = True
    if row.publication_end is None or row.publication_end > yesterday:
        row.publication_end = yesterday
    audit.record(
        session,
        actor=actor,
        action="ingest.record.repair",
        subject=row.subject_uscc,
        target_type="record",
        target_id=row.id,
        reasons=[reason],
    )
    return _record_view(row)


def _history_row(row: Record, now: datetime) -> RecordVersion:
    return RecordVersion(
        record_id=row.id,
        version=row.version,
        item_code=row.item_code,
        subject_uscc=row.subject_uscc,
        content_hash=row.content_hash,
        data=dict(row.data),
        pii=row.pii,
        event_date=row.event_date,
        publication_end=row.publication_end,
        retention_end=row.retention_end,
        source_id=row.source_id,
        batch_id=row.batch_id,
        origin=row.origin,
        received_at=row.received_at,
        superseded_at=now,
    )


def correct_record(
    session: Session,
    *,
    actor: ActorRef,
    clock: Clock,
    cipher: PiiCipher,
    record_id: uuid.UUID,
    changes: Mapping[str, str | None],
    reason: str,
) -> RecordView:
    """Correct a record (objection outcome): the changed values are validated like a delivery, the current
    version is kept in the history and a new version written. The natural key cannot change. Audited."""
    row = _locked(session, record_id)
    plan = frames.plan_for(load_catalog().item(row.item_code))
    unknown = [k for k in changes if k not in plan.fields]
    if unknown:
        raise InvalidInput(f"信息项没有字段：{'、'.join(unknown)}")
    values: dict[str, Any] = {name: row.data.get(name) for name in plan.fields}
    values.update(_clear_pii(row.pii, cipher))
    values.update(changes)
    sources = {r.code: r.id.hex for r in session.scalars(sa.select(Source))}
    file_source = next(
        (code for code, hexid in sources.items() if row.source_id is not None and hexid == row.source_id.hex), None
    )
    frame = pl.DataFrame(
        {**{f"c{i}": pl.Series([values.get(name)], dtype=pl.String) for i, name in enumerate(plan.fields)}, frames.LINE: [1]}
    )
    match = HeaderMatch(plan.item.code, Layout.CURRENT, tuple(enumerate(plan.fields)), (), ())
    ctx = ChunkContext(
        plan=plan,
        match=match,
        today=today(clock),
        pepper=content_pepper(cipher),
        source_ids=sources,
        file_source=file_source if plan.source_fields is None else None,
    )
    prepared = frames.prepare(frame, ctx)
    if prepared.rows.is_empty():
        reasons = [f"{r['field']}: {r['reason']}" for r in prepared.rejects.iter_rows(named=True)]
        raise InvalidInput("更正后的记录不符合目录规则：" + "；".join(reasons), reasons=reasons)
    new = prepared.rows.row(0, named=True)
    if uuid.UUID(new["id"]) != row.id:
        raise InvalidInput("不能更改记录的自然键字段")
    if new["content_hash"] == row.content_hash:
        raise Conflict("更正内容与现有记录相同")
    now = clock.now()
    session.add(_history_row(row, now))
    row.version += 1
    row.content_hash = new["content_hash"]
    row.data = json.loads(new["data"])
    row.pii = cipher.encrypt(new["pii"], context=pipeline.PII_CONTEXT) if new["pii"] else None
    row.subject_uscc = new["subject_uscc"]
    row.event_date = new["event_date"]
    row.severity = new["severity"]
    row.publication_rule = new["publication_rule"]
    row.publication_min_end = new["publication_min_end"]
    if not row.repaired:
        row.publication_end = new["publication_end"]
    row.retention_end = new["retention_end"]
    row.origin = Origin.CORRECTION.value
    row.received_at = now
    session.flush()
    changed = sorted(k for k in changes if k not in plan.personal)
    audit.record(
        session,
        actor=actor,
        action="ingest.record.correct",
        subject=row.subject_uscc,
        target_type="record",
        target_id=row.id,
        reasons=[reason],
        data={"version": row.version, "fields": changed, "personal_fields": sorted(k for k in changes if k in plan.personal)},
    )
    return _record_view(row)


# --- retention ----------------------------------------------------------------------------------

PURGE_CHUNK = 5_000


def purge_expired(db: Database, *, actor: ActorRef, clock: Clock) -> PurgeSummary:
    """Delete records past their retention end, with their history (征信业管理条例: deleted after 5 years);
    one audited transaction, counts per item in the audit event. Records past publication are not touched:
    they stop being visible by the query-time rule."""
    day = today(clock)
    summary = PurgeSummary()
    with db.transaction() as s:
        expired = Record.retention_end.is_not(None) & (Record.retention_end < day)
        by_item = s.execute(sa.select(Record.item_code, sa.func.count()).where(expired).group_by(Record.item_code)).all()
        summary.records = {str(k): int(v) for k, v in by_item}
        if summary.total:
            while True:
                ids = s.scalars(sa.select(Record.id).where(expired).limit(PURGE_CHUNK)).all()
                if not ids:
                    break
                result = s.execute(sa.delete(RecordVersion).where(RecordVersion.record_id.in_(ids)))
                summary.versions += int(getattr(result, "rowcount", 0) or 0)
                s.execute(sa.delete(Record).where(Record.id.in_(ids)))
        audit.record(
            s,
            actor=actor,
            action="ingest.record.purge",
            target_type="retention",
            target_id=day.isoformat(),
            reasons=["超过保存期限（征信业管理条例：不良信息保存5年）"],
            data={"records": summary.records, "versions": summary.versions, "total": summary.total, "as_of": day},
        )
    return summary


def cleanup_partial_files(var_dir: Path, *, older_than: timedelta, now: datetime) -> int:
    """Remove rejects ``.part`` files and temporary transcodings left by batches that died."""
    removed = 0
    cutoff = (now - older_than).timestamp()
    for folder, pattern in ((var_dir / "rejects", "*.part"), (var_dir / "tmp", "ingest-*"), (var_dir / "uploads", "upload-*")):
        if not folder.is_dir():
            continue
        for path in folder.glob(pattern):
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
    return removed
