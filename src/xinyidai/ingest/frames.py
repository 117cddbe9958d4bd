"""Column-wise validation and normalisation of delivered rows (Polars): one chunk in, accepted rows and rejects out.

Every step works on whole columns; per-value Python runs only on the few values that are dirty or wrong
(to word a reject reason) and on the distinct decision dates of a chunk (to apply the catalog's
effective-dated rules). The rules themselves are those of ``model.py``; the tests hold the two equal.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl
import polars_hash as plh

from xinyidai.catalog import FieldType, Item, NoRuleInForce, Window, publication_window, retention_end
from xinyidai.ingest import model
from xinyidai.ingest.model import HeaderMatch, Layout, LayoutSpec, RejectCode, SourceFields
from xinyidai.kernel import divisions
from xinyidai.kernel import uscc as uscc_rules
from xinyidai.kernel.pii import mask_id_number, mask_name

LINE = "__line"
_STR = pl.String

# --- per-item plan ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemPlan:
    """What the pipeline needs of one catalog item, computed once."""

    item: Item
    spec: LayoutSpec
    source_fields: SourceFields | None
    personal: tuple[str, ...]
    retention_fields: tuple[str, ...]
    legacy_fills: Mapping[str, tuple[str, ...]]

    @property
    def fields(self) -> tuple[str, ...]:
        """Field names in record order."""
        return self.item.field_names

    @property
    def feeds_registry(self) -> bool:
        """Whether the item's rows also feed the registry of subjects."""
        return self.item.code == model.REGISTRATION_ITEM


@functools.cache
def plan_for(item: Item) -> ItemPlan:
    """The plan of an item (cached: items are immutable)."""
    legacy = item.legacy
    fills = model.LEGACY_FILLS.get(item.code, {})
    spec = LayoutSpec(
        item_code=item.code,
        fields=item.field_names,
        natural_key=item.natural_key,
        legacy_aliases=legacy.aliases if legacy else (),
        legacy_dropped=legacy.dropped if legacy else (),
        legacy_filled=tuple(fills),
    )
    retention_fields = model.RETENTION_END_FIELDS.get(item.code, (item.event_date_field,)) if item.retention_rules else ()
    return ItemPlan(
        item=item,
        spec=spec,
        source_fields=model.SOURCE_FIELDS.get(item.code),
        personal=item.personal_fields,
        retention_fields=retention_fields,
        legacy_fills=fills,
    )


# --- the chunk's context -------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkContext:
    """Everything ``prepare`` needs besides the rows: the layout, the sources, today, the hash pepper."""

    plan: ItemPlan
    match: HeaderMatch
    today: date
    #: Secret prefix of content hashes (derived from the data key), so a hash cannot confirm a guessed value.
    pepper: str
    #: Source code → source id (32 hex) of every source rows may name.
    source_ids: Mapping[str, str]
    #: The source named for the whole file, if any.
    file_source: str | None = None
    file_source_name: str | None = None
    #: A department's own source codes (deliveries over the API); None for the operator's CLI.
    own_codes: frozenset[str] | None = None
    #: Catalog department code → source code, for items whose rows name their department (utilities).
    department_sources: Mapping[str, str] = field(default_factory=dict)
    #: Line → line that supersedes it (same natural key later in the file).
    superseded: Mapping[int, int] = field(default_factory=dict)
    #: Line → (field, reason) refused by the registry for registration rows.
    external_rejects: Mapping[int, tuple[str, str]] = field(default_factory=dict)
    #: The file had invalid UTF-8 bytes (replaced by U+FFFD): values holding one are rejected.
    lossy: bool = False


@dataclass
class Prepared:
    """One chunk after validation: the rows to store, the rejects, and the counts."""

    rows: pl.DataFrame
    rejects: pl.DataFrame
    total: int
    rejected: int
    duplicates: int
    #: Clear normalised field values of the accepted rows, when asked for (registry feed).
    values: pl.DataFrame | None = None
    #: ``rows["pii"]`` already holds ciphertext (encrypted by the worker for an item's first delivery).
    sealed: bool = False
    #: The store's write of ``rows`` as new records, built ahead by the worker (PostgreSQL's COPY body on an
    #: item's first delivery: the writer then only sends it, and the server does not wait for the encoding).
    encoded: memoryview | None = None


REJECT_SCHEMA: Mapping[str, pl.DataType | type[pl.DataType]] = {
    "line": pl.Int64,
    "field": _STR,
    "value": _STR,
    "code": _STR,
    "reason": _STR,
}


# --- reading raw columns into fields ----------------------------------------------------------------


def to_fields(raw: pl.DataFrame, match: HeaderMatch, plan: ItemPlan) -> pl.DataFrame:
    """Raw positional columns (``c0`` … and ``__line``) renamed to the item's fields; columns feeding the
    same field (2016 ``CF_CFLB1``/``CF_CFLB2``) joined with ';', absent fields null."""
    feeding: dict[str, list[str]] = {}
    for position, name in match.columns:
        feeding.setdefault(name, []).append(f"c{position}")
    exprs: list[pl.Expr] = [pl.col(LINE).cast(pl.Int64)]
    separator = plan.item.legacy.join_separator if plan.item.legacy else ";"
    for name in plan.fields:
        sources = feeding.get(name)
        if not sources:
            exprs.append(pl.lit(None, _STR).alias(name))
        elif len(sources) == 1:
            exprs.append(pl.col(sources[0]).cast(_STR).alias(name))
        else:
            joined = pl.concat_str(
                [pl.col(s).cast(_STR).str.strip_chars() for s in sources], separator=separator, ignore_nulls=True
            )
            exprs.append(pl.when(joined == "").then(None).otherwise(joined).alias(name))
    return raw.select(exprs)


# --- normalisation ------------------------------------------------------------------------------------

_TEXT_DIRTY = r"^\s|\s$|\s\s|[^\S ]|[\x00-\x1f\x7f\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]"
_CODE_DIRTY = r"[^\x21-\x7e]"
_CODE_DIRTY_UPPER = r"[^\x21-\x7e]|[a-z]"
_TEXT_FOLD_FROM = list(model.TEXT_FULL_TO_HALF)
_TEXT_FOLD_TO = list(model.TEXT_FULL_TO_HALF.values())
_CODE_FOLD_FROM = list(model.FULL_TO_HALF)
_CODE_FOLD_TO = list(model.FULL_TO_HALF.values())
_CODE_TYPES = frozenset(
    {
        FieldType.USCC,
        FieldType.ID_NUMBER,
        FieldType.DATE,
        FieldType.PERIOD,
        FieldType.DECIMAL_WAN,
        FieldType.INTEGER,
        FieldType.BOOLEAN,
    }
)


def _null_if_empty(s: pl.Series) -> pl.Series:
    return s.set(s == "", None) if (s == "").any() else s


def _patch(s: pl.Series, mask: pl.Series, fixed: pl.Series) -> pl.Series:
    """``s`` with the masked positions replaced by ``fixed`` (computed on those positions only)."""
    return s.scatter(mask.arg_true(), fixed)


def normalise_text_column(s: pl.Series) -> pl.Series:
    """Column form of ``model.normalise_text``: only dirty values are rewritten."""
    s = s.cast(_STR)
    dirty = s.str.contains(_TEXT_DIRTY).fill_null(False)
    if not dirty.any():
        return _null_if_empty(s)
    part = s.filter(dirty)
    fixed = (
        part.str.replace_many(_TEXT_FOLD_FROM, _TEXT_FOLD_TO)
        .str.replace_all(r"[\x00-\x1f\x7f]", " ")
        .str.replace_all(r"[\s\u00a0\u3000]+", " ")
        .str.strip_chars(" ")
    )
    return _null_if_empty(_patch(s, dirty, fixed))


def normalise_code_column(s: pl.Series, *, upper: bool) -> pl.Series:
    """Column form of ``model.normalise_code``."""
    s = s.cast(_STR)
    dirty = s.str.contains(_CODE_DIRTY_UPPER if upper else _CODE_DIRTY).fill_null(False)
    if not dirty.any():
        return _null_if_empty(s)
    part = s.filter(dirty).str.replace_many(_CODE_FOLD_FROM, _CODE_FOLD_TO).str.replace_all(r"[\s\x00-\x1f\x7f]+", "")
    if upper:
        part = part.str.to_uppercase()
    return _null_if_empty(_patch(s, dirty, part))


# --- checks -------------------------------------------------------------------------------------------


@dataclass
class Check:
    """One failed rule over a column: which rows (mask), the machine code and the reason."""

    field: str
    mask: pl.Series
    code: RejectCode
    reason: str | pl.Series


def _failed(original: pl.Series, result: pl.Series) -> pl.Series:
    """Rows with a value that did not survive parsing."""
    return (original.is_not_null() & result.is_null()).fill_null(False)


def canonical_dates(s: pl.Series) -> pl.Series:
    """ISO text of every date in any accepted form (``model.parse_date_text``), null where it is not a date."""
    parsed = s.str.to_date("%Y-%m-%d", strict=False)
    retry = (s.is_not_null() & parsed.is_null()).fill_null(False)
    if retry.any():
        part = (
            s.filter(retry)
            .str.strip_suffix("日")
            .str.replace_all(r"[/.年月]", "-")
            .str.replace(r"^(\d{4})(\d{2})(\d{2})$", "$1-$2-$3")
            .str.replace(r"^(\d{4}-\d{1,2}-\d{1,2})(?:[T ]?\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)$", "$1")
        )
        ok_shape = part.str.contains(r"^\d{4}-\d{1,2}-\d{1,2}$")
        reparsed = part.set(~ok_shape, None).str.to_date("%Y-%m-%d", strict=False)
        parsed = parsed.scatter(retry.arg_true(), reparsed)
    in_range = (parsed >= model.DATE_MIN) & (parsed <= model.DATE_MAX)
    parsed = parsed.set(~in_range.fill_null(True), None) if not in_range.fill_null(True).all() else parsed
    return parsed.dt.to_string("%Y-%m-%d")


def canonical_periods(s: pl.Series) -> pl.Series:
    """``YYYY-MM`` of every month in any accepted form (``model.parse_period_text``), else null."""
    fast = s.str.contains(r"^\d{4}-(0[1-9]|1[0-2])$").fill_null(False)
    result = s.set(~fast, None)
    retry = (s.is_not_null() & ~fast).fill_null(False)
    if retry.any():
        part = s.filter(retry).str.replace_all(r"[/.年月]", "-").str.strip_chars_end("-")
        groups = part.str.extract_groups(r"^(\d{4})-?(\d{1,2})$")
        year = groups.struct.field("1").str.to_integer(strict=False)
        month = groups.struct.field("2").str.to_integer(strict=False)
        good = (month >= 1) & (month <= 12) & (year >= model.DATE_MIN.year) & (year <= model.DATE_MAX.year)
        text = pl.DataFrame({"y": year, "m": month}).select(
            pl.format("{}-{}", pl.col("y").cast(_STR).str.zfill(4), pl.col("m").cast(_STR).str.zfill(2))
        )
        fixed = text.to_series().set(~good.fill_null(False), None)
        result = result.scatter(retry.arg_true(), fixed)
    return result


_DECIMAL_CANONICAL = rf"^(0|[1-9]\d{{0,{model.DECIMAL_INTEGER_DIGITS - 1}}})(\.\d{{0,{model.DECIMAL_PLACES - 1}}}[1-9])?$"


def canonical_decimals(s: pl.Series) -> pl.Series:
    """Canonical 万元 text (``model.canonical_decimal``), else null."""
    fast = s.str.contains(_DECIMAL_CANONICAL).fill_null(False)
    result = s.set(~fast, None)
    retry = (s.is_not_null() & ~fast).fill_null(False)
    if retry.any():
        part = s.filter(retry).str.replace_all(",", "", literal=True)
        groups = part.str.extract_groups(r"^(\d*)(?:\.(\d*))?$")
        whole = groups.struct.field("1").str.strip_chars_start("0")
        fraction = groups.struct.field("2").fill_null("").str.strip_chars_end("0")
        whole = whole.set(whole == "", "0")
        good = (
            groups.struct.field("1").is_not_null()
            & (part != ".")
            & (part != "")
            & (fraction.str.len_bytes() <= model.DECIMAL_PLACES)
            & (whole.str.len_bytes() <= model.DECIMAL_INTEGER_DIGITS)
        ).fill_null(False)
        text = pl.DataFrame({"w": whole, "f": fraction}).select(
            pl.when(pl.col("f") == "").then(pl.col("w")).otherwise(pl.format("{}.{}", pl.col("w"), pl.col("f")))
        )
        result = result.scatter(retry.arg_true(), text.to_series().set(~good, None))
    return result


def canonical_integers(s: pl.Series) -> pl.Series:
    """Canonical non-negative integer text (``model.canonical_integer``), else null."""
    fast = s.str.contains(rf"^(0|[1-9]\d{{0,{model.INTEGER_DIGITS - 1}}})$").fill_null(False)
    result = s.set(~fast, None)
    retry = (s.is_not_null() & ~fast).fill_null(False)
    if retry.any():
        part = s.filter(retry).str.replace_all(",", "", literal=True)
        digits = part.str.contains(r"^\d+$").fill_null(False)
        stripped = part.str.strip_chars_start("0")
        stripped = stripped.set(stripped == "", "0")
        good = digits & (stripped.str.len_bytes() <= model.INTEGER_DIGITS)
        result = result.scatter(retry.arg_true(), stripped.set(~good, None))
    return result


def canonical_booleans(s: pl.Series) -> pl.Series:
    """``true``/``false`` from any spelling of ``model.BOOLEAN_TEXT``, else null."""
    return s.str.to_lowercase().replace_strict(dict(model.BOOLEAN_TEXT), default=None, return_dtype=_STR)


_USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_ORG_WEIGHTS = np.array((3, 7, 9, 10, 5, 8, 4, 2), dtype=np.int64)
#: The 18 characters of a well-formed code: digits and upper-case letters but I, O, S, V, Z.
_USCC_SHAPE = r"^[0-9A-HJ-NP-RTUWXY]{18}$"


def _byte_table(values: Mapping[str, int]) -> np.ndarray:
    table = np.full(256, -1, dtype=np.int64)
    for char, value in values.items():
        table[ord(char)] = value
    return table


#: Byte → position in the USCC alphabet (the check character's arithmetic) and → base-36 value (the
#: organisation code's, GB 11714), as lookup tables: the checks become array arithmetic over a chunk.
_ALPHABET_INDEX = _byte_table({c: i for i, c in enumerate(uscc_rules.ALPHABET)})
_BASE36 = _byte_table({c: int(c, 36) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"})


@functools.cache
def _known_provinces() -> frozenset[str]:
    return frozenset(code[:2] for code in divisions.full_names() if code.endswith("0000"))


_KINDS = frozenset(a + t for a, types in uscc_rules.ORG_TYPES.items() for t in types)


def _uscc_checks(codes: list[str]) -> np.ndarray:
    """Both check characters of well-formed codes (18 alphabet characters each), as one array operation."""
    grid = np.frombuffer("".join(codes).encode("ascii"), dtype=np.uint8).reshape(-1, 18)
    index = _ALPHABET_INDEX[grid]
    check_ok = (31 - (index[:, :17] @ _USCC_WEIGHTS) % 31) % 31 == index[:, 17]
    base36 = _BASE36[grid]
    org = 11 - (base36[:, 8:16] @ _ORG_WEIGHTS) % 11
    expected = np.where(org == 10, 33, np.where(org == 11, 0, org))
    result: np.ndarray = check_ok & (expected == base36[:, 16])
    return result


def uscc_valid(codes: pl.Series) -> pl.Series:
    """Strict GB 32100-2015 validity of normalised codes, column-wise (equal to ``kernel.uscc.validate``):
    shape by one regex, the two check characters by lookup tables and array arithmetic (numpy), the kind
    and the province by set membership. Null stays null."""
    s = codes.cast(_STR)
    shaped = s.str.contains(_USCC_SHAPE).fill_null(False)
    verdict = pl.Series(s.name, [False] * len(s), dtype=pl.Boolean)
    if shaped.any():
        part = s.filter(shaped)
        checks = pl.Series(_uscc_checks(part.to_list()), dtype=pl.Boolean)
        region = part.str.slice(2, 6)
        ok = (
            checks
            & region.str.contains(r"^\d{6}$")
            & region.str.slice(0, 2).is_in(sorted(_known_provinces()))
            & part.str.slice(0, 2).is_in(sorted(_KINDS))
        )
        verdict = verdict.scatter(shaped.arg_true(), ok)
    return verdict.set(s.is_null(), None) if s.null_count() else verdict


def uscc_reason(code: str) -> str:
    """The reject reason of an invalid code, in the kernel's words."""
    errors = uscc_rules.validate(code).errors
    return "统一社会信用代码无效：" + "；".join(e.split(": ", 1)[-1] for e in errors)


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def resident_ids_ok(ids: pl.Series) -> pl.Series:
    """Column form of ``model.resident_id_ok``: False only for an 18-character resident ID with a wrong check."""
    frame = pl.DataFrame({"c": ids.cast(_STR)})
    shaped = pl.col("c").str.contains(r"^\d{17}[\dX]$")
    total = sum(
        (pl.col("c").str.slice(i, 1).str.to_integer(strict=False).cast(pl.Int64) * w for i, w in enumerate(_ID_WEIGHTS)),
        pl.lit(0, pl.Int64),
    )
    expected = (total % 11).replace_strict(dict(enumerate(_ID_CHECK)), default=None, return_dtype=_STR)
    ok = pl.when(shaped).then(expected == pl.col("c").str.slice(17, 1)).otherwise(True)
    return frame.select(pl.when(pl.col("c").is_null()).then(None).otherwise(ok)).to_series()


def _by_unique(values: pl.Series, test: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """Apply a column test to the distinct values only and join the verdicts back: authority and source
    codes repeat across rows, subjects mostly do not (then the test runs on the column itself)."""
    uniques = values.drop_nulls().unique()
    if uniques.is_empty():
        return pl.Series(values.name, [None] * len(values), dtype=pl.Boolean)
    if len(uniques) * 2 > len(values):
        return test(values)
    verdicts = pl.DataFrame({"v": uniques, "ok": test(uniques)})
    return pl.DataFrame({"v": values}).join(verdicts, on="v", how="left", maintain_order="left")["ok"]


def _mask_ids(s: pl.Series) -> pl.Series:
    """Column form of ``kernel.pii.mask_id_number``."""
    frame = pl.DataFrame({"v": s.cast(_STR)})
    n = pl.col("v").str.len_chars()
    head = pl.when(n >= 15).then(6).otherwise(2)
    stars = pl.lit("*" * 64).str.slice(0, (n - head - 4).clip(0, 64))
    masked = pl.concat_str([pl.col("v").str.slice(0, head), stars, pl.col("v").str.slice(-4, 4)])
    short = pl.lit("*" * 64).str.slice(0, n.clip(0, 64))
    return frame.select(pl.when(pl.col("v").is_null()).then(None).when(n <= 8).then(short).otherwise(masked)).to_series()


def _mask_names(s: pl.Series) -> pl.Series:
    """Column form of ``kernel.pii.mask_name``."""
    frame = pl.DataFrame({"v": s.cast(_STR)})
    n = pl.col("v").str.len_chars()
    masked = pl.concat_str([pl.col("v").str.slice(0, 1), pl.lit("*" * 64).str.slice(0, (n - 1).clip(0, 64))])
    return frame.select(pl.when(pl.col("v").is_null()).then(None).otherwise(masked)).to_series()


def mask_column(s: pl.Series, ftype: FieldType) -> pl.Series:
    """Personal values as shown: ID numbers and names masked like ``kernel.pii``."""
    return _mask_ids(s) if ftype is FieldType.ID_NUMBER else _mask_names(s)


def mask_value(value: str | None, ftype: FieldType) -> str | None:
    """One personal value masked (for reject reports)."""
    if value is None:
        return None
    return mask_id_number(value) if ftype is FieldType.ID_NUMBER else mask_name(value.strip())


# --- validation of one chunk ---------------------------------------------------------------------------


def normalise_and_check(frame: pl.DataFrame, plan: ItemPlan) -> tuple[pl.DataFrame, list[Check]]:
    """Normalise every field to its canonical text and collect the failed checks of the catalog schema."""
    checks: list[Check] = []
    columns: dict[str, pl.Series] = {}
    for spec in plan.item.record_schema:
        raw = frame[spec.name]
        if spec.type in _CODE_TYPES:
            s = normalise_code_column(raw, upper=spec.type in (FieldType.USCC, FieldType.ID_NUMBER))
        else:
            s = normalise_text_column(raw)
        if spec.type is FieldType.DATE:
            parsed = canonical_dates(s)
            checks.append(Check(spec.name, _failed(s, parsed), RejectCode.DATE, "日期无法识别或不在1900-2099年之间"))
            s = parsed
        elif spec.type is FieldType.PERIOD:
            parsed = canonical_periods(s)
            checks.append(Check(spec.name, _failed(s, parsed), RejectCode.PERIOD, "所属期应为年月，如 2024-03"))
            s = parsed
        elif spec.type is FieldType.DECIMAL_WAN:
            parsed = canonical_decimals(s)
            reason = "金额（万元）应为非负数，最多6位小数、14位整数"
            checks.append(Check(spec.name, _failed(s, parsed), RejectCode.DECIMAL, reason))
            s = parsed
        elif spec.type is FieldType.INTEGER:
            parsed = canonical_integers(s)
            checks.append(Check(spec.name, _failed(s, parsed), RejectCode.INTEGER, "应为非负整数"))
            s = parsed
        elif spec.type is FieldType.BOOLEAN:
            parsed = canonical_booleans(s)
            checks.append(Check(spec.name, _failed(s, parsed), RejectCode.BOOLEAN, "应为是/否（true/false）"))
            s = parsed
        elif spec.type is FieldType.CODE and spec.code_list:
            before = s
            exact = s.is_in(list(spec.code_list)).fill_null(False)
            if not (exact | s.is_null()).all():
                folded = {c.casefold(): c for c in spec.code_list}
                mapped = s.str.to_lowercase().replace_strict(folded, default=None, return_dtype=_STR)
                s = pl.DataFrame({"s": s, "m": mapped, "e": exact}).select(pl.when("e").then("s").otherwise("m")).to_series()
            reason = "不在代码表中（" + "/".join(spec.code_list) + "）"
            checks.append(Check(spec.name, _failed(before, s), RejectCode.CODE_LIST, reason))
        elif spec.type is FieldType.USCC:
            bad = (~_by_unique(s, uscc_valid)).fill_null(False)
            if bad.any():
                reasons = {code: uscc_reason(code) for code in s.filter(bad).unique().to_list()}
                reason_col = s.replace_strict(reasons, default="", return_dtype=_STR)
                checks.append(Check(spec.name, bad, RejectCode.USCC, reason_col))
        elif spec.type is FieldType.ID_NUMBER:
            bad_id = (~_by_unique(s, resident_ids_ok)).fill_null(False)
            checks.append(Check(spec.name, bad_id, RejectCode.ID_NUMBER, "居民身份证号码校验位错误"))
        if spec.max_length is not None and spec.type not in (FieldType.DATE, FieldType.PERIOD, FieldType.BOOLEAN):
            long_bytes = (s.str.len_bytes() > spec.max_length).fill_null(False)
            if long_bytes.any():
                too_long = long_bytes & (s.str.len_chars() > spec.max_length).fill_null(False)
                checks.append(Check(spec.name, too_long, RejectCode.MAX_LENGTH, f"超过最大长度 {spec.max_length} 个字符"))
        columns[spec.name] = s.alias(spec.name)
    out = pl.DataFrame([frame[LINE], *columns.values()])
    return out, checks


def apply_legacy_fills(frame: pl.DataFrame, ctx: ChunkContext) -> pl.DataFrame:
    """Fill the current fields a 2016 file lacks: from the file's source, other fields, or inference."""
    if ctx.match.layout is not Layout.LEGACY_2016 or not ctx.plan.legacy_fills:
        return frame
    updates: list[pl.Expr] = []
    uscc_field = ctx.plan.item.subject_field
    person_field = next((f for f in ctx.plan.personal if f.endswith("XDR_ZJHM")), None)
    for name, recipe in ctx.plan.legacy_fills.items():
        exprs: list[pl.Expr] = []
        for step in recipe:
            if step == "@source.code":
                exprs.append(pl.lit(ctx.file_source, _STR))
            elif step == "@source.name":
                exprs.append(pl.lit(ctx.file_source_name, _STR))
            elif step == "@subject_kind":
                person = pl.col(person_field) if person_field else pl.lit(None, _STR)
                exprs.append(
                    pl.when(pl.col(uscc_field).str.starts_with("92"))
                    .then(pl.lit(model.SUBJECT_KIND_SOLE_TRADER))
                    .when(pl.col(uscc_field).is_not_null())
                    .then(pl.lit(model.SUBJECT_KIND_BUSINESS))
                    .when(person.is_not_null())
                    .then(pl.lit(model.SUBJECT_KIND_PERSON))
                    .otherwise(None)
                )
            else:
                exprs.append(pl.col(step))
        updates.append(pl.coalesce([pl.col(name), *exprs]).alias(name))
    return frame.with_columns(updates)


def cross_field_checks(frame: pl.DataFrame, plan: ItemPlan) -> list[Check]:
    """The item's cross-field rules (``date_not_before``, ``required_if``, ``required_with``)."""
    checks: list[Check] = []
    labels = {f.name: f.label_zh for f in plan.item.record_schema}
    for rule in plan.item.rules:
        target, other = frame[rule.field], frame[rule.other]
        if rule.rule.value == "date_not_before":
            mask = (target.is_not_null() & other.is_not_null() & (target < other)).fill_null(False)
            reason = f"{labels[rule.field]}早于{labels[rule.other]}"
        elif rule.rule.value == "required_if":
            mask = (target.is_null() & other.is_in(list(rule.values))).fill_null(False)
            reason = f"{labels[rule.other]}为“{'/'.join(rule.values)}”时必填"
        else:
            mask = (target.is_null() & other.is_not_null()).fill_null(False)
            reason = f"填写了{labels[rule.other]}时必填"
        checks.append(Check(rule.field, mask, RejectCode.CROSS_FIELD, reason))
    return checks


def required_checks(frame: pl.DataFrame, plan: ItemPlan, already: list[Check]) -> list[Check]:
    """Required fields that are empty (and not already reported as malformed)."""
    failed_by_field: dict[str, pl.Series] = {}
    for check in already:
        failed_by_field[check.field] = failed_by_field.get(check.field, check.mask) | check.mask
    out: list[Check] = []
    for spec in plan.item.record_schema:
        if spec.required:
            mask = frame[spec.name].is_null()
            if spec.name in failed_by_field:
                mask = mask & ~failed_by_field[spec.name]
            out.append(Check(spec.name, mask, RejectCode.REQUIRED, "必填字段为空"))
    return out


# --- derived columns --------------------------------------------------------------------------------


_VARIANT = {f"{v:x}": f"{8 + (v & 3):x}" for v in range(16)}


def record_ids(frame: pl.DataFrame, item_code: str, key_fields: Sequence[str]) -> pl.Series:
    """Column form of ``model.record_id`` (32 hex digits, as SQLite stores UUIDs)."""
    key = pl.concat_str([pl.lit(item_code), *[pl.col(k).fill_null("") for k in key_fields]], separator=model.KEY_SEPARATOR)
    digest = plh.col("__key").chash.sha2_256()
    return (
        frame.select(key.alias("__key"))
        .select(digest.alias("h"))
        .select(
            pl.concat_str(
                [
                    pl.col("h").str.slice(0, 12),
                    pl.lit("8"),
                    pl.col("h").str.slice(13, 3),
                    pl.col("h").str.slice(16, 1).replace_strict(_VARIANT, return_dtype=_STR),
                    pl.col("h").str.slice(17, 15),
                ]
            ).alias("id")
        )
        .to_series()
    )


def json_objects(frame: pl.DataFrame, names: Sequence[str]) -> pl.Series:
    """One JSON object of the non-empty text fields per row (null if all are empty), built column-wise.

    Canonical values hold no control characters (normalisation removed them), so escaping the backslash
    and the quote is all JSON needs; leaving empty fields out keeps stored rows about a fifth smaller.
    """
    # Escape only the columns that hold a quote or a backslash somewhere in the chunk (most hold neither).
    needs = frame.select([pl.col(n).str.contains(r'["\\]').any().alias(n) for n in names]).row(0) if frame.height else ()
    parts = []
    for name, escape in zip(names, needs or [False] * len(names), strict=True):
        value = pl.col(name)
        if escape:
            value = value.str.replace_all("\\", "\\\\", literal=True).str.replace_all('"', '\\"', literal=True)
        parts.append(pl.concat_str([pl.lit(json.dumps(name) + ':"'), value, pl.lit('"')]))
    body = pl.concat_str(parts, separator=",", ignore_nulls=True)
    present = pl.any_horizontal([pl.col(n).is_not_null() for n in names])
    return frame.select(pl.when(present).then(pl.concat_str([pl.lit("{"), body, pl.lit("}")])).alias("json")).to_series()


def content_hashes(frame: pl.DataFrame, fields: Sequence[str], pepper: str) -> pl.Series:
    """SHA-256 of the pepper and the canonical values of every field (U+001F between, empty for null)."""
    text = pl.concat_str([pl.lit(pepper + "\x1e"), pl.concat_str([pl.col(f).fill_null("") for f in fields], separator="\x1f")])
    return frame.select(text.alias("__row")).select(plh.col("__row").chash.sha2_256().alias("content_hash")).to_series()


@dataclass(frozen=True)
class PublicationTerms:
    """The publication outcome of one decision: severity, rule, and when publication may and must stop."""

    severity: str | None
    rule: str | None
    min_end: date | None
    end: date | None


_TERMS_CACHE: dict[tuple[str, date, str | None, tuple[str, ...]], PublicationTerms] = {}
_TERMS_CACHE_LIMIT = 200_000


def cached_publication_terms(item: Item, decision: date, types_text: str | None, sectors: tuple[str, ...]) -> PublicationTerms:
    """``publication_terms`` memoised by item code and inputs: decision dates repeat across chunks and files.

    The catalog is read once per process (``load_catalog``), so its rules cannot change under the cache.
    """
    key = (item.code, decision, types_text, sectors)
    found = _TERMS_CACHE.get(key)
    if found is None:
        if len(_TERMS_CACHE) >= _TERMS_CACHE_LIMIT:
            _TERMS_CACHE.clear()
        found = _TERMS_CACHE[key] = publication_terms(item, decision, types_text, sectors)
    return found


def publication_terms(item: Item, decision: date, types_text: str | None, sectors: tuple[str, ...]) -> PublicationTerms:
    """Apply the rule in force on the decision date to each penalty type of the decision; the longest window
    wins. Information a rule says is normally not published, or that no rule covers, is not published
    (its publication ends the day before the decision)."""
    severities = model.penalty_severities(types_text, sectors)
    gravest = model.gravest(severities).value
    try:
        windows: list[Window] = [
            publication_window(item, decision_date=decision, severity=s.value, sectors=sectors) for s in severities
        ]
    except NoRuleInForce:
        return PublicationTerms(gravest, None, None, decision - timedelta(days=1))
    longest = max(windows, key=lambda w: (w.max_end, w.min_end))
    published = any(w.normally_published for w in windows)
    end = longest.max_end if published else decision - timedelta(days=1)
    return PublicationTerms(gravest, longest.rule, max(w.min_end for w in windows), end)


_SECTOR_CODES = tuple(code for code, _ in model.SECTOR_KEYWORDS)
_TERMS_SCHEMA = {
    "__decision": pl.Date,
    "__types": _STR,
    "__sectors": pl.Int64,
    "severity": _STR,
    "publication_rule": _STR,
    "publication_min_end": pl.Date,
    "publication_end": pl.Date,
}
_TERMS_KEY = ["__decision", "__types", "__sectors"]
#: Per process, by item code: every (decision date, penalty types, sector bits) seen so far with its terms, and
#: by legal-basis columns: every distinct basis text seen with its sector bits. A chunk computes only the keys
#: the tables lack (a file repeats its decision dates, types and bases from chunk to chunk) and joins the rest.
#: Tables are replaced, never changed in place, so a concurrent batch reads a whole one; past
#: ``_TERMS_CACHE_LIMIT`` rows a table starts again from the keys of the chunk at hand.
_TERMS_TABLES: dict[str, pl.DataFrame] = {}
_SECTOR_TABLES: dict[tuple[str, ...], pl.DataFrame] = {}


def _memo_table(
    tables: dict[Any, pl.DataFrame],
    name: Any,
    keys: pl.DataFrame,
    compute: Callable[[pl.DataFrame], pl.DataFrame],
) -> pl.DataFrame:
    """The memo table ``tables[name]`` completed with the distinct ``keys`` it lacks (``compute`` gives their
    rows: the key columns, then the values)."""
    on = keys.columns
    distinct = keys.unique()
    known = tables.get(name)
    if known is not None and known.height + distinct.height > _TERMS_CACHE_LIMIT:
        known = None
    if known is None:
        known = tables[name] = compute(distinct)
        return known
    missing = distinct.join(known, on=on, how="anti", nulls_equal=True)
    if missing.height:
        known = tables[name] = pl.concat([known, compute(missing)])
    return known


def _sector_rows(pairs: pl.DataFrame) -> pl.DataFrame:
    """The sector bits (bit i: ``_SECTOR_CODES[i]``) of distinct legal-basis texts."""
    bits = [
        sum(1 << i for i, code in enumerate(_SECTOR_CODES) if code in model.penalty_sectors(*row)) for row in pairs.iter_rows()
    ]
    return pairs.with_columns(pl.Series("__sectors", bits, dtype=pl.Int64))


def _terms_rows(item: Item, distinct: pl.DataFrame) -> pl.DataFrame:
    """The publication terms of distinct (decision date, penalty types, sector bits)."""
    rows: list[tuple[Any, ...]] = []
    for decision, types, bits in distinct.iter_rows():
        if decision is None:
            rows.append((decision, types, bits, None, None, None, None))
            continue
        named = tuple(code for i, code in enumerate(_SECTOR_CODES) if bits & (1 << i))
        terms = cached_publication_terms(item, decision, types, named)
        rows.append((decision, types, bits, terms.severity, terms.rule, terms.min_end, terms.end))
    return pl.DataFrame(rows, schema=_TERMS_SCHEMA, orient="row")


def _publication_columns(frame: pl.DataFrame, plan: ItemPlan) -> pl.DataFrame:
    """severity, publication_rule, publication_min_end, publication_end for every row (penalties only)."""
    item = plan.item
    n = frame.height
    if not item.publication_rules or n == 0:
        return pl.DataFrame(
            {
                "severity": pl.Series([None] * n, dtype=_STR),
                "publication_rule": pl.Series([None] * n, dtype=_STR),
                "publication_min_end": pl.Series([None] * n, dtype=pl.Date),
                "publication_end": pl.Series([None] * n, dtype=pl.Date),
            }
        )
    basis = [c for c in ("CF_YJ", "CF_WFXW") if c in frame.columns]
    types_field = "CF_CFLB" if "CF_CFLB" in frame.columns else None
    # Sectors come from a few hundred distinct legal bases: keywords are matched once per distinct text.
    texts = frame.select([pl.col(c).fill_null("") for c in basis]) if basis else pl.DataFrame({"__none": [""] * n})
    sector_table = _memo_table(_SECTOR_TABLES, tuple(texts.columns), texts, _sector_rows)
    sectors = texts.join(sector_table, on=texts.columns, how="left", maintain_order="left")["__sectors"]
    keys = frame.select(
        pl.col(item.event_date_field).str.to_date("%Y-%m-%d", strict=False).alias("__decision"),
        (pl.col(types_field) if types_field else pl.lit(None, _STR)).alias("__types"),
    ).with_columns(sectors)
    table = _memo_table(_TERMS_TABLES, item.code, keys, lambda distinct: _terms_rows(item, distinct))
    joined = keys.join(table, on=_TERMS_KEY, how="left", nulls_equal=True, maintain_order="left")
    return joined.select("severity", "publication_rule", "publication_min_end", "publication_end")


_RETENTION_CACHE: dict[tuple[str, date], date | None] = {}


def cached_retention_end(item: Item, event_end: date) -> date | None:
    """``catalog.retention_end`` memoised by item code and day (None: no rule in force, kept): the same few
    thousand days recur in every chunk. The catalog is read once per process, so the cache cannot go stale."""
    key = (item.code, event_end)
    if key in _RETENTION_CACHE:
        return _RETENTION_CACHE[key]
    if len(_RETENTION_CACHE) >= _TERMS_CACHE_LIMIT:
        _RETENTION_CACHE.clear()
    try:
        found: date | None = retention_end(item, event_end=event_end)
    except NoRuleInForce:
        found = None
    _RETENTION_CACHE[key] = found
    return found


def _retention_column(frame: pl.DataFrame, plan: ItemPlan) -> pl.Series:
    """The retention end of every row: the rule in force when the conduct ended (null: kept)."""
    n = frame.height
    if not plan.retention_fields or n == 0:
        return pl.Series("retention_end", [None] * n, dtype=pl.Date)
    ends = frame.select(pl.coalesce([pl.col(f) for f in plan.retention_fields]).str.to_date("%Y-%m-%d", strict=False)).to_series()
    mapping = {day: cached_retention_end(plan.item, day) for day in ends.drop_nulls().unique().to_list()}
    if not mapping:
        return pl.Series("retention_end", [None] * n, dtype=pl.Date)
    return ends.replace_strict(mapping, default=None, return_dtype=pl.Date).alias("retention_end")


def _event_dates(frame: pl.DataFrame, plan: ItemPlan) -> pl.Series:
    name = plan.item.event_date_field
    values = frame[name]
    if plan.item.field(name).type is FieldType.PERIOD:
        values = values + "-01"
    return values.str.to_date("%Y-%m-%d", strict=False).alias("event_date")


def _source_codes(frame: pl.DataFrame, ctx: ChunkContext) -> tuple[pl.Series, list[Check]]:
    """Each row's source code, and the rows whose source the caller may not deliver."""
    plan = ctx.plan
    n = frame.height
    checks: list[Check] = []
    if plan.source_fields is not None:
        codes = frame[plan.source_fields.code]
        if ctx.file_source is not None:
            mismatch = (codes.is_not_null() & (codes != ctx.file_source)).fill_null(False)
            checks.append(
                Check(
                    plan.source_fields.code,
                    mismatch,
                    RejectCode.SOURCE_MISMATCH,
                    f"数据来源单位代码与报送来源 {ctx.file_source} 不符",
                )
            )
    elif plan.item.department_by_value and plan.item.department_field:
        by_value = {value: ctx.department_sources.get(dept.code) for value, dept in plan.item.department_by_value}
        codes = frame[plan.item.department_field].replace_strict(by_value, default=None, return_dtype=_STR)
    else:
        codes = pl.Series([ctx.file_source] * n, dtype=_STR)
    codes = codes.alias("source_code")
    where = plan.source_fields.code if plan.source_fields else (plan.item.department_field or "")
    present = codes.is_not_null()
    if ctx.own_codes is not None:
        forbidden = (present & ~codes.is_in(sorted(ctx.own_codes))).fill_null(False)
        checks.append(Check(where, forbidden, RejectCode.SOURCE_FORBIDDEN, "无权报送该数据来源单位的数据"))
    else:
        unknown = (present & ~codes.is_in(sorted(ctx.source_ids))).fill_null(False)
        checks.append(Check(where, unknown, RejectCode.SOURCE_UNKNOWN, "数据来源单位未登记"))
    if plan.source_fields is None:
        missing = (~present).fill_null(True)
        checks.append(Check(where, missing, RejectCode.SOURCE_UNKNOWN, "无法确定该行的数据来源单位"))
    return codes, checks


def _rejects(frame: pl.DataFrame, raw: pl.DataFrame, checks: list[Check], plan: ItemPlan) -> pl.DataFrame:
    parts: list[pl.DataFrame] = []
    types = {f.name: f.type for f in plan.item.record_schema}
    personal = set(plan.personal)
    for check in checks:
        if not check.mask.any():
            continue
        lines = frame[LINE].filter(check.mask)
        if check.field in raw.columns:
            values = raw[check.field].filter(check.mask).cast(_STR)
            if check.field in personal:
                values = pl.Series([mask_value(v, types[check.field]) for v in values.to_list()], dtype=_STR)
        else:
            values = pl.Series([None] * len(lines), dtype=_STR)
        reasons = (
            check.reason.filter(check.mask)
            if isinstance(check.reason, pl.Series)
            else pl.Series([check.reason] * len(lines), dtype=_STR)
        )
        parts.append(
            pl.DataFrame(
                {
                    "line": lines,
                    "field": pl.Series([check.field] * len(lines), dtype=_STR),
                    "value": values.str.slice(0, 500),
                    "code": pl.Series([check.code.value] * len(lines), dtype=_STR),
                    "reason": reasons.cast(_STR),
                }
            )
        )
    if not parts:
        return pl.DataFrame(schema=REJECT_SCHEMA)
    return pl.concat(parts).sort("line", maintain_order=True)


def prepare(raw: pl.DataFrame, ctx: ChunkContext, *, keep_values: bool = False) -> Prepared:
    """Validate and normalise one chunk of a file (raw positional columns) against the catalog item.

    Returns the rows to store (id, subject, content hash, data with personal fields masked, personal
    fields in clear as JSON to encrypt, event date, publication and retention ends, source) and every
    reject with line, field, value and reason. A row is stored only if it passes every check.
    """
    plan = ctx.plan
    fields = to_fields(raw, ctx.match, plan)
    canonical, checks = normalise_and_check(fields, plan)
    canonical = apply_legacy_fills(canonical, ctx)
    checks = checks + cross_field_checks(canonical, plan)
    checks = checks + required_checks(canonical, plan, checks)
    source_codes, source_checks = _source_codes(canonical, ctx)
    checks.extend(source_checks)
    if "__malformed" in raw.columns and raw["__malformed"].any():
        # A line that is not a record at all is reported once, not once per empty field.
        broken_line = raw["__malformed"].fill_null(False)
        for check in checks:
            check.mask = check.mask & ~broken_line
        checks.append(Check("", broken_line, RejectCode.MALFORMED, "该行不是有效的 JSON 对象"))
    if ctx.lossy:
        for name in plan.fields:
            broken = fields[name].str.contains("\ufffd", literal=True).fill_null(False)
            checks.append(Check(name, broken, RejectCode.ENCODING, "含有无法识别的字符（文件编码错误）"))

    retention = _retention_column(canonical, plan)
    expired = (retention < ctx.today).fill_null(False)
    checks.append(
        Check(
            plan.retention_fields[0] if plan.retention_fields else "",
            expired,
            RejectCode.RETENTION_EXPIRED,
            "已超过保存期限，不予归集",
        )
    )

    lines = canonical[LINE]
    if ctx.external_rejects:
        ext = dict(ctx.external_rejects)
        hit = lines.is_in(list(ext))
        if hit.any():
            for name in {f for f, _ in ext.values()}:
                wanted = [line for line, (f, _) in ext.items() if f == name]
                mask = lines.is_in(wanted)
                reasons = lines.replace_strict(
                    {line: r for line, (f, r) in ext.items() if f == name}, default="", return_dtype=_STR
                )
                checks.append(Check(name, mask, RejectCode.REGISTRY, reasons))
    superseded = lines.is_in(list(ctx.superseded)) if ctx.superseded else pl.Series([False] * len(lines))
    if superseded.any():
        later = lines.replace_strict(dict(ctx.superseded), default=0, return_dtype=pl.Int64)
        reason = pl.format("同一文件中自然键重复，以第 {} 行为准", later)
        reason_col = pl.DataFrame({"l": later}).select(reason.alias("r")).to_series()
        key_field = plan.item.natural_key[0]
        checks.append(Check(key_field, superseded, RejectCode.DUPLICATE, reason_col))

    failed = pl.Series([False] * len(lines))
    for check in checks:
        failed = failed | check.mask
    rejects = _rejects(canonical, fields, checks, plan)
    ok = ~failed
    good = canonical.filter(ok)

    personal_types = {f.name: f.type for f in plan.item.record_schema if f.personal}
    shown = good.with_columns([mask_column(good[name], ftype).alias(name) for name, ftype in personal_types.items()])
    data = json_objects(shown, plan.fields).alias("data")
    if personal_types:
        pii = json_objects(good, list(personal_types)).alias("pii")
    else:
        pii = pl.Series("pii", [None] * good.height, dtype=_STR)
    publication = _publication_columns(good, plan)
    source_good = source_codes.filter(ok)
    rows = pl.DataFrame(
        [
            good[LINE],
            record_ids(good, plan.item.code, plan.item.natural_key).alias("id"),
            good[plan.item.subject_field].alias("subject_uscc"),
            content_hashes(good, plan.fields, ctx.pepper),
            data,
            pii,
            _event_dates(good, plan),
            *publication.get_columns(),
            retention.filter(ok),
            source_good.replace_strict(dict(ctx.source_ids), default=None, return_dtype=_STR).alias("source_id"),
        ]
    )
    return Prepared(
        rows=rows,
        rejects=rejects,
        total=len(lines),
        rejected=int(failed.sum()),
        duplicates=int(superseded.sum()),
        values=good if keep_values else None,
    )


def keys_of(raw: pl.DataFrame, match: HeaderMatch, ctx: ChunkContext) -> pl.DataFrame:
    """Line and record id (as two 64-bit halves) of every row whose natural key is complete: the in-file
    dedupe index, 20 bytes a row."""
    plan = ctx.plan
    fields = to_fields(raw, match, plan)
    columns: dict[str, pl.Series] = {LINE: fields[LINE]}
    legacy = match.layout is Layout.LEGACY_2016
    for name in plan.item.natural_key:
        spec = plan.item.field(name)
        s = fields[name]
        if legacy and "@source.code" in plan.legacy_fills.get(name, ()):
            s = s.fill_null(ctx.file_source) if ctx.file_source is not None else s
        if spec.type in _CODE_TYPES:
            s = normalise_code_column(s, upper=spec.type in (FieldType.USCC, FieldType.ID_NUMBER))
        else:
            s = normalise_text_column(s)
        if spec.type is FieldType.DATE:
            s = canonical_dates(s)
        elif spec.type is FieldType.PERIOD:
            s = canonical_periods(s)
        elif spec.type is FieldType.INTEGER:
            s = canonical_integers(s)
        elif spec.type is FieldType.DECIMAL_WAN:
            s = canonical_decimals(s)
        columns[name] = s.alias(name)
    frame = pl.DataFrame(list(columns.values()))
    complete = pl.all_horizontal([pl.col(k).is_not_null() for k in plan.item.natural_key])
    frame = frame.filter(complete)
    ids = record_ids(frame, plan.item.code, plan.item.natural_key)
    return pl.DataFrame(
        {
            "line": frame[LINE],
            "hi": ids.str.slice(0, 16).str.to_integer(base=16, dtype=pl.UInt64),
            "lo": ids.str.slice(16, 16).str.to_integer(base=16, dtype=pl.UInt64),
        }
    )


def superseded_lines(index: pl.DataFrame) -> dict[int, int]:
    """Line → the last line with the same record id, for every line a later one supersedes."""
    if index.is_empty():
        return {}
    dupes = index.filter(pl.len().over("hi", "lo") > 1)
    if dupes.is_empty():
        return {}
    last = dupes.with_columns(pl.col("line").max().over("hi", "lo").alias("last")).filter(pl.col("line") != pl.col("last"))
    return dict(zip(last["line"].to_list(), last["last"].to_list(), strict=True))
