"""Objection routes: enterprises file (multipart with attachments), list their own and attach statements;
departments read their queue and resolve; attachments download with the same access checks."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import FileResponse

from xinyidai.http.container import Container, get_container
from xinyidai.objection import service
from xinyidai.objection.model import MAX_REASONS_CHARS, ObjectionStatus
from xinyidai.objection.schemas import ObjectionPage, ObjectionRead, ResolveBody, StatementBody
from xinyidai.principal import Permission, Principal, require

router = APIRouter(tags=["objection"])
ContainerDep = Annotated[Container, Depends(get_container)]
Filer = Annotated[Principal, Depends(require(Permission.OBJECTION_CREATE))]
Reader = Annotated[Principal, Depends(require(Permission.OBJECTION_READ))]
Resolver = Annotated[Principal, Depends(require(Permission.OBJECTION_RESOLVE))]
AnyParty = Annotated[Principal, Depends(require(Permission.OBJECTION_CREATE, Permission.OBJECTION_READ))]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]

#: Headers of an attachment download: never rendered inline by the browser as something active.
_DOWNLOAD_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}


def _read(view: service.ObjectionView) -> ObjectionRead:
    return ObjectionRead.model_validate(asdict(view))


def _page(page: service.ObjectionPage, limit: int, offset: int) -> ObjectionPage:
    return ObjectionPage(items=[_read(v) for v in page.items], total=page.total, limit=limit, offset=offset)


@router.post("/objections", status_code=201, response_model=ObjectionRead, summary="对本企业的信用记录提出异议")
def file_objection(
    container: ContainerDep,
    who: Filer,
    record_id: Annotated[uuid.UUID, Form(description="信用记录编号")],
    reasons: Annotated[str, Form(min_length=1, max_length=MAX_REASONS_CHARS, description="异议理由")],
    files: Annotated[list[UploadFile] | None, File(description="附件：PDF/PNG/JPEG，最多 5 个，每个不超过 10 MB")] = None,
) -> ObjectionRead:
    """Multipart form: ``record_id``, ``reasons`` and up to 5 ``files``. The record is flagged 有异议 at once;
    the owning department must answer within 20 days."""
    uploads = [service.AttachmentUpload(f.filename, f.file) for f in files or [] if f.filename or f.size]
    view = service.file_objection(
        container.db,
        actor=who,
        clock=container.clock,
        var_dir=container.settings.var_dir,
        record_id=record_id,
        reasons=reasons,
        attachments=uploads,
    )
    return _read(view)


@router.get("/objections", response_model=ObjectionPage, summary="本企业的异议及处理结果")
def my_objections(container: ContainerDep, who: Filer, limit: Limit = 50, offset: Offset = 0) -> ObjectionPage:
    """The caller's own objections, pending first."""
    page = service.list_objections(container.db, actor=who, clock=container.clock, limit=limit, offset=offset)
    return _page(page, limit, offset)


@router.get("/objections/queue", response_model=ObjectionPage, summary="异议处理队列")
def queue(
    container: ContainerDep,
    who: Reader,
    status: Annotated[ObjectionStatus | None, Query()] = None,
    due: Annotated[Literal["soon", "overdue"] | None, Query()] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ObjectionPage:
    """A department's objections (its own only), by due date; operators and regulators see every department's."""
    page = service.list_objections(
        container.db, actor=who, clock=container.clock, status=status, due=due, limit=limit, offset=offset
    )
    return _page(page, limit, offset)


@router.get("/objections/{objection_id}", response_model=ObjectionRead, summary="异议详情")
def get_objection(container: ContainerDep, who: AnyParty, objection_id: uuid.UUID) -> ObjectionRead:
    """One objection; 404 for anyone but its enterprise, its department, operators and regulators."""
    return _read(service.get_objection(container.db, actor=who, clock=container.clock, objection_id=objection_id))


@router.post("/objections/{objection_id}/statement", response_model=ObjectionRead, summary="为异议记录附加情况说明")
def add_statement(container: ContainerDep, who: Filer, objection_id: uuid.UUID, body: StatementBody) -> ObjectionRead:
    """Attach (or replace) the enterprise's statement on the disputed record; allowed at any time."""
    view = service.add_statement(
        container.db, actor=who, clock=container.clock, objection_id=objection_id, statement=body.statement
    )
    return _read(view)


@router.post("/objections/{objection_id}/resolve", response_model=ObjectionRead, summary="办结异议并书面答复")
def resolve(container: ContainerDep, who: Resolver, objection_id: uuid.UUID, body: ResolveBody) -> ObjectionRead:
    """``{"outcome": "corrected"|"upheld"|"unresolved", "answer": "…", "changes": {field: value}}``;
    ``changes`` only with ``corrected``."""
    view = service.resolve(
        container.db,
        actor=who,
        clock=container.clock,
        cipher=container.cipher,
        objection_id=objection_id,
        outcome=body.outcome,
        answer=body.answer,
        changes=body.changes,
    )
    return _read(view)


@router.get("/objections/{objection_id}/attachments/{attachment_id}", summary="下载异议附件", response_class=FileResponse)
def download_attachment(
    container: ContainerDep, who: AnyParty, objection_id: uuid.UUID, attachment_id: uuid.UUID
) -> FileResponse:
    """The attachment's bytes, served as a download under its SHA-256 name; audited."""
    found = service.attachment_file(
        container.db,
        actor=who,
        clock=container.clock,
        var_dir=container.settings.var_dir,
        objection_id=objection_id,
        attachment_id=attachment_id,
    )
    return FileResponse(
        found.path,
        media_type=found.media_type,
        filename=found.download_name,
        content_disposition_type="attachment",
        headers=_DOWNLOAD_HEADERS,
    )
