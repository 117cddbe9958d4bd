"""Load the catalog data shipped in ``catalog/data`` (TOML) into the pure model, validating it first."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import tomllib
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from enum import StrEnum
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

from xinyidai.catalog.model import (
    Catalog,
    CatalogVersion,
    Category,
    CrossFieldRule,
    Deadline,
    Department,
    Disclosure,
    Field,
    FieldType,
    Item,
    LegacyLayout,
    Period,
    PublicationRule,
    RetentionRule,
    RuleKind,
    Sector,
    SectorMinimum,
    Severity,
    Term,
)

__all__ = ["CatalogDataError", "load_catalog", "read_catalog"]

DATA_PACKAGE = "xinyidai.catalog"
DATA_DIRECTORY = "data"
VERSIONS_FILE = "versions.toml"
DEPARTMENTS_FILE = "departments.toml"
RULES_FILE = "rules.toml"
ITEMS_PREFIX = "items_"

_E = TypeVar("_E", bound=StrEnum)
_MISSING = object()


class CatalogDataError(ValueError):
    """The catalog data is invalid; ``problems`` lists every problem found, each naming its file and entry."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        listing = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the catalog data:\n{listing}")


@functools.cache
def load_catalog() -> Catalog:
    """The catalog shipped with the package, read and validated once per process."""
    return read_catalog(resources.files(DATA_PACKAGE) / DATA_DIRECTORY)


def read_catalog(directory: Traversable | Path) -> Catalog:
    """Read and validate the catalog data in ``directory``; raise ``CatalogDataError`` listing every problem.

    The directory holds ``versions.toml``, ``departments.toml``, ``rules.toml`` and
    one or more ``items_*.toml``, read in name order.
    """
    problems: list[str] = []
    item_files = sorted(
        entry.name
        for entry in directory.iterdir()
        if entry.name.startswith(ITEMS_PREFIX) and entry.name.endswith(".toml") and entry.is_file()
    )
    if not item_files:
        problems.append(f"{directory}: no {ITEMS_PREFIX}*.toml file")

    departments = _read_departments(_read_file(directory, DEPARTMENTS_FILE, problems), problems)
    versions = _read_versions(_read_file(directory, VERSIONS_FILE, problems), problems)
    sectors, publication, retention = _read_rules(_read_file(directory, RULES_FILE, problems), problems)

    items: list[tuple[Item, str]] = []
    for name in item_files:
        items.extend((item, name) for item in _read_items(_read_file(directory, name, problems), departments))

    _check_item_codes(items, problems)
    _check_items_against_versions(items, versions, problems)
    by_code = {item.code: item for item, _ in items}
    _check_publication_rules(publication, by_code, problems)
    for rule, applies_to in retention:
        for code in applies_to if isinstance(applies_to, tuple) else ():
            if code not in by_code:
                problems.append(f"{RULES_FILE}: retention rule {rule.code!r} names unknown item {code!r}")
    items = [(_attach_rules(item, publication, retention), where) for item, where in items]
    if problems:
        raise CatalogDataError(problems)

    all_items = tuple(item for item, _ in items)
    built = tuple(
        dataclasses.replace(version, items=_items_of(version, all_items))
        for version in sorted(versions, key=lambda v: v.effective_on)
    )
    return Catalog(
        versions=built,
        items=all_items,
        departments=tuple(departments.values()),
        sectors=sectors,
    )


# --- reading TOML -------------------------------------------------------------------------------


class _Table:
    """One TOML table being read: typed getters that record a problem instead of raising."""

    def __init__(self, data: Mapping[str, Any], where: str, problems: list[str]) -> None:
        self.data = data
        self.where = where
        self.problems = problems
        self._read: set[str] = set()

    def problem(self, message: str) -> None:
        """Record a problem naming this table."""
        self.problems.append(f"{self.where}: {message}")

    def _value(self, key: str, required: bool) -> Any:
        self._read.add(key)
        if key not in self.data:
            if required:
                self.problem(f"missing {key!r}")
            return _MISSING
        return self.data[key]

    def text(self, key: str) -> str:
        """A required non-empty string."""
        value = self._value(key, True)
        if value is _MISSING:
            return ""
        if not isinstance(value, str) or not value.strip():
            self.problem(f"{key!r} must be a non-empty string, not {value!r}")
            return ""
        return value

    def optional_text(self, key: str) -> str | None:
        """An optional non-empty string."""
        if key not in self.data:
            self._read.add(key)
            return None
        return self.text(key)

    def flag(self, key: str, default: bool | None = None) -> bool:
        """A boolean; required when there is no default."""
        value = self._value(key, default is None)
        if value is _MISSING:
            return bool(default)
        if not isinstance(value, bool):
            self.problem(f"{key!r} must be true or false, not {value!r}")
            return bool(default)
        return value

    def number(self, key: str) -> int:
        """A required positive integer."""
        value = self._value(key, True)
        if value is _MISSING:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            self.problem(f"{key!r} must be a positive integer, not {value!r}")
            return 0
        return value

    def optional_number(self, key: str) -> int | None:
        """An optional positive integer."""
        if key not in self.data:
            self._read.add(key)
            return None
        return self.number(key)

    def day(self, key: str) -> date:
        """A required TOML local date (``2021-12-25``, unquoted)."""
        value = self._value(key, True)
        if value is _MISSING:
            return date.min
        if isinstance(value, datetime) or not isinstance(value, date):
            self.problem(f"{key!r} must be a date such as 2024-01-31, not {value!r}")
            return date.min
        return value

    def optional_day(self, key: str) -> date | None:
        """An optional TOML local date."""
        if key not in self.data:
            self._read.add(key)
            return None
        return self.day(key)

    def names(self, key: str, *, required: bool = True) -> tuple[str, ...]:
        """A list of distinct non-empty strings; present means non-empty."""
        value = self._value(key, required)
        if value is _MISSING:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.problem(f"{key!r} must be a list of non-empty strings, not {value!r}")
            return ()
        if not value:
            self.problem(f"{key!r} must not be empty")
        if len(set(value)) != len(value):
            self.problem(f"{key!r} repeats a value: {value!r}")
        return tuple(value)

    def choice(self, key: str, enum: type[_E]) -> _E | None:
        """A required value of a string enumeration."""
        value = self._value(key, True)
        if value is _MISSING:
            return None
        try:
            return enum(value)
        except ValueError:
            allowed = ", ".join(member.value for member in enum)
            self.problem(f"{key!r} must be one of {allowed}, not {value!r}")
            return None

    def period(self, key: str, *, required: bool = True) -> Period | None:
        """An ISO-8601 duration such as ``P3M`` or ``PT12H``."""
        value = self._value(key, required)
        if value is _MISSING:
            return None
        try:
            if not isinstance(value, str):
                raise ValueError
            return Period.parse(value)
        except ValueError:
            self.problem(f"{key!r} must be an ISO-8601 duration such as P3M, not {value!r}")
            return None

    def tables(self, key: str, label: str, *, required: bool = True) -> list[_Table]:
        """An array of tables, each named by its ``code`` or ``name`` when it has one."""
        value = self._value(key, required)
        if value is _MISSING:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem(f"{key!r} must be an array of tables")
            return []
        if required and not value:
            self.problem(f"{key!r} must not be empty")
        return [self.child(entry, label, index) for index, entry in enumerate(value, start=1)]

    def child(self, data: Mapping[str, Any], label: str, index: int) -> _Table:
        """A nested table, named ``label 'code'`` or ``label #index``."""
        name = next((data[key] for key in ("code", "name", "severity", "year") if key in data), None)
        tag = f"{label} {name!r}" if isinstance(name, str | int) and not isinstance(name, bool) else f"{label} #{index}"
        return _Table(data, f"{self.where}, {tag}" if self.where else tag, self.problems)

    def sub(self, key: str) -> _Table | None:
        """An optional nested table."""
        value = self._value(key, False)
        if value is _MISSING:
            return None
        if not isinstance(value, dict):
            self.problem(f"{key!r} must be a table")
            return None
        return _Table(value, f"{self.where}, {key}", self.problems)

    def mapping(self, key: str) -> dict[str, str]:
        """An optional table of string values, in file order."""
        value = self._value(key, False)
        if value is _MISSING:
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, str) and v for v in value.values()):
            self.problem(f"{key!r} must be a table of non-empty strings")
            return {}
        if not value:
            self.problem(f"{key!r} must not be empty")
        return {str(k): str(v) for k, v in value.items()}

    def unconfirmed(self) -> frozenset[str]:
        """The keys of this table marked as not checked against the official text."""
        names = self.names("unconfirmed", required=False)
        for name in names:
            if name not in self.data:
                self.problem(f"'unconfirmed' names {name!r}, which is not a key of this table")
        return frozenset(names)

    def finish(self) -> None:
        """Report keys nobody read: a misspelt key must not pass silently."""
        for key in self.data:
            if key not in self._read:
                self.problem(f"unknown key {key!r}")


def _read_file(directory: Traversable | Path, name: str, problems: list[str]) -> _Table | None:
    entry = directory / name
    if not entry.is_file():
        problems.append(f"{name}: file missing from {directory}")
        return None
    try:
        document = tomllib.loads(entry.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        problems.append(f"{name}: not valid TOML: {exc}")
        return None
    return _Table(document, name, problems)


# --- departments and versions -------------------------------------------------------------------


def _read_departments(root: _Table | None, problems: list[str]) -> dict[str, Department]:
    if root is None:
        return {}
    departments: dict[str, Department] = {}
    for table in root.tables("department", "department"):
        department = Department(
            code=table.text("code"),
            name_zh=table.text("name_zh"),
            name_en=table.text("name_en"),
            members=table.names("members", required=False),
        )
        table.finish()
        if department.code in departments:
            table.problem("duplicate department code")
        departments[department.code] = department
    root.finish()
    for department in departments.values():
        for member in department.members:
            if member not in departments:
                problems.append(f"{root.where}: department {department.code!r} has unknown member {member!r}")
            elif departments[member].members:
                problems.append(f"{root.where}: department {department.code!r} nests group {member!r}")
    return departments


def _read_versions(root: _Table | None, problems: list[str]) -> list[CatalogVersion]:
    if root is None:
        return []
    versions: list[CatalogVersion] = []
    for table in root.tables("version", "version"):
        categories: list[Category] = []
        for entry in table.tables("categories", "category"):
            categories.append(Category(entry.text("code"), entry.text("name_zh"), entry.text("name_en")))
            entry.finish()
        codes = [c.code for c in categories]
        for code in sorted({c for c in codes if codes.count(c) > 1}):
            table.problem(f"duplicate category code {code!r}")
        versions.append(
            CatalogVersion(
                year=table.number("year"),
                name_zh=table.text("name_zh"),
                document_no=table.text("document_no"),
                issued_on=table.day("issued_on"),
                effective_on=table.day("effective_on"),
                categories=tuple(categories),
                items=(),
                unconfirmed=table.unconfirmed(),
            )
        )
        table.finish()
    root.finish()
    years = [v.year for v in versions]
    for year in sorted({y for y in years if years.count(y) > 1}):
        problems.append(f"{root.where}: duplicate version {year}")
    by_year = sorted(versions, key=lambda v: v.year)
    for earlier, later in itertools.pairwise(by_year):
        if later.effective_on <= earlier.effective_on:
            problems.append(
                f"{root.where}: version {later.year} takes effect on {later.effective_on}, "
                f"not after version {earlier.year} ({earlier.effective_on})"
            )
    return versions


# --- items --------------------------------------------------------------------------------------


def _read_items(root: _Table | None, departments: Mapping[str, Department]) -> list[Item]:
    if root is None:
        return []
    items: list[Item] = []
    for table in root.tables("item", "item"):
        before = len(table.problems)
        item = _read_item(table, departments)
        # Check references only on an item that parsed cleanly, so that one typo is reported
        # once; keep even a faulty item, so that rules naming it do not report it as unknown.
        if len(table.problems) == before:
            _check_item(item, table)
        items.append(item)
    root.finish()
    return items


def _read_item(table: _Table, departments: Mapping[str, Department]) -> Item:
    department_code = table.text("department")
    department = departments.get(department_code)
    if department_code and department is None:
        table.problem(f"unknown department {department_code!r}")
    disclosure = table.choice("disclosure", Disclosure)
    freshness = table.period("freshness")
    deadline: Deadline | None = None
    if (deadline_table := table.sub("delivery_deadline")) is not None:
        deadline_period = deadline_table.period("period")
        working_days = deadline_table.flag("working_days")
        deadline_table.finish()
        if deadline_period is not None:
            deadline = Deadline(deadline_period, working_days)
    schema = tuple(field for entry in table.tables("record_schema", "field") if (field := _read_field(entry)))
    rules = tuple(rule for entry in table.tables("rules", "rule", required=False) if (rule := _read_rule(entry)))
    legacy = _read_legacy(table.sub("legacy"))
    by_value = table.mapping("department_by_value")
    routed: list[tuple[str, Department]] = []
    for value, code in by_value.items():
        if code not in departments:
            table.problem(f"department_by_value: unknown department {code!r}")
        else:
            routed.append((value, departments[code]))
    item = Item(
        code=table.text("code"),
        name_zh=table.text("name_zh"),
        name_en=table.text("name_en"),
        category=table.text("category"),
        department=department or Department(department_code, "", ""),
        disclosure=disclosure or Disclosure.PUBLIC,
        negative=table.flag("negative"),
        natural_key=table.names("natural_key"),
        subject_field=table.text("subject_field"),
        event_date_field=table.text("event_date_field"),
        freshness=freshness or Period(),
        delivery_deadline=deadline,
        record_schema=schema,
        rules=rules,
        since=table.number("since"),
        until=table.optional_number("until"),
        legacy=legacy,
        department_field=table.optional_text("department_field"),
        department_by_value=tuple(routed),
        unconfirmed=table.unconfirmed(),
        note=table.optional_text("note") or "",
    )
    table.finish()
    return item


def _read_field(table: _Table) -> Field | None:
    field_type = table.choice("type", FieldType)
    max_length = table.optional_number("max_length")
    field = Field(
        name=table.text("name"),
        label_zh=table.text("label_zh"),
        type=field_type or FieldType.STRING,
        required=table.flag("required", False),
        code_list=table.names("code_list", required=False),
        max_length=max_length,
        personal=table.flag("personal", False),
    )
    table.finish()
    if field.type is FieldType.CODE and not field.code_list and "code_list" not in table.data:
        table.problem("a field of type 'code' needs a non-empty code_list")
    if field.code_list and field.type is not FieldType.CODE:
        table.problem(f"code_list is only for fields of type 'code', not {field.type.value!r}")
    if field.type is FieldType.ID_NUMBER and not field.personal:
        table.problem("a field of type 'id_number' holds personal information: set personal = true")
    return field if field_type is not None else None


def _read_rule(table: _Table) -> CrossFieldRule | None:
    kind = table.choice("rule", RuleKind)
    rule = CrossFieldRule(
        rule=kind or RuleKind.DATE_NOT_BEFORE,
        field=table.text("field"),
        other=table.text("other"),
        values=table.names("values", required=kind is RuleKind.REQUIRED_IF),
    )
    table.finish()
    if rule.values and kind is not RuleKind.REQUIRED_IF:
        table.problem(f"'values' is only for rule 'required_if', not {rule.rule.value!r}")
    if rule.field and rule.field == rule.other:
        table.problem("a rule must relate two different fields")
    return rule if kind is not None else None


def _read_legacy(table: _Table | None) -> LegacyLayout | None:
    if table is None:
        return None
    aliases = table.mapping("aliases")
    if "aliases" not in table.data:
        table.problem("missing 'aliases'")
    layout = LegacyLayout(
        name=table.text("name"),
        aliases=tuple(aliases.items()),
        dropped=table.names("dropped", required=False),
        join_separator=table.optional_text("join_separator") or ";",
        unconfirmed=table.unconfirmed(),
    )
    table.finish()
    for column in layout.dropped:
        if column in aliases:
            table.problem(f"column {column!r} is both mapped and dropped")
    return layout


def _check_item(item: Item, table: _Table) -> None:
    """Check that an item's references name its own fields, with the types they need."""
    fields = {f.name: f for f in item.record_schema}
    names = [f.name for f in item.record_schema]
    for name in sorted({n for n in names if names.count(n) > 1}):
        table.problem(f"duplicate field {name!r}")

    def refers(what: str, name: str, types: Iterable[FieldType] = ()) -> Field | None:
        field = fields.get(name)
        if field is None:
            table.problem(f"{what} {name!r} is not a field of the record")
            return None
        allowed = tuple(types)
        if allowed and field.type not in allowed:
            wanted = " or ".join(t.value for t in allowed)
            table.problem(f"{what} {name!r} must be of type {wanted}, not {field.type.value!r}")
        return field

    for name in item.natural_key:
        refers("natural_key", name)
    refers("subject_field", item.subject_field, (FieldType.USCC,))
    refers("event_date_field", item.event_date_field, (FieldType.DATE, FieldType.PERIOD))
    if item.freshness.months:
        table.problem(f"freshness {item.freshness} must be a fixed length (days or hours), not months")
    if (
        item.delivery_deadline
        and item.delivery_deadline.working_days
        and not (item.delivery_deadline.period.months == 0 and item.delivery_deadline.period.seconds == 0)
    ):
        table.problem("a deadline in working days must be a number of days (PnD)")
    if item.until is not None and item.until <= item.since:
        table.problem(f"until {item.until} must be after since {item.since}")

    for rule in item.rules:
        if rule.rule is RuleKind.DATE_NOT_BEFORE:
            refers(f"rule {rule.rule.value} field", rule.field, (FieldType.DATE,))
            refers(f"rule {rule.rule.value} other", rule.other, (FieldType.DATE,))
            continue
        refers(f"rule {rule.rule.value} field", rule.field)
        other = refers(f"rule {rule.rule.value} other", rule.other)
        if other is not None and rule.values:
            allowed = other.code_list or (("true", "false") if other.type is FieldType.BOOLEAN else ())
            stray = [v for v in rule.values if allowed and v not in allowed]
            if stray:
                table.problem(f"rule {rule.rule.value} values {stray!r} are not values of {rule.other!r}")

    if item.legacy is not None:
        for legacy_name, current in item.legacy.aliases:
            if current not in fields:
                table.problem(f"legacy alias {legacy_name!r} maps to {current!r}, which is not a field")

    if item.department_field is not None:
        refers("department_field", item.department_field)
    if item.department_by_value:
        field = fields.get(item.department_field or "")
        if field is None:
            table.problem("department_by_value needs a department_field")
        for value, department in item.department_by_value:
            if field is not None and value not in field.code_list:
                table.problem(f"department_by_value key {value!r} is not in the code list of {field.name!r}")
            if item.department.members and department.code not in item.department.members:
                table.problem(f"department {department.code!r} is not a member of {item.department.code!r}")
    elif item.department.members:
        table.problem(f"group department {item.department.code!r} needs department_by_value")


def _check_item_codes(items: list[tuple[Item, str]], problems: list[str]) -> None:
    seen: dict[str, str] = {}
    for item, where in items:
        if item.code in seen:
            problems.append(f"{where}: item {item.code!r} is already defined in {seen[item.code]}")
        else:
            seen[item.code] = where


def _check_items_against_versions(items: list[tuple[Item, str]], versions: list[CatalogVersion], problems: list[str]) -> None:
    years = {v.year: v for v in versions}
    if not years:
        return
    for item, where in items:
        at = f"{where}: item {item.code!r}"
        if item.since and item.since not in years:
            problems.append(f"{at}: since {item.since} is not a catalog version ({sorted(years)})")
        if item.until is not None and item.until not in years:
            problems.append(f"{at}: until {item.until} is not a catalog version ({sorted(years)})")
        missing = [
            str(year)
            for year, version in sorted(years.items())
            if item.category and item.exists_in(year) and item.category not in {c.code for c in version.categories}
        ]
        if missing:
            problems.append(f"{at}: category {item.category!r} does not exist in catalog {', '.join(missing)}")


def _items_of(version: CatalogVersion, items: tuple[Item, ...]) -> tuple[Item, ...]:
    order = {category.code: index for index, category in enumerate(version.categories)}
    held = [item for item in items if item.exists_in(version.year)]
    return tuple(sorted(held, key=lambda item: order[item.category]))


# --- rules --------------------------------------------------------------------------------------


def _read_rules(
    root: _Table | None, problems: list[str]
) -> tuple[tuple[Sector, ...], list[PublicationRule], list[tuple[RetentionRule, str | tuple[str, ...]]]]:
    if root is None:
        return (), [], []
    sectors = tuple(Sector(code, name) for code, name in root.mapping("sectors").items())
    publication: list[PublicationRule] = []
    for table in root.tables("publication", "publication rule"):
        if (publication_rule := _read_publication(table, sectors)) is not None:
            publication.append(publication_rule)
    retention: list[tuple[RetentionRule, str | tuple[str, ...]]] = []
    for table in root.tables("retention", "retention rule", required=False):
        applies_to: str | tuple[str, ...]
        if isinstance(table.data.get("applies_to"), list):
            applies_to = table.names("applies_to")
        else:
            applies_to = table.text("applies_to")
            if applies_to and applies_to != "negative":
                table.problem(f"'applies_to' must be \"negative\" or a list of item codes, not {applies_to!r}")
        period = table.period("period")
        rule = RetentionRule(
            code=table.text("code"),
            name_zh=table.text("name_zh"),
            basis=table.text("basis"),
            effective_from=table.day("effective_from"),
            effective_to=table.optional_day("effective_to"),
            period=period or Period(),
            unconfirmed=table.unconfirmed(),
        )
        table.finish()
        if period is not None and not period.is_whole_months:
            table.problem(f"retention period {period} must be whole months or years")
        if rule.effective_to is not None and rule.effective_to < rule.effective_from:
            table.problem("effective_to is before effective_from")
        retention.append((rule, applies_to))
    root.finish()
    codes = [r.code for r in publication] + [r.code for r, _ in retention]
    for code in sorted({c for c in codes if codes.count(c) > 1}):
        problems.append(f"{root.where}: duplicate rule code {code!r}")
    return sectors, publication, retention


def _read_publication(table: _Table, sectors: tuple[Sector, ...]) -> PublicationRule | None:
    before = len(table.problems)
    terms: list[Term] = []
    for entry in table.tables("terms", "term"):
        severity = entry.choice("severity", Severity)
        minimum = entry.period("minimum")
        maximum = entry.period("maximum")
        term_unconfirmed = entry.unconfirmed()
        repairable = entry.flag("repairable", True)
        normally_published = entry.flag("normally_published", True)
        entry.finish()
        if severity is None or minimum is None or maximum is None:
            continue
        if not (minimum.is_whole_months and maximum.is_whole_months):
            entry.problem("publication periods must be whole months or years")
        elif minimum.months > maximum.months:
            entry.problem(f"minimum {minimum} is longer than maximum {maximum}")
        terms.append(Term(severity, minimum, maximum, repairable, normally_published, term_unconfirmed))
    listed = [t.severity for t in terms]
    for severity in Severity:
        if listed.count(severity) != 1:
            table.problem(f"needs exactly one term for severity {severity.value!r}, has {listed.count(severity)}")
    known = {s.code for s in sectors}
    minimums: list[SectorMinimum] = []
    for entry in table.tables("sector_minimums", "sector minimum", required=False):
        named = entry.names("sectors")
        minimum = entry.period("minimum")
        entry.finish()
        for code in named:
            if code not in known:
                entry.problem(f"unknown sector {code!r}")
        if minimum is not None and not minimum.is_whole_months:
            entry.problem("publication periods must be whole months or years")
        if minimum is not None:
            minimums.append(SectorMinimum(named, minimum))
    rule = PublicationRule(
        code=table.text("code"),
        name_zh=table.text("name_zh"),
        document=table.text("document"),
        effective_from=table.day("effective_from"),
        effective_to=table.optional_day("effective_to"),
        items=table.names("items"),
        terms=tuple(terms),
        sector_minimums=tuple(minimums),
        sectors=sectors,
        unconfirmed=table.unconfirmed(),
    )
    table.finish()
    if rule.effective_to is not None and rule.effective_to < rule.effective_from:
        table.problem("effective_to is before effective_from")
    return rule if len(table.problems) == before else None


def _check_publication_rules(rules: list[PublicationRule], items: Mapping[str, Item], problems: list[str]) -> None:
    for rule in rules:
        for code in rule.items:
            if code not in items:
                problems.append(f"{RULES_FILE}: publication rule {rule.code!r} names unknown item {code!r}")
    by_item: dict[str, list[PublicationRule]] = {}
    for rule in rules:
        for code in rule.items:
            by_item.setdefault(code, []).append(rule)
    for code, chain in by_item.items():
        chain.sort(key=lambda r: r.effective_from)
        for earlier, later in itertools.pairwise(chain):
            if earlier.effective_to is None or earlier.effective_to >= later.effective_from:
                problems.append(f"{RULES_FILE}: publication rules {earlier.code!r} and {later.code!r} overlap for item {code!r}")


def _attach_rules(
    item: Item,
    publication: list[PublicationRule],
    retention: list[tuple[RetentionRule, str | tuple[str, ...]]],
) -> Item:
    own_publication = tuple(sorted((r for r in publication if item.code in r.items), key=lambda r: r.effective_from))
    own_retention = tuple(
        sorted(
            (
                rule
                for rule, applies_to in retention
                if (applies_to == "negative" and item.negative) or (isinstance(applies_to, tuple) and item.code in applies_to)
            ),
            key=lambda r: r.effective_from,
        )
    )
    return dataclasses.replace(item, publication_rules=own_publication, retention_rules=own_retention)
