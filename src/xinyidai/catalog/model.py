"""Pure model of the public credit information catalog: versions, items, fields, publication and retention."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, date, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar

from xinyidai.kernel.errors import NotFound

# --- vocabularies -------------------------------------------------------------------------------


class FieldType(StrEnum):
    """The type of one field of a catalog item's record."""

    STRING = "string"
    DATE = "date"
    #: An amount in 万元, exact decimal (never float).
    DECIMAL_WAN = "decimal_wan"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    #: 统一社会信用代码, GB 32100-2015.
    USCC = "uscc"
    #: One value of the field's code list.
    CODE = "code"
    #: A personal ID number: encrypted at rest, shown masked.
    ID_NUMBER = "id_number"
    #: A month, written ``YYYY-MM``.
    PERIOD = "period"

    @property
    def label_zh(self) -> str:
        """Chinese label for users."""
        return _FIELD_TYPE_LABELS[self]


_FIELD_TYPE_LABELS: Mapping[FieldType, str] = MappingProxyType(
    {
        FieldType.STRING: "文本",
        FieldType.DATE: "日期",
        FieldType.DECIMAL_WAN: "金额（万元）",
        FieldType.INTEGER: "整数",
        FieldType.BOOLEAN: "是否",
        FieldType.USCC: "统一社会信用代码",
        FieldType.CODE: "代码",
        FieldType.ID_NUMBER: "证件号码",
        FieldType.PERIOD: "所属期（年月）",
    }
)


class Disclosure(StrEnum):
    """Who may see an item's records: the public, an authorized institution, or only with the subject's consent."""

    #: Published (信用中国, 公示系统); anyone may see it.
    PUBLIC = "public"
    #: Reaches a financial institution only under the enterprise's authorization (授权查询).
    AUTHORIZED = "authorized"
    #: Supplied by the enterprise itself; shared only with its consent (主体同意).
    CONSENT = "consent"

    @property
    def label_zh(self) -> str:
        """Chinese label for users: 公开 / 授权查询 / 主体同意."""
        return _DISCLOSURE_LABELS[self]


_DISCLOSURE_LABELS: Mapping[Disclosure, str] = MappingProxyType(
    {Disclosure.PUBLIC: "公开", Disclosure.AUTHORIZED: "授权查询", Disclosure.CONSENT: "主体同意"}
)


class Severity(StrEnum):
    """Severity of the conduct behind a penalty, which selects its publication term."""

    MINOR = "minor"
    GENERAL = "general"
    SERIOUS = "serious"
    #: The serious cases a rule singles out (e.g. the 2019 rule's full-term, unrepairable cases).
    SERIOUS_SPECIFIC = "serious_specific"

    @property
    def label_zh(self) -> str:
        """Chinese label for users."""
        return _SEVERITY_LABELS[self]


_SEVERITY_LABELS: Mapping[Severity, str] = MappingProxyType(
    {
        Severity.MINOR: "轻微失信",
        Severity.GENERAL: "一般失信",
        Severity.SERIOUS: "严重失信",
        Severity.SERIOUS_SPECIFIC: "特定严重失信",
    }
)


class RuleKind(StrEnum):
    """A cross-field rule a record of an item must satisfy."""

    #: ``field`` (a date) is not before ``other`` (a date), when both are present.
    DATE_NOT_BEFORE = "date_not_before"
    #: ``field`` is required when ``other`` holds one of ``values``.
    REQUIRED_IF = "required_if"
    #: ``field`` is required when ``other`` is present.
    REQUIRED_WITH = "required_with"


# --- errors -------------------------------------------------------------------------------------


class NotInCatalog(NotFound, LookupError):
    """No version, item, category, field or department has that code."""

    code: ClassVar[str] = "catalog_entry_not_found"
    title: ClassVar[str] = "目录中没有该条目"


class NoRuleInForce(NotFound, LookupError):
    """No publication or retention rule for the item was in force on the date asked about."""

    code: ClassVar[str] = "catalog_rule_not_in_force"
    title: ClassVar[str] = "该日期没有适用的规则"


# --- periods ------------------------------------------------------------------------------------

_DURATION = re.compile(
    r"P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?"
)


def add_months(start: date, months: int) -> date:
    """The date ``months`` calendar months after ``start`` (before, if negative).

    The day of month is kept; where the target month is shorter, its last day is
    used (2024-01-31 + 1 month = 2024-02-29). This is the Civil Code's counting of
    periods in months: the period ends on the corresponding day of the final month,
    or on that month's last day when it has no corresponding day. Always count from
    the original start: adding one month twice is not adding two months.
    """
    index = start.year * 12 + (start.month - 1) + months
    year, month_zero = divmod(index, 12)
    if not MINYEAR <= year <= MAXYEAR:
        raise OverflowError(f"{start.isoformat()} + {months} months is out of the date range")
    month = month_zero + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Period:
    """An ISO-8601 duration split into calendar months, days and seconds (years and weeks folded in)."""

    months: int = 0
    days: int = 0
    seconds: int = 0

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse ``PnYnMnWnDTnHnMnS`` (non-negative integers only), e.g. ``P3M``, ``P1Y``, ``PT12H``."""
        match = _DURATION.fullmatch(text)
        if match is None:
            raise ValueError(f"not an ISO-8601 duration: {text!r}")
        part = {name: int(value) if value else 0 for name, value in match.groupdict().items()}
        return cls(
            months=part["years"] * 12 + part["months"],
            days=part["weeks"] * 7 + part["days"],
            seconds=part["hours"] * 3600 + part["minutes"] * 60 + part["seconds"],
        )

    @property
    def is_whole_months(self) -> bool:
        """True when the period is a number of calendar months (or years), possibly zero."""
        return self.days == 0 and self.seconds == 0

    def after(self, start: date) -> date:
        """The last day of this period counted from ``start`` (months first, then days)."""
        if self.seconds:
            raise ValueError(f"{self} has a time part and cannot be added to a date")
        return add_months(start, self.months) + timedelta(days=self.days)

    def as_timedelta(self) -> timedelta:
        """This period as an exact ``timedelta``; calendar months have no fixed length and are refused."""
        if self.months:
            raise ValueError(f"{self} has calendar months and no fixed length")
        return timedelta(days=self.days, seconds=self.seconds)

    def __str__(self) -> str:
        years, months = divmod(self.months, 12)
        hours, rest = divmod(self.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        date_part = "".join(f"{n}{u}" for n, u in ((years, "Y"), (months, "M"), (self.days, "D")) if n)
        time_part = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
        if not date_part and not time_part:
            return "P0D"
        return "P" + date_part + (f"T{time_part}" if time_part else "")


@dataclass(frozen=True)
class Deadline:
    """How long a source has to deliver a record after the event, in calendar or working days."""

    period: Period
    working_days: bool

    def __str__(self) -> str:
        return f"{self.period} ({'working' if self.working_days else 'calendar'} days)"


# --- the catalog's parts ------------------------------------------------------------------------


@dataclass(frozen=True)
class Category:
    """A category (信息类别) of one catalog version."""

    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class Department:
    """A source department (数据来源部门) or, with ``members``, a group of them."""

    code: str
    name_zh: str
    name_en: str
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class Field:
    """One field of an item's record, in the order the source delivers it."""

    name: str
    label_zh: str
    type: FieldType
    required: bool = False
    code_list: tuple[str, ...] = ()
    max_length: int | None = None
    #: Personal information (个人信息): encrypt or mask according to its type.
    personal: bool = False


@dataclass(frozen=True)
class CrossFieldRule:
    """A rule relating two fields of one record, kept as data: ``{"rule": …, "field": …, "other": …}``."""

    rule: RuleKind
    field: str
    other: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class LegacyLayout:
    """An older record layout still delivered by some sources, mapped onto the current field names."""

    name: str
    #: ``(legacy name, current name)`` in the legacy column order; same-named columns map to themselves.
    aliases: tuple[tuple[str, str], ...]
    #: Legacy columns with no current counterpart; ingestion ignores them.
    dropped: tuple[str, ...] = ()
    #: Several legacy columns feeding one current field are joined with this, in column order.
    join_separator: str = ";"
    unconfirmed: frozenset[str] = frozenset()

    @property
    def alias_map(self) -> Mapping[str, str]:
        """Legacy name → current name."""
        return MappingProxyType(dict(self.aliases))

    @property
    def columns(self) -> tuple[str, ...]:
        """Every legacy column name, mapped or dropped."""
        return tuple(legacy for legacy, _ in self.aliases) + self.dropped

    def current_name(self, legacy: str) -> str | None:
        """The current field a legacy column feeds, or None if the column is dropped or unknown."""
        return next((current for old, current in self.aliases if old == legacy), None)

    def sources(self, current: str) -> tuple[str, ...]:
        """The legacy columns feeding a current field, in column order (usually one)."""
        return tuple(old for old, new in self.aliases if new == current)


@dataclass(frozen=True)
class Term:
    """The publication term a rule sets for one severity."""

    severity: Severity
    minimum: Period
    maximum: Period
    #: False when the information must stay published for the full term (no credit repair).
    repairable: bool = True
    #: False when information of this severity is normally not published at all.
    normally_published: bool = True
    unconfirmed: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Sector:
    """A regulated sector (领域) a publication rule may treat specially."""

    code: str
    name_zh: str


@dataclass(frozen=True)
class SectorMinimum:
    """A longer minimum publication period for penalties in certain sectors."""

    sectors: tuple[str, ...]
    minimum: Period


@dataclass(frozen=True)
class PublicationRule:
    """An effective-dated rule on how long penalty information is published; the clock starts at the decision."""

    code: str
    name_zh: str
    document: str
    effective_from: date
    #: Last day in force (inclusive), or None while in force.
    effective_to: date | None
    items: tuple[str, ...]
    terms: tuple[Term, ...]
    sector_minimums: tuple[SectorMinimum, ...] = ()
    #: Every sector code callers may name, with or without a special minimum.
    sectors: tuple[Sector, ...] = ()
    unconfirmed: frozenset[str] = frozenset()

    def in_force(self, on: date) -> bool:
        """Whether the rule applies to a decision made on ``on``."""
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)

    def term(self, severity: Severity | str) -> Term:
        """The term for a severity."""
        wanted = Severity(severity)
        for term in self.terms:
            if term.severity is wanted:
                return term
        raise NotInCatalog(f"rule {self.code} has no term for severity {wanted}")


@dataclass(frozen=True)
class RetentionRule:
    """An effective-dated rule on how long information is kept after the conduct ends, then deleted or anonymised."""

    code: str
    name_zh: str
    basis: str
    effective_from: date
    effective_to: date | None
    period: Period
    unconfirmed: frozenset[str] = frozenset()

    def in_force(self, on: date) -> bool:
        """Whether the rule applies to conduct that ended on ``on``."""
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)


@dataclass(frozen=True)
class Item:
    """A catalog item (信息项): one kind of record, its source, disclosure class and record schema."""

    code: str
    name_zh: str
    name_en: str
    category: str
    department: Department
    disclosure: Disclosure
    negative: bool
    natural_key: tuple[str, ...]
    subject_field: str
    event_date_field: str
    #: How long a value fetched through an interface call stays fresh.
    freshness: Period
    #: How long the source has to deliver a record after the event, if a rule says so.
    delivery_deadline: Deadline | None
    record_schema: tuple[Field, ...]
    rules: tuple[CrossFieldRule, ...] = ()
    #: First catalog version (year) holding the item.
    since: int = 0
    #: First catalog version (year) no longer holding it, or None.
    until: int | None = None
    legacy: LegacyLayout | None = None
    #: The field naming the body that produced each record, where that varies by record.
    department_field: str | None = None
    #: Code-list value of ``department_field`` → department, where the department varies by record.
    department_by_value: tuple[tuple[str, Department], ...] = ()
    publication_rules: tuple[PublicationRule, ...] = ()
    retention_rules: tuple[RetentionRule, ...] = ()
    unconfirmed: frozenset[str] = frozenset()
    note: str = ""

    def field(self, name: str) -> Field:
        """The field with that name."""
        for candidate in self.record_schema:
            if candidate.name == name:
                return candidate
        raise NotInCatalog(f"item {self.code} has no field {name!r}")

    @property
    def field_names(self) -> tuple[str, ...]:
        """Field names in record order (the header of a delivered file)."""
        return tuple(f.name for f in self.record_schema)

    @property
    def personal_fields(self) -> tuple[str, ...]:
        """Names of the fields holding personal information."""
        return tuple(f.name for f in self.record_schema if f.personal)

    @property
    def legacy_aliases(self) -> Mapping[str, str]:
        """Legacy field name → current field name (empty when the item has no legacy layout)."""
        return self.legacy.alias_map if self.legacy else MappingProxyType({})

    def exists_in(self, year: int) -> bool:
        """Whether the catalog version of that year holds this item."""
        return self.since <= year and (self.until is None or year < self.until)

    def department_for(self, value: str) -> Department:
        """The department behind a record whose ``department_field`` holds ``value``; the item's own otherwise."""
        for key, department in self.department_by_value:
            if key == value:
                return department
        return self.department

    def publication_rule_on(self, decision_date: date) -> PublicationRule:
        """The publication rule in force for a decision made on that date."""
        for rule in self.publication_rules:
            if rule.in_force(decision_date):
                return rule
        raise NoRuleInForce(f"no publication rule for {self.code} on {decision_date.isoformat()}")

    def retention_rule_on(self, event_end: date) -> RetentionRule:
        """The retention rule in force for conduct that ended on that date."""
        for rule in self.retention_rules:
            if rule.in_force(event_end):
                return rule
        raise NoRuleInForce(f"no retention rule for {self.code} on {event_end.isoformat()}")


@dataclass(frozen=True)
class CatalogVersion:
    """One issued version of the national catalog (全国公共信用信息基础目录（YYYY年版）)."""

    year: int
    name_zh: str
    document_no: str
    issued_on: date
    effective_on: date
    categories: tuple[Category, ...]
    #: The items of this version, in category order.
    items: tuple[Item, ...]
    unconfirmed: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        """The version's name as users say it: ``"2024"``."""
        return str(self.year)

    def category(self, code: str) -> Category:
        """The category with that code."""
        for category in self.categories:
            if category.code == code:
                return category
        raise NotInCatalog(f"catalog {self.year} has no category {code!r}")

    def item(self, code: str) -> Item:
        """The item with that code, if this version holds it."""
        for item in self.items:
            if item.code == code:
                return item
        raise NotInCatalog(f"catalog {self.year} has no item {code!r}")

    def items_in(self, category: str) -> tuple[Item, ...]:
        """The items of one category."""
        self.category(category)
        return tuple(item for item in self.items if item.category == category)


@dataclass(frozen=True)
class Catalog:
    """Every catalog version, every item ever listed, and the departments and sectors they name."""

    versions: tuple[CatalogVersion, ...]
    items: tuple[Item, ...]
    departments: tuple[Department, ...]
    sectors: tuple[Sector, ...] = ()

    def version(self, key: int | str) -> CatalogVersion:
        """The version of that year: ``catalog.version(2024)`` or ``catalog.version("2024")``."""
        text = str(key).strip()
        for version in self.versions:
            if version.key == text:
                return version
        known = ", ".join(v.key for v in self.versions)
        raise NotInCatalog(f"no catalog version {key!r} (known: {known})")

    def in_force(self, on: date) -> CatalogVersion:
        """The version in force on a date: the latest whose effective date is not after it."""
        current: CatalogVersion | None = None
        for version in sorted(self.versions, key=lambda v: v.effective_on):
            if version.effective_on <= on:
                current = version
        if current is None:
            raise NotInCatalog(f"no catalog version was in force on {on.isoformat()}")
        return current

    @property
    def latest(self) -> CatalogVersion:
        """The most recent version."""
        return max(self.versions, key=lambda v: v.effective_on)

    def item(self, code: str) -> Item:
        """The item with that code, whichever versions hold it."""
        for item in self.items:
            if item.code == code:
                return item
        raise NotInCatalog(f"no catalog item {code!r}")

    def department(self, code: str) -> Department:
        """The department with that code."""
        for department in self.departments:
            if department.code == code:
                return department
        raise NotInCatalog(f"no department {code!r}")


# --- rules --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """When a published record may stop being published: from ``min_end`` by repair, at ``max_end`` at the latest.

    Both are the last days of their periods, counted from the decision date.
    """

    min_end: date
    max_end: date
    repairable: bool
    #: False when information of this severity is normally not published at all.
    normally_published: bool
    #: Code of the publication rule that produced the window.
    rule: str


def publication_window(item: Item, *, decision_date: date, severity: Severity | str, sectors: Iterable[str] = ()) -> Window:
    """The publication window of a record decided on ``decision_date``, under the rule in force that day.

    ``sectors`` names the regulated sectors the case belongs to (codes of the rule's
    ``sectors``); a sector with a special minimum raises the minimum, and the maximum
    never falls below the minimum. A decision with several penalty types takes the
    longest: call once per severity and keep ``longest_window``.
    """
    rule = item.publication_rule_on(decision_date)
    term = rule.term(severity)
    named = frozenset(sectors)
    unknown = named - {sector.code for sector in rule.sectors}
    if unknown:
        raise ValueError(f"unknown sector(s) for rule {rule.code}: {', '.join(sorted(unknown))}")
    min_end = term.minimum.after(decision_date)
    for special in rule.sector_minimums:
        if named.intersection(special.sectors):
            min_end = max(min_end, special.minimum.after(decision_date))
    max_end = max(term.maximum.after(decision_date), min_end)
    return Window(
        min_end=min_end,
        max_end=max_end,
        repairable=term.repairable,
        normally_published=term.normally_published,
        rule=rule.code,
    )


def longest_window(windows: Iterable[Window]) -> Window:
    """Combine the windows of the penalty types of one decision: the longest applies, repair only if all allow it."""
    chosen = list(windows)
    if not chosen:
        raise ValueError("no windows to combine")
    longest = max(chosen, key=lambda w: (w.max_end, w.min_end))
    return Window(
        min_end=max(w.min_end for w in chosen),
        max_end=max(w.max_end for w in chosen),
        repairable=all(w.repairable for w in chosen),
        normally_published=any(w.normally_published for w in chosen),
        rule=longest.rule,
    )


def retention_end(item: Item, *, event_end: date) -> date:
    """The last day a record may be kept, counted from the end of the conduct under the rule in force then."""
    return item.retention_rule_on(event_end).period.after(event_end)
