"""Ingest routes: streaming batch upload for department clients, batches and their rejects, sources."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from xinyidai.http.container import Container, get_container
from xinyidai.ingest import service
from xinyidai.ingest.model import Channel, UploadTooLarge
from xinyidai.ingest.schemas import BatchPage, BatchRead, RejectPage, RejectRead, SourceCreate, SourcePage, SourceRead
from xinyidai.ingest.upload import receive
from xinyidai.kernel.errors import Forbidden
from xinyidai.principal import Permission, Principal, require

router = APIRouter(tags=["ingest"])
ContainerDep = Annotated[Container, Depends(get_container)]
_FORMATS = Literal["auto", "csv", "xlsx", "jsonl"]


def _scope(principal: Principal) -> tuple[bool, uuid.UUID | None]:
    """(restricted, tenant): operators (who manage sources) see every batch; anyone else only their department's."""
    if Permission.SOURCE_MANAGE in principal.permissions:
        return False, None
    return True, principal.department_id


def _batch_read(view: service.BatchView) -> BatchRead:
    body = asdict(view)
    body["has_rejects"] = body.pop("rejects_file") is not None
    return BatchRead.model_validate(body)


@router.post("/batches", status_code=201, response_model=BatchRead, summary="批量报送数据文件（物理归集）")
async def create_batch(
    request: Request,
    container: ContainerDep,
    principal: Annotated[Principal, Depends(require(Permission.BATCH_CREATE))],
    item: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z_]+$")] = None,
    source: Annotated[str | None, Query(max_length=40)] = None,
    format: Annotated[_FORMATS, Query()] = "auto",
    filename: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Upload one file (raw body, or multipart field ``file``) as a batch; it is streamed to disk and
    refused with 413 as soon as it passes ``max_upload_mb``. A department may deliver only rows of its own
    sources; rows of other source units are rejected. Answers the batch with its counts."""
    restricted, tenant = _scope(principal)
    if restricted and tenant is None:
        raise Forbidden("该账号未关联数据源部门，不能报送数据")
    settings = container.settings
    try:
        received = await receive(
            request.stream(),
            content_type=request.headers.get("content-type", ""),
            content_length=request.headers.get("content-length"),
            limit=settings.max_upload_mb * 1024 * 1024,
            directory=settings.var_dir / "uploads",
        )
    except UploadTooLarge as exc:
        # A refusal leaves its trace: recorded and committed before the 413 is raised.
        await run_in_threadpool(
            service.record_refused_upload,
            container.db,
            actor=principal.ref,
            limit_mb=settings.max_upload_mb,
            content_length=request.headers.get("content-length"),
            reason=exc.detail,
        )
        raise
    try:
        name = Path(filename or received.file_name or received.fields.get("filename") or "upload").name
        result = await run_in_threadpool(
            service.ingest_file,
            container.db,
            actor=principal.ref,
            clock=container.clock,
            cipher=container.cipher,
            var_dir=settings.var_dir,
            path=received.path,
            item=item or received.fields.get("item") or None,
            source=source or received.fields.get("source") or None,
            fmt=received.fields.get("format") or format,
            channel=Channel.API,
            department_id=tenant if restricted else None,
            register_unknown=False,
            file_name=name,
        )
    finally:
        received.path.unlink(missing_ok=True)
    view = service.get_batch(container.db, batch_id=result.batch_id, restricted=restricted, tenant=tenant)
    body = _batch_read(view)
    return Response(
        content=body.model_dump_json(),
        status_code=201,
        media_type="application/json",
        headers={"Location": f"/api/v1/batches/{view.id}"},
    )


@router.get("/batches", response_model=BatchPage, summary="批次列表")
def list_batches(
    container: ContainerDep,
    principal: Annotated[Principal, Depends(require(Permission.BATCH_READ))],
    item: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> BatchPage:
    """Batches, newest first; a department sees only its own."""
    restricted, tenant = _scope(principal)
    views, total = service.list_batches(container.db, restricted=restricted, tenant=tenant, item=item, limit=limit, offset=offset)
    return BatchPage(items=[_batch_read(v) for v in views], total=total, limit=limit, offset=offset)


@router.get("/batches/{batch_id}", response_model=BatchRead, summary="批次详情")
def get_batch(
    batch_id: uuid.UUID, container: ContainerDep, principal: Annotated[Principal, Depends(require(Permission.BATCH_READ))]
) -> BatchRead:
    """One batch with its summary (404 for another department's)."""
    restricted, tenant = _scope(principal)
    return _batch_read(service.get_batch(container.db, batch_id=batch_id, restricted=restricted, tenant=tenant))


@router.get("/batches/{batch_id}/rejects", response_model=RejectPage, summary="批次拒收明细")
def batch_rejects(
    batch_id: uuid.UUID,
    request: Request,
    container: ContainerDep,
    principal: Annotated[Principal, Depends(require(Permission.BATCH_READ))],
    format: Annotated[Literal["json", "csv"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response | RejectPage:
    """Every reject with line, field, value and reason: JSON pages, or the whole CSV file
    (``?format=csv`` or ``Accept: text/csv``). Reads are audited."""
    restricted, tenant = _scope(principal)
    wants_csv = format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))
    if wants_csv:
        path = service.rejects_file(
            container.db,
            actor=principal.ref,
            batch_id=batch_id,
            restricted=restricted,
            tenant=tenant,
            var_dir=container.settings.var_dir,
        )
        if path is None:
            return Response(content="\ufeffline,field,value,code,reason\n".encode(), media_type="text/csv; charset=utf-8")
        return FileResponse(path, media_type="text/csv; charset=utf-8", filename=f"rejects-{batch_id}.csv")
    items, total = service.batch_rejects(
        container.db, actor=principal.ref, batch_id=batch_id, restricted=restricted, tenant=tenant, limit=limit, offset=offset
    )
    return RejectPage(
        batch_id=batch_id, items=[RejectRead.model_validate(asdict(r)) for r in items], total=total, limit=limit, offset=offset
    )


@router.get("/sources", response_model=SourcePage, summary="数据来源单位")
def list_sources(
    container: ContainerDep,
    principal: Annotated[Principal, Depends(require(Permission.SOURCE_READ))],
    status: Annotated[Literal["active", "pending"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> SourcePage:
    """Sources with their items and sharing modes; a department sees its own."""
    restricted, tenant = _scope(principal)
    views, total = service.list_sources(
        container.db, tenant=tenant, restricted=restricted, status=status, limit=limit, offset=offset
    )
    return SourcePage(items=[SourceRead.model_validate(asdict(v)) for v in views], total=total, limit=limit, offset=offset)


@router.post("/sources", status_code=201, response_model=SourceRead, summary="登记数据来源单位")
def create_source(
    body: SourceCreate, container: ContainerDep, principal: Annotated[Principal, Depends(require(Permission.SOURCE_MANAGE))]
) -> SourceRead:
    """Register an active source (operators)."""
    view = service.create_source(
        container.db,
        actor=principal.ref,
        clock=container.clock,
        code=body.code,
        name=body.name,
        department_code=body.department_code,
        items=body.items,
        modes=body.modes,
        department_id=body.department_id,
    )
    return SourceRead.model_validate(asdict(view))


@router.post("/sources/{code}/confirm", response_model=SourceRead, summary="确认待确认的数据来源单位")
def confirm_source(
    code: str, container: ContainerDep, principal: Annotated[Principal, Depends(require(Permission.SOURCE_MANAGE))]
) -> SourceRead:
    """Confirm a source a delivery registered as pending (operators); audited."""
    view = service.confirm_source(container.db, actor=principal.ref, clock=container.clock, code=code[:40])
    return SourceRead.model_validate(asdict(view))
