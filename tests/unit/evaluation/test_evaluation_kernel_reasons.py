"""The scoring kernel's compact reasons: built once per distinct combination, equal to a row-by-row reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyidai.evaluation.indicators import INDICATORS, IndicatorKind
from xinyidai.evaluation.kernel import FIELD_SEP, REASON_SEP, TOP_REASONS, expand_reasons, score_batch
from xinyidai.evaluation.rules import RuleTable, default_rules, indicator_schema, score_rules

_CODES = {"tax_credit_grade": ["A", "B", "M", "C", "D", None], "customs_credit_grade": ["高级认证企业", "失信企业", None]}


def _indicators(rng: np.random.Generator, n: int) -> pa.Table:
    columns: dict[str, Any] = {"uscc": [f"91350102{i:09d}X" for i in range(n)]}
    for d in INDICATORS:
        if d.kind is IndicatorKind.CODE:
            choices = _CODES.get(d.code, ["x", None])
            columns[d.code] = [choices[i] for i in rng.integers(0, len(choices), n)]
        elif d.kind is IndicatorKind.NUMBER:
            values = rng.integers(-40, 400, n) / 4  # quarters: exact, with many ties
            columns[d.code] = [None if v < -5 else float(v) for v in values]
        else:
            columns[d.code] = rng.integers(0, 6, n).tolist()
    schema = pa.schema([("uscc", pa.string()), *indicator_schema([d.code for d in INDICATORS])])
    return pa.table(columns, schema=schema)


def _reference(table: pa.Table, rules: RuleTable, k: int) -> list[str]:
    """Row by row: the ``k`` largest deductions (ties in rule order) as ``r:<code>:<points>``."""
    points = score_rules(table, rules).points
    deducting = [j for j, r in enumerate(rules.rules) if r.points < 0 or r.per_unit]
    out = []
    for row in points:
        taken = sorted(((min(row[j], 0.0), pos) for pos, j in enumerate(deducting)), key=lambda t: t[0])
        parts = [
            f"r{FIELD_SEP}{rules.rules[deducting[pos]].code}{FIELD_SEP}{float(round(v, 4))!r}" for v, pos in taken[:k] if v < 0
        ]
        out.append(REASON_SEP.join(parts))
    return out


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 400), k=st.integers(1, 4))
def test_reasons_match_a_row_by_row_reference(seed: int, n: int, k: int) -> None:
    rules = default_rules()
    table = _indicators(np.random.default_rng(seed), n)
    scored = score_batch(table, rules=rules, k=k)
    assert scored.column("reasons").to_pylist() == _reference(table, rules, k)


def test_reasons_read_back_and_rows_keep_their_order() -> None:
    rules = default_rules()
    table = _indicators(np.random.default_rng(11), 5_000)
    scored = score_batch(table, rules=rules)
    assert scored.column("uscc").to_pylist() == table.column("uscc").to_pylist()
    reference = _reference(table, rules, TOP_REASONS)
    assert scored.column("reasons").to_pylist() == reference
    for stored in reference[:200]:
        expanded = expand_reasons(stored, rules)
        assert [f"r{FIELD_SEP}{r['code']}{FIELD_SEP}{r['points']!r}" for r in expanded] == (
            stored.split(REASON_SEP) if stored else []
        )


def test_no_negative_zero_points_where_a_rule_does_not_hit() -> None:
    table = _indicators(np.random.default_rng(3), 2_000)
    points = score_rules(table, default_rules()).points
    assert not np.signbit(points[points == 0]).any()


def test_empty_table_scores_to_an_empty_table() -> None:
    table = _indicators(np.random.default_rng(1), 1).slice(0, 0)
    assert score_batch(table, rules=default_rules()).num_rows == 0
