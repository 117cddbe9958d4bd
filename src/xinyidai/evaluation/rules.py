"""Rule-based public credit comprehensive evaluation (GB/T 45255 style): base score, bonuses, deductions, grades.

A ``RuleTable`` is data: a base score, score bounds, grade bands and rules. Each rule names one indicator
and the catalog item behind it, a condition on the indicator's value and the points it adds (bonus, > 0) or
takes away (deduction, < 0) — optionally per unit of the value, capped — and may cap the grade (一票否决).
Scoring is vectorised with numpy and pyarrow compute over the whole indicator table; ``explain`` runs the
very same code on one row and says which rules hit, with the records behind each hit.

The default table is ``data/rules_default.toml``. Its thresholds and points are ours, set for the synthetic
data: they are NOT taken from the text of GB/T 45255, which we have not been able to check.
"""

from __future__ import annotations

import itertools
import math
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from xinyidai.evaluation.indicators import BY_CODE, IndicatorKind
from xinyidai.kernel.errors import InvalidInput

#: Grades from best to worst.
GRADES: Final[tuple[str, ...]] = ("A", "B", "C", "D")
#: Comparison operators a rule may use; ``missing``/``present`` test for a null value.
#: What a rule code may be made of (codes are stored in the compact reasons, ``kernel.REASON_SEP``).
_CODE: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
OPERATORS: Final = frozenset({"eq", "ne", "gt", "ge", "lt", "le", "in", "missing", "present"})


class RuleTableInvalid(InvalidInput):
    """A rule table that cannot be used: unknown indicator, operator or grade, or inconsistent bands."""

    code = "evaluation_rules_invalid"
    title = "评价规则表无效"


@dataclass(frozen=True, slots=True)
class Rule:
    """One bonus or deduction: when ``indicator op value`` holds, add ``points`` (times the value if ``per_unit``)."""

    code: str
    indicator: str
    item: str
    op: str
    points: float
    name_zh: str
    advice_zh: str = ""
    value: float | str | tuple[str, ...] | None = None
    #: Multiply the points by the indicator's value (e.g. per penalty), limited to ``cap`` in absolute value.
    per_unit: bool = False
    cap: float | None = None
    #: The best grade a subject hit by this rule can get (一票否决 lowers it to this grade).
    max_grade: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The rule as plain data (TOML/JSON), leaving out defaults."""
        out: dict[str, Any] = {
            "code": self.code,
            "indicator": self.indicator,
            "item": self.item,
            "op": self.op,
            "points": self.points,
            "name_zh": self.name_zh,
        }
        if self.advice_zh:
            out["advice_zh"] = self.advice_zh
        if self.value is not None:
            out["value"] = list(self.value) if isinstance(self.value, tuple) else self.value
        if self.per_unit:
            out["per_unit"] = True
        if self.cap is not None:
            out["cap"] = self.cap
        if self.max_grade is not None:
            out["max_grade"] = self.max_grade
        return out


@dataclass(frozen=True, slots=True)
class RuleTable:
    """A complete rule table: base score, bounds, grade bands (lowest score of A, B, C) and rules."""

    version: str
    name_zh: str
    base: float
    min_score: float
    max_score: float
    #: Lowest score of each grade but the last, best first: ``{"A": 800, "B": 650, "C": 500}``; below: ``D``.
    bands: tuple[tuple[str, float], ...]
    rules: tuple[Rule, ...]
    note: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleTable:
        """Build and validate a table from plain data (the TOML layout of ``rules_default.toml``)."""
        try:
            rules = tuple(_rule_from(r) for r in data["rules"])
            bands_raw = data["bands"]
            bands = tuple((str(g), float(s)) for g, s in bands_raw.items())
            table = cls(
                version=str(data["version"]),
                name_zh=str(data.get("name_zh", "")),
                base=float(data["base"]),
                min_score=float(data.get("min_score", 0)),
                max_score=float(data.get("max_score", 1000)),
                bands=bands,
                rules=rules,
                note=str(data.get("note", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RuleTableInvalid(f"规则表格式错误：{exc}") from exc
        table.validate()
        return table

    def to_dict(self) -> dict[str, Any]:
        """Plain data that ``from_dict`` reads back to an equal table."""
        return {
            "version": self.version,
            "name_zh": self.name_zh,
            "base": self.base,
            "min_score": self.min_score,
            "max_score": self.max_score,
            "bands": dict(self.bands),
            "note": self.note,
            "rules": [r.to_dict() for r in self.rules],
        }

    def validate(self) -> None:
        """Raise ``RuleTableInvalid`` unless every rule and band is usable."""
        if [g for g, _ in self.bands] != list(GRADES[: len(self.bands)]) or len(self.bands) != len(GRADES) - 1:
            raise RuleTableInvalid("等级分档必须依次给出 A、B、C 的最低分")
        lows = [s for _, s in self.bands]
        if any(a <= b for a, b in itertools.pairwise(lows)):
            raise RuleTableInvalid("等级分档的最低分必须逐级递减")
        if not self.min_score <= self.base <= self.max_score:
            raise RuleTableInvalid("基础分必须在分值范围内")
        seen: set[str] = set()
        for rule in self.rules:
            if not _CODE.fullmatch(rule.code):
                raise RuleTableInvalid(f"规则代码只能由字母、数字、下划线、点和连字符组成：{rule.code}")
            if rule.code in seen:
                raise RuleTableInvalid(f"规则代码重复：{rule.code}")
            seen.add(rule.code)
            definition = BY_CODE.get(rule.indicator)
            if definition is None:
                raise RuleTableInvalid(f"规则 {rule.code} 引用了未知指标 {rule.indicator}")
            if rule.item not in definition.items:
                raise RuleTableInvalid(f"规则 {rule.code} 的信息项 {rule.item} 不是指标 {rule.indicator} 的来源")
            if rule.op not in OPERATORS:
                raise RuleTableInvalid(f"规则 {rule.code} 的运算符 {rule.op} 无效")
            if rule.max_grade is not None and rule.max_grade not in GRADES:
                raise RuleTableInvalid(f"规则 {rule.code} 的等级上限 {rule.max_grade} 无效")
            code_kind = definition.kind is IndicatorKind.CODE
            if rule.op == "in" and not isinstance(rule.value, tuple):
                raise RuleTableInvalid(f"规则 {rule.code}：in 需要取值列表")
            if rule.op in ("gt", "ge", "lt", "le") and (code_kind or not isinstance(rule.value, float)):
                raise RuleTableInvalid(f"规则 {rule.code}：比较运算需要数值指标和数值阈值")
            if rule.per_unit and code_kind:
                raise RuleTableInvalid(f"规则 {rule.code}：按单位计分需要数值指标")

    @property
    def indicators(self) -> tuple[str, ...]:
        """Indicators the rules read, in rule order, without repeats."""
        return tuple(dict.fromkeys(r.indicator for r in self.rules))


def _rule_from(raw: Mapping[str, Any]) -> Rule:
    value = raw.get("value")
    if isinstance(value, list):
        value = tuple(str(v) for v in value)
    elif isinstance(value, (bool, int | float)):
        value = float(value)
    cap = raw.get("cap")
    return Rule(
        code=str(raw["code"]),
        indicator=str(raw["indicator"]),
        item=str(raw["item"]),
        op=str(raw["op"]),
        points=float(raw["points"]),
        name_zh=str(raw["name_zh"]),
        advice_zh=str(raw.get("advice_zh", "")),
        value=value,
        per_unit=bool(raw.get("per_unit", False)),
        cap=float(cap) if cap is not None else None,
        max_grade=str(raw["max_grade"]) if raw.get("max_grade") is not None else None,
    )


@cache
def default_rules() -> RuleTable:
    """The default rule table shipped in ``data/rules_default.toml``."""
    text = resources.files("xinyidai.evaluation").joinpath("data/rules_default.toml").read_text(encoding="utf-8")
    return RuleTable.from_dict(tomllib.loads(text))


def grade_letters(grade: npt.NDArray[np.int8]) -> pa.Array:
    """Grade indices (0 = ``A`` … 3 = ``D``) as a string array, assembled from buffers (one byte per row)."""
    n = len(grade)
    letters = np.frombuffer("".join(GRADES).encode("ascii"), dtype=np.uint8)[grade]
    offsets = np.arange(n + 1, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(letters))


@dataclass(frozen=True, slots=True)
class RuleScores:
    """Vectorised result: score and grade per row, and the points of every rule (shape (n, rules))."""

    score: npt.NDArray[np.float64]
    grade: npt.NDArray[np.int8]
    points: npt.NDArray[np.float64]

    def grade_letters(self) -> pa.Array:
        """Grades as a string array (``A`` … ``D``)."""
        return grade_letters(self.grade)


@dataclass(frozen=True, slots=True)
class RankedRuleScores:
    """Score and grade per row and each row's ``k`` largest deductions, without the (n, rules) points matrix.

    A deduction is one (rule, points) pair: ``deductions[i]`` is (rule index, points) of deduction ``i``;
    ``top[r]`` holds, for every row, the deduction at rank ``r`` (largest first, ties in rule order), -1 where
    the row has fewer than ``r + 1`` deductions.
    """

    score: npt.NDArray[np.float64]
    grade: npt.NDArray[np.int8]
    top: npt.NDArray[np.int32]
    deductions: tuple[tuple[int, float], ...]

    def grade_letters(self) -> pa.Array:
        """Grades as a string array (``A`` … ``D``)."""
        return grade_letters(self.grade)


@dataclass(frozen=True, slots=True)
class _Column:
    """An indicator column read once for all the rules on it, without copying it: the numeric values of each Arrow
    chunk (whatever lies under a null) or, for a code column, dictionary indices (``len(dictionary)`` for null);
    ``valid`` is None when nothing is null."""

    length: int
    valid: npt.NDArray[np.bool_] | None
    chunks: tuple[npt.NDArray[Any], ...] = ()
    indices: npt.NDArray[np.integer[Any]] | None = None
    dictionary: pa.Array | None = None

    def numbers(self, rows: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
        """The values of ``rows`` (ascending) as float64, NaN for null."""
        parts, start = [], 0
        for chunk in self.chunks:
            lo, hi = np.searchsorted(rows, (start, start + len(chunk)))
            parts.append(chunk[rows[lo:hi] - start].astype(np.float64))
            start += len(chunk)
        out = parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.zeros(0, dtype=np.float64)
        if self.valid is not None:
            out[~self.valid[rows]] = np.nan
        return out


def validity(column: pa.ChunkedArray) -> npt.NDArray[np.bool_] | None:
    """Where a column is not null, as numpy (None when nothing is null)."""
    if not column.null_count:
        return None
    valid = np.ones(len(column), dtype=np.bool_)
    start = 0
    for chunk in column.chunks:
        if chunk.null_count:
            bitmap = np.frombuffer(chunk.buffers()[0], dtype=np.uint8)
            bits = np.unpackbits(bitmap, bitorder="little", count=chunk.offset + len(chunk))[chunk.offset :]
            valid[start : start + len(chunk)] = bits.view(np.bool_)
        start += len(chunk)
    return valid


def _read(column: pa.ChunkedArray | pa.Array, kind: IndicatorKind) -> _Column:
    column = column if isinstance(column, pa.ChunkedArray) else pa.chunked_array([column])
    n, valid = len(column), validity(column)
    if kind is IndicatorKind.CODE:
        encoded = pc.dictionary_encode(column)  # one dictionary for every chunk
        dictionary = encoded.chunk(0).dictionary if encoded.num_chunks else pa.array([], pa.string())
        # The index buffers as they are (what lies under a null is replaced below).
        indices = np.concatenate(
            [values_buffer(c.indices, _int_dtype(c.indices)) for c in encoded.chunks] or [np.zeros(0, np.int32)]
        )
        if valid is not None:
            indices = np.where(valid, indices, len(dictionary))
        return _Column(n, valid, indices=indices, dictionary=dictionary)
    if pa.types.is_null(column.type):
        return _Column(n, np.zeros(n, dtype=np.bool_), chunks=(np.zeros(n, dtype=np.float64),))
    if column.type not in (pa.float64(), pa.int64()):
        column = pc.cast(column, pa.float64())
    # The values buffers as they are (no copy); what lies under a null is masked by ``valid``. An int64 column is
    # compared with a float threshold as float64 would compare it (``_integer_threshold``).
    dtype = np.dtype(np.float64 if column.type == pa.float64() else np.int64)
    return _Column(n, valid, chunks=tuple(values_buffer(c, dtype) for c in column.chunks))


def _int_dtype(array: pa.Array) -> np.dtype[Any]:
    return np.dtype(f"int{array.type.bit_width}")


def values_buffer(array: pa.Array, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """The values buffer of a fixed-width array as numpy, without a copy."""
    if not len(array):
        return np.zeros(0, dtype)
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)


def _on_codes(rule: Rule, column: _Column) -> npt.NDArray[np.bool_]:
    """A code column's condition on each distinct code, then looked up for every row."""
    assert column.dictionary is not None
    assert column.indices is not None
    if rule.op == "in":
        assert isinstance(rule.value, tuple)
        hit = pc.is_in(column.dictionary, value_set=pa.array(rule.value, pa.string()))
    elif rule.op == "eq":
        hit = pc.equal(column.dictionary, pa.scalar(str(rule.value)))
    else:
        hit = pc.not_equal(column.dictionary, pa.scalar(str(rule.value)))
    codes = np.flatnonzero([value is True for value in hit.to_pylist()])  # the dictionary is short
    if len(codes) == 1:
        return np.asarray(column.indices == codes[0], dtype=np.bool_)
    return np.isin(column.indices, codes)


def _compare(op: str, values: npt.NDArray[Any], v: float | int, out: npt.NDArray[np.bool_]) -> None:
    with np.errstate(invalid="ignore"):
        match op:
            case "eq":
                np.equal(values, v, out=out)
            case "ne":
                np.not_equal(values, v, out=out)
                if values.dtype.kind == "f":
                    out &= ~np.isnan(values)
            case "gt":
                np.greater(values, v, out=out)
            case "ge":
                np.greater_equal(values, v, out=out)
            case "lt":
                np.less(values, v, out=out)
            case _:
                np.less_equal(values, v, out=out)


def _condition(rule: Rule, column: _Column) -> npt.NDArray[np.bool_]:
    """Where the rule's condition holds (never on a null, except ``missing``)."""
    if rule.op in ("missing", "present"):
        missing = np.zeros(column.length, dtype=np.bool_) if column.valid is None else ~column.valid
        return missing if rule.op == "missing" else ~missing
    if column.indices is not None:
        return _on_codes(rule, column)
    out = np.empty(column.length, dtype=np.bool_)
    start = 0
    for values in column.chunks:
        part = out[start : start + len(values)]
        start += len(values)
        if rule.op == "in":
            assert isinstance(rule.value, tuple)
            part[:] = np.isin(values, np.asarray([float(v) for v in rule.value]))
            continue
        v: float | int = float(rule.value)  # type: ignore[arg-type]
        op = rule.op
        if values.dtype.kind == "i" and math.isfinite(v) and abs(v) < 2**53:
            # Integers against a whole threshold: the same outcome as comparing as float64 (|value| < 2**53).
            op, v = _integer_threshold(op, v)
        _compare(op, values, v, part)
    if column.valid is not None:
        out &= column.valid
    return out


def _integer_threshold(op: str, v: float) -> tuple[str, float | int]:
    """An equivalent comparison of integers with a whole number: ``x > 2.5`` is ``x > 2``, ``x >= 2.5`` is
    ``x >= 3``, ``x == 2.5`` never holds (``ne`` always does, for a non-null value)."""
    if v == int(v):
        return op, int(v)
    match op:
        case "gt" | "le":
            return op, math.floor(v)
        case "ge" | "lt":
            return op, math.ceil(v)
    return op, v


def _earned(rule: Rule, numbers: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Points of a per-unit rule for these values (NaN counts as 0), limited to its cap."""
    earned = numbers * rule.points
    if not np.isfinite(earned).all():
        earned = np.nan_to_num(numbers) * rule.points
    if rule.cap is not None:
        limit = abs(rule.cap)
        np.clip(earned, -limit, limit, out=earned)
    return earned


@dataclass(slots=True)
class _Hit:
    """Where one rule's condition holds; the rows it hits and the points they earn, computed when asked for."""

    rule: Rule
    column: _Column
    mask: npt.NDArray[np.bool_]
    _rows: npt.NDArray[np.intp] | None = None

    @property
    def rows(self) -> npt.NDArray[np.intp]:
        if self._rows is None:
            self._rows = np.flatnonzero(self.mask)
        return self._rows

    def earned(self) -> npt.NDArray[np.float64] | None:
        """Points of each hit row for a per-unit rule (None: every hit earns ``rule.points``)."""
        if not self.rule.per_unit or self.column.indices is not None:
            return None
        return _earned(self.rule, self.column.numbers(self.rows))


def _applied(indicators: pa.Table, table: RuleTable) -> Iterator[tuple[int, _Hit]]:
    """Every rule in order with where it hits; each indicator column is read once, however many rules read it."""
    columns: dict[str, _Column] = {}
    for j, rule in enumerate(table.rules):
        column = columns.get(rule.indicator)
        if column is None:
            column = columns[rule.indicator] = _read(indicators.column(rule.indicator), BY_CODE[rule.indicator].kind)
        yield j, _Hit(rule, column, _condition(rule, column))


def _grades(
    table: RuleTable, total: npt.NDArray[np.float64], cap: npt.NDArray[np.int8]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    score = np.add(total, table.base, out=total)  # ``total`` is not used again
    np.clip(score, table.min_score, table.max_score, out=score)
    # Band index: how many band floors the score is below (0 = A … 3 = D).
    band = np.zeros(len(score), dtype=np.int8)
    for _, floor in table.bands:
        band += score < floor
    return score, np.maximum(band, cap)


def score_rules(indicators: pa.Table, table: RuleTable) -> RuleScores:
    """Score every row of an indicator table (one column per indicator code) with the rule table.

    The rules are applied in rule order (the score is summed in that order); each writes the rows it hits
    into its column of ``points``.
    """
    n = indicators.num_rows
    points = np.zeros((n, len(table.rules)), dtype=np.float64, order="F")
    total = np.zeros(n, dtype=np.float64)
    grade_cap = np.zeros(n, dtype=np.int8)
    for j, hit in _applied(indicators, table):
        rule, rows, earned = hit.rule, hit.rows, hit.earned()
        value = rule.points if earned is None else earned
        points[rows, j] = value
        total[rows] += value
        if rule.max_grade is not None:
            grade_cap[rows] = np.maximum(grade_cap[rows], GRADES.index(rule.max_grade))
    score, grade = _grades(table, total, grade_cap)
    return RuleScores(score=score, grade=grade, points=points)


#: Most distinct deductions ``score_rules_ranked`` places one group at a time (more: one sort of every deduction).
RANK_GROUPS_MAX: Final = 1024


def score_rules_ranked(indicators: pa.Table, table: RuleTable, k: int) -> RankedRuleScores:
    """``score_rules``' score and grade, and each row's ``k`` largest deductions (points < 0; ties in rule order).

    What the batch kernel needs without the (n, rules) points matrix: the score is summed in rule order as
    ``score_rules`` sums it; every distinct deduction (rule, points) keeps the rows it hits (most deductions
    hit few rows), and the deductions, ranked by points then rule order, fill each row's ``k`` slots in rank
    order.
    """
    n = indicators.num_rows
    total = np.zeros(n, dtype=np.float64)
    scratch = np.empty(n, dtype=np.float64)
    grade_cap = np.zeros(n, dtype=np.int8)
    groups: list[tuple[float, int, npt.NDArray[np.intp]]] = []
    for j, hit in _applied(indicators, table):
        rule, earned = hit.rule, hit.earned()
        if earned is not None:
            total[hit.rows] += earned
        elif rule.points and (rule.max_grade is not None or rule.points < 0) and hit.rows.size * 4 < n:
            total[hit.rows] += rule.points  # few rows, known anyway
        elif rule.points and math.isfinite(rule.points):
            # 0.0 or -0.0 where the rule does not hit: no change to the sum; ``scratch`` saves an allocation per rule.
            np.multiply(hit.mask, rule.points, out=scratch)
            total += scratch
        elif rule.points:
            total += np.where(hit.mask, rule.points, 0.0)
        if rule.max_grade is not None and hit.rows.size:
            grade_cap[hit.rows] = np.maximum(grade_cap[hit.rows], GRADES.index(rule.max_grade))
        if not k or not (rule.points < 0 or earned is not None) or not hit.rows.size:
            continue
        rows = hit.rows
        if earned is None:
            groups.append((rule.points, j, rows))
            continue
        losing = earned < 0
        groups.extend((p, j, part) for p, part in _by_value(rows[losing], earned[losing]))
    groups.sort(key=lambda g: (g[0], g[1]))
    top = np.full((k, n), -1, dtype=np.int32)
    if len(groups) <= RANK_GROUPS_MAX:
        filled = np.zeros(n, dtype=np.int8)  # slots taken per row (stops counting at k)
        flat = top.reshape(-1)
        for rank, (_, _, rows) in enumerate(groups):
            slot = filled[rows]
            free = slot < k
            if not free.all():
                rows, slot = rows[free], slot[free]
            flat[slot.astype(np.intp) * n + rows] = rank
            filled[rows] = slot + 1
    elif groups:
        _rank_by_sort(top, groups)
    score, grade = _grades(table, total, grade_cap)
    return RankedRuleScores(score=score, grade=grade, top=top, deductions=tuple((j, p) for p, j, _ in groups))


def _by_value(rows: npt.NDArray[np.intp], values: npt.NDArray[np.float64]) -> Iterator[tuple[float, npt.NDArray[np.intp]]]:
    """The rows of each distinct value (hashed, not sorted: a per-unit rule's points take few values)."""
    if not rows.size:
        return
    encoded = pc.dictionary_encode(pa.array(values, pa.float64()))
    distinct = encoded.dictionary.to_numpy()
    code = values_buffer(encoded.indices, _int_dtype(encoded.indices))
    order = np.argsort(code.astype(np.uint16) if len(distinct) <= 1 << 16 else code, kind="stable")
    ends = np.cumsum(np.bincount(code, minlength=len(distinct)))
    for c, (start, end) in enumerate(zip(ends - np.bincount(code, minlength=len(distinct)), ends, strict=True)):
        yield float(distinct[c]), rows[order[start:end]]


def _rank_by_sort(top: npt.NDArray[np.int32], groups: list[tuple[float, int, npt.NDArray[np.intp]]]) -> None:
    """Fill ``top`` from many ranked groups at once: one sort of (row, rank) over every deduction."""
    k = top.shape[0]
    ranks = len(groups)
    key = np.concatenate([rows.astype(np.int64) * ranks + rank for rank, (_, _, rows) in enumerate(groups)])
    key.sort()
    row, rank = np.divmod(key, ranks)
    start = np.r_[True, row[1:] != row[:-1]]
    position = np.arange(len(key)) - np.maximum.accumulate(np.where(start, np.arange(len(key)), 0))
    kept = position < k
    top[position[kept], row[kept]] = rank[kept]


@dataclass(frozen=True, slots=True)
class RuleHit:
    """One rule that applied to a subject: what it read, the points and the records behind it."""

    rule: str
    indicator: str
    item: str
    value: object
    points: float
    name_zh: str
    advice_zh: str
    max_grade: str | None = None
    record_ids: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "rule": self.rule,
            "indicator": self.indicator,
            "item": self.item,
            "value": self.value,
            "points": self.points,
            "name_zh": self.name_zh,
            "advice_zh": self.advice_zh,
            "max_grade": self.max_grade,
            "record_ids": list(self.record_ids),
        }


def indicator_schema(codes: Sequence[str]) -> pa.Schema:
    """The Arrow schema of indicator columns (codes as strings, counts and flags int64, numbers float64)."""
    types = {
        IndicatorKind.NUMBER: pa.float64(),
        IndicatorKind.COUNT: pa.int64(),
        IndicatorKind.FLAG: pa.int64(),
        IndicatorKind.INTEGER: pa.int64(),
        IndicatorKind.CODE: pa.string(),
    }
    return pa.schema([(c, types[BY_CODE[c].kind]) for c in codes])


def explain(
    indicators_row: Mapping[str, object], table: RuleTable, *, evidence: Mapping[str, Sequence[str]] | None = None
) -> list[RuleHit]:
    """The rules that hit one subject, deductions first (largest first), then bonuses; with the record ids
    behind each hit when ``evidence`` (indicator code → record ids, see ``engine.evidence``) is given."""
    codes = table.indicators
    row = pa.Table.from_pylist([{c: indicators_row.get(c) for c in codes}], schema=indicator_schema(codes))
    scored = score_rules(row, table)
    hit_by_rule = {j: bool(hit.mask[0]) for j, hit in _applied(row, table)}
    hits: list[RuleHit] = []
    for j, rule in enumerate(table.rules):
        pts = float(scored.points[0, j])
        fired = pts != 0.0 or (rule.max_grade is not None and hit_by_rule[j])
        if not fired:
            continue
        hits.append(
            RuleHit(
                rule=rule.code,
                indicator=rule.indicator,
                item=rule.item,
                value=indicators_row.get(rule.indicator),
                points=pts,
                name_zh=rule.name_zh,
                advice_zh=rule.advice_zh,
                max_grade=rule.max_grade,
                record_ids=tuple((evidence or {}).get(rule.indicator, ())),
            )
        )
    hits.sort(key=lambda h: (h.points >= 0, -abs(h.points) if h.points < 0 else -h.points, h.rule))
    return hits
