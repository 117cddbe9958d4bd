"""Rule tables: the default loads and round-trips; scoring is vectorised, bounded, monotone and explainable."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyidai.evaluation import INDICATORS, RuleTable, RuleTableInvalid, default_rules, explain, score_rules
from xinyidai.evaluation.engine import indicator_filters
from xinyidai.evaluation.indicators import BY_CODE, IndicatorKind
from xinyidai.evaluation.kernel import expand_reasons, pack_indicators, score_batch, unpack_indicators
from xinyidai.evaluation.rules import indicator_schema

CODES = [d.code for d in INDICATORS]


def _row(**values: object) -> dict[str, object]:
    return {c: values.get(c) for c in CODES}


def _table(rows: list[dict[str, object]]) -> pa.Table:
    t = pa.Table.from_pylist(rows, schema=indicator_schema(CODES))
    return t.append_column("uscc", pa.array([f"U{i:04d}" for i in range(len(rows))]))


def test_every_indicator_is_documented_and_has_one_expression() -> None:
    assert set(indicator_filters()) == set(CODES)
    for d in INDICATORS:
        assert d.name_zh
        assert d.name_en
        assert d.doc_zh
        assert d.doc_en
        assert d.items


def test_the_default_table_round_trips_and_names_real_items() -> None:
    table = default_rules()
    assert RuleTable.from_dict(json.loads(json.dumps(table.to_dict()))) == table
    assert all(r.item in BY_CODE[r.indicator].items for r in table.rules)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"indicator": "nope"}, "未知指标"),
        ({"op": "between"}, "运算符"),
        ({"item": "honour"}, "信息项"),
        ({"max_grade": "E"}, "等级上限"),
    ],
)
def test_a_broken_rule_is_refused(change: dict[str, object], message: str) -> None:
    data = default_rules().to_dict()
    data["rules"][0].update(change)
    with pytest.raises(RuleTableInvalid, match=message):
        RuleTable.from_dict(data)


def test_bands_must_descend() -> None:
    data = default_rules().to_dict()
    data["bands"] = {"A": 600, "B": 650, "C": 500}
    with pytest.raises(RuleTableInvalid):
        RuleTable.from_dict(data)


def test_a_veto_caps_the_grade_and_explain_traces_it() -> None:
    table = default_rules()
    row = _row(dishonest_debtor_listed=1, tax_credit_grade="A", years_in_business=20.0, honour_count=5)
    scored = score_rules(_table([row]), table)
    assert scored.grade_letters().to_pylist() == ["D"]
    hits = explain(row, table, evidence={"dishonest_debtor_listed": ["r1"]})
    assert hits[0].rule == "dishonest_debtor"
    assert hits[0].record_ids == ("r1",)
    assert hits[0].max_grade == "D"
    assert sum(h.points for h in hits) == pytest.approx(scored.score[0] - table.base)


def test_per_unit_points_are_capped() -> None:
    table = default_rules()
    scored = score_rules(_table([_row(penalty_count=2), _row(penalty_count=50)]), table)
    j = [r.code for r in table.rules].index("penalties")
    assert scored.points[:, j].tolist() == [-40.0, -100.0]


def _values() -> st.SearchStrategy[dict[str, object]]:
    fields: dict[str, st.SearchStrategy[object]] = {}
    for d in INDICATORS:
        if d.kind is IndicatorKind.CODE:
            fields[d.code] = st.one_of(st.none(), st.sampled_from(["A", "B", "M", "C", "D", "高级认证企业", "失信企业"]))
        elif d.kind is IndicatorKind.NUMBER:
            fields[d.code] = st.one_of(st.none(), st.floats(-5, 5000, allow_nan=False))
        elif d.kind is IndicatorKind.FLAG:
            fields[d.code] = st.sampled_from([0, 1])
        else:
            fields[d.code] = st.one_of(st.none(), st.integers(0, 2000))
    return st.fixed_dictionaries(fields)


@settings(max_examples=60, deadline=None)
@given(st.lists(_values(), min_size=1, max_size=12))
def test_the_vectorised_kernel_agrees_with_explain_row_by_row(rows: list[dict[str, object]]) -> None:
    table = default_rules()
    result = score_batch(_table(rows), rules=table)
    for row, out in zip(rows, result.to_pylist(), strict=True):
        assert table.min_score <= out["rule_score"] <= table.max_score
        hits = explain(row, table)
        expected = min(max(table.base + sum(h.points for h in hits), table.min_score), table.max_score)
        assert out["rule_score"] == pytest.approx(expected)
        reasons = expand_reasons(out["reasons"], table)
        deductions = sorted((h for h in hits if h.points < 0), key=lambda h: h.points)[:3]
        assert [r["points"] for r in reasons] == pytest.approx([h.points for h in deductions])
        # Each reason names a rule that hit with those points (ties may pick either rule).
        assert all(any(h.rule == r["code"] and h.points == pytest.approx(r["points"]) for h in hits) for r in reasons)
        assert all(r["text_zh"] and r["item"] for r in reasons)


@settings(max_examples=80, deadline=None)
@given(st.lists(_values(), min_size=1, max_size=8))
def test_packed_indicators_read_back_to_the_same_values(rows: list[dict[str, object]]) -> None:
    table = _table(rows)
    packed = pack_indicators(table).to_pylist()
    assert all(isinstance(p, str) and len(p) < 400 for p in packed)
    assert [unpack_indicators(p) for p in packed] == table.select([d.code for d in INDICATORS]).to_pylist()


def test_codes_with_separators_are_escaped_when_packed() -> None:
    rows: list[dict[str, object]] = [{d.code: None for d in INDICATORS} | {"tax_credit_grade": "A|B%7C", "penalty_count": 2}]
    assert unpack_indicators(pack_indicators(_table(rows)).to_pylist()[0])["tax_credit_grade"] == "A|B%7C"
    assert unpack_indicators('{"penalty_count": 2}') == {"penalty_count": 2}  # rows stored before the packed format
    assert unpack_indicators("1999.9|1|2") == {}  # another indicator set version is not guessed at


def test_rule_codes_must_fit_the_compact_reasons() -> None:
    data = default_rules().to_dict()
    data["rules"][0]["code"] = "bad;code"
    with pytest.raises(RuleTableInvalid):
        RuleTable.from_dict(data)


@settings(max_examples=60, deadline=None)
@given(_values(), st.integers(1, 30))
def test_one_more_penalty_never_raises_the_score(row: dict[str, object], extra: int) -> None:
    table = default_rules()
    worse = dict(row, penalty_count=int(row.get("penalty_count") or 0) + extra)  # type: ignore[call-overload]
    scored = score_rules(_table([row, worse]), table)
    assert scored.score[1] <= scored.score[0]
    assert scored.grade[1] >= scored.grade[0]
