"""Checking a department's answer against the catalog item's record schema, and normalising its values.

An answer is refused whole when anything is wrong with it: not JSON, not the envelope, another
subject, a field the item does not have, a missing required field, a value of the wrong type or
outside its code list, a broken cross-field rule. Every problem found is listed (up to a limit), so
the call log says what the department got wrong, not only that it got something wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from xinyidai.catalog import Field, FieldType, Item
from xinyidai.kernel.money import format_wan, parse_wan
from xinyidai.kernel.uscc import validate as validate_uscc

#: Problems listed before the rest are only counted.
MAX_PROBLEMS: Final = 20
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_INTEGER = re.compile(r"^-?\d{1,18}$")
_BOOLEAN_TEXT: Final[Mapping[str, bool]] = {"true": True, "false": False}
#: What ``_value`` returns for a value it reported as wrong.
_INVALID: Final = object()


class MalformedAnswer(ValueError):
    """The department's answer cannot be used; ``problems`` says why."""

    def __init__(self, problems: list[str]) -> None:
        shown = problems[:MAX_PROBLEMS]
        more = len(problems) - len(shown)
        super().__init__("; ".join(shown) + (f"; … {more} more" if more else ""))
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class Answer:
    """A valid answer: the subject's records (values normalised) and the instant they were current."""

    records: tuple[dict[str, Any], ...]
    as_of: datetime


def parse_answer(body: bytes, *, item: Item, uscc: str) -> Answer:
    """Decode and check one answer to ``GET …/{item}?uscc=…``; raise ``MalformedAnswer`` listing every problem.

    The envelope is ``{"item": <code>, "uscc": <code>, "as_of": <ISO datetime with offset>,
    "records": [{<field>: <value>, …}, …]}``; other envelope keys are ignored. Amounts may come as
    text or JSON numbers and are kept as exact 万元 text; integers and booleans may come as text.
    """
    try:
        # Numbers with a fraction become Decimal, never float: amounts must stay exact.
        document = json.loads(body, parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedAnswer([f"not JSON: {exc}"]) from None
    if not isinstance(document, dict):
        raise MalformedAnswer([f"answer is a JSON {type(document).__name__}, not an object"])
    problems: list[str] = []
    if document.get("item") != item.code:
        problems.append(f"answer is for item {document.get('item')!r}, not {item.code!r}")
    if document.get("uscc") != uscc:
        problems.append(f"answer is for subject {document.get('uscc')!r}, not the one asked about")
    as_of = _as_of(document.get("as_of"), problems)
    raw_records = document.get("records")
    records: list[dict[str, Any]] = []
    if not isinstance(raw_records, list):
        problems.append("records must be a list")
    else:
        for position, raw in enumerate(raw_records):
            record = _record(raw, position, item=item, uscc=uscc, problems=problems)
            if record is not None:
                records.append(record)
    if problems or as_of is None:
        raise MalformedAnswer(problems)
    return Answer(records=tuple(records), as_of=as_of)


def _as_of(value: object, problems: list[str]) -> datetime | None:
    if not isinstance(value, str):
        problems.append("as_of is missing")
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        problems.append(f"as_of is not an ISO datetime: {value!r}")
        return None
    if parsed.tzinfo is None:
        problems.append("as_of has no UTC offset")
        return None
    return parsed


def _record(raw: object, position: int, *, item: Item, uscc: str, problems: list[str]) -> dict[str, Any] | None:
    where = f"records[{position}]"
    if not isinstance(raw, dict):
        problems.append(f"{where} is not an object")
        return None
    known = set(item.field_names)
    for name in raw:
        if name not in known:
            problems.append(f"{where}: field {name!r} is not in the schema of {item.code}")
    record: dict[str, Any] = {}
    for spec in item.record_schema:
        given = raw.get(spec.name)
        if given is None or given == "":
            if spec.required:
                problems.append(f"{where}.{spec.name} is required")
            continue
        value = _value(spec, given, f"{where}.{spec.name}", problems)
        if value is not _INVALID:
            record[spec.name] = value
    if record.get(item.subject_field, uscc) != uscc:
        problems.append(f"{where}.{item.subject_field} names another subject")
    for rule in item.rules:
        _check_rule(rule.rule.value, rule.field, rule.other, rule.values, record, where, problems)
    return record


def _value(spec: Field, value: object, where: str, problems: list[str]) -> object:
    """The normalised value of a present field; a wrong value is reported and ``_INVALID`` returned."""
    kind = spec.type
    if kind is FieldType.DECIMAL_WAN:
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            problems.append(f"{where} must be an amount in 万元")
            return _INVALID
        try:
            return format_wan(parse_wan(value))
        except ValueError:
            problems.append(f"{where} is not an amount: {value!r}")
            return _INVALID
    if kind is FieldType.INTEGER:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INTEGER.match(value.strip()):
            return int(value)
        problems.append(f"{where} must be an integer, not {value!r}")
        return _INVALID
    if kind is FieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLEAN_TEXT:
            return _BOOLEAN_TEXT[value.strip().lower()]
        problems.append(f"{where} must be true or false, not {value!r}")
        return _INVALID
    if not isinstance(value, str):
        problems.append(f"{where} must be text, not a JSON {type(value).__name__}")
        return _INVALID
    text = value.strip()
    if spec.max_length is not None and len(text) > spec.max_length:
        problems.append(f"{where} is longer than {spec.max_length} characters")
        return _INVALID
    if kind is FieldType.DATE and not _is_date(text):
        problems.append(f"{where} is not a date (YYYY-MM-DD): {text!r}")
        return _INVALID
    if kind is FieldType.PERIOD and not _PERIOD.match(text):
        problems.append(f"{where} is not a month (YYYY-MM): {text!r}")
        return _INVALID
    if kind is FieldType.CODE and spec.code_list and text not in spec.code_list:
        problems.append(f"{where} is not one of the item's codes: {text!r}")
        return _INVALID
    if kind is FieldType.USCC and not validate_uscc(text, lenient=True).valid:
        problems.append(f"{where} is not a valid USCC: {text!r}")
        return _INVALID
    return text


def _is_date(text: str) -> bool:
    if len(text) != 10:
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _check_rule(
    rule: str, field: str, other: str, values: tuple[str, ...], record: Mapping[str, Any], where: str, problems: list[str]
) -> None:
    if rule == "date_not_before":
        if field in record and other in record and str(record[field]) < str(record[other]):
            problems.append(f"{where}: {field} is before {other}")
    elif rule == "required_if":
        if record.get(other) in values and field not in record:
            problems.append(f"{where}: {field} is required when {other} is {record.get(other)!r}")
    elif rule == "required_with":
        if other in record and field not in record:
            problems.append(f"{where}: {field} is required with {other}")
    else:  # pragma: no cover - the catalog loader refuses unknown rules
        problems.append(f"{where}: unknown rule {rule!r}")
