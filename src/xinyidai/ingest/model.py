"""Pure rules of aggregation (归集): value normalisation, layouts, record identity, penalty severity, visibility.

Everything here works on plain values and names, so it is tested in milliseconds. The column-wise
implementation the pipeline runs (``frames.py``) follows these rules exactly; the tests hold the two equal.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from xinyidai.kernel.errors import DomainError, InvalidInput

# --- vocabularies -------------------------------------------------------------------------------


class SourceStatus(StrEnum):
    """A source is active, or pending until an operator confirms it (registered by a CLI delivery)."""

    ACTIVE = "active"
    PENDING = "pending"

    @property
    def label_zh(self) -> str:
        """Chinese label."""
        return {"active": "已启用", "pending": "待确认"}[self.value]


class SourceMode(StrEnum):
    """The sharing modes of seed 002 (国办发〔2021〕52号) a source uses."""

    BULK = "bulk"
    INTERFACE = "interface"
    VERIFICATION = "verification"

    @property
    def label_zh(self) -> str:
        """Chinese label."""
        return {"bulk": "物理归集", "interface": "系统接口调用", "verification": "数据核验"}[self.value]


class Channel(StrEnum):
    """How a batch arrived."""

    CLI = "cli"
    API = "api"
    DIRECTORY = "directory"


class Layout(StrEnum):
    """Which record layout a file uses: the catalog's current one, or the 2016 双公示 layout."""

    CURRENT = "current"
    LEGACY_2016 = "legacy-2016"


class Origin(StrEnum):
    """Where the current version of a record comes from."""

    DELIVERY = "delivery"
    CORRECTION = "correction"


class RejectCode(StrEnum):
    """Stable machine codes of reject reasons (the Chinese reason text may change)."""

    REQUIRED = "required"
    MAX_LENGTH = "max_length"
    CODE_LIST = "code_list"
    USCC = "uscc"
    ID_NUMBER = "id_number"
    DATE = "date"
    PERIOD = "period"
    DECIMAL = "decimal"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CROSS_FIELD = "cross_field"
    DUPLICATE = "duplicate_in_file"
    SOURCE_UNKNOWN = "source_unknown"
    SOURCE_FORBIDDEN = "source_forbidden"
    SOURCE_MISMATCH = "source_mismatch"
    RETENTION_EXPIRED = "retention_expired"
    ENCODING = "encoding"
    MALFORMED = "malformed"
    REGISTRY = "registry"


class FileUnreadable(DomainError):
    """The file could not be read at all: nothing was ingested (CLI exit status 2)."""

    code = "file_unreadable"
    status = 422
    title = "文件无法读取"


class UploadTooLarge(DomainError):
    """An upload past the size limit; reading stopped at the limit."""

    code = "upload_too_large"
    status = 413
    title = "上传文件超过大小限制"


class SourceRequired(InvalidInput):
    """The file's rows carry no source code and no single source was named or could be inferred."""

    code = "source_required"
    title = "需要指明数据来源单位"


# --- normalisation of single values (the reference the column-wise code follows) ------------------

#: Full-width ASCII (U+FF01–U+FF5E) → half-width, and the ideographic space → space.
FULL_TO_HALF: Final[Mapping[str, str]] = MappingProxyType(
    {chr(cp): chr(cp - 0xFEE0) for cp in range(0xFF01, 0xFF5F)} | {"\u3000": " "}
)
#: In free text only full-width digits and Latin letters are folded: Chinese text keeps its own
#: punctuation (（）、，：), which names and document numbers officially use.
TEXT_FULL_TO_HALF: Final[Mapping[str, str]] = MappingProxyType(
    {k: v for k, v in FULL_TO_HALF.items() if v.isascii() and (v.isalnum() or v == " ")}
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPACES = re.compile(r"[\s\u00a0\u3000]+")


def normalise_text(value: str | None) -> str | None:
    """Free text: full-width digits/letters folded, control characters and runs of blanks to one space, trimmed."""
    if value is None:
        return None
    text = "".join(TEXT_FULL_TO_HALF.get(ch, ch) for ch in value)
    text = _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()
    return text or None


def normalise_code(value: str | None, *, upper: bool = False) -> str | None:
    """Codes, dates, amounts: every full-width ASCII character folded, all blanks and control characters removed."""
    if value is None:
        return None
    text = "".join(FULL_TO_HALF.get(ch, ch) for ch in value)
    text = _SPACES.sub("", _CONTROL.sub("", text))
    if upper:
        text = text.upper()
    return text or None


_DATE_SEPARATORS = re.compile(r"[/.年月]")
_DATE_TIME = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2})(?:[T ]?\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
#: Dates outside these years are refused as implausible for a credit record.
DATE_MIN: Final = date(1900, 1, 1)
DATE_MAX: Final = date(2099, 12, 31)


def parse_date_text(value: str) -> date | None:
    """A date in any of the forms sources use: 2024-01-05, 2024-1-5, 2024/01/05, 2024.01.05, 20240105,
    2024年1月5日, with or without a time of day (00:00:00) after it; None if it is not one."""
    text = normalise_code(value) or ""
    text = _DATE_SEPARATORS.sub("-", text.removesuffix("日"))
    compact = _COMPACT_DATE.match(text)
    if compact:
        text = "-".join(compact.groups())
    match = _DATE_TIME.match(text)
    if not match:
        return None
    year, month, day = (int(part) for part in match.group(1).split("-"))
    try:
        parsed = date(year, month, day)
    except ValueError:
        return None
    return parsed if DATE_MIN <= parsed <= DATE_MAX else None


_PERIOD = re.compile(r"^(\d{4})-?(\d{1,2})$")


def parse_period_text(value: str) -> str | None:
    """A month: 2024-03, 2024-3, 202403, 2024/03, 2024年3月 → ``2024-03``; None if it is not one."""
    text = _DATE_SEPARATORS.sub("-", normalise_code(value) or "").rstrip("-")
    match = _PERIOD.match(text)
    if not match:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12 or not DATE_MIN.year <= year <= DATE_MAX.year:
        return None
    return f"{year:04d}-{month:02d}"


_DECIMAL = re.compile(r"^(\d*)(?:\.(\d*))?$")
#: At most 6 decimal places of 万元 (0.01 yuan) and 14 integer digits (``Numeric(20, 6)``).
DECIMAL_PLACES: Final = 6
DECIMAL_INTEGER_DIGITS: Final = 14


def canonical_decimal(value: str) -> str | None:
    """An amount in 万元 as canonical text (no sign, no thousands separators, no trailing zeros), or None.

    Negative amounts, exponents and more than 6 decimal places are refused rather than rounded: an
    amount finer than a fen is an error of the source, not something to guess at.
    """
    text = (normalise_code(value) or "").replace(",", "")
    match = _DECIMAL.match(text)
    if not match or text in ("", "."):
        return None
    whole, fraction = match.group(1).lstrip("0") or "0", (match.group(2) or "").rstrip("0")
    if len(fraction) > DECIMAL_PLACES or len(whole) > DECIMAL_INTEGER_DIGITS:
        return None
    return f"{whole}.{fraction}" if fraction else whole


_INTEGER = re.compile(r"^\d+$")
INTEGER_DIGITS: Final = 10


def canonical_integer(value: str) -> str | None:
    """A non-negative integer as canonical text (no leading zeros), or None."""
    text = (normalise_code(value) or "").replace(",", "")
    if not _INTEGER.match(text) or len(text.lstrip("0")) > INTEGER_DIGITS:
        return None
    return text.lstrip("0") or "0"


#: Spellings of yes and no sources use.
BOOLEAN_TEXT: Final[Mapping[str, str]] = MappingProxyType(
    {
        "true": "true",
        "t": "true",
        "1": "true",
        "y": "true",
        "yes": "true",
        "是": "true",
        "false": "false",
        "f": "false",
        "0": "false",
        "n": "false",
        "no": "false",
        "否": "false",
    }
)


def canonical_boolean(value: str) -> str | None:
    """``true`` / ``false`` from any spelling in ``BOOLEAN_TEXT``, or None."""
    return BOOLEAN_TEXT.get((normalise_code(value) or "").lower())


_RESIDENT_ID = re.compile(r"^\d{17}[\dX]$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def resident_id_ok(value: str) -> bool:
    """False only for an 18-character resident identity number (GB 11643) whose check character is wrong.

    Other document numbers (passports, old 15-digit numbers, foreign IDs) are not checked here.
    """
    if not _RESIDENT_ID.match(value):
        return True
    return _ID_CHECK[sum(int(c) * w for c, w in zip(value, _ID_WEIGHTS, strict=False)) % 11] == value[17]


# --- record identity ----------------------------------------------------------------------------

KEY_SEPARATOR: Final = "\x1f"


def record_key_text(item_code: str, key_values: Sequence[str]) -> str:
    """The canonical text of a natural key: the item code and the normalised key values, joined by U+001F."""
    return KEY_SEPARATOR.join((item_code, *key_values))


def record_id(item_code: str, key_values: Sequence[str]) -> uuid.UUID:
    """The record's id: a UUIDv8 (RFC 9562) of the first 128 bits of SHA-256 over the natural key text.

    Derived rather than drawn, so that one unique index serves both identity and dedupe, and a record
    keeps its id through every version, re-delivery and rebuild of the store.
    """
    digest = hashlib.sha256(record_key_text(item_code, key_values).encode()).hexdigest()
    return uuid.UUID(uuid_hex_from_digest(digest))


_VARIANT = {f"{v:x}": f"{8 + (v & 3):x}" for v in range(16)}


def uuid_hex_from_digest(digest_hex: str) -> str:
    """32 hex digits of a UUIDv8 from a hex digest: version nibble 8, variant bits 10."""
    return digest_hex[:12] + "8" + digest_hex[13:16] + _VARIANT[digest_hex[16]] + digest_hex[17:32]


# --- penalties: severity and sectors ---------------------------------------------------------------


class Severity(StrEnum):
    """Mirror of ``catalog.Severity`` (this module imports only the kernel)."""

    MINOR = "minor"
    GENERAL = "general"
    SERIOUS = "serious"
    SERIOUS_SPECIFIC = "serious_specific"


#: Severity of each penalty type of 行政处罚法 (2021) art. 9, as 处罚类别 names it. Working rule
#: (unconfirmed): warnings and circulated criticism are minor; money and temporary or partial measures
#: general; revocation, closure, bans on operating or practising and detention serious.
PENALTY_TYPE_SEVERITY: Final[Mapping[str, Severity]] = MappingProxyType(
    {
        "警告": Severity.MINOR,
        "通报批评": Severity.MINOR,
        "罚款": Severity.GENERAL,
        "没收违法所得": Severity.GENERAL,
        "没收非法财物": Severity.GENERAL,
        "没收违法所得、没收非法财物": Severity.GENERAL,
        "暂扣许可证件": Severity.GENERAL,
        "暂扣许可证": Severity.GENERAL,
        "暂扣执照": Severity.GENERAL,
        "降低资质等级": Severity.GENERAL,
        "其他": Severity.GENERAL,
        "吊销许可证件": Severity.SERIOUS,
        "吊销许可证": Severity.SERIOUS,
        "吊销执照": Severity.SERIOUS,
        "吊销营业执照": Severity.SERIOUS,
        "限制开展生产经营活动": Severity.SERIOUS,
        "责令停产停业": Severity.SERIOUS,
        "责令关闭": Severity.SERIOUS,
        "限制从业": Severity.SERIOUS,
        "行政拘留": Severity.SERIOUS,
    }
)
#: A type not in the table counts as general (a fine-like sanction); the reject file is not the place for it.
DEFAULT_PENALTY_SEVERITY: Final = Severity.GENERAL
PENALTY_TYPE_SEPARATORS: Final = re.compile(r"[;；,，、/|]+")

#: Sector of a penalty, recognised from its legal basis (处罚依据) and offence (违法行为类型). Keyword
#: rules, unconfirmed: the 双公示 layout has no sector field.
SECTOR_KEYWORDS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("special_equipment", ("特种设备",)),
    ("work_safety", ("安全生产", "危险化学品", "应急管理")),
    ("fire_safety", ("消防",)),
    ("food_safety", ("食品安全", "食品")),
    ("drugs", ("药品", "疫苗", "医疗器械")),
    ("environment", ("环境保护", "大气污染", "水污染", "固体废物", "生态环境", "环境影响", "排污")),
    ("product_quality", ("产品质量",)),
    ("construction", ("建筑法", "建设工程", "工程质量", "建筑")),
)
#: Serious penalties in these sectors are the 2019 rule's "certain serious cases" (full 3 years, not
#: repairable); later rules treat them as serious. Unconfirmed reading of 发改办财金〔2019〕527号.
SERIOUS_SPECIFIC_SECTORS: Final = frozenset(
    {"food_safety", "drugs", "environment", "work_safety", "fire_safety", "construction", "special_equipment"}
)
_SEVERITY_ORDER = {Severity.MINOR: 0, Severity.GENERAL: 1, Severity.SERIOUS: 2, Severity.SERIOUS_SPECIFIC: 3}


def penalty_types(text: str | None) -> tuple[str, ...]:
    """The penalty types of one decision's 处罚类别 (several are separated by ';' and the like)."""
    if not text:
        return ()
    return tuple(part.strip() for part in PENALTY_TYPE_SEPARATORS.split(text) if part.strip())


def penalty_sectors(*texts: str | None) -> tuple[str, ...]:
    """The sectors whose keywords occur in any of the texts, in ``SECTOR_KEYWORDS`` order."""
    joined = " ".join(t for t in texts if t)
    return tuple(code for code, words in SECTOR_KEYWORDS if any(word in joined for word in words))


def penalty_severities(types_text: str | None, sectors: Iterable[str] = ()) -> tuple[Severity, ...]:
    """The severity of each penalty type of a decision (at least one), serious ones raised to
    ``serious_specific`` in the sectors of ``SERIOUS_SPECIFIC_SECTORS``."""
    special = bool(SERIOUS_SPECIFIC_SECTORS.intersection(sectors))
    found: list[Severity] = []
    for name in penalty_types(types_text) or ("",):
        severity = PENALTY_TYPE_SEVERITY.get(name, DEFAULT_PENALTY_SEVERITY)
        if severity is Severity.SERIOUS and special:
            severity = Severity.SERIOUS_SPECIFIC
        if severity not in found:
            found.append(severity)
    return tuple(sorted(found, key=_SEVERITY_ORDER.__getitem__))


def gravest(severities: Iterable[Severity]) -> Severity:
    """The gravest of several severities (the one recorded on the record)."""
    return max(severities, key=_SEVERITY_ORDER.__getitem__)


# --- per-item delivery facts the catalog does not carry ----------------------------------------------


@dataclass(frozen=True)
class SourceFields:
    """The columns of a layout naming each row's source unit (数据来源单位代码 and 名称)."""

    code: str
    name: str


#: Items whose rows name their own source unit (双公示).
SOURCE_FIELDS: Final[Mapping[str, SourceFields]] = MappingProxyType(
    {
        "admin_penalty": SourceFields("CF_SJLYDM", "CF_SJLY"),
        "admin_license": SourceFields("XK_LYDWDM", "XK_LYDW"),
    }
)

#: Which field ends the conduct, for the retention clock, per negative item (first non-empty wins);
#: the item's event date otherwise. A list (dishonest debtors, abnormal operation, serious dishonesty)
#: ends when the subject is removed: while still listed the record is kept (retention end unknown).
RETENTION_END_FIELDS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "admin_penalty": ("CF_JDRQ",),
        "admin_coercion": ("lifted_on", "decided_on"),
        "dishonest_debtor": ("removed_on",),
        "abnormal_operation": ("removed_on",),
        "serious_dishonesty": ("removed_on",),
    }
)

#: Items whose file feeds the registry of subjects as well as the record store.
REGISTRATION_ITEM: Final = "registration"

#: 2016 双公示 files lack these current fields; they are filled from the delivering source or other fields.
#: ``@source.code`` / ``@source.name`` name the source given for the file; ``@subject_kind`` infers 相对人类别.
LEGACY_FILLS: Final[Mapping[str, Mapping[str, tuple[str, ...]]]] = MappingProxyType(
    {
        "admin_penalty": MappingProxyType(
            {
                "CF_CFJGDM": ("@source.code",),
                "CF_SJLYDM": ("@source.code",),
                "CF_SJLY": ("@source.name",),
                "CF_XDR_LB": ("@subject_kind",),
            }
        ),
        "admin_license": MappingProxyType(
            {
                "XK_XKJGDM": ("@source.code",),
                "XK_LYDWDM": ("@source.code",),
                "XK_LYDW": ("@source.name",),
                "XK_XDR_LB": ("@subject_kind",),
                "XK_YXQZ": ("XK_JDRQ",),
            }
        ),
    }
)

#: 相对人类别 inferred for legacy rows: a USCC of 个体工商户 (92…), another USCC, or only a personal ID.
SUBJECT_KIND_BUSINESS: Final = "法人及非法人组织"
SUBJECT_KIND_SOLE_TRADER: Final = "个体工商户"
SUBJECT_KIND_PERSON: Final = "自然人"


def infer_subject_kind(uscc: str | None, person_id: str | None) -> str | None:
    """相对人类别 of a 2016 row that lacks it."""
    if uscc:
        return SUBJECT_KIND_SOLE_TRADER if uscc.startswith("92") else SUBJECT_KIND_BUSINESS
    return SUBJECT_KIND_PERSON if person_id else None


# --- layouts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayoutSpec:
    """What header matching needs of one catalog item: its field names, natural key and 2016 layout."""

    item_code: str
    fields: tuple[str, ...]
    natural_key: tuple[str, ...]
    #: Legacy column → current field, in legacy column order; empty when there is no legacy layout.
    legacy_aliases: tuple[tuple[str, str], ...] = ()
    legacy_dropped: tuple[str, ...] = ()
    #: Current fields a legacy file may lack because they are filled (``LEGACY_FILLS``).
    legacy_filled: tuple[str, ...] = ()


@dataclass(frozen=True)
class HeaderMatch:
    """How a file's header maps onto an item: which column feeds which field, and what is missing."""

    item_code: str
    layout: Layout
    #: (column position, current field); several positions may feed one field (joined, legacy).
    columns: tuple[tuple[int, str], ...]
    missing: tuple[str, ...]
    unknown: tuple[str, ...]
    dropped: tuple[str, ...] = ()

    @property
    def matched(self) -> int:
        """How many columns feed a field."""
        return len(self.columns)


def clean_header(name: str) -> str:
    """A header cell as compared: BOM, blanks and full-width characters removed."""
    return normalise_code(name.replace("\ufeff", "")) or ""


def _match_one(header: Sequence[str], spec: LayoutSpec) -> HeaderMatch | None:
    names = [clean_header(h) for h in header]
    by_fold = {f.casefold(): f for f in spec.fields}
    legacy = {old.casefold(): new for old, new in spec.legacy_aliases}
    dropped = {d.casefold() for d in spec.legacy_dropped}
    legacy_only = {k for k in legacy if k not in by_fold} | (dropped - set(by_fold))
    is_legacy = any(n.casefold() in legacy_only for n in names)
    columns: list[tuple[int, str]] = []
    unknown: list[str] = []
    ignored: list[str] = []
    for position, name in enumerate(names):
        folded = name.casefold()
        if is_legacy and folded in legacy:
            columns.append((position, legacy[folded]))
        elif is_legacy and folded in dropped:
            ignored.append(name)
        elif not is_legacy and folded in by_fold:
            columns.append((position, by_fold[folded]))
        elif name:
            unknown.append(name)
    if not columns:
        return None
    fed = {f for _, f in columns}
    if not is_legacy and len(fed) != len([f for _, f in columns]):
        return None  # a field named twice in the current layout: ambiguous
    filled = set(spec.legacy_filled) if is_legacy else set()
    missing = tuple(f for f in spec.fields if f not in fed and f not in filled)
    if any(k in missing for k in spec.natural_key):
        return None
    return HeaderMatch(
        item_code=spec.item_code,
        layout=Layout.LEGACY_2016 if is_legacy else Layout.CURRENT,
        columns=tuple(columns),
        missing=missing,
        unknown=tuple(unknown),
        dropped=tuple(ignored),
    )


def match_header(header: Sequence[str], specs: Iterable[LayoutSpec]) -> HeaderMatch:
    """The item and layout a header belongs to: every natural-key field present, the most columns matched,
    fewest unknown; raises ``FileUnreadable`` when no item fits or two fit equally well."""
    candidates = [m for spec in specs if (m := _match_one(header, spec)) is not None]
    if not candidates:
        raise FileUnreadable("文件表头与目录中任何信息项的字段都不匹配（或缺少自然键字段）", header=list(header)[:40])
    candidates.sort(key=lambda m: (-m.matched, len(m.unknown), len(m.missing)))
    best = candidates[0]
    if len(candidates) > 1:
        second = candidates[1]
        if (second.matched, len(second.unknown), len(second.missing)) == (best.matched, len(best.unknown), len(best.missing)):
            raise FileUnreadable(
                f"无法从表头判断信息项（{best.item_code} 与 {second.item_code} 同样匹配），请用 --item 指明",
                candidates=[best.item_code, second.item_code],
            )
    return best


# --- outcomes, visibility, tenancy ------------------------------------------------------------------


@dataclass
class Counts:
    """What became of a batch's rows; every data row is counted exactly once."""

    rows: int = 0
    accepted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    duplicates: int = 0
    by_code: dict[str, int] = field(default_factory=dict)

    def balanced(self) -> bool:
        """Each row is accepted, updated, unchanged or rejected (duplicates are among the rejected)."""
        return self.accepted + self.updated + self.unchanged + self.rejected == self.rows


def visible(*, as_of: date, publication_end: date | None, retention_end: date | None) -> bool:
    """Whether a record may be shown, shared or used on ``as_of``: within publication and retention."""
    if retention_end is not None and as_of > retention_end:
        return False
    return publication_end is None or as_of <= publication_end


@dataclass(frozen=True, slots=True)
class DeliveryDecision:
    """Whether a row naming a source may be delivered by the caller, and why."""

    allowed: bool
    code: RejectCode | None
    reason: str


def may_deliver(
    *, source_code: str | None, known: bool, own_codes: frozenset[str] | None, register_unknown: bool
) -> DeliveryDecision:
    """Deny by default: a department (``own_codes`` set) delivers only rows of its own sources; an operator's
    CLI delivery (``register_unknown``) may name a new unit, which becomes a pending source."""
    if source_code is None:
        return DeliveryDecision(False, RejectCode.SOURCE_UNKNOWN, "缺少数据来源单位代码")
    if own_codes is not None:
        if source_code in own_codes:
            return DeliveryDecision(True, None, "本部门的数据来源单位")
        return DeliveryDecision(False, RejectCode.SOURCE_FORBIDDEN, f"无权报送数据来源单位 {source_code} 的数据")
    if known:
        return DeliveryDecision(True, None, "已登记的数据来源单位")
    if register_unknown:
        return DeliveryDecision(True, None, "新数据来源单位，登记为待确认")
    return DeliveryDecision(False, RejectCode.SOURCE_UNKNOWN, f"数据来源单位 {source_code} 未登记")
