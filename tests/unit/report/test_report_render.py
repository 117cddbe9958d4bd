"""A report as PDF and HTML: Chinese text extractable from the PDF, a page rendered to an image, the signed JSON
attached and read back, the QR code and masked values in the HTML."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from xinyidai.report import model, render

URL = "https://xyd.example.cn/reports/verify?code=ABCD-EFGH-JKMN-PQRS"


def _envelope() -> dict[str, Any]:
    layout = model.load_layout()
    entries = [
        model.Entry(
            record_id="r1",
            item_code="admin_penalty",
            item_name="行政处罚信息",
            category="administrative",
            event_date=None,
            fields=(("行政处罚决定书文号", "榕市监罚〔2025〕1号"), ("法定代表人证件号码", "350102********0011")),
            negative=True,
            repaired=True,
        ),
        model.Entry(
            record_id="r2",
            item_code="abnormal_operation",
            item_name="经营异常名录信息",
            category="abnormal_operation",
            event_date=None,
            fields=(("列入经营异常名录原因", "通过登记的住所无法联系"),),
            disputed=True,
        ),
    ]
    content: dict[str, Any] = {
        "schema": model.SCHEMA,
        "number": "CITY-350100-20260630-000001",
        "kind": "public",
        "title": "公共信用信息报告",
        "node_id": "city-350100",
        "generated_at": "2026-06-30T02:00:00+00:00",
        "verification": {"code": "ABCD-EFGH-JKMN-PQRS", "path": model.VERIFY_PATH},
        "subject": {"uscc": "91350100M000100Y43", "name": "福州市测试贸易有限公司"},
        "catalog_version": "2024",
        "sections": model.build_sections(entries, layout.public_sections),
        "advice": model.advice(entries, layout),
        "notes": ["本报告仅记载平台归集的信用信息事实，不作评价。"],
    }
    return {
        "report": content,
        "sha256": model.content_sha256(content),
        "signature": "a.b.c",
        "signature_type": "t",
        "key_id": "k",
    }


def test_pdf_has_chinese_text_and_carries_the_signed_json(tmp_path: Path) -> None:
    envelope = _envelope()
    pdf = render.to_pdf(envelope, url=URL)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    for title in (
        "公共信用信息报告",
        "基本信息",
        "行政管理",
        "严重失信主体名单",
        "经营异常",
        "司法判决",
        "改进建议",
        "已修复",
        "有异议",
    ):
        assert title in text, title
    assert "350102********0011" in text
    assert render.pdf_envelope(pdf) == envelope
    assert render.read_presented(pdf) == envelope
    assert render.read_presented(b"%PDF-1.4 broken") is None
    (tmp_path / "report.pdf").write_bytes(pdf)


def test_pdf_page_renders_to_an_image(tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (Debian poppler-utils) is not installed: cannot render the PDF to an image")
    path = tmp_path / "report.pdf"
    path.write_bytes(render.to_pdf(_envelope(), url=URL))
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(path), str(tmp_path / "page")], check=True)
    images = sorted(tmp_path.glob("page*.png"))
    assert images
    assert images[0].stat().st_size > 5_000
    # Chinese glyphs rendered (not blank boxes): the page is far from uniformly white.
    from PIL import Image

    with Image.open(images[0]) as image:
        dark = sum(image.convert("L").histogram()[:128])
    assert dark > 2_000


def test_html_is_self_contained_with_qr_and_marks() -> None:
    html = render.to_html(_envelope(), url=URL)
    assert "<svg" in html
    assert "公共信用信息报告" in html
    assert "【已修复】" in html
    assert "【有异议】" in html
    assert "<script" not in html
    assert render.verify_url("https://a.cn/", "X") == "https://a.cn/reports/verify?code=X"
