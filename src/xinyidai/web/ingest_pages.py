"""Thin HTML routes of aggregation (归集): sources, batches and rejects for operators and departments,
and "我的信用记录" for enterprises. Pages call the ingest services; they never build queries."""

from __future__ import annotations

import math
import uuid
from contextlib import suppress
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from xinyidai import ingest
from xinyidai.catalog import Catalog, Field, NotInCatalog, load_catalog
from xinyidai.http.container import Container, get_container
from xinyidai.kernel.errors import Conflict, NotFound
from xinyidai.principal import Permission, Principal, require
from xinyidai.web.layout import allowed, error_page, redirect, render, today_in_china

router = APIRouter(include_in_schema=False)
ContainerDep = Annotated[Container, Depends(get_container)]
PAGE_SIZE = 30
REJECTS_SHOWN = 200

#: Chinese labels used on these pages.
STATUS_LABELS = {"active": "已启用", "pending": "待确认"}
MODE_LABELS = {"bulk": "物理归集", "interface": "系统接口调用", "verification": "数据核验"}
CHANNEL_LABELS = {"cli": "命令行", "api": "接口上传", "directory": "目录导入"}
LAYOUT_LABELS = {"current": "现行格式", "legacy-2016": "2016 版双公示格式"}
SEVERITY_LABELS = {"minor": "轻微", "general": "一般", "serious": "严重", "serious_specific": "特定严重"}
REJECT_LABELS = {
    "required": "必填为空",
    "max_length": "超长",
    "code_list": "不在代码表",
    "uscc": "信用代码无效",
    "id_number": "证件号码无效",
    "date": "日期无效",
    "period": "所属期无效",
    "decimal": "金额无效",
    "integer": "整数无效",
    "boolean": "是否值无效",
    "cross_field": "字段间规则",
    "duplicate_in_file": "文件内重复",
    "source_unknown": "来源未登记",
    "source_forbidden": "无权报送",
    "source_mismatch": "来源不符",
    "retention_expired": "超过保存期限",
    "encoding": "编码错误",
    "malformed": "格式错误",
    "registry": "登记信息无效",
}


def _scope(who: Principal) -> tuple[bool, uuid.UUID | None]:
    if allowed(who, Permission.SOURCE_MANAGE):
        return False, None
    return True, who.department_id


def _page_number(text: str) -> int:
    return int(text) if text.isdigit() and 0 < int(text) <= 1_000_000 else 1


def _labels() -> dict[str, Any]:
    return {
        "status_labels": STATUS_LABELS,
        "mode_labels": MODE_LABELS,
        "channel_labels": CHANNEL_LABELS,
        "layout_labels": LAYOUT_LABELS,
        "reject_labels": REJECT_LABELS,
        "severity_labels": SEVERITY_LABELS,
    }


@router.get("/ingest/sources")
def sources_page(
    request: Request,
    container: ContainerDep,
    who: Annotated[Principal, Depends(require(Permission.SOURCE_READ))],
    status: Annotated[str, Query(max_length=10)] = "",
    page: Annotated[str, Query(max_length=8)] = "1",
) -> Response:
    """Data sources, pending first, with a confirm button for operators."""
    restricted, tenant = _scope(who)
    wanted = status if status in STATUS_LABELS else ""
    number = _page_number(page)
    views, total = ingest.list_sources(
        container.db,
        tenant=tenant,
        restricted=restricted,
        status=wanted or None,
        limit=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
    )
    pages = max(1, math.ceil(total / PAGE_SIZE))

    def link(n: int) -> str:
        return "/ingest/sources?" + urlencode({**({"status": wanted} if wanted else {}), "page": n})

    return render(
        request,
        container,
        who,
        "ingest/sources.html",
        {
            "page_title": "数据来源单位",
            "sources": views,
            "total": total,
            "status": wanted,
            "counts": ingest.source_counts(container.db),
            "can_manage": allowed(who, Permission.SOURCE_MANAGE),
            "page": number,
            "pages": pages,
            "prev_link": link(number - 1) if number > 1 else None,
            "next_link": link(number + 1) if number < pages else None,
            "item_names": {i.code: i.name_zh for i in load_catalog().items},
            **_labels(),
        },
    )


@router.post("/ingest/sources/{code}/confirm")
def confirm_source(
    code: str, container: ContainerDep, who: Annotated[Principal, Depends(require(Permission.SOURCE_MANAGE))]
) -> Response:
    """Confirm a pending source (the dependency has checked the form's CSRF token); back to the list."""
    with suppress(NotFound, Conflict):  # already confirmed or gone: the list shows the current state
        ingest.confirm_source(container.db, actor=who.ref, clock=container.clock, code=code[:40])
    return redirect("/ingest/sources?status=pending")


@router.get("/ingest/batches")
def batches_page(
    request: Request,
    container: ContainerDep,
    who: Annotated[Principal, Depends(require(Permission.BATCH_READ))],
    page: Annotated[str, Query(max_length=8)] = "1",
) -> Response:
    """Batches, newest first (a department sees its own)."""
    restricted, tenant = _scope(who)
    number = _page_number(page)
    views, total = ingest.list_batches(
        container.db, restricted=restricted, tenant=tenant, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
    )
    pages = max(1, math.ceil(total / PAGE_SIZE))
    return render(
        request,
        container,
        who,
        "ingest/batches.html",
        {
            "page_title": "归集批次",
            "batches": views,
            "total": total,
            "page": number,
            "pages": pages,
            "prev_link": f"/ingest/batches?page={number - 1}" if number > 1 else None,
            "next_link": f"/ingest/batches?page={number + 1}" if number < pages else None,
            **_labels(),
        },
    )


@router.get("/ingest/batches/{batch_id}")
def batch_page(
    batch_id: str,
    request: Request,
    container: ContainerDep,
    who: Annotated[Principal, Depends(require(Permission.BATCH_READ))],
) -> Response:
    """One batch: its summary and the first rejects, with the full rejects file to download."""
    restricted, tenant = _scope(who)
    try:
        key = uuid.UUID(batch_id[:64])
        batch = ingest.get_batch(container.db, batch_id=key, restricted=restricted, tenant=tenant)
        rejects, total = ingest.batch_rejects(
            container.db, actor=who.ref, batch_id=key, restricted=restricted, tenant=tenant, limit=REJECTS_SHOWN
        )
    except (ValueError, NotFound):
        return error_page(request, container, who, status_code=404, title="未找到该批次", detail="批次不存在，或不属于您的部门。")
    by_code = sorted(batch.summary.get("rejects_by_code", {}).items(), key=lambda kv: -kv[1])
    return render(
        request,
        container,
        who,
        "ingest/batch_detail.html",
        {
            "page_title": "批次详情",
            "batch": batch,
            "rejects": rejects,
            "reject_total": total,
            "by_code": by_code,
            **_labels(),
        },
    )


#: Columns "我的信用记录" shows for the 双公示 items; other items show their first fields.
SHOWN_FIELDS = {
    "admin_penalty": ("CF_WSH", "CF_WFXW", "CF_CFLB", "CF_NR_FK", "CF_JDRQ", "CF_CFJG"),
    "admin_license": ("XK_WSH", "XK_XKWS", "XK_XKLB", "XK_JDRQ", "XK_YXQZI", "XK_XKJG"),
}


def _shown_fields(catalog: Catalog, item_code: str) -> list[Field]:
    try:
        item = catalog.item(item_code)
    except NotInCatalog:
        return []
    wanted = SHOWN_FIELDS.get(item_code)
    if wanted:
        return [item.field(name) for name in wanted]
    return [f for f in item.record_schema if f.name != item.subject_field and not f.personal][:6]


@router.get("/records/mine")
def my_records_page(
    request: Request, container: ContainerDep, who: Annotated[Principal, Depends(require(Permission.RECORD_READ_OWN))]
) -> Response:
    """The enterprise's own credit records, by catalog item, with the 有异议 and 已修复 marks."""
    if not who.enterprise_uscc:
        return error_page(request, container, who, status_code=403, title="无法查看", detail="您的账号尚未关联统一社会信用代码。")
    day = today_in_china(container)
    records = ingest.my_records(container.db, actor=who.ref, uscc=who.enterprise_uscc, as_of=day)
    catalog = load_catalog()
    groups: dict[str, dict[str, Any]] = {}
    for record in records:
        group = groups.setdefault(record.item_code, {"name": record.item_name, "records": [], "fields": []})
        if not group["fields"]:
            group["fields"] = _shown_fields(catalog, record.item_code)
        group["records"].append(record)
    return render(
        request,
        container,
        who,
        "ingest/my_records.html",
        {
            "page_title": "我的信用记录",
            "uscc": who.enterprise_uscc,
            "groups": groups,
            "total": len(records),
            "today": day,
            "can_object": allowed(who, Permission.OBJECTION_CREATE),
            **_labels(),
        },
    )
