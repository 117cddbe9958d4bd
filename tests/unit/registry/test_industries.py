"""GB/T 4754-2017 industries: the 20 sections, the 97 divisions, and code forms."""

from __future__ import annotations

import pytest

from xinyidai.registry import industries
from xinyidai.registry.industries import IndustryLevel

SECTION_RANGES = {
    "A": (1, 5), "B": (6, 12), "C": (13, 43), "D": (44, 46), "E": (47, 50), "F": (51, 52), "G": (53, 60),
    "H": (61, 62), "I": (63, 65), "J": (66, 69), "K": (70, 70), "L": (71, 72), "M": (73, 75), "N": (76, 79),
    "O": (80, 82), "P": (83, 83), "Q": (84, 85), "R": (86, 90), "S": (91, 96), "T": (97, 97),
}  # fmt: skip


def test_twenty_sections_a_to_t() -> None:
    sections = industries.sections()
    assert [s.code for s in sections] == list("ABCDEFGHIJKLMNOPQRST")
    assert all(s.level is IndustryLevel.SECTION and s.parent_code is None for s in sections)
    assert sections[2].name == "制造业"
    assert sections[8].name == "信息传输、软件和信息技术服务业"


def test_ninety_seven_divisions_in_their_sections() -> None:
    divisions = industries.divisions()
    assert [d.code for d in divisions] == [f"{n:02d}" for n in range(1, 98)]
    for division in divisions:
        first, last = SECTION_RANGES[division.section]
        assert first <= int(division.code) <= last, division
        assert division.parent_code == division.section
        assert division.name
    assert len(industries.divisions("C")) == 31


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("01", "农业"),
        ("05", "农、林、牧、渔专业及辅助性活动"),
        ("11", "开采专业及辅助性活动"),
        ("39", "计算机、通信和其他电子设备制造业"),
        ("58", "多式联运和运输代理业"),
        ("65", "软件和信息技术服务业"),
        ("70", "房地产业"),
        ("96", "基层群众自治组织及其他组织"),
        ("97", "国际组织"),
    ],
)
def test_division_names(code: str, name: str) -> None:
    found = industries.industry(code)
    assert found is not None
    assert found.name == name


@pytest.mark.parametrize(
    ("code", "resolved", "section"),
    [
        ("C", "C", "C"),
        (" c ", "C", "C"),
        ("39", "39", "C"),
        ("391", "39", "C"),
        ("3911", "39", "C"),
        ("C3911", "39", "C"),
        ("c39", "39", "C"),
        ("7010", "70", "K"),
        ("0111", "01", "A"),
    ],
)
def test_code_forms(code: str, resolved: str, section: str) -> None:
    found = industries.industry(code)
    assert found is not None
    assert found.code == resolved
    assert industries.section_of(code) == section


@pytest.mark.parametrize("code", ["", "U", "98", "00", "A3911", "39111", "3", "C-39", "３９"])
def test_unknown_or_malformed_codes(code: str) -> None:
    assert industries.industry(code) is None
    assert industries.section_of(code) is None
