"""Chinese pages of credit reports: the enterprise's 我的信用报告, the institution's 调取信用报告, and the public
报告验证 page. Thin routes: every rule is in `xinyidai.report`; downloads go through the report API."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response

from xinyidai import consent, report
from xinyidai.http.container import Container, get_container
from xinyidai.http.ratelimit import VERIFY_RATE_LIMIT
from xinyidai.kernel.errors import DomainError
from xinyidai.principal import PUBLIC, Permission, Principal, optional_principal, require
from xinyidai.web.layout import redirect, render, today_in_china

router = APIRouter(include_in_schema=False)
ContainerDep = Annotated[Container, Depends(get_container)]
Requester = Annotated[Principal, Depends(require(Permission.REPORT_REQUEST_OWN))]
Puller = Annotated[Principal, Depends(require(Permission.REPORT_PULL))]
MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]

#: Largest file the verify page reads.
_MAX_UPLOAD = 8 * 1024 * 1024
_LIST_LIMIT = 100


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


# --- enterprise: 我的信用报告 ----------------------------------------------------------------------


def _mine(
    request: Request,
    container: Container,
    who: Principal,
    *,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    today = today_in_china(container)
    return render(
        request,
        container,
        who,
        "report/mine.html",
        {
            "page_title": "我的信用报告",
            "reports": report.list_reports(container.db, actor=who, limit=_LIST_LIMIT),
            "types": report.load_layout().special_types,
            "default_from": (today - timedelta(days=365 * 3)).isoformat(),
            "default_to": today.isoformat(),
            "error": error,
            "notice": notice,
        },
        status_code=status_code,
    )


@router.get("/reports")
def mine(request: Request, container: ContainerDep, who: Requester) -> Response:
    """The enterprise's reports and the forms to request new ones."""
    return _mine(request, container, who, notice=request.query_params.get("issued"))


@router.post("/reports/special")
def request_special(
    request: Request,
    container: ContainerDep,
    who: Requester,
    report_type: Annotated[str, Form(alias="type")] = "general",
    period_from: Annotated[str, Form()] = "",
    period_to: Annotated[str, Form()] = "",
) -> Response:
    """Request a 专项信用报告 for the enterprise itself."""
    start, end = _day(period_from), _day(period_to)
    if start is None or end is None:
        return _mine(request, container, who, error="请填写报告期间", status_code=422)
    try:
        doc = report.create_special_report(
            container.db,
            actor=who,
            clock=container.clock,
            keyring=consent.keyring_for(container),
            report_type=report_type,
            period_from=start,
            period_to=end,
        )
    except DomainError as exc:
        return _mine(request, container, who, error=exc.detail or exc.title, status_code=exc.status)
    return redirect(f"/reports?issued=已生成报告 {doc.number}")


@router.post("/reports/public")
def request_public(request: Request, container: ContainerDep, who: Requester) -> Response:
    """Request the enterprise's own 公共信用信息报告."""
    try:
        doc = report.create_public_report(
            container.db, actor=who, clock=container.clock, keyring=consent.keyring_for(container), uscc=who.enterprise_uscc or ""
        )
    except DomainError as exc:
        return _mine(request, container, who, error=exc.detail or exc.title, status_code=exc.status)
    return redirect(f"/reports?issued=已生成报告 {doc.number}")


# --- institution: 调取信用报告 ---------------------------------------------------------------------


def _pull_page(
    request: Request,
    container: Container,
    who: Principal,
    *,
    error: str | None = None,
    notice: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        container,
        who,
        "report/pull.html",
        {
            "page_title": "调取信用报告",
            "reports": report.list_reports(container.db, actor=who, limit=_LIST_LIMIT),
            "purposes": list(consent.Purpose),
            "form": {"uscc": "", "authorization_id": "", "purpose": consent.Purpose.CREDIT_APPROVAL.value, **(form or {})},
            "error": error,
            "notice": notice,
        },
        status_code=status_code,
    )


@router.get("/reports/pull")
def pull_form(request: Request, container: ContainerDep, who: Puller) -> Response:
    """The institution's form to pull a report under an authorization, and its reports."""
    return _pull_page(request, container, who, notice=request.query_params.get("issued"))


@router.post("/reports/pull")
def pull(
    request: Request,
    container: ContainerDep,
    who: Puller,
    uscc: Annotated[str, Form()] = "",
    authorization_id: Annotated[str, Form()] = "",
    purpose: Annotated[str, Form()] = "",
) -> Response:
    """Pull the authorized report; refusals are shown on the form."""
    form = {"uscc": uscc, "authorization_id": authorization_id, "purpose": purpose}
    try:
        auth_id = uuid.UUID(authorization_id.strip())
        chosen = consent.Purpose(purpose)
    except ValueError:
        return _pull_page(request, container, who, error="请填写正确的授权编号和查询用途", form=form, status_code=422)
    try:
        doc = report.create_authorized_report(
            container.db,
            actor=who,
            clock=container.clock,
            keyring=consent.keyring_for(container),
            uscc=uscc,
            authorization_id=auth_id,
            purpose=chosen,
        )
    except DomainError as exc:
        return _pull_page(request, container, who, error=exc.detail or exc.title, form=form, status_code=exc.status)
    return redirect(f"/reports/pull?issued=已生成报告 {doc.number}")


# --- public: 报告验证 ------------------------------------------------------------------------------


def _verify_page(
    request: Request,
    container: Container,
    who: Principal | None,
    *,
    code: str,
    result: Any = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        container,
        who,
        "report/verify.html",
        {"page_title": "信用报告验证", "code": code, "result": result, "error": error},
        status_code=status_code,
    )


@router.get("/reports/verify", dependencies=[Depends(PUBLIC), Depends(VERIFY_RATE_LIMIT)])
def verify_form(request: Request, container: ContainerDep, who: MaybePrincipal, code: str = "") -> Response:
    """Enter a verification code (the QR code fills it in) to see the report's facts."""
    if not code:
        return _verify_page(request, container, who, code="")
    try:
        result = report.verify_report(container.db, keyring=consent.keyring_for(container), code=code)
    except DomainError as exc:
        return _verify_page(request, container, who, code=code, error=exc.detail or exc.title, status_code=exc.status)
    return _verify_page(request, container, who, code=code, result=result)


@router.post("/reports/verify", dependencies=[Depends(PUBLIC), Depends(VERIFY_RATE_LIMIT)])
def verify_upload(
    request: Request,
    container: ContainerDep,
    who: MaybePrincipal,
    code: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Check a code and, with an uploaded report (JSON or PDF), whether that copy is unaltered: 一致 / 不一致."""
    presented: dict[str, Any] | None = None
    if file is not None and file.filename:
        data = file.file.read(_MAX_UPLOAD + 1)
        if len(data) > _MAX_UPLOAD:
            return _verify_page(request, container, who, code=code, error="文件过大", status_code=413)
        presented = report.read_presented(data) or {}
    try:
        result = report.verify_report(container.db, keyring=consent.keyring_for(container), code=code, presented=presented)
    except DomainError as exc:
        return _verify_page(request, container, who, code=code, error=exc.detail or exc.title, status_code=exc.status)
    return _verify_page(request, container, who, code=code, result=result)
