"""A report as HTML and PDF, with its QR code; and the report JSON a PDF carries.

The PDF uses reportlab's built-in CID font STSong-Light (Adobe-GB1, no font file needed: viewers
supply it) so Chinese renders everywhere, and embeds the signed JSON envelope as the attachment
``report.json`` so that the verify page can check a presented PDF. QR codes are made with segno.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from xml.sax.saxutils import escape

import jinja2
import segno
from pypdf import PdfReader, PdfWriter
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from xinyidai.report.model import PDF_ATTACHMENT, VERIFY_PATH

CJK_FONT = "STSong-Light"
_CHINA_TIME = timezone(timedelta(hours=8))

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("xinyidai.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

#: CSP of a report served as HTML: a self-contained document (its own inline style, inline SVG QR), no scripts.
DOCUMENT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def verify_url(base_url: str, code: str) -> str:
    """Absolute address of the public verify page for a code (what the QR code holds)."""
    return f"{base_url.rstrip('/')}{VERIFY_PATH}?code={code}"


def china_time(iso: str) -> str:
    """An ISO timestamp as China time to the second."""
    moment = datetime.fromisoformat(iso)
    return moment.astimezone(_CHINA_TIME).strftime("%Y-%m-%d %H:%M:%S")


def qr_svg(url: str) -> str:
    """The QR code of `url` as an inline SVG element (no XML declaration)."""
    return str(segno.make(url, error="m").svg_inline(scale=3, border=2, dark="#000", light="#fff"))


def to_html(envelope: Mapping[str, Any], *, url: str) -> str:
    """The report as one self-contained HTML document."""
    report = envelope["report"]
    return _env.get_template("document.html").render(
        report=report,
        envelope=envelope,
        generated=china_time(str(report["generated_at"])),
        qr=qr_svg(url),
        verify_url=url,
    )


# --- PDF -----------------------------------------------------------------------------------------


def _font() -> str:
    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    return CJK_FONT


class _QrFlowable(Flowable):
    """A QR code drawn as vector squares."""

    def __init__(self, url: str, size: float) -> None:
        super().__init__()
        self._matrix = [list(row) for row in segno.make(url, error="m").matrix]
        self._size = size
        self.width = self.height = size

    def draw(self) -> None:
        """Dark modules as filled squares, with a quiet zone of two modules."""
        count = len(self._matrix) + 4
        cell = self._size / count
        canvas = self.canv
        canvas.setFillColor(colors.white)
        canvas.rect(0, 0, self._size, self._size, stroke=0, fill=1)
        canvas.setFillColor(colors.black)
        for r, row in enumerate(self._matrix):
            for c, dark in enumerate(row):
                if dark:
                    canvas.rect((c + 2) * cell, self._size - (r + 3) * cell, cell, cell, stroke=0, fill=1)


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def to_pdf(envelope: Mapping[str, Any], *, url: str) -> bytes:
    """The report as an A4 PDF with Chinese text, the QR code, the hash and signature, and the JSON attached."""
    font = _font()
    report = envelope["report"]
    title = ParagraphStyle("title", fontName=font, fontSize=18, leading=24, alignment=TA_CENTER)
    h2 = ParagraphStyle("h2", fontName=font, fontSize=13, leading=18, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=13, wordWrap="CJK")
    small = ParagraphStyle("small", fontName=font, fontSize=7.5, leading=10, wordWrap="CJK")
    story: list[Flowable] = [_p(str(report["title"]), title), Spacer(1, 4 * mm)]
    subject = report["subject"]
    meta = [
        ["报告编号", report["number"]],
        ["生成时间", china_time(str(report["generated_at"]))],
        ["主体名称", subject.get("name") or "—"],
        ["统一社会信用代码", subject["uscc"]],
        ["验证码", report["verification"]["code"]],
    ]
    if report.get("period"):
        meta.append(["报告期间", f"{report['period']['from']} 至 {report['period']['to']}"])
    if report.get("authorization"):
        auth = report["authorization"]
        meta.append(["查询用途", str(auth["purpose_label"])])
        meta.append(["授权编号", str(auth["id"])])
        if auth.get("data_range"):
            meta.append(["授权数据范围", f"{auth['data_range']['from']} 至 {auth['data_range']['to']}"])
    meta_table = Table([[_p(k, body), _p(str(v), body)] for k, v in meta], colWidths=[32 * mm, 95 * mm])
    meta_table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    head = Table([[meta_table, _QrFlowable(url, 34 * mm)]], colWidths=[130 * mm, 40 * mm])
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [head, _p(f"扫描二维码或访问 {url} 核验本报告", small), Spacer(1, 3 * mm)]
    if report.get("conclusion"):
        story.append(_p(str(report["conclusion"]), body))
    for number, section in enumerate(report["sections"], start=1):
        story.append(_p(f"{number}. {section['title']}", h2))
        if not section["entries"]:
            story.append(_p("暂无记录", body))
            continue
        for entry in section["entries"]:
            marks = "".join(f"【{m}】" for m in entry["marks"])
            heading = f"{entry['item_name']}　{entry['event_date'] or ''}　{marks}"
            rows = [[_p(heading, body), ""]]
            rows += [[_p(f["label"], small), _p(f["value"], small)] for f in entry["fields"]]
            if entry.get("statement"):
                rows.append([_p("企业声明", small), _p(str(entry["statement"]), small)])
            table = Table(rows, colWidths=[45 * mm, 125 * mm])
            table.setStyle(
                TableStyle(
                    [
                        ("SPAN", (0, 0), (-1, 0)),
                        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.93, 0.95, 0.98)),
                        ("GRID", (0, 0), (-1, -1), 0.3, colors.lightgrey),
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ]
                )
            )
            story += [table, Spacer(1, 2 * mm)]
    story.append(_p(f"{len(report['sections']) + 1}. 改进建议", h2))
    story += [_p(f"（{i}）{a}", body) for i, a in enumerate(report["advice"], start=1)]
    story.append(_p("说明", h2))
    story += [_p(f"（{i}）{n}", small) for i, n in enumerate(report["notes"], start=1)]
    story += [
        Spacer(1, 3 * mm),
        _p(f"内容哈希（SHA-256）：{envelope['sha256']}", small),
        _p(f"平台签名（{envelope['signature_type']}，密钥 {envelope['key_id']}）：{envelope['signature']}", small),
    ]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"{report['title']} {report['number']}",
        author="信易贷融资信用服务平台",
        subject=f"sha256={envelope['sha256']}",
        keywords=[f"verification={report['verification']['code']}"],
        invariant=1,
    )
    doc.build(story)
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(buffer.getvalue())))
    writer.add_attachment(PDF_ATTACHMENT, json.dumps(envelope, ensure_ascii=False, sort_keys=True).encode())
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_envelope(data: bytes) -> dict[str, Any] | None:
    """The JSON envelope attached to a report PDF, or None when there is none or it is unreadable."""
    try:
        attachments = PdfReader(io.BytesIO(data)).attachments
        blobs = attachments.get(PDF_ATTACHMENT) or []
        if not blobs:
            return None
        value = json.loads(blobs[0])
    except Exception:  # noqa: BLE001 - anything unreadable is simply "no document presented"
        return None
    return value if isinstance(value, dict) else None


def read_presented(data: bytes) -> dict[str, Any] | None:
    """A presented file: a report PDF (its attachment) or the JSON download; None when neither."""
    if data.startswith(b"%PDF"):
        return pdf_envelope(data)
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None
