"""The indicator library: every feature an evaluation uses, defined once, versioned, documented in Chinese and English.

This module holds what each indicator *means* (name, unit, kind, the catalog items it reads, its
documentation); ``engine.py`` holds the one Ibis expression per indicator that computes it over a
snapshot, on DuckDB or on Spark. A test checks that the two lists agree.

Point in time: every indicator is computed "as of" a date D over a snapshot holding only records
received by the end of D (China Standard Time), inside their publication and retention windows on D and
not repaired (``snapshot.py``). Windows below ("last 12 months", "3 years") are counted back from D.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class IndicatorKind(StrEnum):
    """What kind of value an indicator holds; decides its column type and how a missing value reads."""

    #: A real number (float64); null when the underlying records are absent.
    NUMBER = "number"
    #: A count of records (int64); 0 when absent.
    COUNT = "count"
    #: 1 or 0 (int64); 0 when absent.
    FLAG = "flag"
    #: A code such as a grade (string); null when absent.
    CODE = "code"
    #: An integer measure (int64) that is null when absent (a headcount, a number of days).
    INTEGER = "integer"


#: Version of the indicator set as a whole: bump it when any definition changes meaning.
INDICATOR_SET_VERSION: Final = "2026.1"


@dataclass(frozen=True, slots=True)
class IndicatorDef:
    """One indicator: a stable code, its definition version, names, documentation, unit and kind."""

    code: str
    version: int
    name_zh: str
    name_en: str
    doc_zh: str
    doc_en: str
    unit: str
    kind: IndicatorKind
    #: The catalog items the indicator reads (``registry`` for the subject register itself).
    items: tuple[str, ...] = ()


def _d(
    code: str, name_zh: str, name_en: str, doc_zh: str, doc_en: str, unit: str, kind: IndicatorKind, *items: str
) -> IndicatorDef:
    return IndicatorDef(code, 1, name_zh, name_en, doc_zh, doc_en, unit, kind, tuple(items))


N, C, F, K, INT = IndicatorKind.NUMBER, IndicatorKind.COUNT, IndicatorKind.FLAG, IndicatorKind.CODE, IndicatorKind.INTEGER

#: Every indicator, in the order of the indicator table's columns.
INDICATORS: Final[tuple[IndicatorDef, ...]] = (
    _d("years_in_business", "成立年限", "Years in business",
       "评价基准日与成立日期之间的年数（登记簿成立日期，缺失时取登记注册信息）。",
       "Years between the subject's establishment date (register, else the registration record) and the as-of date.",
       "年", N, "registry", "registration"),
    _d("registered_capital_wan", "注册资本", "Registered capital",
       "登记簿记载的注册资本（缺失时取登记注册信息）。",
       "Registered capital from the register (else the registration record).",
       "万元", N, "registry", "registration"),
    _d("tax_credit_grade", "纳税信用等级", "Tax credit grade",
       "最近一个评价年度的纳税信用级别（A、B、M、C、D）。",
       "The tax credit grade (A, B, M, C, D) of the latest assessed year.",
       "", K, "tax_credit_grade"),
    _d("tax_paid_12m_wan", "近12个月实缴税额", "Tax paid, last 12 months",
       "所属期在评价基准月及之前11个月内的实缴税额合计。",
       "Sum of tax paid for periods in the as-of month and the 11 months before it.",
       "万元", N, "tax_payment"),
    _d("tax_paid_trend", "实缴税额变动率", "Tax paid trend",
       "近12个月实缴税额相对前12个月的变动比例；前12个月为零或无记录时为空。",
       "Change of tax paid in the last 12 months relative to the 12 months before; null when that was zero or absent.",
       "比例", N, "tax_payment"),
    _d("social_insured_headcount", "社保参保人数", "Social insurance headcount",
       "近12个月内最近一个所属期的参保人数。",
       "Insured headcount of the latest period within the last 12 months.",
       "人", INT, "social_insurance"),
    _d("social_headcount_change", "参保人数变动", "Change of insured headcount",
       "近12个月最近所属期参保人数减去前12个月最近所属期参保人数；任一缺失时为空。",
       "Latest headcount in the last 12 months minus the latest in the 12 months before; null if either is absent.",
       "人", INT, "social_insurance"),
    _d("housing_fund_depositors", "公积金缴存人数", "Housing fund depositors",
       "近12个月内最近一个所属期的住房公积金缴存人数。",
       "Housing fund depositors of the latest period within the last 12 months.",
       "人", INT, "housing_fund"),
    _d("housing_fund_arrears_months", "公积金欠缴月数", "Housing fund arrears",
       "近12个月内各所属期记载的最大欠缴月数。",
       "The largest number of months in arrears recorded for a period within the last 12 months.",
       "月", C, "housing_fund"),
    _d("utility_on_time_rate", "水电气按期缴费率", "Utilities paid on time",
       "近12个月水、电、气费按期缴纳的期数占比；无记录时为空。",
       "Share of water, electricity and gas bills of the last 12 months paid on time; null without bills.",
       "比例", N, "utility_payment"),
    _d("court_defendant_cases_3y", "近3年被诉案件数", "Court cases as defendant, 3 years",
       "近3年裁判日期内以被告身份涉诉的司法裁判数。",
       "Court judgments in the last 3 years in which the subject was the defendant.",
       "件", C, "court_judgment"),
    _d("dishonest_debtor_listed", "失信被执行人", "Listed as dishonest judgment debtor",
       "评价基准日仍在失信被执行人名单中（已列入且未移出）为1，否则为0。",
       "1 if the subject is on the dishonest judgment debtor list on the as-of date (listed, not removed), else 0.",
       "", F, "dishonest_debtor"),
    _d("serious_dishonesty_listed", "严重失信主体名单", "On a serious dishonesty list",
       "评价基准日仍在严重失信主体名单中为1，否则为0。",
       "1 if the subject is on a serious dishonesty list on the as-of date, else 0.",
       "", F, "serious_dishonesty"),
    _d("penalty_count", "行政处罚次数", "Administrative penalties",
       "评价基准日仍在公示期内且未修复的行政处罚决定数。",
       "Administrative penalty decisions still published on the as-of date and not repaired.",
       "次", C, "admin_penalty"),
    _d("penalty_max_severity", "行政处罚最高严重程度", "Gravest administrative penalty",
       "上述处罚中最严重的一档：0无、1轻微、2一般、3严重、4特定严重。",
       "The gravest of those penalties: 0 none, 1 minor, 2 general, 3 serious, 4 serious (specific).",
       "档", C, "admin_penalty"),
    _d("penalty_days_since_latest", "距最近一次处罚天数", "Days since the latest penalty",
       "评价基准日距最近一次处罚决定日期的天数；无处罚时为空。",
       "Days from the latest penalty decision to the as-of date; null without penalties.",
       "天", INT, "admin_penalty"),
    _d("abnormal_operation_listed", "经营异常名录", "Listed for abnormal operation",
       "评价基准日仍在经营异常名录中（已列入且未移出）为1，否则为0。",
       "1 if the subject is on the abnormal operations list on the as-of date, else 0.",
       "", F, "abnormal_operation"),
    _d("customs_credit_grade", "海关信用等级", "Customs credit grade",
       "最近一次认定的海关信用等级（高级认证企业、一般信用企业、失信企业）。",
       "The latest customs credit grade (advanced certified, general, dishonest).",
       "", K, "customs_credit"),
    _d("commitment_count", "信用承诺数", "Credit commitments",
       "作出的信用承诺数。",
       "Credit commitments the subject made.",
       "项", C, "credit_commitment"),
    _d("commitment_breaches", "信用承诺未履行数", "Credit commitments breached",
       "履行情况记载为未履行、违诺或失信的信用承诺数。",
       "Credit commitments whose fulfilment reads as not kept (未履行, 违诺 or 失信).",
       "项", C, "credit_commitment"),
    _d("honour_count", "诚信荣誉数", "Honours for integrity",
       "评价基准日前3年内获得的诚实守信相关荣誉数。",
       "Honours for integrity granted in the 3 years before the as-of date.",
       "项", C, "honour"),
    _d("ip_count", "知识产权数", "Intellectual property rights",
       "已授权或注册的专利、商标等知识产权数。",
       "Patents, trademarks and other intellectual property rights granted or registered.",
       "项", C, "intellectual_property"),
)  # fmt: skip

#: Indicators by code.
BY_CODE: Final = {d.code: d for d in INDICATORS}

#: Ordinal of each penalty severity in ``penalty_max_severity``.
SEVERITY_RANK: Final = {"minor": 1, "general": 2, "serious": 3, "serious_specific": 4}

#: Catalog items a snapshot must hold (possibly empty) for the indicators to be computed.
SNAPSHOT_ITEMS: Final[tuple[str, ...]] = tuple(sorted({item for d in INDICATORS for item in d.items if item != "registry"}))


def indicator(code: str) -> IndicatorDef:
    """The indicator with that code; KeyError if there is none."""
    return BY_CODE[code]
