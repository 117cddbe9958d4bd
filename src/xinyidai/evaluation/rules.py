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
import re
import tomllib
from collections.abc import Mapping, Sequence
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


@dataclass(frozen=True, slots=True)
class RuleScores:
    """Vectorised result: score and grade per row, and the points of every rule (shape (n, rules))."""

    score: npt.NDArray[np.float64]
    grade: npt.NDArray[np.int8]
    points: npt.NDArray[np.float64]

    def grade_letters(self) -> pa.Array:
        """Grades as a string array (``A`` … ``D``)."""
        return pc.take(pa.array(GRADES, pa.string()), pa.array(self.grade.astype(np.int32, copy=False)))


def _numbers(column: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.float64]:
    """A numeric column as float64 with NaN for null (a view of the Arrow buffer when it is float64 without nulls)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if array.type != pa.float64():
        array = pc.cast(array, pa.float64())
    # Arrow writes NaN for the nulls of a float array when it has to copy.
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)


def _condition(rule: Rule, column: pa.ChunkedArray | pa.Array, numbers: npt.NDArray[np.float64] | None) -> npt.NDArray[np.bool_]:
    if rule.op == "missing":
        return np.asarray(pc.is_null(column).to_numpy(zero_copy_only=False), dtype=bool)
    if rule.op == "present":
        return np.asarray(pc.is_valid(column).to_numpy(zero_copy_only=False), dtype=bool)
    if numbers is None:  # a code column
        if rule.op == "in":
            assert isinstance(rule.value, tuple)
            hit = pc.is_in(column, value_set=pa.array(rule.value, pa.string()))
        elif rule.op == "eq":
            hit = pc.equal(column, pa.scalar(str(rule.value)))
        else:
            hit = pc.not_equal(column, pa.scalar(str(rule.value)))
        return np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=bool)
    if rule.op == "in":
        assert isinstance(rule.value, tuple)
        return np.isin(numbers, np.asarray([float(v) for v in rule.value]))
    v = float(rule.value)  # type: ignore[arg-type]
    with np.errstate(invalid="ignore"):
        match rule.op:
            case "eq":
                out = numbers == v
            case "ne":
                out = ~np.isnan(numbers) & (numbers != v)
            case "gt":
                out = numbers > v
            case "ge":
                out = numbers >= v
            case "lt":
                out = numbers < v
            case _:
                out = numbers <= v
    return np.asarray(out, dtype=bool)


def score_rules(indicators: pa.Table, table: RuleTable) -> RuleScores:
    """Score every row of an indicator table (one column per indicator code) with the rule table.

    Column by column: ``points`` is column-major, so each rule writes one contiguous column and the score
    is summed as the rules are applied (rule order), without a pass over the whole matrix.
    """
    n = indicators.num_rows
    points = np.zeros((n, len(table.rules)), dtype=np.float64, order="F")
    total = np.zeros(n, dtype=np.float64)
    grade_cap = np.zeros(n, dtype=np.int8)
    numbers_of: dict[str, npt.NDArray[np.float64] | None] = {}
    for j, rule in enumerate(table.rules):
        column = indicators.column(rule.indicator)
        if rule.indicator not in numbers_of:
            kind = BY_CODE[rule.indicator].kind
            numbers_of[rule.indicator] = None if kind is IndicatorKind.CODE else _numbers(column)
        numbers = numbers_of[rule.indicator]
        hit = _condition(rule, column, numbers)
        out = points[:, j]
        if rule.per_unit and numbers is not None:
            earned = numbers * rule.points
            if not np.isfinite(earned).all():
                earned = np.nan_to_num(numbers) * rule.points
            if rule.cap is not None:
                limit = abs(rule.cap)
                np.clip(earned, -limit, limit, out=earned)
            np.copyto(out, earned, where=hit)
        else:
            np.copyto(out, rule.points, where=hit)
        total += out
        if rule.max_grade is not None:
            level = np.int8(GRADES.index(rule.max_grade))
            np.maximum(grade_cap, hit * level, out=grade_cap)
    score = np.clip(table.base + total, table.min_score, table.max_score)
    # Band index: how many band floors the score is below (0 = A … 3 = D).
    floors = np.asarray([s for _, s in table.bands], dtype=np.float64)
    band = np.zeros(n, dtype=np.int8)
    for floor in floors:
        band += score < floor
    return RuleScores(score=score, grade=np.maximum(band, grade_cap), points=points)


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
    hits: list[RuleHit] = []
    for j, rule in enumerate(table.rules):
        pts = float(scored.points[0, j])
        fired = pts != 0.0 or (rule.max_grade is not None and _condition(rule, row.column(rule.indicator), _maybe(rule, row))[0])
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


def _maybe(rule: Rule, row: pa.Table) -> npt.NDArray[np.float64] | None:
    return None if BY_CODE[rule.indicator].kind is IndicatorKind.CODE else _numbers(row.column(rule.indicator))
