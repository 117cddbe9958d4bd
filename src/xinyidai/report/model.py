"""Pure rules of credit reports: layouts as data, the report document, its canonical hash, numbers, codes, periods.

A report document is a plain JSON object (strings, numbers, lists, objects only) so that its canonical
form — UTF-8 JSON, sorted keys, no spaces — hashes to the same SHA-256 wherever it is recomputed.
"""

from __future__ import annotations

import hashlib
import secrets
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, ClassVar, NamedTuple

from xinyidai.kernel.errors import Conflict, InvalidInput, NotFound
from xinyidai.kernel.jsontext import canonical_json as canonical_json  # the report's signed bytes (ADR 0018)
from xinyidai.kernel.pii import mask_id_number, mask_name

#: Schema tag of the report document; bump when the document's shape changes.
SCHEMA = "xinyidai.report/1"
#: JWS `typ` of the platform's signature over a report's hash.
SIGNATURE_TYPE = "xinyidai-report+jwt"
#: Longest period a 专项信用报告 may cover.
MAX_SPECIAL_YEARS = 5
#: Public page a verification code is checked at (the QR code points here, with ``?code=``).
VERIFY_PATH = "/reports/verify"
#: Name of the report JSON embedded in the PDF.
PDF_ATTACHMENT = "report.json"

MARK_DISPUTED = "有异议"
MARK_REPAIRED = "已修复"

#: Crockford's base-32 alphabet (no I, L, O, U): codes are read aloud and typed by hand.
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_GROUPS = 4
_CODE_GROUP_LEN = 4


class ReportKind(StrEnum):
    """The three reports the platform issues."""

    PUBLIC = "public"
    AUTHORIZED = "authorized"
    SPECIAL = "special"

    @property
    def label_zh(self) -> str:
        """Chinese title of the kind."""
        return {"public": "公共信用信息报告", "authorized": "授权信用信息报告", "special": "专项信用报告"}[self.value]


class ReportNotFound(NotFound):
    """A report that does not exist or is not the caller's (answered alike)."""

    code: ClassVar[str] = "report_not_found"
    title: ClassVar[str] = "未找到该信用报告"


class DailyLimitReached(Conflict):
    """A second 专项信用报告 of the same type on the same day."""

    code: ClassVar[str] = "report_daily_limit"
    title: ClassVar[str] = "同类专项信用报告每日限申请一次"


class InvalidPeriod(InvalidInput):
    """A report period that is reversed, in the future or longer than allowed."""

    code: ClassVar[str] = "report_invalid_period"
    title: ClassVar[str] = "报告期间不符合要求"


class UnknownReportType(InvalidInput):
    """A 专项信用报告 type not in the layout."""

    code: ClassVar[str] = "report_unknown_type"
    title: ClassVar[str] = "未知的专项信用报告类型"


# --- layouts (data) ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SectionSpec:
    """A section of a report and the catalog categories and items that fill it."""

    code: str
    title: str
    categories: frozenset[str] = frozenset()
    items: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class SpecialType:
    """A type of 专项信用报告 an enterprise may request: which special sections it has."""

    code: str
    title: str
    sections: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Layout:
    """Every report layout, loaded from ``data/layout.toml``."""

    public_title: str
    public_sections: tuple[SectionSpec, ...]
    special_title: str
    special_sections: tuple[SectionSpec, ...]
    special_types: tuple[SpecialType, ...]
    advice: Mapping[str, str]

    def special_type(self, code: str) -> SpecialType:
        """The special type with that code; UnknownReportType otherwise."""
        for kind in self.special_types:
            if kind.code == code:
                return kind
        raise UnknownReportType(f"专项信用报告类型应为 {', '.join(t.code for t in self.special_types)} 之一")

    def special_items(self, special: SpecialType) -> tuple[SectionSpec, ...]:
        """The sections of a special type, in the type's order."""
        by_code = {s.code: s for s in self.special_sections}
        return tuple(by_code[c] for c in special.sections)


def _sections(raw: Iterable[Mapping[str, Any]]) -> tuple[SectionSpec, ...]:
    return tuple(
        SectionSpec(
            code=str(s["code"]),
            title=str(s["title"]),
            categories=frozenset(s.get("categories", ())),
            items=frozenset(s.get("items", ())),
        )
        for s in raw
    )


@cache
def load_layout() -> Layout:
    """The report layouts shipped with the package (cached)."""
    text = resources.files("xinyidai.report").joinpath("data/layout.toml").read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    return Layout(
        public_title=str(raw["public"]["title"]),
        public_sections=_sections(raw["public"]["section"]),
        special_title=str(raw["special"]["title"]),
        special_sections=_sections(raw["special"]["section"]),
        special_types=tuple(SpecialType(str(t["code"]), str(t["title"]), tuple(t["sections"])) for t in raw["special"]["type"]),
        advice=dict(raw["advice"]),
    )


def section_for(sections: Sequence[SectionSpec], *, item: str, category: str) -> str | None:
    """The section an item goes to: one naming the item wins over one naming its category; None if none."""
    for section in sections:
        if item in section.items:
            return section.code
    for section in sections:
        if category in section.categories:
            return section.code
    return None


# --- the document --------------------------------------------------------------------------------


class Entry(NamedTuple):
    """One record as a report shows it: masked values with their labels, and its marks.

    A named tuple rather than a frozen dataclass: a report makes one per record (tens per request) and a frozen
    dataclass's ``__init__`` sets each field through ``object.__setattr__`` — several times the cost."""

    record_id: str
    item_code: str
    item_name: str
    category: str
    event_date: date | None
    fields: tuple[tuple[str, str], ...]
    negative: bool = False
    disputed: bool = False
    repaired: bool = False
    statement: str | None = None

    def marks(self) -> list[str]:
        """有异议 / 已修复, as they apply."""
        marks = []
        if self.disputed:
            marks.append(MARK_DISPUTED)
        if self.repaired:
            marks.append(MARK_REPAIRED)
        return marks

    def as_json(self) -> dict[str, Any]:
        """The entry in the document."""
        event_date = self.event_date
        return {
            "record_id": self.record_id,
            "item_code": self.item_code,
            "item_name": self.item_name,
            "event_date": event_date.isoformat() if event_date is not None else None,
            "fields": [{"label": label, "value": value} for label, value in self.fields],
            "marks": self.marks(),
            "statement": self.statement,
        }


def shown_value(value: Any, *, personal: bool, id_number: bool) -> str:
    """A record value as text; personal values masked (again, if the store did not), ID numbers always."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, date | datetime) else str(value)
    if not personal or "*" in text:
        return text
    return mask_id_number(text) if id_number else mask_name(text)


def advice(entries: Iterable[Entry], layout: Layout) -> list[str]:
    """改进建议 from the facts: unrepaired negative records, disputed ones, abnormal operation."""
    listed = list(entries)
    out: list[str] = []
    if any(e.negative and not e.repaired for e in listed):
        out.append(layout.advice["negative"])
    if any(e.category == "abnormal_operation" and not e.repaired for e in listed):
        out.append(layout.advice["abnormal"])
    if any(e.disputed for e in listed):
        out.append(layout.advice["disputed"])
    return out or [layout.advice["none"]]


def _newest_first(entry: Entry) -> tuple[date, str]:
    return (entry.event_date or date.min, entry.record_id)


def build_sections(entries: Iterable[Entry], sections: Sequence[SectionSpec], *, keep_empty: bool = True) -> list[dict[str, Any]]:
    """The document's sections in layout order, each with its entries (newest first); unplaced entries go nowhere."""
    grouped: dict[str, list[Entry]] = {s.code: [] for s in sections}
    # The section of an (item, category) is looked up once: a report holds tens of records of a few items.
    placed: dict[tuple[str, str], str | None] = {}
    for entry in entries:
        key = (entry.item_code, entry.category)
        if key not in placed:
            placed[key] = section_for(sections, item=entry.item_code, category=entry.category)
        code = placed[key]
        if code is not None:
            grouped[code].append(entry)
    out: list[dict[str, Any]] = []
    for section in sections:
        rows = sorted(grouped[section.code], key=_newest_first, reverse=True)
        if rows or keep_empty:
            out.append({"code": section.code, "title": section.title, "entries": [e.as_json() for e in rows]})
    return out


def content_sha256(content: Mapping[str, Any]) -> str:
    """Hex SHA-256 of a document's canonical JSON."""
    return hashlib.sha256(canonical_json(content)).hexdigest()


def signature_claims(content: Mapping[str, Any], sha256: str) -> dict[str, Any]:
    """What the platform signs: the hash and the facts a verifier is shown."""
    return {
        "typ": "credit-report",
        "number": content["number"],
        "kind": content["kind"],
        "subject_uscc": content["subject"]["uscc"],
        "generated_at": content["generated_at"],
        "node_id": content["node_id"],
        "sha256": sha256,
    }


def presented_content(presented: Any) -> Mapping[str, Any] | None:
    """The report document inside what a verifier presents: the download envelope or the bare document."""
    if not isinstance(presented, Mapping):
        return None
    inner = presented.get("report")
    if isinstance(inner, Mapping) and inner.get("schema") == SCHEMA:
        return inner
    return presented if presented.get("schema") == SCHEMA else None


# --- numbers, codes, periods ---------------------------------------------------------------------


def report_number(node_id: str, day: date, sequence: int) -> str:
    """Report number: node, China date, daily sequence — ``CITY-350100-20260630-000001``."""
    return f"{node_id.upper()}-{day:%Y%m%d}-{sequence:06d}"


def new_verification_code() -> str:
    """A random 80-bit code in Crockford base 32, grouped ``XXXX-XXXX-XXXX-XXXX``."""
    # One draw of 80 random bits, read five bits a character: the same uniform choice per character as sixteen
    # `secrets.choice` calls, at one call's cost.
    bits = secrets.randbits(5 * _CODE_GROUPS * _CODE_GROUP_LEN)
    chars = "".join(_CODE_ALPHABET[(bits >> (5 * i)) & 31] for i in range(_CODE_GROUPS * _CODE_GROUP_LEN))
    return "-".join(chars[i : i + _CODE_GROUP_LEN] for i in range(0, len(chars), _CODE_GROUP_LEN))


def normalize_code(text: str) -> str:
    """A typed code in canonical form: upper case, I/L→1, O→0, grouped; ``""`` if it cannot be one."""
    raw = "".join(c for c in text.upper() if c.isalnum()).translate(str.maketrans("ILO", "110"))
    if len(raw) != _CODE_GROUPS * _CODE_GROUP_LEN or any(c not in _CODE_ALPHABET for c in raw):
        return ""
    return "-".join(raw[i : i + _CODE_GROUP_LEN] for i in range(0, len(raw), _CODE_GROUP_LEN))


def years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def check_period(period_from: date, period_to: date, *, today: date, max_years: int = MAX_SPECIAL_YEARS) -> None:
    """A 专项信用报告 period: from ≤ to ≤ today, at most ``max_years`` long; InvalidPeriod otherwise."""
    if period_from > period_to:
        raise InvalidPeriod("报告期间的起始日期晚于截止日期")
    if period_to > today:
        raise InvalidPeriod("报告期间的截止日期不能晚于今天")
    if period_from < years_before(period_to, max_years):
        raise InvalidPeriod(f"报告期间最长 {max_years} 年")


def in_period(event_date: date | None, period_from: date, period_to: date) -> bool:
    """Whether a record's event date lies in the period (a record without a date never does)."""
    return event_date is not None and period_from <= event_date <= period_to
