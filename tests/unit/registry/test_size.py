"""Enterprise size class (企业划型): the threshold table, its boundaries and the unknown cases."""

from __future__ import annotations

from decimal import Decimal

import pytest

from xinyidai.registry import size
from xinyidai.registry.size import SizeClass, classify

D = Decimal


def test_labels() -> None:
    assert [c.label for c in SizeClass] == ["大型", "中型", "小型", "微型", "无法划型"]
    assert SizeClass.MICRO.value == "micro"


def test_every_rule_is_monotone() -> None:
    for rule in size.RULES.values():
        assert len(rule.metrics) == len(rule.large) == len(rule.medium) == len(rule.small)
        for large, medium, small in zip(rule.large, rule.medium, rule.small, strict=True):
            assert large > medium > small > 0, rule.group


def test_every_group_key_has_a_rule() -> None:
    assert {g for g in size.INDUSTRY_GROUPS.values() if g is not None} == set(size.RULES)
    assert all(f"{n:02d}" in size.INDUSTRY_GROUPS for n in range(1, 98) if n != 70)


@pytest.mark.parametrize(
    ("code", "staff", "revenue", "expected"),
    [
        # 工业 (制造业 39): staff ≥1000 & revenue ≥40000 large; ≥300 & ≥2000 medium; ≥20 & ≥300 small.
        ("3911", 1000, D(40000), SizeClass.LARGE),
        ("3911", 999, D(40000), SizeClass.MEDIUM),
        ("3911", 1000, D("39999.99"), SizeClass.MEDIUM),
        ("3911", 300, D(2000), SizeClass.MEDIUM),
        ("3911", 299, D(2000), SizeClass.SMALL),
        ("3911", 20, D(300), SizeClass.SMALL),
        ("3911", 19, D(100000), SizeClass.MICRO),  # micro needs only one figure below
        ("3911", 5000, D(299), SizeClass.MICRO),
        ("B", 20, D(300), SizeClass.SMALL),  # 采矿业 is 工业 too
        ("44", 300, D(2000), SizeClass.MEDIUM),
        # 批发业 / 零售业
        ("51", 20, D(5000), SizeClass.MEDIUM),
        ("51", 5, D(1000), SizeClass.SMALL),
        ("51", 4, D(1000), SizeClass.MICRO),
        ("52", 50, D(500), SizeClass.MEDIUM),
        ("52", 10, D(100), SizeClass.SMALL),
        # 交通运输业 includes 591 装卸搬运; 仓储业 is the rest of 59
        ("5910", 300, D(3000), SizeClass.MEDIUM),
        ("5920", 100, D(1000), SizeClass.MEDIUM),
        ("60", 300, D(2000), SizeClass.MEDIUM),
        ("62", 10, D(100), SizeClass.SMALL),
        # 信息传输业 vs 软件和信息技术服务业
        ("64", 2000, D(100000), SizeClass.LARGE),
        ("65", 10, D(50), SizeClass.SMALL),
        ("65", 10, D(49), SizeClass.MICRO),
        # 物业管理
        ("7020", 100, D(500), SizeClass.SMALL),
        # 其他未列明行业: staff only
        ("73", 300, None, SizeClass.LARGE),
        ("7520", 100, None, SizeClass.MEDIUM),
        ("85", 10, None, SizeClass.SMALL),
        ("90", 9, None, SizeClass.MICRO),
        ("7030", 9, None, SizeClass.MICRO),  # 房地产中介服务
        # 农、林、牧、渔业: revenue only
        ("01", None, D(20000), SizeClass.LARGE),
        ("A", None, D(500), SizeClass.MEDIUM),
        ("0511", None, D(50), SizeClass.SMALL),
        ("03", None, D(49), SizeClass.MICRO),
    ],
)
def test_staff_and_revenue(code: str, staff: int | None, revenue: Decimal | None, expected: SizeClass) -> None:
    assert classify(code, staff, revenue) is expected


@pytest.mark.parametrize(
    ("code", "staff", "revenue", "assets", "expected"),
    [
        # 建筑业: revenue and total assets
        ("47", None, D(80000), D(80000), SizeClass.LARGE),
        ("E", None, D(6000), D(5000), SizeClass.MEDIUM),
        ("48", None, D(6000), D(4999), SizeClass.SMALL),
        ("49", None, D(300), D(299), SizeClass.MICRO),
        # 房地产开发经营
        ("7010", None, D(200000), D(10000), SizeClass.LARGE),
        ("701", None, D(1000), D(5000), SizeClass.MEDIUM),
        ("7010", None, D(100), D(2000), SizeClass.SMALL),
        # 租赁和商务服务业: staff and total assets
        ("7212", 300, None, D(120000), SizeClass.LARGE),
        ("L", 100, None, D(8000), SizeClass.MEDIUM),
        ("71", 10, D(1), D(100), SizeClass.SMALL),
        ("72", 9, None, D(100000), SizeClass.MICRO),
    ],
)
def test_total_assets(code: str, staff: int | None, revenue: Decimal | None, assets: Decimal | None, expected: SizeClass) -> None:
    assert classify(code, staff, revenue, assets) is expected


@pytest.mark.parametrize(
    ("code", "staff", "revenue"),
    [
        ("53", 10, D(10)),  # 铁路运输业: not covered
        ("6610", 10, D(10)),  # 金融业: its own standard
        ("83", 10, D(10)),  # 教育
        ("84", 10, D(10)),  # 卫生
        ("92", 10, D(10)),  # 国家机构
        ("7040", 10, D(10)),  # 自有房地产经营活动: excluded
        ("70", 10, D(10)),  # 房地产业 alone: development, property management or other?
        ("59", 10, D(10)),  # 装卸搬运 (transport) or 仓储?
        ("G", 10, D(10)),  # a section spanning several groups
        ("98", 10, D(10)),  # not a code
        ("", 10, D(10)),
    ],
)
def test_uncovered_or_ambiguous_industries_are_unknown(code: str, staff: int, revenue: Decimal) -> None:
    assert classify(code, staff, revenue) is SizeClass.UNKNOWN


@pytest.mark.parametrize(
    ("staff", "revenue", "expected"),
    [
        (None, None, SizeClass.UNKNOWN),
        (1000, None, SizeClass.UNKNOWN),  # revenue decides between large and below
        (None, D(40000), SizeClass.UNKNOWN),
        (19, None, SizeClass.MICRO),  # below the small staff bound: micro whatever the revenue
        (None, D(299), SizeClass.MICRO),
        (250, None, SizeClass.UNKNOWN),  # medium excluded by staff; small or micro depends on revenue
    ],
)
def test_missing_figures(staff: int | None, revenue: Decimal | None, expected: SizeClass) -> None:
    assert classify("3911", staff, revenue) is expected


def test_unused_figures_may_be_missing() -> None:
    assert classify("73", 150, None, None) is SizeClass.MEDIUM
    assert classify("47", None, D(300), D(300)) is SizeClass.SMALL


def test_negative_figures_are_rejected() -> None:
    with pytest.raises(ValueError, match="staff"):
        classify("3911", -1, D(1))
    with pytest.raises(ValueError, match="revenue"):
        classify("3911", 1, D(-1))
