"""Enterprise size class (企业划型): large, medium, small or micro by industry thresholds.

Source of the thresholds: 《中小企业划型标准规定》(工信部联企业〔2011〕300号), as
restated for GB/T 4754-2017 industries in 《统计上大中小微型企业划分办法（2017）》
(国统字〔2017〕213号), whose table also gives the 大型 lower bounds. The numbers
below were transcribed from those texts; they are kept as data (``RULES``,
``INDUSTRY_GROUPS``) so that a correction or a newer standard is a table edit.

The rule of both texts: a 大型, 中型 or 小型 enterprise must reach *every* lower
bound listed for its industry, otherwise it drops one class; a 微型 enterprise
needs to fall below only one. Units: 从业人员 in persons, 营业收入 and 资产总额
in 万元. Industries the standard does not cover (铁路运输业, 金融业, 教育, 卫生,
公共管理 …, 自有房地产经营活动) and codes too coarse to pick a group (``70``,
``59``) classify as ``unknown``, as does a missing figure that would decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from xinyidai.registry.industries import divisions, normalize_code


class SizeClass(StrEnum):
    """Size class of an enterprise; ``label`` is its Chinese name."""

    LARGE = "large"
    MEDIUM = "medium"
    SMALL = "small"
    MICRO = "micro"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        """Chinese name: 大型, 中型, 小型, 微型 or 无法划型."""
        return _LABELS[self]


_LABELS: Mapping[SizeClass, str] = MappingProxyType({
    SizeClass.LARGE: "大型",
    SizeClass.MEDIUM: "中型",
    SizeClass.SMALL: "小型",
    SizeClass.MICRO: "微型",
    SizeClass.UNKNOWN: "无法划型",
})  # fmt: skip


class Metric(StrEnum):
    """A figure the thresholds are stated on."""

    STAFF = "staff"  # 从业人员（人）
    REVENUE = "revenue"  # 营业收入（万元）
    TOTAL_ASSETS = "total_assets"  # 资产总额（万元）


@dataclass(frozen=True, slots=True)
class SizeRule:
    """Thresholds of one industry group: inclusive lower bounds per class, one per metric."""

    group: str
    name: str
    metrics: tuple[Metric, ...]
    large: tuple[int, ...]
    medium: tuple[int, ...]
    small: tuple[int, ...]


_S, _R, _A = Metric.STAFF, Metric.REVENUE, Metric.TOTAL_ASSETS

#: The threshold table (lower bounds of 大型, 中型, 小型; below 小型 is 微型).
RULES: Mapping[str, SizeRule] = MappingProxyType({rule.group: rule for rule in (
    #        group                name                  metrics     large             medium          small
    SizeRule("agriculture",       "农、林、牧、渔业",     (_R,),      (20000,),         (500,),         (50,)),
    SizeRule("industry",          "工业",               (_S, _R),   (1000, 40000),    (300, 2000),    (20, 300)),
    SizeRule("construction",      "建筑业",             (_R, _A),   (80000, 80000),   (6000, 5000),   (300, 300)),
    SizeRule("wholesale",         "批发业",             (_S, _R),   (200, 40000),     (20, 5000),     (5, 1000)),
    SizeRule("retail",            "零售业",             (_S, _R),   (300, 20000),     (50, 500),      (10, 100)),
    SizeRule("transport",         "交通运输业",          (_S, _R),   (1000, 30000),    (300, 3000),    (20, 200)),
    SizeRule("warehousing",       "仓储业",             (_S, _R),   (200, 30000),     (100, 1000),    (20, 100)),
    SizeRule("postal",            "邮政业",             (_S, _R),   (1000, 30000),    (300, 2000),    (20, 100)),
    SizeRule("accommodation",     "住宿业",             (_S, _R),   (300, 10000),     (100, 2000),    (10, 100)),
    SizeRule("catering",          "餐饮业",             (_S, _R),   (300, 10000),     (100, 2000),    (10, 100)),
    SizeRule("information",       "信息传输业",          (_S, _R),   (2000, 100000),   (100, 1000),    (10, 100)),
    SizeRule("software",          "软件和信息技术服务业",  (_S, _R),   (300, 10000),     (100, 1000),    (10, 50)),
    SizeRule("real_estate_dev",   "房地产开发经营",       (_R, _A),   (200000, 10000),  (1000, 5000),   (100, 2000)),
    SizeRule("property_mgmt",     "物业管理",            (_S, _R),   (1000, 5000),     (300, 1000),    (100, 500)),
    SizeRule("leasing_business",  "租赁和商务服务业",     (_S, _A),   (300, 120000),    (100, 8000),    (10, 100)),
    SizeRule("other",             "其他未列明行业",       (_S,),      (300,),           (100,),         (10,)),
)})  # fmt: skip

_GROUP_RANGES: tuple[tuple[int, int, str | None], ...] = (
    (1, 5, "agriculture"),  # A
    (6, 46, "industry"),  # B 采矿业, C 制造业, D 电力、热力、燃气及水生产和供应业
    (47, 50, "construction"),  # E
    (51, 51, "wholesale"),
    (52, 52, "retail"),
    (53, 53, None),  # 铁路运输业: not covered
    (54, 58, "transport"),  # 道路, 水上, 航空, 管道, 多式联运和运输代理
    (59, 59, "warehousing"),  # 59 less 591 装卸搬运 (transport, below)
    (60, 60, "postal"),
    (61, 61, "accommodation"),
    (62, 62, "catering"),
    (63, 64, "information"),  # 电信、广播电视和卫星传输服务; 互联网和相关服务
    (65, 65, "software"),
    (66, 69, None),  # J 金融业: its own standard (银发〔2015〕309号)
    (71, 72, "leasing_business"),  # L
    (73, 82, "other"),  # M, N, O
    (83, 84, None),  # 教育, 卫生
    (85, 85, "other"),  # 社会工作
    (86, 90, "other"),  # R
    (91, 97, None),  # S, T
)

#: GB/T 4754-2017 code prefix → group key in ``RULES`` (None: the standard does
#: not cover it). The longest matching prefix wins; a code that stops above a
#: prefix with a different group (``59``, ``70``) is ambiguous.
INDUSTRY_GROUPS: Mapping[str, str | None] = MappingProxyType({
    **{f"{code:02d}": group for first, last, group in _GROUP_RANGES for code in range(first, last + 1)},
    "591": "transport",  # 装卸搬运
    "701": "real_estate_dev",  # 房地产开发经营
    "702": "property_mgmt",  # 物业管理
    "703": "other",  # 房地产中介服务
    "704": None,  # 自有房地产经营活动: excluded by the 2017 text
    "709": "other",  # 其他房地产业
})  # fmt: skip


def _group_of_digits(digits: str) -> str | None:
    group: str | None = None
    for length in range(len(digits), 1, -1):
        if digits[:length] in INDUSTRY_GROUPS:
            group = INDUSTRY_GROUPS[digits[:length]]
            break
    deeper = {g for prefix, g in INDUSTRY_GROUPS.items() if len(prefix) > len(digits) and prefix.startswith(digits)}
    if deeper - {group}:
        return None  # the code does not say which of several groups applies
    return group


def rule_for(industry_code: str) -> SizeRule | None:
    """Return the threshold rule for a GB/T 4754-2017 code, or None if none applies unambiguously."""
    norm = normalize_code(industry_code)
    if norm is None:
        return None
    if len(norm) == 1:
        groups = {_group_of_digits(d.code) for d in divisions(norm)}
        group = groups.pop() if len(groups) == 1 else None
    else:
        group = _group_of_digits(norm)
    return RULES[group] if group is not None else None


def classify(
    industry_code: str,
    staff: int | None,
    revenue_wan: Decimal | None,
    total_assets_wan: Decimal | None = None,
) -> SizeClass:
    """Classify an enterprise from its industry and figures (persons; 万元).

    Returns ``UNKNOWN`` when the industry is not covered or ambiguous, or when a
    missing figure would decide the class; a figure the rule does not use may be None.
    """
    figures: dict[Metric, int | Decimal | None] = {_S: staff, _R: revenue_wan, _A: total_assets_wan}
    for metric, value in figures.items():
        if value is not None and value < 0:
            raise ValueError(f"{metric} 不能为负: {value}")
    rule = rule_for(industry_code)
    if rule is None:
        return SizeClass.UNKNOWN
    values = [figures[m] for m in rule.metrics]
    for size, bounds in ((SizeClass.LARGE, rule.large), (SizeClass.MEDIUM, rule.medium), (SizeClass.SMALL, rule.small)):
        if any(v is not None and v < bound for v, bound in zip(values, bounds, strict=True)):
            continue  # below a bound of this class: try the next one down
        if any(v is None for v in values):
            return SizeClass.UNKNOWN  # the missing figure decides whether it is this class
        return size
    return SizeClass.MICRO
