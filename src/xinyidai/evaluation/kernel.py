"""The scoring kernel: indicator table in, evaluation table out; numpy and Arrow compute only, no per-row Python.

``score_batch`` is the one function both engines apply: directly on the embedded path, and through
``mapInArrow`` on each Arrow batch of the Spark indicator DataFrame (``spark.py``), so the two cannot
disagree.

Reasons are stored compactly (ADR 0015): a short code string per row, built column-wise from per-rule and
per-(card feature, bin) prefixes, e.g. ``r:dishonest_debtor:-150;r:penalties:-20;c:tax_paid_12m_wan:0``
(the top deductions of the rule table with their points, then the card's reason codes with the bin
index). ``expand_reasons`` turns it back into the full reasons (Chinese text, advice, catalog item, bin
label, points lost) from the rule table and card the row names, at read time. The indicator values a row
used are packed the same way (``pack_indicators`` / ``unpack_indicators``): the indicator set version,
then one value per indicator in ``INDICATORS`` order, separated by ``|``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from xinyidai.evaluation.indicators import INDICATOR_SET_VERSION, INDICATORS, IndicatorKind
from xinyidai.evaluation.rules import RuleTable, score_rules
from xinyidai.kernel.errors import InvalidInput
from xinyidai.scorecard import top_k_smallest

if TYPE_CHECKING:
    from xinyidai.scorecard import Scorecard

#: Columns of the evaluation table ``score_batch`` returns.
EVALUATION_SCHEMA: Final = pa.schema(
    [
        ("uscc", pa.string()),
        ("rule_score", pa.float64()),
        ("grade", pa.string()),
        ("card_score", pa.float64()),
        ("pd", pa.float64()),
        ("reasons", pa.string()),
    ]
)
#: Reasons kept per family (rule deductions, card reason codes).
TOP_REASONS: Final = 3
#: Separators of the compact reason codes (between reasons, inside one) and of packed indicator values.
REASON_SEP: Final = ";"
FIELD_SEP: Final = ":"
VALUE_SEP: Final = "|"


def _numbers_text(values: npt.NDArray[np.float64]) -> pl.Series:
    """Numbers as text, rounded to 4 places (the same on every engine: the same code runs)."""
    return pl.Series(np.round(values, 4), dtype=pl.Float64).cast(pl.String)


def _top_deductions(
    points: npt.NDArray[np.float64], columns: npt.NDArray[np.int64], k: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Positions in ``columns`` and points of the ``k`` largest deductions per row (ties: rule order); points 0
    where fewer."""
    return top_k_smallest(points, k, columns=columns, ceiling=0.0)


@dataclass(frozen=True, slots=True)
class _Slot:
    """One reason position of every row: a fragment index (-1: no reason there) and, for rule reasons, the points
    written after the fragment."""

    fragment: npt.NDArray[np.int64]
    number: npt.NDArray[np.float64] | None = None


def _rule_slots(rules: RuleTable, points: npt.NDArray[np.float64], k: int, offset: int) -> tuple[list[_Slot], list[str]]:
    """Up to ``k`` rule reasons per row, ``r:<code>:<points>``: fragments ``r:<code>:`` numbered from ``offset``."""
    # Only rules that can take points away compete (the others would sort after every deduction anyway).
    deducting = np.asarray([j for j, r in enumerate(rules.rules) if r.points < 0 or r.per_unit], dtype=np.int64)
    heads = [f"r{FIELD_SEP}{r.code}{FIELD_SEP}" for r in rules.rules]
    if not deducting.size:
        return [], heads
    order, top = _top_deductions(points, deducting, k)
    slots = [
        _Slot(np.where(top[:, r] < 0, deducting[order[:, r]] + offset, -1), np.round(top[:, r], 4)) for r in range(order.shape[1])
    ]
    return slots, heads


def _card_slots(
    card: Scorecard, indicators: pa.Table, k: int, offset: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[_Slot], list[str]]:
    """Card score, PD and up to ``k`` reason codes per row, ``c:<feature>:<bin index>`` (fragments from ``offset``)."""
    missing = [f for f in card.features if f not in indicators.column_names]
    if missing:
        raise InvalidInput(f"评分卡需要的指标不存在：{'、'.join(missing)}")
    bins = card.bin_indices({f: indicators.column(f) for f in card.features})
    n = indicators.num_rows
    points = np.empty((n, len(card.features)), dtype=np.float64)
    codes: list[str] = []
    offsets = np.zeros(len(card.features), dtype=np.int64)
    for j, feature in enumerate(card.card_features):
        table = np.asarray(feature.points, dtype=np.float64)
        np.take(table, bins[:, j], out=points[:, j])
        offsets[j] = len(codes) + offset
        codes.extend(f"c{FIELD_SEP}{feature.name}{FIELD_SEP}{b}" for b in range(len(feature.points)))
    score = points.sum(axis=1)
    pd = np.asarray(card.pd_array(score), dtype=np.float64)
    reason_codes = card.reason_codes(points, k)
    rows = np.arange(n)
    slots: list[_Slot] = []
    for r in range(reason_codes.shape[1]):
        feature_idx = reason_codes[:, r]
        valid = feature_idx >= 0
        safe = np.where(valid, feature_idx, 0)
        slots.append(_Slot(np.where(valid, offsets[safe] + bins[rows, safe], -1)))
    return score, pd, slots, codes


def _reason_text(slots: list[_Slot], fragments: list[str], n: int) -> pa.Array:
    """The compact reason text of every row, built once per distinct combination of its reasons.

    Many rows share their reasons: each row's slots (fragment index, and the bits of the points for rule
    reasons) are packed into one fixed-size binary key, Arrow's hash dictionary-encodes the keys, the text
    is built (Polars, column-wise) for the distinct keys only, and taken back to the rows.
    """
    columns: list[npt.NDArray[np.int64]] = []
    for slot in slots:
        columns.append(slot.fragment)
        if slot.number is not None:
            columns.append(np.where(slot.fragment >= 0, slot.number, 0.0).view(np.int64))
    keys = np.empty((n, len(columns)), dtype=np.int64)
    for j, column in enumerate(columns):
        keys[:, j] = column
    width = keys.shape[1] * keys.itemsize
    packed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(keys)])
    encoded = pc.dictionary_encode(packed)
    dictionary = encoded.dictionary
    distinct = np.frombuffer(
        dictionary.buffers()[1], dtype=np.int64, count=len(dictionary) * keys.shape[1], offset=dictionary.offset * width
    )
    distinct = distinct.reshape(len(dictionary), keys.shape[1])
    frag = pl.Series(fragments, dtype=pl.String)
    parts: list[pl.Expr] = []
    j = 0
    for slot in slots:
        index = distinct[:, j]
        valid = pl.Series(index >= 0)
        text = pl.lit(frag.gather(np.where(index >= 0, index, 0)))
        j += 1
        if slot.number is not None:
            text = pl.concat_str([text, pl.lit(_numbers_text(distinct[:, j].view(np.float64)))])
            j += 1
        parts.append(pl.when(pl.lit(valid)).then(text))
    joined = pl.select(pl.concat_str(parts, separator=REASON_SEP, ignore_nulls=True).fill_null("")).to_series()
    texts = joined.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(pa.string())
    return texts.take(encoded.indices)


def score_batch(indicators: pa.Table, *, rules: RuleTable, card: Scorecard | None = None, k: int = TOP_REASONS) -> pa.Table:
    """Evaluate every row: rule score and grade, card score and PD (null without a card), compact reason codes.

    ``indicators`` has ``uscc`` and one column per indicator the rules (and the card) read; the output
    keeps the input's row order.
    """
    n = indicators.num_rows
    scored = score_rules(indicators, rules)
    slots: list[_Slot] = []
    fragments: list[str] = []
    if rules.rules and n:
        slots, fragments = _rule_slots(rules, scored.points, k, 0)
    card_score: pa.Array = pa.nulls(n, pa.float64())
    pd: pa.Array = pa.nulls(n, pa.float64())
    if card is not None and n:
        c_score, c_pd, c_slots, c_fragments = _card_slots(card, indicators, k, len(fragments))
        card_score, pd = pa.array(c_score, pa.float64()), pa.array(c_pd, pa.float64())
        slots.extend(c_slots)
        fragments.extend(c_fragments)
    reasons = _reason_text(slots, fragments, n) if slots else pa.array([""] * n, pa.string())
    return pa.Table.from_arrays(
        [
            pc.cast(indicators.column("uscc"), pa.string()),
            pa.array(scored.score, pa.float64()),
            scored.grade_letters(),
            card_score,
            pd,
            reasons,
        ],
        schema=EVALUATION_SCHEMA,
    )


def expand_reasons(stored: str | None, rules: RuleTable, card: Scorecard | None = None) -> list[dict[str, Any]]:
    """The full reasons of a stored row: its compact codes read against the rule table and card it was scored with.

    Rows stored before the compact format (JSON text) are decoded as they are; a code the table or card
    does not know (it cannot happen for the versions a row names) is left out.
    """
    if not stored:
        return []
    if stored.startswith("["):
        value = json.loads(stored)
        return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []
    by_rule = {r.code: r for r in rules.rules}
    by_feature = {f.name: f for f in card.card_features} if card is not None else {}
    out: list[dict[str, Any]] = []
    for entry in stored.split(REASON_SEP):
        kind, _, rest = entry.partition(FIELD_SEP)
        code, _, value = rest.rpartition(FIELD_SEP)
        if kind == "r" and code in by_rule:
            rule = by_rule[code]
            out.append(
                {
                    "source": "rule",
                    "code": rule.code,
                    "indicator": rule.indicator,
                    "item": rule.item,
                    "text_zh": rule.name_zh,
                    "advice_zh": rule.advice_zh,
                    "points": float(value),
                }
            )
        elif kind == "c" and code in by_feature:
            feature = by_feature[code]
            labels = feature.binning.labels()
            b = int(value)
            if not 0 <= b < len(labels):
                continue
            table = [float(p) for p in feature.points]
            lost = max(table) - table[b]
            out.append(
                {
                    "source": "card",
                    "code": feature.name,
                    "indicator": feature.name,
                    "bin": labels[b],
                    "points_lost": round(lost, 4),
                    "text_zh": f"{feature.label}为「{labels[b]}」，较该项最优档少 {lost:.1f} 分",
                    "advice_zh": f"改善“{feature.label}”可提高评分卡得分",
                }
            )
    return out


def _escape(column: pl.Expr) -> pl.Expr:
    return column.str.replace_all("%", "%25", literal=True).str.replace_all(VALUE_SEP, "%7C", literal=True)


def _unescape(text: str) -> str:
    return text.replace("%7C", VALUE_SEP).replace("%25", "%")


def pack_indicators(indicators: pa.Table) -> pa.Array:
    """The indicator values of every row as one short text: ``<set version>|v1|v2|…`` in ``INDICATORS`` order
    (empty for null; numbers in their shortest exact decimal form; codes with ``%`` and ``|`` escaped)."""
    frame = pl.from_arrow(indicators.select([d.code for d in INDICATORS]))
    assert isinstance(frame, pl.DataFrame)
    columns = [
        (_escape(pl.col(d.code)) if d.kind is IndicatorKind.CODE else pl.col(d.code).cast(pl.String)).fill_null("")
        for d in INDICATORS
    ]
    packed = frame.select(pl.concat_str([pl.lit(INDICATOR_SET_VERSION), *columns], separator=VALUE_SEP).alias("i"))
    return packed.to_series().to_arrow(compat_level=pl.CompatLevel.oldest()).cast(pa.string())


def unpack_indicators(stored: str | None) -> dict[str, Any]:
    """Indicator code → value of a stored row (``pack_indicators``' text, or the JSON object of older rows);
    empty when the row was packed by another indicator set version."""
    if not stored:
        return {}
    if stored.startswith("{"):
        value = json.loads(stored)
        return value if isinstance(value, dict) else {}
    parts = stored.split(VALUE_SEP)
    if parts[0] != INDICATOR_SET_VERSION or len(parts) != len(INDICATORS) + 1:
        return {}
    out: dict[str, Any] = {}
    for d, text in zip(INDICATORS, parts[1:], strict=True):
        if text == "":
            out[d.code] = None
        elif d.kind is IndicatorKind.NUMBER:
            out[d.code] = float(text)
        elif d.kind is IndicatorKind.CODE:
            out[d.code] = _unescape(text)
        else:
            out[d.code] = int(text)
    return out
