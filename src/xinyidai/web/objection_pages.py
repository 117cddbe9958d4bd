"""Chinese pages of objections (异议): the enterprise's 我的异议 (its objections and the filing form, reachable
from 我的信用记录 as ``/objections/new?record_id=…``), the department's 异议处理 queue with deadline colours,
and one objection with the resolve and statement forms. Thin routes: every rule is in `xinyidai.objection`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from xinyidai import ingest, objection
from xinyidai.http.container import Container, get_container
from xinyidai.kernel.errors import DomainError, NotFound
from xinyidai.principal import Permission, Principal, require
from xinyidai.web.layout import allowed, error_page, redirect, render, today_in_china

router = APIRouter(include_in_schema=False)
ContainerDep = Annotated[Container, Depends(get_container)]
Filer = Annotated[Principal, Depends(require(Permission.OBJECTION_CREATE))]
Reader = Annotated[Principal, Depends(require(Permission.OBJECTION_READ))]
Resolver = Annotated[Principal, Depends(require(Permission.OBJECTION_RESOLVE))]
AnyParty = Annotated[Principal, Depends(require(Permission.OBJECTION_CREATE, Permission.OBJECTION_READ))]

_LIST_LIMIT = 200
_STATUS_TONES = {"open": "info", "escalated": "bad", "corrected": "ok", "upheld": "muted", "unresolved": "warn"}
_TONE_LABELS = {"green": "期限充足", "amber": "临近期限", "red": "已超期"}


def _common() -> dict[str, Any]:
    return {
        "status_tone": lambda s: _STATUS_TONES.get(str(s), "muted"),
        "tone_labels": _TONE_LABELS,
        "outcomes": list(objection.Outcome),
        "statuses": list(objection.ObjectionStatus),
        "response_days": objection.RESPONSE_DAYS,
        "max_attachments": objection.MAX_ATTACHMENTS,
        "max_mb": objection.MAX_ATTACHMENT_BYTES // (1024 * 1024),
    }


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        return None


def _own_record(container: Container, who: Principal, record_id: uuid.UUID | None) -> ingest.RecordView | None:
    """The record if it is the caller's own (shown on the form); None otherwise."""
    if record_id is None:
        return None
    try:
        record = ingest.get_record(container.db, record_id=record_id)
    except NotFound:
        return None
    return record if record.subject_uscc == who.enterprise_uscc else None


def _mine(
    request: Request,
    container: Container,
    who: Principal,
    *,
    record_id: str = "",
    reasons: str = "",
    error: str | None = None,
    status_code: int = 200,
    template: str = "objection/mine.html",
) -> Response:
    page = objection.list_objections(container.db, actor=who, clock=container.clock, limit=_LIST_LIMIT)
    record = _own_record(container, who, _uuid(record_id)) if record_id else None
    return render(
        request,
        container,
        who,
        template,
        {
            "page_title": "提出异议" if template.endswith("new.html") else "我的异议",
            "items": page.items,
            "total": page.total,
            "record_id": record_id,
            "record": record,
            "reasons": reasons,
            "error": error,
            **_common(),
        },
        status_code=status_code,
    )


@router.get("/objections")
def my_objections(request: Request, container: ContainerDep, who: Filer) -> Response:
    """我的异议: the enterprise's objections and outcomes, with the filing form (record id)."""
    return _mine(request, container, who)


@router.get("/objections/new")
def new_objection(
    request: Request, container: ContainerDep, who: Filer, record_id: Annotated[str, Query(max_length=64)] = ""
) -> Response:
    """The filing form for one record (the link target of 我的信用记录's 提出异议)."""
    if record_id and _own_record(container, who, _uuid(record_id)) is None:
        return error_page(
            request, container, who, status_code=404, title="未找到该信用记录", detail="该记录不存在，或不属于本企业。"
        )
    return _mine(request, container, who, record_id=record_id, template="objection/new.html")


@router.post("/objections")
def file_form(
    request: Request,
    container: ContainerDep,
    who: Filer,
    record_id: Annotated[str, Form(max_length=64)] = "",
    reasons: Annotated[str, Form(max_length=objection.MAX_REASONS_CHARS)] = "",
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    """File an objection from the form; back to the form with the error in Chinese when refused."""
    wanted = _uuid(record_id)
    uploads = [objection.AttachmentUpload(f.filename, f.file) for f in files or [] if f.filename]
    try:
        if wanted is None:
            raise NotFound("请填写正确的信用记录编号")
        view = objection.file_objection(
            container.db,
            actor=who,
            clock=container.clock,
            var_dir=container.settings.var_dir,
            record_id=wanted,
            reasons=reasons,
            attachments=uploads,
        )
    except DomainError as exc:
        return _mine(request, container, who, record_id=record_id, reasons=reasons, error=exc.detail, status_code=exc.status)
    return redirect(f"/objections/{view.id}?filed=1")


@router.get("/objections/queue")
def queue_page(
    request: Request,
    container: ContainerDep,
    who: Reader,
    status: Annotated[str, Query(max_length=16)] = "",
    due: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    """异议处理: the department's queue by due date (green / amber / red); operators and regulators see all."""
    wanted = objection.ObjectionStatus(status) if status in {s.value for s in objection.ObjectionStatus} else None
    page = objection.list_objections(
        container.db,
        actor=who,
        clock=container.clock,
        status=wanted,
        due=due if due in ("soon", "overdue") else None,
        limit=_LIST_LIMIT,
    )
    return render(
        request,
        container,
        who,
        "objection/queue.html",
        {
            "page_title": "异议处理",
            "items": page.items,
            "total": page.total,
            "status": wanted.value if wanted else "",
            "due": due,
            "can_resolve": allowed(who, Permission.OBJECTION_RESOLVE),
            "today": today_in_china(container),
            **_common(),
        },
    )


def _detail(
    request: Request,
    container: Container,
    who: Principal,
    view: objection.ObjectionView,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    record: ingest.RecordView | None
    try:
        record = ingest.get_record(container.db, record_id=view.record_id)
    except NotFound:
        record = None
    return render(
        request,
        container,
        who,
        "objection/detail.html",
        {
            "page_title": "异议详情",
            "o": view,
            "record": record,
            "is_enterprise": who.enterprise_uscc is not None,
            "can_resolve": allowed(who, Permission.OBJECTION_RESOLVE)
            and view.pending
            and who.department_id is not None
            and who.department_id == view.department_id,
            "notice": notice,
            "error": error,
            **_common(),
        },
        status_code=status_code,
    )


def _not_found(request: Request, container: Container, who: Principal) -> Response:
    return error_page(request, container, who, status_code=404, title="未找到该异议", detail="该异议不存在，或您无权查看。")


@router.get("/objections/{objection_id}")
def detail_page(
    request: Request, container: ContainerDep, who: AnyParty, objection_id: str, filed: Annotated[str, Query(max_length=2)] = ""
) -> Response:
    """One objection: the record, reasons, attachments, deadline and the answer; the forms of each party."""
    wanted = _uuid(objection_id)
    if wanted is None:
        return _not_found(request, container, who)
    try:
        view = objection.get_objection(container.db, actor=who, clock=container.clock, objection_id=wanted)
    except NotFound:
        return _not_found(request, container, who)
    notice = f"异议已提交，记录已标注“有异议”。记录所属部门应于 {view.due_on.isoformat()} 前书面答复。" if filed else None
    return _detail(request, container, who, view, notice=notice)


def _changes(text: str) -> dict[str, str | None]:
    """``字段=值`` lines (an empty value clears the field)."""
    out: dict[str, str | None] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ValueError(line)
        out[name.strip()] = value.strip() or None
    return out


@router.post("/objections/{objection_id}/resolve")
def resolve_form(
    request: Request,
    container: ContainerDep,
    who: Resolver,
    objection_id: str,
    outcome: Annotated[str, Form(max_length=16)] = "",
    answer: Annotated[str, Form(max_length=objection.MAX_ANSWER_CHARS)] = "",
    changes: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """The department resolves with an outcome, its written answer and, for 更正, ``字段=值`` lines."""
    wanted = _uuid(objection_id)
    if wanted is None:
        return _not_found(request, container, who)
    try:
        view = objection.resolve(
            container.db,
            actor=who,
            clock=container.clock,
            cipher=container.cipher,
            objection_id=wanted,
            outcome=objection.Outcome(outcome),
            answer=answer,
            changes=_changes(changes) or None,
        )
    except ValueError:
        error = "请选择处理结果；更正内容每行一项，格式为“字段代码=新值”。"
        status_code = 422
    except NotFound:
        return _not_found(request, container, who)
    except DomainError as exc:
        error, status_code = exc.detail, exc.status
    else:
        return redirect(f"/objections/{view.id}")
    try:
        current = objection.get_objection(container.db, actor=who, clock=container.clock, objection_id=wanted)
    except NotFound:
        return _not_found(request, container, who)
    return _detail(request, container, who, current, error=error, status_code=status_code)


@router.post("/objections/{objection_id}/statement")
def statement_form(
    request: Request,
    container: ContainerDep,
    who: Filer,
    objection_id: str,
    statement: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The enterprise attaches its statement to the disputed record."""
    wanted = _uuid(objection_id)
    if wanted is None:
        return _not_found(request, container, who)
    try:
        view = objection.add_statement(container.db, actor=who, clock=container.clock, objection_id=wanted, statement=statement)
    except NotFound:
        return _not_found(request, container, who)
    except DomainError as exc:
        current = objection.get_objection(container.db, actor=who, clock=container.clock, objection_id=wanted)
        return _detail(request, container, who, current, error=exc.detail, status_code=exc.status)
    return _detail(request, container, who, view, notice="说明已附在该记录上。")
