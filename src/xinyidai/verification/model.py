"""Data verification (数据核验) rules: the predicate grammar, its validation against a catalog item's fields,
the pure evaluator (true / false / undetermined, never the value), the question's canonical form and hash,
and the per-authorization predicate cap that stops a binary search of a hidden value.

The grammar (the ``predicate`` object of ``POST /api/v1/verifications``)::

    {"kind": "at_least" | "at_most" | "equals" | "within" | "exists",
     "aggregate": "latest" (default) | "sum" | "count" | "max",
     "field": "<field of the item's record schema>",      # absent for count, optional for exists
     "window": {"start": "YYYY-MM-DD", "end": "YYYY-MM-DD"},  # event dates, both ends included
     "value": <threshold>,                                  # equals, at_least, at_most
     "low": <threshold>, "high": <threshold>}               # within: low <= x <= high

- ``latest``: the field of the newest visible record (by event date) in the window, or in the authorization's
  data range when no window is given.
- ``sum`` / ``max``: over the visible records whose event date lies in the window (required); ``count``: how
  many such records there are (a threshold is a non-negative integer).
- ``exists``: a visible record of the item (in the window, with a value of ``field`` when named) exists.
- Ordered comparisons (at_least, at_most, within) need an ordered type: ``decimal_wan`` (exact decimal, 万元),
  ``integer``, ``date``, ``period`` (``YYYY-MM``); ``string``, ``code``, ``uscc`` and ``boolean`` allow
  ``equals`` only (a code must be one of the field's code list); personal fields (``id_number`` and fields
  marked personal) are never verified. ``sum`` needs ``decimal_wan`` or ``integer``.

This module is pure: stdlib and ``xinyidai.kernel`` only. Fields are described to it by ``FieldRef`` (the
catalog field's type as its string value), so it does not import the catalog.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar

from xinyidai.kernel.errors import Forbidden, InvalidInput
from xinyidai.kernel.jsontext import canonical_json

Scalar = Decimal | int | date | str | bool

#: Catalog field types whose values are ordered (at_least, at_most, within allowed).
ORDERED_TYPES = frozenset({"decimal_wan", "integer", "date", "period"})
#: Catalog field types that may only be compared for equality.
EQUALITY_TYPES = frozenset({"string", "code", "uscc", "boolean"})
#: Catalog field types that may be summed.
SUMMABLE_TYPES = frozenset({"decimal_wan", "integer"})
#: Longest text threshold accepted (string fields).
MAX_TEXT = 200
_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


class PredicateKind(StrEnum):
    """What is asked of the value."""

    EQUALS = "equals"
    AT_LEAST = "at_least"
    AT_MOST = "at_most"
    WITHIN = "within"
    EXISTS = "exists"


class Aggregate(StrEnum):
    """Which value is asked about: the latest record's field, or a sum, count or maximum over a window."""

    LATEST = "latest"
    SUM = "sum"
    COUNT = "count"
    MAX = "max"


class Answer(StrEnum):
    """The answer the platform signs."""

    TRUE = "true"
    FALSE = "false"
    UNDETERMINED = "undetermined"


class Undetermined(StrEnum):
    """Why a question could not be answered true or false."""

    #: No visible record to evaluate (latest, sum, max).
    NO_DATA = "no_data"
    #: The record relied on has no value for the field.
    MISSING_VALUE = "missing_value"
    #: The source has not delivered for this subject within the item's maximum age.
    STALE = "stale"
    #: A record relied on is disputed (有异议).
    DISPUTED = "disputed"
    #: The source cannot be reached (interface calls) or is suspended.
    SOURCE_UNAVAILABLE = "source_unavailable"

    @property
    def label_zh(self) -> str:
        """Chinese label."""
        return _UNDETERMINED_LABELS[self]


_UNDETERMINED_LABELS: Mapping[Undetermined, str] = MappingProxyType(
    {
        Undetermined.NO_DATA: "无可用数据",
        Undetermined.MISSING_VALUE: "记录缺少该字段的值",
        Undetermined.STALE: "数据未及时更新",
        Undetermined.DISPUTED: "相关记录有异议",
        Undetermined.SOURCE_UNAVAILABLE: "数据来源暂不可用",
    }
)


class PredicateInvalid(InvalidInput):
    """A predicate that does not fit the grammar or the item's field types."""

    code: ClassVar[str] = "predicate_invalid"
    title: ClassVar[str] = "核验条件不正确"


class VerificationCapReached(Forbidden):
    """The authorization's predicate cap (per field, or in total) is used up."""

    code: ClassVar[str] = "verification_cap_reached"
    title: ClassVar[str] = "已达核验次数上限"


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A field of the item's record as the grammar needs it: name, catalog type (string value), code list."""

    name: str
    type: str
    code_list: tuple[str, ...] = ()
    personal: bool = False


@dataclass(frozen=True, slots=True)
class Window:
    """A range of event dates, both ends included."""

    start: date
    end: date

    def contains(self, day: date | None) -> bool:
        """Whether ``day`` lies in the window (a record without an event date never does)."""
        return day is not None and self.start <= day <= self.end


@dataclass(frozen=True, slots=True)
class Predicate:
    """One validated question about one item: thresholds are typed like the value they are compared with."""

    kind: PredicateKind
    aggregate: Aggregate = Aggregate.LATEST
    field: str | None = None
    window: Window | None = None
    value: Scalar | None = None
    low: Scalar | None = None
    high: Scalar | None = None

    @property
    def field_key(self) -> str:
        """The cap's field key: the field, or ``*`` for a count or a field-less exists."""
        return self.field or "*"


# --- parsing and validation ---------------------------------------------------------------------


def _scalar(raw: object, *, type_: str, code_list: tuple[str, ...], name: str, problems: list[str]) -> Scalar | None:
    """Parse one threshold as a value of catalog type ``type_``; append a problem and return None when it does not fit."""
    if raw is None:
        problems.append(f"{name} 不能为空")
        return None
    try:
        if type_ == "decimal_wan":
            if isinstance(raw, bool) or not isinstance(raw, str | int | float):
                raise ValueError
            number = Decimal(str(raw).strip())
            if not number.is_finite():
                raise ValueError
            return number
        if type_ == "integer":
            if isinstance(raw, bool):
                raise ValueError
            if isinstance(raw, int):
                return raw
            if isinstance(raw, str) and re.fullmatch(r"-?\d{1,18}", raw.strip()):
                return int(raw.strip())
            raise ValueError
        if type_ == "date":
            if not isinstance(raw, str):
                raise ValueError
            return date.fromisoformat(raw.strip())
        if type_ == "period":
            if not isinstance(raw, str) or not _PERIOD.fullmatch(raw.strip()):
                raise ValueError
            return raw.strip()
        if type_ == "boolean":
            if not isinstance(raw, bool):
                raise ValueError
            return raw
        if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_TEXT:
            raise ValueError
        text = raw.strip()
        if type_ == "uscc":
            text = text.upper()
        if type_ == "code" and code_list and text not in code_list:
            problems.append(f"{name} 应为代码表中的值：{'、'.join(code_list)}")
            return None
        return text
    except (ValueError, InvalidOperation):
        problems.append(f"{name} 的值 {raw!r} 不是 {type_} 类型")
        return None


def _window(raw: object, problems: list[str]) -> Window | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) - {"start", "end"}:
        problems.append("window 应为 {start, end}")
        return None
    try:
        start, end = date.fromisoformat(str(raw["start"])), date.fromisoformat(str(raw["end"]))
    except (KeyError, ValueError):
        problems.append("window.start 与 window.end 应为 YYYY-MM-DD 日期")
        return None
    if end < start:
        problems.append("window.end 早于 window.start")
        return None
    return Window(start, end)


_KEYS = frozenset({"kind", "aggregate", "field", "window", "value", "low", "high"})


def parse_predicate(raw: Mapping[str, Any], fields: Sequence[FieldRef]) -> Predicate:
    """Validate ``raw`` against the grammar and the item's ``fields``; raise PredicateInvalid listing every problem."""
    problems: list[str] = []
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        problems.append(f"未知的条件参数：{', '.join(unknown)}")
    try:
        kind = PredicateKind(str(raw.get("kind")))
        aggregate = Aggregate(str(raw.get("aggregate") or Aggregate.LATEST.value))
    except ValueError:
        raise PredicateInvalid(
            f"kind 应为 {'/'.join(k.value for k in PredicateKind)}，aggregate 应为 {'/'.join(a.value for a in Aggregate)}"
        ) from None
    window = _window(raw.get("window"), problems)
    by_name = {f.name: f for f in fields}
    field_name = raw.get("field")
    field: FieldRef | None = None
    if field_name is not None:
        field = by_name.get(str(field_name))
        if field is None:
            problems.append(f"信息项没有字段 {field_name!r}")
        elif field.personal or field.type == "id_number":
            problems.append(f"字段 {field.name} 是个人信息，不提供核验")
            field = None
    # The type the value asked about has, or None when the shape is wrong.
    value_type: str | None = None
    if aggregate is Aggregate.COUNT:
        if field_name is not None:
            problems.append("count 不指定字段")
        value_type = "integer"
    elif kind is PredicateKind.EXISTS:
        if aggregate is not Aggregate.LATEST:
            problems.append("exists 不与 sum、max 合用")
    elif field_name is None:
        problems.append(f"{aggregate.value} 需要指定字段 field")
    elif field is not None:
        value_type = field.type
        if aggregate is Aggregate.SUM and field.type not in SUMMABLE_TYPES:
            problems.append(f"sum 只适用于金额或整数字段，{field.name} 是 {field.type}")
            value_type = None
        if aggregate is Aggregate.MAX and field.type not in ORDERED_TYPES:
            problems.append(f"max 只适用于可比较大小的字段，{field.name} 是 {field.type}")
            value_type = None
    if aggregate is not Aggregate.LATEST and window is None:
        problems.append(f"{aggregate.value} 需要指定时间窗口 window")
    thresholds = {k: raw.get(k) for k in ("value", "low", "high") if raw.get(k) is not None}
    value = low = high = None
    if kind is PredicateKind.EXISTS:
        if thresholds:
            problems.append("exists 不带 value、low、high")
    else:
        expected = {"low", "high"} if kind is PredicateKind.WITHIN else {"value"}
        if set(thresholds) != expected:
            problems.append(f"{kind.value} 需要且只需要参数 {'、'.join(k for k in ('value', 'low', 'high') if k in expected)}")
        if value_type is not None and kind is not PredicateKind.EQUALS and value_type not in ORDERED_TYPES:
            problems.append(f"{kind.value} 需要可比较大小的字段，{field_name} 只能用 equals")
            value_type = None
        if value_type is not None and set(thresholds) == expected:
            codes = field.code_list if field is not None and aggregate is Aggregate.LATEST else ()
            parsed = {
                k: _scalar(thresholds[k], type_=value_type, code_list=codes, name=k, problems=problems) for k in sorted(expected)
            }
            value, low, high = parsed.get("value"), parsed.get("low"), parsed.get("high")
            if aggregate is Aggregate.COUNT and any(isinstance(v, int) and v < 0 for v in parsed.values()):
                problems.append("count 的阈值不能为负数")
            if low is not None and high is not None and _gt(low, high):
                problems.append("within 的 low 大于 high")
    if problems:
        raise PredicateInvalid("；".join(problems))
    return Predicate(kind, aggregate, str(field_name) if field_name is not None else None, window, value, low, high)


def _gt(a: Scalar, b: Scalar) -> bool:
    left: Any = a
    return bool(left > b)


# --- canonical form and hashes ------------------------------------------------------------------


def _render(value: Scalar | None) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in {"-0", "0"} else text
    return value.isoformat()


def canonical_predicate(predicate: Predicate) -> dict[str, Any]:
    """The predicate as plain JSON values, the same for the same question (``12.50`` and ``12.5`` alike)."""
    window = predicate.window
    return {
        "kind": predicate.kind.value,
        "aggregate": predicate.aggregate.value,
        "field": predicate.field,
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat()} if window else None,
        "value": _render(predicate.value),
        "low": _render(predicate.low),
        "high": _render(predicate.high),
    }


def question_document(*, subject_uscc: str, item: str, predicate: Predicate) -> dict[str, Any]:
    """The question as hashed: subject, item and canonical predicate."""
    return {"subject": subject_uscc.strip().upper(), "item": item, "predicate": canonical_predicate(predicate)}


def question_key(*, subject_uscc: str, item: str, predicate: Predicate) -> str:
    """SHA-256 (hex) of the question: the platform's own key to find an identical question (never published)."""
    return hashlib.sha256(
        canonical_json(question_document(subject_uscc=subject_uscc, item=item, predicate=predicate))
    ).hexdigest()


def question_sha256(*, subject_uscc: str, item: str, predicate: Predicate, nonce: str) -> str:
    """SHA-256 (hex) of the question salted with the answer's nonce: what the signed answer carries.

    Salted so that whoever holds only the token cannot confirm guessed thresholds from the hash; whoever
    holds the question and the token recomputes it (``answer_matches``).
    """
    document = {"nonce": nonce, "question": question_document(subject_uscc=subject_uscc, item=item, predicate=predicate)}
    return hashlib.sha256(canonical_json(document)).hexdigest()


# --- evaluation ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Observation:
    """One visible record as the evaluator sees it: typed values, event date, delivery time, dispute flag, source."""

    event_date: date | None
    received_at: datetime
    values: Mapping[str, Scalar | None]
    disputed: bool = False
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The answer, why it is undetermined, the newest delivery it relies on, and its sources: never the value."""

    answer: Answer
    reason: Undetermined | None
    as_of: datetime
    sources: tuple[str, ...]


def _compare(predicate: Predicate, value: Scalar) -> bool:
    v: Any = value
    if predicate.kind is PredicateKind.EQUALS:
        return bool(v == predicate.value)
    if predicate.kind is PredicateKind.AT_LEAST:
        return bool(v >= predicate.value)
    if predicate.kind is PredicateKind.AT_MOST:
        return bool(v <= predicate.value)
    if predicate.kind is PredicateKind.WITHIN:
        low: Any = predicate.low
        return bool(low <= v <= predicate.high)
    raise ValueError(f"{predicate.kind} is not a comparison")


def _undetermined(reason: Undetermined, at: datetime) -> Evaluation:
    return Evaluation(Answer.UNDETERMINED, reason, at, ())


def _determined(result: bool, relied: Sequence[Observation], at: datetime) -> Evaluation:
    as_of = max((o.received_at for o in relied), default=at)
    sources = tuple(sorted({o.source for o in relied if o.source}))
    return Evaluation(Answer.TRUE if result else Answer.FALSE, None, as_of, sources)


def evaluate(
    predicate: Predicate,
    observations: Sequence[Observation],
    *,
    at: datetime,
    max_age: timedelta | None = None,
    source_available: bool = True,
    newest_delivery: datetime | None = None,
) -> Evaluation:
    """Answer ``predicate`` over the subject's visible records of the item (already clipped to what the
    authorization covers); deny nothing here, reveal nothing but the answer.

    Undetermined when the source is unavailable; when the newest delivery of the item for this subject is
    older than ``max_age`` (stale); when a record relied on is disputed (the latest one, or any in a sum,
    count or max window); when there is nothing to evaluate (latest, sum, max; a count of none is 0, and
    exists is false); when a value relied on is missing. ``newest_delivery`` is the newest delivery of the
    item for the subject when the caller has clipped ``observations`` (default: the newest of them).
    """
    if not source_available:
        return _undetermined(Undetermined.SOURCE_UNAVAILABLE, at)
    newest = newest_delivery or max((o.received_at for o in observations), default=None)
    if max_age is not None and newest is not None and at - newest > max_age:
        return _undetermined(Undetermined.STALE, at)
    window = predicate.window
    relevant = [o for o in observations if window is None or window.contains(o.event_date)]
    field = predicate.field
    if predicate.kind is PredicateKind.EXISTS:
        candidates = [o for o in relevant if field is None or o.values.get(field) is not None]
        clean = [o for o in candidates if not o.disputed]
        if clean:
            return _determined(True, clean, at)
        if candidates:
            return _undetermined(Undetermined.DISPUTED, at)
        return _determined(False, (), at)
    if predicate.aggregate is Aggregate.LATEST:
        if not relevant:
            return _undetermined(Undetermined.NO_DATA, at)
        latest = max(relevant, key=lambda o: (o.event_date or date.min, o.received_at))
        if latest.disputed:
            return _undetermined(Undetermined.DISPUTED, at)
        value = latest.values.get(field) if field else None
        if value is None:
            return _undetermined(Undetermined.MISSING_VALUE, at)
        return _determined(_compare(predicate, value), (latest,), at)
    if any(o.disputed for o in relevant):
        return _undetermined(Undetermined.DISPUTED, at)
    if predicate.aggregate is Aggregate.COUNT:
        return _determined(_compare(predicate, len(relevant)), relevant, at)
    if not relevant:
        return _undetermined(Undetermined.NO_DATA, at)
    values = [o.values.get(field) if field else None for o in relevant]
    present = [v for v in values if v is not None]
    if len(present) != len(values):
        return _undetermined(Undetermined.MISSING_VALUE, at)
    numbers: list[Any] = present
    total = sum(numbers[1:], start=numbers[0]) if predicate.aggregate is Aggregate.SUM else max(numbers)
    return _determined(_compare(predicate, total), relevant, at)


# --- staleness ----------------------------------------------------------------------------------

#: How old the newest delivery of an item for a subject may be before answers about it are undetermined,
#: for items delivered periodically (monthly): a quarter without a delivery plus ten days. Items not listed
#: (event records such as penalties, whose absence is the normal state) are never stale. Unconfirmed
#: configuration, not a rule of the seeds.
MAX_AGE_BY_ITEM: Mapping[str, timedelta] = MappingProxyType(
    {
        code: timedelta(days=100)
        for code in ("tax_payment", "social_insurance", "housing_fund", "utility_payment", "import_export")
    }
)


def max_age_for(item: str) -> timedelta | None:
    """The maximum age of an item's newest delivery, or None when the item is never stale."""
    return MAX_AGE_BY_ITEM.get(item)


# --- the predicate cap --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CapPolicy:
    """How many predicates one authorization may ask: per (item, field) and in total.

    Why a cap: each true/false answer tells at most one bit. With k threshold questions about one
    numeric value an institution can halve the interval it knows the value to lie in k times — a
    binary search — and learn it to 1/2^k of the prior range (k ≈ log2(range / resolution) questions
    reveal it exactly: 20 questions pin a tax amount between 0 and 100万元 to about 1元). Capping
    k per field caps what the answers can reveal about that value at k bits (3 → one eighth of the
    prior range: enough to check a loan condition, not to recover the amount); the total cap bounds
    what correlated fields of one subject reveal together. Every answered question counts, undetermined
    ones included (they tell whether data exists); repeating an identical question within the
    authorization's data life is answered from the first answer and does not count.
    """

    per_field: int = 3
    per_authorization: int = 20


#: The default cap (unconfirmed configuration). Per-purpose caps go in CAPS_BY_PURPOSE.
DEFAULT_CAP = CapPolicy()
#: Caps by purpose code; empty until the operator configures them (then stored like fair-use policies).
CAPS_BY_PURPOSE: Mapping[str, CapPolicy] = MappingProxyType({})


def cap_for(purpose: str) -> CapPolicy:
    """The cap that applies to an authorization of ``purpose``."""
    return CAPS_BY_PURPOSE.get(purpose, DEFAULT_CAP)


@dataclass(frozen=True, slots=True)
class Remaining:
    """Predicates still allowed: on this (item, field), and in total on the authorization."""

    field: int
    total: int


def remaining(policy: CapPolicy, *, field_used: int, total_used: int) -> Remaining:
    """What is left of the cap after ``field_used`` / ``total_used`` questions."""
    return Remaining(max(policy.per_field - field_used, 0), max(policy.per_authorization - total_used, 0))


def cap_breach(policy: CapPolicy, *, field_used: int, total_used: int) -> str | None:
    """Why one more question is refused, or None when it is allowed."""
    if total_used >= policy.per_authorization:
        return f"该授权的核验次数已达上限（{policy.per_authorization} 次）"
    if field_used >= policy.per_field:
        return f"该授权对同一字段的核验次数已达上限（{policy.per_field} 次）"
    return None


def reusable(*, asked_at: datetime, data_life_days: int, at: datetime) -> bool:
    """Whether an earlier answer to the identical question may be given again at ``at`` (within the data life)."""
    return data_life_days > 0 and at < asked_at + timedelta(days=data_life_days)
