"""The batch kernel's fast paths give exactly what the plain definitions give.

``score_rules_ranked`` (no points matrix; deductions placed per distinct (rule, points)) against
``score_rules`` and a row-by-row ranking; the reason text when its combined key has to be renumbered;
``pack_indicators`` (values formatted once, runs of columns joined once per distinct combination)
against a cast-and-join of every column.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyidai.evaluation import kernel, rules
from xinyidai.evaluation.indicators import INDICATOR_SET_VERSION, INDICATORS, IndicatorKind
from xinyidai.evaluation.kernel import REASON_SEP, VALUE_SEP, pack_indicators, score_batch
from xinyidai.evaluation.rules import RuleTable, default_rules, indicator_schema, score_rules, score_rules_ranked

_CODES = {"tax_credit_grade": ["A", "B", "M", "C", "D", None], "customs_credit_grade": ["高级认证企业", "失信企业", "a|b%", None]}


def _indicators(rng: np.random.Generator, n: int, *, chunks: int = 1) -> pa.Table:
    columns: dict[str, Any] = {"uscc": [f"91350102{i:09d}X" for i in range(n)]}
    for d in INDICATORS:
        if d.kind is IndicatorKind.CODE:
            choices = _CODES.get(d.code, ["x", None])
            columns[d.code] = [choices[i] for i in rng.integers(0, len(choices), n)]
        elif d.kind is IndicatorKind.NUMBER:
            values = rng.normal(0, 50, n)
            values[rng.random(n) < 0.2] = 0.0
            values[rng.random(n) < 0.05] = -0.0
            columns[d.code] = [None if r < 0.15 else float(v) for v, r in zip(values, rng.random(n), strict=True)]
        else:
            values = rng.integers(-3, 9, n)
            columns[d.code] = [None if r < 0.1 else int(v) for v, r in zip(values, rng.random(n), strict=True)]
    schema = pa.schema([("uscc", pa.string()), *indicator_schema([d.code for d in INDICATORS])])
    table = pa.table(columns, schema=schema)
    if chunks > 1:  # engines hand over several record batches
        step = max(1, n // chunks)
        table = pa.concat_tables([table.slice(i, step) for i in range(0, n, step)])
    return table


def _continuous_rules() -> RuleTable:
    """The default table plus per-unit rules on continuous numbers: deductions with many distinct points."""
    data = default_rules().to_dict()
    data["rules"] += [
        {"code": "trend_per_unit", "indicator": "tax_paid_trend", "item": "tax_payment", "op": "present",
         "points": 1.5, "per_unit": True, "cap": 40, "name_zh": "趋势"},
        {"code": "paid_per_unit", "indicator": "tax_paid_12m_wan", "item": "tax_payment", "op": "lt", "value": 10,
         "points": 0.75, "per_unit": True, "name_zh": "纳税", "max_grade": "B"},
        {"code": "tie_a", "indicator": "penalty_count", "item": "admin_penalty", "op": "ge", "value": 1, "points": -20,
         "name_zh": "同分甲"},
        {"code": "missing_grade", "indicator": "tax_credit_grade", "item": "tax_credit_grade", "op": "missing",
         "points": -5, "name_zh": "无等级"},
        {"code": "not_m", "indicator": "tax_credit_grade", "item": "tax_credit_grade", "op": "ne", "value": "M",
         "points": -1, "name_zh": "非M"},
        {"code": "headcount_ne", "indicator": "social_insured_headcount", "item": "social_insurance", "op": "ne",
         "value": 2, "points": -2.5, "name_zh": "人数"},
        {"code": "arrears_in", "indicator": "housing_fund_arrears_months", "item": "housing_fund", "op": "in",
         "value": ["1", "3"], "points": -7, "name_zh": "欠缴"},
        {"code": "trend_half", "indicator": "tax_paid_trend", "item": "tax_payment", "op": "gt", "value": 2.5,
         "points": -3, "name_zh": "半"},
        {"code": "count_half", "indicator": "penalty_count", "item": "admin_penalty", "op": "ge", "value": 2.5,
         "points": -4, "name_zh": "半数"},
    ]  # fmt: skip
    return RuleTable.from_dict(data)


def _reference_top(table: pa.Table, rule_table: RuleTable, k: int) -> list[list[tuple[int, float]]]:
    """Row by row from the dense points: the ``k`` most negative points, ties in rule order."""
    points = score_rules(table, rule_table).points
    out = []
    for row in points:
        taken = sorted(((float(v), j) for j, v in enumerate(row) if v < 0), key=lambda t: t[0])
        out.append([(j, v) for v, j in taken[:k]])
    return out


def _ranked_top(table: pa.Table, rule_table: RuleTable, k: int) -> list[list[tuple[int, float]]]:
    ranked = score_rules_ranked(table, rule_table, k)
    return [[ranked.deductions[d] for d in column if d >= 0] for column in ranked.top.T.tolist()]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300), k=st.integers(1, 4), chunks=st.integers(1, 4))
def test_ranked_scoring_equals_the_dense_scoring(seed: int, n: int, k: int, chunks: int) -> None:
    rule_table = _continuous_rules()
    table = _indicators(np.random.default_rng(seed), n, chunks=chunks)
    dense = score_rules(table, rule_table)
    ranked = score_rules_ranked(table, rule_table, k)
    assert np.array_equal(ranked.score, dense.score)
    assert np.array_equal(ranked.grade, dense.grade)
    assert _ranked_top(table, rule_table, k) == _reference_top(table, rule_table, k)


def test_many_distinct_deductions_are_ranked_by_one_sort(monkeypatch: pytest.MonkeyPatch) -> None:
    rule_table = _continuous_rules()
    table = _indicators(np.random.default_rng(5), 2_000, chunks=3)
    expected = _reference_top(table, rule_table, 3)
    assert len(score_rules_ranked(table, rule_table, 3).deductions) > 100
    monkeypatch.setattr(rules, "RANK_GROUPS_MAX", 100)
    assert _ranked_top(table, rule_table, 3) == expected


def test_the_reason_text_is_the_same_when_the_combined_key_is_renumbered(monkeypatch: pytest.MonkeyPatch) -> None:
    rule_table = _continuous_rules()
    table = _indicators(np.random.default_rng(9), 3_000, chunks=2)
    expected = score_batch(table, rules=rule_table, k=4)
    monkeypatch.setattr(kernel, "_KEY_LIMIT", 64)  # renumber before almost every slot
    renumbered = score_batch(table, rules=rule_table, k=4)
    assert renumbered.equals(expected)
    texts = expected.column("reasons").to_pylist()
    assert all(t.count(REASON_SEP) <= 3 for t in texts)
    assert sum(1 for t in texts if t.count(REASON_SEP) == 3) > 10


def _reference_pack(table: pa.Table) -> list[str]:
    """Every indicator cast to text (nulls empty, codes escaped) and joined: the format's definition."""
    frame = pl.from_arrow(table.select([d.code for d in INDICATORS]))
    assert isinstance(frame, pl.DataFrame)
    columns = [
        (
            pl.col(d.code).str.replace_all("%", "%25", literal=True).str.replace_all(VALUE_SEP, "%7C", literal=True)
            if d.kind is IndicatorKind.CODE
            else pl.col(d.code).cast(pl.String)
        ).fill_null("")
        for d in INDICATORS
    ]
    return frame.select(pl.concat_str([pl.lit(INDICATOR_SET_VERSION), *columns], separator=VALUE_SEP)).to_series().to_list()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 3_000), chunks=st.integers(1, 3))
def test_packed_indicators_equal_a_cast_and_join_of_every_column(seed: int, n: int, chunks: int) -> None:
    table = _indicators(np.random.default_rng(seed), n, chunks=chunks)
    assert pack_indicators(table).to_pylist() == _reference_pack(table)


def test_packing_handles_wide_integer_ranges_null_columns_and_signed_zero() -> None:
    rng = np.random.default_rng(2)
    table = _indicators(rng, 500)
    wide = pa.array([int(v) for v in rng.integers(-(2**40), 2**40, 500)], pa.int64())
    table = table.set_column(table.schema.get_field_index("ip_count"), "ip_count", wide)
    table = table.set_column(table.schema.get_field_index("honour_count"), "honour_count", pa.nulls(500, pa.int64()))
    table = table.set_column(table.schema.get_field_index("tax_credit_grade"), "tax_credit_grade", pa.nulls(500, pa.string()))
    zeros = pa.array([-0.0 if i % 2 else 0.0 for i in range(500)], pa.float64())
    table = table.set_column(table.schema.get_field_index("tax_paid_trend"), "tax_paid_trend", zeros)
    packed = pack_indicators(table).to_pylist()
    assert packed == _reference_pack(table)
    assert "|-0.0|" in packed[1]
    assert pack_indicators(table.slice(0, 0)).to_pylist() == []


def test_a_table_scored_on_several_threads_equals_it_scored_on_one(monkeypatch: pytest.MonkeyPatch) -> None:
    rule_table = _continuous_rules()
    table = _indicators(np.random.default_rng(13), 1_001, chunks=3)
    one = score_batch(table, rules=rule_table, threads=1)
    monkeypatch.setattr(kernel, "THREAD_ROWS", 100)
    several = score_batch(table, rules=rule_table, threads=3)
    assert several.num_rows == table.num_rows
    assert several.equals(one)


def test_a_table_without_batches_scores_and_packs_to_nothing() -> None:
    rule_table = _continuous_rules()
    empty = pa.Table.from_batches([], _indicators(np.random.default_rng(1), 1).schema)  # what an engine returns for no rows
    assert score_batch(empty, rules=rule_table).num_rows == 0
    assert score_rules_ranked(empty, rule_table, 3).top.shape == (3, 0)
    assert pack_indicators(empty).to_pylist() == []
