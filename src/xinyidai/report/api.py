"""Report routes: the public report for anyone, the authorized report for institutions, the special report for
enterprises, downloads for their owner (JSON, HTML, PDF), and the public verification of a code."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, UploadFile, status
from fastapi.responses import HTMLResponse, Response

from xinyidai import consent
from xinyidai.http.container import Container, get_container
from xinyidai.http.ratelimit import VERIFY_RATE_LIMIT
from xinyidai.kernel.errors import InvalidInput
from xinyidai.principal import PUBLIC, Permission, Principal, optional_principal, require
from xinyidai.report import render, service
from xinyidai.report.schemas import (
    AuthorizedReportCreate,
    PublicReportCreate,
    ReportEnvelope,
    ReportSummaryRead,
    ReportVerificationRead,
    SpecialReportCreate,
)

router = APIRouter(tags=["report"])
ContainerDep = Annotated[Container, Depends(get_container)]
MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]
Puller = Annotated[Principal, Depends(require(Permission.REPORT_PULL))]
Requester = Annotated[Principal, Depends(require(Permission.REPORT_REQUEST_OWN))]
Owner = Annotated[Principal, Depends(require(Permission.REPORT_PULL, Permission.REPORT_REQUEST_OWN, Permission.REPORT_READ))]

#: Largest file the verify endpoint reads (a report PDF is far smaller).
MAX_PRESENTED_BYTES = 8 * 1024 * 1024


class ReportFormat(StrEnum):
    """How a report is delivered."""

    JSON = "json"
    HTML = "html"
    PDF = "pdf"


FormatQuery = Annotated[ReportFormat, Query(alias="format")]


#: The public verification's per-client limit (API and page share the bucket of a client).
VerifyRateLimit = Depends(VERIFY_RATE_LIMIT)


def base_url(request: Request, container: Container) -> str:
    """The public address the QR code points to: setting ``report_public_url`` or this request's base URL."""
    configured = getattr(container.settings, "report_public_url", None)
    return str(configured or request.base_url)


def deliver(
    request: Request, container: Container, doc: service.ReportDocument, fmt: ReportFormat, *, code: int = 200
) -> Response:
    """The report in the asked format; HTML and PDF carry the QR code of the verify page."""
    if fmt is ReportFormat.JSON:
        # The envelope's bytes are built around the document's canonical JSON (already made to hash it), not
        # re-validated and re-serialised through the response model: the same JSON, once.
        return Response(doc.envelope_json(), status_code=code, media_type="application/json")
    url = render.verify_url(base_url(request, container), doc.verification_code)
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    if fmt is ReportFormat.HTML:
        headers["Content-Security-Policy"] = render.DOCUMENT_CSP
        return HTMLResponse(render.to_html(doc.envelope(), url=url), status_code=code, headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{doc.number}.pdf"'
    return Response(render.to_pdf(doc.envelope(), url=url), status_code=code, media_type="application/pdf", headers=headers)


_DOC: dict[int | str, dict[str, Any]] = {200: {"content": {"application/json": {}, "text/html": {}, "application/pdf": {}}}}


@router.post(
    "/reports/public",
    status_code=status.HTTP_201_CREATED,
    response_model=ReportEnvelope,
    responses=_DOC,
    summary="公共信用信息报告",
    dependencies=[Depends(PUBLIC)],
)
def public_report(
    body: PublicReportCreate,
    request: Request,
    container: ContainerDep,
    who: MaybePrincipal,
    fmt: FormatQuery = ReportFormat.JSON,
) -> Response:
    """Anyone gets the public report of a subject: public items only."""
    doc = service.create_public_report(
        container.db, actor=who, clock=container.clock, keyring=consent.keyring_for(container), uscc=body.uscc
    )
    return deliver(request, container, doc, fmt, code=201)


@router.post(
    "/reports/authorized",
    status_code=status.HTTP_201_CREATED,
    response_model=ReportEnvelope,
    responses=_DOC,
    summary="调取授权信用报告",
)
def authorized_report(
    body: AuthorizedReportCreate, request: Request, container: ContainerDep, who: Puller, fmt: FormatQuery = ReportFormat.JSON
) -> Response:
    """An institution pulls a report under an authorization it holds (404 for another's, 403 when not usable)."""
    doc = service.create_authorized_report(
        container.db,
        actor=who,
        clock=container.clock,
        keyring=consent.keyring_for(container),
        uscc=body.uscc,
        authorization_id=body.authorization_id,
        purpose=body.purpose,
    )
    return deliver(request, container, doc, fmt, code=201)


@router.post(
    "/reports/special",
    status_code=status.HTTP_201_CREATED,
    response_model=ReportEnvelope,
    responses=_DOC,
    summary="申请专项信用报告",
)
def special_report(
    body: SpecialReportCreate, request: Request, container: ContainerDep, who: Requester, fmt: FormatQuery = ReportFormat.JSON
) -> Response:
    """An enterprise's own 专项信用报告 (409 for a second one of the same type on the same day)."""
    doc = service.create_special_report(
        container.db,
        actor=who,
        clock=container.clock,
        keyring=consent.keyring_for(container),
        report_type=body.type,
        period_from=body.period_from,
        period_to=body.period_to,
    )
    return deliver(request, container, doc, fmt, code=201)


@router.get("/reports", response_model=list[ReportSummaryRead], summary="本人或本机构的报告")
def my_reports(container: ContainerDep, who: Owner, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[ReportSummaryRead]:
    """The caller's reports, newest first."""
    return [ReportSummaryRead.of(s) for s in service.list_reports(container.db, actor=who, limit=limit)]


@router.get(
    "/reports/verify/{code}",
    response_model=ReportVerificationRead,
    summary="核验报告验证码",
    dependencies=[Depends(PUBLIC), VerifyRateLimit],
    responses={429: {"description": "请求过于频繁（按客户端 IP 限流）"}},
)
def verify_report(code: str, container: ContainerDep) -> ReportVerificationRead:
    """Anyone checks a verification code: the report's facts, its hash, whether the platform's signature holds."""
    return ReportVerificationRead.of(service.verify_report(container.db, keyring=consent.keyring_for(container), code=code))


@router.post(
    "/reports/verify/{code}",
    response_model=ReportVerificationRead,
    summary="核验报告是否被篡改",
    dependencies=[Depends(PUBLIC), VerifyRateLimit],
    responses={429: {"description": "请求过于频繁（按客户端 IP 限流）"}},
)
def verify_presented(code: str, file: UploadFile, container: ContainerDep) -> ReportVerificationRead:
    """Anyone presents a report (its JSON, or the PDF with the JSON attached) and learns whether it is unaltered."""
    data = file.file.read(MAX_PRESENTED_BYTES + 1)
    if len(data) > MAX_PRESENTED_BYTES:
        raise InvalidInput("文件过大")
    presented: dict[str, Any] = render.read_presented(data) or {}
    result = service.verify_report(container.db, keyring=consent.keyring_for(container), code=code, presented=presented)
    return ReportVerificationRead.of(result)


@router.get("/reports/{number}", response_model=ReportEnvelope, responses=_DOC, summary="下载报告")
def get_report(
    number: str, request: Request, container: ContainerDep, who: Owner, fmt: FormatQuery = ReportFormat.JSON
) -> Response:
    """A report for its owner, as JSON, HTML or PDF; anyone else gets 404."""
    doc = service.get_report(container.db, actor=who, clock=container.clock, number=number)
    return deliver(request, container, doc, fmt)
