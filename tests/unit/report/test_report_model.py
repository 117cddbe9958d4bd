"""Pure report rules: layouts as data, sections, advice, numbers, verification codes, periods, canonical hashes."""

from __future__ import annotations

import secrets
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyidai import catalog
from xinyidai.report import model
from xinyidai.report.model import Entry


def test_every_catalog_item_has_a_public_report_section() -> None:
    layout = model.load_layout()
    for item in catalog.load_catalog().items:
        assert model.section_for(layout.public_sections, item=item.code, category=item.category) is not None, item.code
    assert model.section_for(layout.public_sections, item="admin_reward", category="administrative") == "honesty"
    assert model.section_for(layout.public_sections, item="admin_penalty", category="administrative") == "administrative"


def test_special_types_name_known_sections() -> None:
    layout = model.load_layout()
    general = layout.special_type("general")
    assert [s.title for s in layout.special_items(general)] == ["行政处罚", "行政强制", "严重失信名单"]
    with pytest.raises(model.UnknownReportType):
        layout.special_type("criminal")


def _entry(code: str, category: str, **kw: object) -> Entry:
    return Entry(record_id=code, item_code=code, item_name=code, category=category, event_date=date(2025, 1, 1), fields=(), **kw)  # type: ignore[arg-type]


def test_sections_marks_and_advice() -> None:
    layout = model.load_layout()
    entries = [
        _entry("admin_penalty", "administrative", negative=True, repaired=True),
        _entry("abnormal_operation", "abnormal_operation", negative=True, disputed=True),
    ]
    sections = model.build_sections(entries, layout.public_sections)
    by_code = {s["code"]: s for s in sections}
    assert by_code["administrative"]["entries"][0]["marks"] == ["已修复"]
    assert by_code["abnormal_operation"]["entries"][0]["marks"] == ["有异议"]
    tips = model.advice(entries, layout)
    assert layout.advice["negative"] in tips
    assert layout.advice["disputed"] in tips
    assert layout.advice["abnormal"] in tips
    assert model.advice([], layout) == [layout.advice["none"]]


def test_personal_values_are_masked() -> None:
    assert model.shown_value("350102198001010011", personal=True, id_number=True) == "350102********0011"
    assert model.shown_value("张三丰", personal=True, id_number=False) == "张**"
    assert model.shown_value("350102********0011", personal=True, id_number=True) == "350102********0011"
    assert model.shown_value(date(2025, 1, 2), personal=False, id_number=False) == "2025-01-02"


def test_numbers_codes_and_hashes() -> None:
    assert model.report_number("city-350100", date(2026, 6, 30), 7) == "CITY-350100-20260630-000007"
    code = model.new_verification_code()
    assert len(code) == 19
    assert model.normalize_code(code.lower().replace("-", "")) == code
    assert model.normalize_code("0000-0000-0000-000") == ""
    assert model.normalize_code("ioL0-0000-0000-0000") == "1010-0000-0000-0000"
    a = {"b": 1, "a": [1, "中"]}
    assert model.canonical_json(a) == '{"a":[1,"中"],"b":1}'.encode()
    assert model.content_sha256(a) == model.content_sha256({"a": [1, "中"], "b": 1})


def test_special_period() -> None:
    today = date(2026, 6, 30)
    model.check_period(date(2021, 6, 30), today, today=today)
    for start, end in ((date(2021, 6, 29), today), (today, date(2026, 1, 1)), (date(2026, 1, 1), date(2026, 7, 1))):
        with pytest.raises(model.InvalidPeriod):
            model.check_period(start, end, today=today)
    assert model.years_before(date(2024, 2, 29), 5) == date(2019, 2, 28)


def _code_from(bits: int) -> str:
    """The code `new_verification_code` makes when the 80 random bits it draws are `bits`."""
    original = secrets.randbits
    secrets.randbits = lambda k: bits if k == 80 else original(k)  # type: ignore[assignment]
    try:
        return model.new_verification_code()
    finally:
        secrets.randbits = original  # type: ignore[assignment]


@settings(max_examples=25)
@given(st.integers(min_value=0, max_value=2**80 - 1), st.integers(min_value=0, max_value=79))
def test_verification_codes_are_canonical_and_use_every_bit(bits: int, flip: int) -> None:
    """A code is 16 Crockford characters from 80 random bits, five a character: canonical as issued, and two draws
    that differ in any one bit give different codes."""
    code = _code_from(bits)
    assert model.normalize_code(code) == code
    assert len(code) == 19
    assert code.count("-") == 3
    assert _code_from(bits ^ (1 << flip)) != code
