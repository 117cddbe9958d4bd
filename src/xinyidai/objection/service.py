"""Objection use cases: file (flag the record in the same transaction, schedule reminders and escalation),
remind, escalate, resolve (corrected / upheld / unresolved), attach a statement, and the tenant-scoped reads.
Every change and every read is audited in its own transaction."""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from xinyidai import audit, ingest, job
from xinyidai.catalog import NotInCatalog, load_catalog
from xinyidai.db import Database
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock
from xinyidai.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kernel.ids import new_id
from xinyidai.kernel.pii import PiiCipher
from xinyidai.objection.model import (
    AMBER_DAYS,
    MAX_ANSWER_CHARS,
    MAX_ATTACHMENT_BYTES,
    MAX_REASONS_CHARS,
    PENDING,
    SNIFF_BYTES,
    Action,
    AttachmentRefused,
    AttachmentTooLarge,
    DeadlineTone,
    ObjectionStatus,
    Outcome,
    attachment_label,
    check_attachment_count,
    china_date,
    clean_text,
    days_left,
    deadline_tone,
    next_status,
    response_deadline,
    sniff_type,
    stored_name,
)
from xinyidai.objection.tables import Objection, ObjectionAttachment
from xinyidai.principal import Permission, Principal

#: Job kinds scheduled when an objection is filed.
REMIND_KIND = "objection.remind"
ESCALATE_KIND = "objection.escalate"
#: Who reminds and escalates.
DEADLINE_ACTOR = ActorRef.system("objection-deadline")
#: Folder of attachment files under the var directory.
ATTACHMENTS_DIR = "attachments"

_CHUNK = 64 * 1024


# --- views ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttachmentView:
    """One attached file (its bytes are read with ``attachment_file``)."""

    id: uuid.UUID
    position: int
    label: str
    media_type: str
    size: int
    sha256: str
    uploaded_at: datetime


@dataclass(frozen=True, slots=True)
class ObjectionView:
    """An objection as its enterprise, its department, operators and regulators see it."""

    id: uuid.UUID
    record_id: uuid.UUID
    item_code: str
    item_name: str
    subject_uscc: str
    department_id: uuid.UUID | None
    department_code: str
    department_name: str
    status: ObjectionStatus
    reasons: str
    filed_at: datetime
    filed_by: str
    received_on: date
    due_on: date
    record_version: int
    reminders_sent: int
    last_reminded_at: datetime | None
    escalated_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    answer: str | None
    corrected_version: int | None
    attachments: tuple[AttachmentView, ...]
    #: Calendar days left on ``as_of`` (negative once overdue); None once answered.
    days_left: int | None
    #: Queue colour on ``as_of``; None once answered.
    tone: DeadlineTone | None

    @property
    def pending(self) -> bool:
        """The department still owes an answer."""
        return self.status in PENDING

    @property
    def dispute_note(self) -> str | None:
        """The note kept with the record when the objection ended unresolved."""
        return self.answer if self.status is ObjectionStatus.UNRESOLVED else None


@dataclass(frozen=True, slots=True)
class ObjectionPage:
    """One page of objections and the total."""

    items: list[ObjectionView]
    total: int


@dataclass(frozen=True, slots=True)
class AttachmentUpload:
    """A file as received: the name the client gave (display only) and a readable binary stream."""

    client_name: str | None
    stream: IO[bytes]


@dataclass(frozen=True, slots=True)
class AttachmentFile:
    """Where an attachment's bytes are, with the type and name to serve them under."""

    path: Path
    media_type: str
    download_name: str


@dataclass(frozen=True, slots=True)
class _Stored:
    label: str
    sha256: str
    media_type: str
    size: int


def _item_name(code: str) -> str:
    try:
        return load_catalog().item(code).name_zh
    except NotInCatalog:
        return code


def _department_name(code: str) -> str:
    try:
        return load_catalog().department(code).name_zh
    except NotInCatalog:
        return code


def _view(row: Objection, attachments: Sequence[ObjectionAttachment], *, today: date) -> ObjectionView:
    status = ObjectionStatus(row.status)
    pending = status in PENDING
    return ObjectionView(
        id=row.id,
        record_id=row.record_id,
        item_code=row.item_code,
        item_name=_item_name(row.item_code),
        subject_uscc=row.subject_uscc,
        department_id=row.department_id,
        department_code=row.department_code,
        department_name=_department_name(row.department_code),
        status=status,
        reasons=row.reasons,
        filed_at=row.filed_at,
        filed_by=row.filed_by,
        received_on=row.received_on,
        due_on=row.due_on,
        record_version=row.record_version,
        reminders_sent=row.reminders_sent,
        last_reminded_at=row.last_reminded_at,
        escalated_at=row.escalated_at,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        answer=row.answer,
        corrected_version=row.corrected_version,
        attachments=tuple(
            AttachmentView(
                id=a.id,
                position=a.position,
                label=a.label,
                media_type=a.media_type,
                size=a.size,
                sha256=a.sha256,
                uploaded_at=a.uploaded_at,
            )
            for a in sorted(attachments, key=lambda a: a.position)
        ),
        days_left=days_left(row.due_on, today) if pending else None,
        tone=deadline_tone(row.due_on, today) if pending else None,
    )


def _attachments_of(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[ObjectionAttachment]]:
    out: dict[uuid.UUID, list[ObjectionAttachment]] = {i: [] for i in ids}
    if ids:
        for a in session.scalars(sa.select(ObjectionAttachment).where(ObjectionAttachment.objection_id.in_(list(ids)))):
            out[a.objection_id].append(a)
    return out


# --- who may see what -----------------------------------------------------------------------------


def _scope(actor: Principal) -> sa.ColumnElement[bool]:
    """Enterprises see their own objections; resolving departments their own department's; other readers
    (operators, regulators) every objection; anyone else none."""
    if actor.enterprise_uscc:
        return Objection.subject_uscc == actor.enterprise_uscc
    if Permission.OBJECTION_RESOLVE in actor.permissions:
        return Objection.department_id == actor.department_id if actor.department_id is not None else sa.false()
    if Permission.OBJECTION_READ in actor.permissions:
        return sa.true()
    return sa.false()


def _deny(db: Database, *, actor: Principal, clock: Clock, action: str, target_id: object, reason: str) -> NotFound:
    """Record a refusal in a transaction that commits; the caller raises the returned error."""
    with db.transaction() as s:
        audit.record(
            s,
            actor=actor.ref,
            action=action,
            target_type="objection",
            target_id=target_id,
            reasons=[reason],
            clock=clock,
        )
    return NotFound("未找到该异议")


def _visible(session: Session, actor: Principal, objection_id: uuid.UUID, *, lock: bool = False) -> Objection | None:
    query = sa.select(Objection).where(Objection.id == objection_id, _scope(actor))
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


# --- attachments ----------------------------------------------------------------------------------


def _store_attachment(folder: Path, upload: AttachmentUpload, position: int) -> _Stored:
    """Stream one upload into a temporary file, refusing it as soon as it passes the size limit; keep it
    under its SHA-256 (content-addressed: the same bytes are stored once, and a file left by a transaction
    that rolled back is the same file a retry stores)."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    head = b""
    fd, tmp_name = tempfile.mkstemp(prefix="upload-", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := upload.stream.read(_CHUNK):
                size += len(chunk)
                if size > MAX_ATTACHMENT_BYTES:
                    raise AttachmentTooLarge(f"附件{position}超过 {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB")
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise AttachmentRefused(f"附件{position}是空文件")
        media = sniff_type(head)
        if media is None:
            raise AttachmentRefused(f"附件{position}的类型不受支持：只接受 PDF、PNG、JPEG 文件")
        sha = digest.hexdigest()
        os.replace(tmp, folder / stored_name(sha, media))
        return _Stored(attachment_label(upload.client_name, position=position), sha, media, size)
    finally:
        tmp.unlink(missing_ok=True)


# --- the record's owner (adapter over ingest) -------------------------------------------------------


def _record_owner(db: Database, record: ingest.RecordView) -> tuple[uuid.UUID | None, str]:
    """The principal department linked to the record's source and the source's catalog department; without a
    source, the catalog item's department and no tenant yet."""
    if record.source_id is not None:
        try:
            view = ingest.get_source(db, record.source_id)
        except NotFound:
            view = None
        if view is not None:
            return view.department_id, view.department_code
    try:
        item = load_catalog().item(record.item_code)
    except NotInCatalog:
        return None, "unknown"
    value = record.data.get(item.department_field) if item.department_field else None
    return None, item.department_for(str(value)).code if value is not None else item.department.code


# --- filing ---------------------------------------------------------------------------------------


def file_objection(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    var_dir: Path,
    record_id: uuid.UUID,
    reasons: str,
    attachments: Sequence[AttachmentUpload] = (),
) -> ObjectionView:
    """An enterprise disputes one of its own records: the record is flagged 有异议 in the same transaction,
    the owning department gets it in its queue, and the reminders and the escalation are scheduled."""
    uscc = actor.enterprise_uscc
    if not uscc or Permission.OBJECTION_CREATE not in actor.permissions:
        raise Forbidden("只有企业可以对本企业的信用记录提出异议")
    text = clean_text(reasons, what="异议理由", limit=MAX_REASONS_CHARS)
    check_attachment_count(len(attachments))
    try:
        record = ingest.get_record(db, record_id=record_id)
    except NotFound:
        record = None
    if record is None or record.subject_uscc != uscc:
        with db.transaction() as s:
            audit.record(
                s,
                actor=actor.ref,
                action="objection.file.denied",
                subject=uscc,
                target_type="record",
                target_id=record_id,
                reasons=["记录不存在或不属于本企业"],
                clock=clock,
            )
        raise NotFound("未找到该信用记录")
    department_id, department_code = _record_owner(db, record)
    folder = var_dir / ATTACHMENTS_DIR
    stored = [_store_attachment(folder, upload, n) for n, upload in enumerate(attachments, start=1)]
    now = clock.now()
    deadline = response_deadline(now)
    with db.transaction() as s:
        objection_id = new_id()
        # Flag first: it locks the record row, so two filings for one record queue up here.
        flagged = ingest.mark_disputed(
            s, actor=actor.ref, record_id=record_id, reason="企业提出异议", objection_id=str(objection_id)
        )
        pending = s.scalar(
            sa.select(Objection.id).where(Objection.record_id == record_id, Objection.status.in_([p.value for p in PENDING]))
        )
        if pending is not None:
            raise Conflict("该记录已有正在核查的异议", objection_id=str(pending))
        row = Objection(
            id=objection_id,
            record_id=record_id,
            item_code=flagged.item_code,
            subject_uscc=uscc,
            department_id=department_id,
            department_code=department_code,
            source_id=flagged.source_id,
            status=ObjectionStatus.OPEN.value,
            reasons=text,
            filed_at=now,
            filed_by=actor.label[:200],
            received_on=deadline.received_on,
            due_on=deadline.due_on,
            record_version=flagged.version,
            reminders_sent=0,
            updated_at=now,
        )
        s.add(row)
        s.flush()
        files = [
            ObjectionAttachment(
                id=new_id(),
                objection_id=row.id,
                position=n,
                sha256=f.sha256,
                media_type=f.media_type,
                size=f.size,
                label=f.label,
                uploaded_at=now,
            )
            for n, f in enumerate(stored, start=1)
        ]
        s.add_all(files)
        for days_before, at in deadline.reminders:
            job.enqueue(
                s,
                kind=REMIND_KIND,
                payload={"objection_id": str(row.id), "days_before": days_before},
                run_at=at,
                dedupe_key=f"{REMIND_KIND}:{row.id}:{days_before}",
                clock=clock,
            )
        job.enqueue(
            s,
            kind=ESCALATE_KIND,
            payload={"objection_id": str(row.id)},
            run_at=deadline.escalate_at,
            dedupe_key=f"{ESCALATE_KIND}:{row.id}",
            clock=clock,
        )
        audit.record(
            s,
            actor=actor.ref,
            action="objection.file",
            subject=uscc,
            target_type="objection",
            target_id=row.id,
            data={
                "record_id": str(record_id),
                "item": row.item_code,
                "department_id": str(department_id) if department_id else None,
                "department_code": department_code,
                "due_on": row.due_on.isoformat(),
                "attachments": [f.sha256 for f in stored],
            },
            clock=clock,
        )
        return _view(row, files, today=china_date(now))


# --- deadline jobs --------------------------------------------------------------------------------


def remind(db: Database, *, clock: Clock, objection_id: uuid.UUID, days_before: int) -> bool:
    """Remind the department that an answer falls due in ``days_before`` days; nothing once answered."""
    with db.transaction() as s:
        row = s.scalar(sa.select(Objection).where(Objection.id == objection_id).with_for_update())
        if row is None or ObjectionStatus(row.status) not in PENDING:
            return False
        next_status(ObjectionStatus(row.status), Action.REMIND)
        now = clock.now()
        row.reminders_sent += 1
        row.last_reminded_at = now
        row.updated_at = now
        audit.record(
            s,
            actor=DEADLINE_ACTOR,
            action="objection.remind",
            subject=row.subject_uscc,
            target_type="objection",
            target_id=row.id,
            reasons=[f"距答复期限还剩 {days_left(row.due_on, china_date(now))} 天"],
            data={"due_on": row.due_on.isoformat(), "days_before": days_before, "department_id": row.department_id},
            clock=clock,
        )
        return True


def escalate(db: Database, *, clock: Clock, objection_id: uuid.UUID) -> bool:
    """Mark an objection still unanswered after its due date 已超期督办 (seen by operators and regulators);
    nothing if it was answered, already escalated, or is not overdue yet."""
    with db.transaction() as s:
        row = s.scalar(sa.select(Objection).where(Objection.id == objection_id).with_for_update())
        if row is None or row.status != ObjectionStatus.OPEN.value:
            return False
        now = clock.now()
        if china_date(now) <= row.due_on:
            return False
        row.status = next_status(ObjectionStatus.OPEN, Action.ESCALATE).value
        row.escalated_at = now
        row.updated_at = now
        audit.record(
            s,
            actor=DEADLINE_ACTOR,
            action="objection.escalate",
            subject=row.subject_uscc,
            target_type="objection",
            target_id=row.id,
            reasons=[f"超过答复期限 {row.due_on.isoformat()} 未答复（征信业管理条例：20日内书面答复）"],
            data={"department_id": row.department_id, "department_code": row.department_code},
            clock=clock,
        )
        return True


# --- resolving ------------------------------------------------------------------------------------


def resolve(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    cipher: PiiCipher,
    objection_id: uuid.UUID,
    outcome: Outcome,
    answer: str,
    changes: Mapping[str, str | None] | None = None,
) -> ObjectionView:
    """The owning department answers in writing: ``corrected`` writes a new version of the record with
    ``changes`` and clears the flag; ``upheld`` clears the flag, the record stands; ``unresolved`` keeps the
    flag and the answer as the dispute note. One transaction with the record's change."""
    text = clean_text(answer, what="书面答复", limit=MAX_ANSWER_CHARS)
    if outcome is Outcome.CORRECTED and not changes:
        raise InvalidInput("更正记录需要列出更正的字段和值")
    if outcome is not Outcome.CORRECTED and changes:
        raise InvalidInput("只有“更正记录”的处理结果可以附带字段更正")
    if Permission.OBJECTION_RESOLVE not in actor.permissions or actor.department_id is None:
        raise Forbidden("只有记录所属部门可以办结异议")
    with db.transaction() as s:
        row = _visible(s, actor, objection_id, lock=True)
        if row is not None:
            new = next_status(ObjectionStatus(row.status), Action.RESOLVE, outcome)
            now = clock.now()
            reason = f"异议处理：{outcome.label_zh}"
            version: int | None = None
            if outcome is Outcome.CORRECTED:
                corrected = ingest.correct_record(
                    s,
                    actor=actor.ref,
                    clock=clock,
                    cipher=cipher,
                    record_id=row.record_id,
                    changes=dict(changes or {}),
                    reason=reason,
                )
                version = corrected.version
            if outcome.clears_flag:
                ingest.clear_disputed(s, actor=actor.ref, record_id=row.record_id, reason=reason, objection_id=str(row.id))
            else:  # the record stays 有异议 and carries the department's answer as its dispute note
                ingest.mark_disputed(
                    s, actor=actor.ref, record_id=row.record_id, reason=reason, objection_id=str(row.id), note=text
                )
            late = china_date(now) > row.due_on
            row.status = new.value
            row.answer = text
            row.resolved_at = now
            row.resolved_by = actor.label[:200]
            row.corrected_version = version
            row.updated_at = now
            audit.record(
                s,
                actor=actor.ref,
                action="objection.resolve",
                subject=row.subject_uscc,
                target_type="objection",
                target_id=row.id,
                reasons=[outcome.label_zh],
                data={
                    "outcome": outcome.value,
                    "record_id": str(row.record_id),
                    "record_version": version or row.record_version,
                    "fields": sorted(changes or {}),
                    "late": late,
                },
                clock=clock,
            )
            files = _attachments_of(s, [row.id])[row.id]
            return _view(row, files, today=china_date(now))
    raise _deny(
        db, actor=actor, clock=clock, action="objection.resolve.denied", target_id=objection_id, reason="异议不存在或不属于本部门"
    )


def add_statement(db: Database, *, actor: Principal, clock: Clock, objection_id: uuid.UUID, statement: str) -> ObjectionView:
    """The enterprise attaches its statement (情况说明) to the disputed record, at any time; audited."""
    if not actor.enterprise_uscc:
        raise Forbidden("只有异议企业可以附加说明")
    with db.transaction() as s:
        row = _visible(s, actor, objection_id, lock=True)
        if row is not None:
            next_status(ObjectionStatus(row.status), Action.STATEMENT)
            ingest.attach_statement(s, actor=actor.ref, record_id=row.record_id, statement=statement)
            row.updated_at = clock.now()
            audit.record(
                s,
                actor=actor.ref,
                action="objection.statement",
                subject=row.subject_uscc,
                target_type="objection",
                target_id=row.id,
                data={"record_id": str(row.record_id)},
                clock=clock,
            )
            files = _attachments_of(s, [row.id])[row.id]
            return _view(row, files, today=china_date(clock.now()))
    raise _deny(
        db,
        actor=actor,
        clock=clock,
        action="objection.statement.denied",
        target_id=objection_id,
        reason="异议不存在或不属于本企业",
    )


# --- reads ----------------------------------------------------------------------------------------


def list_objections(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    status: ObjectionStatus | None = None,
    due: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> ObjectionPage:
    """The objections the caller may see (see ``_scope``): pending ones by due date first, then the answered,
    newest first. ``due="overdue"`` or ``"soon"`` (amber) narrows to pending ones. Audited."""
    today = china_date(clock.now())
    query = sa.select(Objection).where(_scope(actor))
    if status is not None:
        query = query.where(Objection.status == status.value)
    pending = Objection.status.in_([p.value for p in PENDING])
    if due == "overdue":
        query = query.where(pending, Objection.due_on < today)
    elif due == "soon":
        query = query.where(pending, Objection.due_on >= today, Objection.due_on <= today + timedelta(days=AMBER_DAYS))
    elif due:
        raise InvalidInput("due 只能为 soon 或 overdue")
    order = (sa.case((pending, 0), else_=1), sa.case((pending, Objection.due_on), else_=None), Objection.filed_at.desc())
    with db.transaction() as s:
        total = int(s.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0)
        rows = s.scalars(query.order_by(*order).limit(limit).offset(offset)).all()
        files = _attachments_of(s, [r.id for r in rows])
        audit.record(
            s,
            actor=actor.ref,
            action="objection.list",
            subject=actor.enterprise_uscc,
            target_type="objection",
            data={"count": len(rows), "total": total, "status": status.value if status else None, "due": due},
            clock=clock,
        )
        return ObjectionPage([_view(r, files[r.id], today=today) for r in rows], total)


def get_objection(db: Database, *, actor: Principal, clock: Clock, objection_id: uuid.UUID) -> ObjectionView:
    """One objection, if the caller may see it (else NotFound, with the refusal audited); the read is audited."""
    with db.transaction() as s:
        row = _visible(s, actor, objection_id)
        if row is not None:
            audit.record(
                s,
                actor=actor.ref,
                action="objection.read",
                subject=row.subject_uscc,
                target_type="objection",
                target_id=row.id,
                clock=clock,
            )
            return _view(row, _attachments_of(s, [row.id])[row.id], today=china_date(clock.now()))
    raise _deny(
        db, actor=actor, clock=clock, action="objection.read.denied", target_id=objection_id, reason="异议不存在或无权查看"
    )


def attachment_file(
    db: Database, *, actor: Principal, clock: Clock, var_dir: Path, objection_id: uuid.UUID, attachment_id: uuid.UUID
) -> AttachmentFile:
    """An attachment's file for download, if the caller may see its objection; audited."""
    with db.transaction() as s:
        row = _visible(s, actor, objection_id)
        found = (
            s.scalar(
                sa.select(ObjectionAttachment).where(
                    ObjectionAttachment.id == attachment_id, ObjectionAttachment.objection_id == objection_id
                )
            )
            if row is not None
            else None
        )
        if row is not None and found is not None:
            name = stored_name(found.sha256, found.media_type)
            path = var_dir / ATTACHMENTS_DIR / name
            if not path.is_file():
                raise NotFound("附件文件已不存在")
            audit.record(
                s,
                actor=actor.ref,
                action="objection.attachment.read",
                subject=row.subject_uscc,
                target_type="objection",
                target_id=row.id,
                data={"attachment_id": str(found.id), "sha256": found.sha256},
                clock=clock,
            )
            return AttachmentFile(path=path, media_type=found.media_type, download_name=name)
    raise _deny(
        db, actor=actor, clock=clock, action="objection.attachment.denied", target_id=objection_id, reason="附件不存在或无权查看"
    )


def latest_by_record(db: Database, *, uscc: str, clock: Clock) -> dict[uuid.UUID, ObjectionView]:
    """The latest objection of each of an enterprise's records (for the 我的信用记录 page: link, status and
    the dispute note of an unresolved one). Not audited: the caller's page audits its read."""
    today = china_date(clock.now())
    with db.transaction() as s:
        rows = s.scalars(
            sa.select(Objection).where(Objection.subject_uscc == uscc.strip().upper()).order_by(Objection.filed_at)
        ).all()
        out: dict[uuid.UUID, ObjectionView] = {}
        for r in rows:
            out[r.record_id] = _view(r, (), today=today)
        return out


def counts(db: Database, *, actor: Principal, clock: Clock) -> dict[str, Any]:
    """Pending, overdue and answered objections in the caller's scope (for home pages); not audited (figures only)."""
    today = china_date(clock.now())
    with db.transaction() as s:
        by_status = {
            str(k): int(v)
            for k, v in s.execute(sa.select(Objection.status, sa.func.count()).where(_scope(actor)).group_by(Objection.status))
        }
        overdue = int(
            s.scalar(
                sa.select(sa.func.count())
                .select_from(Objection)
                .where(_scope(actor), Objection.status.in_([p.value for p in PENDING]), Objection.due_on < today)
            )
            or 0
        )
    return {"by_status": by_status, "overdue": overdue}
