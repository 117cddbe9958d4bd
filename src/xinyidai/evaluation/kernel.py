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
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from xinyidai.evaluation.indicators import INDICATOR_SET_VERSION, INDICATORS, IndicatorKind
from xinyidai.evaluation.rules import RankedRuleScores, RuleTable, score_rules_ranked, validity, values_buffer
from xinyidai.kernel.errors import InvalidInput

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
#: Rows per thread below which ``score_batch`` does not split a table.
THREAD_ROWS: Final = 200_000
#: Separators of the compact reason codes (between reasons, inside one) and of packed indicator values.
REASON_SEP: Final = ";"
FIELD_SEP: Final = ":"
VALUE_SEP: Final = "|"


def _numbers_text(values: npt.NDArray[np.float64]) -> pl.Series:
    """Numbers as text, rounded to 4 places (the same on every engine: the same code runs)."""
    return pl.Series(np.round(values, 4), dtype=pl.Float64).cast(pl.String)


def _rule_slots(ranked: RankedRuleScores, rules: RuleTable) -> tuple[list[npt.NDArray[np.integer[Any]]], pl.Series]:
    """Up to ``k`` rule reasons per row, ``r:<code>:<points>``: one fragment per distinct (rule, points) deduction,
    numbered as ``ranked.deductions``."""
    heads = pl.Series([f"r{FIELD_SEP}{rules.rules[j].code}{FIELD_SEP}" for j, _ in ranked.deductions], dtype=pl.String)
    numbers = _numbers_text(np.asarray([p for _, p in ranked.deductions], dtype=np.float64))
    fragments = pl.select(pl.concat_str([pl.lit(heads), pl.lit(numbers)])).to_series()
    return list(ranked.top), fragments


def _card_slots(
    card: Scorecard, indicators: pa.Table, k: int, offset: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[npt.NDArray[np.integer[Any]]], list[str]]:
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
    slots: list[npt.NDArray[np.integer[Any]]] = []
    for r in range(reason_codes.shape[1]):
        feature_idx = reason_codes[:, r]
        valid = feature_idx >= 0
        safe = np.where(valid, feature_idx, 0)
        slots.append(np.where(valid, offsets[safe] + bins[rows, safe], -1))
    return score, pd, slots, codes


#: Largest key space ``_dense`` numbers with a presence table rather than a hash.
_DIRECT_KEYS: Final = 1 << 24
#: Largest key ``_reason_text`` lets a combined key reach before renumbering it densely.
_KEY_LIMIT: Final = 1 << 62


def _dense(key: npt.NDArray[np.int64], space: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """Keys in ``[0, space)`` renumbered densely: the number of every row, and the key of every number."""
    if space <= max(_DIRECT_KEYS, 4 * len(key)):
        present = np.zeros(space, dtype=np.bool_)
        present[key] = True
        number = np.cumsum(present, dtype=np.int32)
        number -= 1
        return number[key], np.flatnonzero(present)
    encoded = pc.dictionary_encode(pa.array(key, pa.int64()))
    return np.asarray(encoded.indices.to_numpy(), dtype=np.int32), np.asarray(encoded.dictionary.to_numpy(), dtype=np.int64)


@dataclass(frozen=True, slots=True)
class _Coded:
    """A text column as a code per row into a short list of texts (a null text: nothing there)."""

    codes: npt.NDArray[np.integer[Any]]
    texts: pl.Series


def _combined(columns: list[_Coded], n: int, separator: str) -> _Coded:
    """The columns joined per row (nulls left out), each distinct combination joined only once.

    The codes are combined into one integer key per row (mixed radix, renumbered densely whenever the next
    column could overflow it), the distinct keys are decoded back into their codes and joined (Polars,
    column-wise, over the distinct keys only).
    """
    key = np.zeros(n, dtype=np.int64)
    space = 1
    # How to decode a key: columns added (their radix) and renumberings (the key of each number), in order.
    steps: list[tuple[int, npt.NDArray[np.int64] | None]] = []
    for column in columns:
        radix = max(1, len(column.texts))
        if space > _KEY_LIMIT // radix:
            number, keys = _dense(key, space)
            key, space = number.astype(np.int64), len(keys)
            steps.append((0, keys))
        key *= radix
        key += column.codes
        space *= radix
        steps.append((radix, None))
    number, distinct = _dense(key, space)
    decoded: list[npt.NDArray[np.int64]] = []
    for radix, renumbered in reversed(steps):
        if renumbered is None:
            distinct, code = np.divmod(distinct, radix)
            decoded.append(code)
        else:
            distinct = renumbered[distinct]
    parts = [pl.lit(column.texts.gather(code)) for column, code in zip(columns, reversed(decoded), strict=True)]
    joined = pl.select(pl.concat_str(parts, separator=separator, ignore_nulls=True).fill_null("")).to_series()
    return _Coded(number, joined)


def _reason_text(slots: list[npt.NDArray[np.integer[Any]]], fragments: pl.Series, n: int) -> pa.Array:
    """The compact reason text of every row from its slots (a fragment number per row, -1: no reason there),
    built once per distinct combination of reasons and taken back to the rows."""
    # A null fragment last, for -1: the join leaves it out.
    fragments = pl.concat([fragments, pl.Series([None], dtype=pl.String)])
    none = len(fragments) - 1
    joined = _combined([_Coded(np.where(slot >= 0, slot, none), fragments) for slot in slots], n, REASON_SEP)
    texts = joined.texts.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(pa.string())
    return texts.take(pa.array(joined.codes, pa.int32()))


def score_batch(
    indicators: pa.Table, *, rules: RuleTable, card: Scorecard | None = None, k: int = TOP_REASONS, threads: int | None = None
) -> pa.Table:
    """Evaluate every row: rule score and grade, card score and PD (null without a card), compact reason codes.

    ``indicators`` has ``uscc`` and one column per indicator the rules (and the card) read; the output
    keeps the input's row order. A large table is scored in row ranges on ``threads`` threads (default: one
    per available core; numpy, Arrow and Polars release the GIL), each range exactly as it would be alone.
    """
    n = indicators.num_rows
    parts = max(1, min(threads if threads is not None else len(os.sched_getaffinity(0)), n // THREAD_ROWS))
    if parts == 1:
        return _score(indicators, rules, card, k)
    bounds = [n * i // parts for i in range(parts + 1)]
    with ThreadPoolExecutor(parts, thread_name_prefix="score") as pool:
        tables = list(pool.map(lambda lo, hi: _score(indicators.slice(lo, hi - lo), rules, card, k), bounds[:-1], bounds[1:]))
    return pa.concat_tables(tables)


def _score(indicators: pa.Table, rules: RuleTable, card: Scorecard | None, k: int) -> pa.Table:
    n = indicators.num_rows
    ranked = score_rules_ranked(indicators, rules, k if n else 0)
    slots, fragments = _rule_slots(ranked, rules)
    card_score: pa.Array = pa.nulls(n, pa.float64())
    pd: pa.Array = pa.nulls(n, pa.float64())
    if card is not None and n:
        c_score, c_pd, c_slots, c_fragments = _card_slots(card, indicators, k, len(fragments))
        card_score, pd = pa.array(c_score, pa.float64()), pa.array(c_pd, pa.float64())
        slots.extend(c_slots)
        fragments = pl.concat([fragments, pl.Series(c_fragments, dtype=pl.String)])
    reasons = _reason_text(slots, fragments, n) if slots and n else pa.array([""] * n, pa.string())
    return pa.Table.from_arrays(
        [
            pc.cast(indicators.column("uscc"), pa.string()),
            pa.array(ranked.score, pa.float64()),
            ranked.grade_letters(),
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


#: Most distinct integers an integer indicator is coded by offset from its smallest value (more: hashed).
_INTEGER_RANGE: Final = 1 << 16


def _coded_indicator(column: pa.ChunkedArray, kind: IndicatorKind) -> _Coded:
    """A count, flag, integer or code indicator as codes into its distinct values' texts (``""`` for null, last).

    Each distinct value is formatted once, as a Polars cast to text formats it: integers by their offset
    from the smallest when the range is short (else hashed), codes (escaped) by a hash.
    """
    n = len(column)
    valid = validity(column)
    if kind is IndicatorKind.CODE:
        encoded = pc.dictionary_encode(column)  # one dictionary for every chunk
        dictionary = encoded.chunk(0).dictionary if encoded.num_chunks else pa.array([], pa.string())
        texts = pl.select(_escape(pl.lit(pl.Series(dictionary.to_pylist(), dtype=pl.String)))).to_series()
        codes = np.concatenate([values_buffer(c.indices, np.dtype(np.int32)) for c in encoded.chunks] or [np.zeros(0, np.int32)])
    else:
        if column.type != pa.int64():
            column = pc.cast(column, pa.int64())
        low, high = pc.min_max(column).values()
        if not low.is_valid:  # every value null
            return _Coded(np.zeros(n, dtype=np.int32), pl.Series([""]))
        low, high = int(low.as_py()), int(high.as_py())
        if high - low < _INTEGER_RANGE:
            texts = pl.int_range(low, high + 1, dtype=pl.Int64, eager=True).cast(pl.String)
            codes = np.empty(n, dtype=np.int32)
            start = 0
            for chunk in column.chunks:
                np.subtract(
                    values_buffer(chunk, np.dtype(np.int64)), low, out=codes[start : start + len(chunk)], casting="unsafe"
                )
                start += len(chunk)
        else:
            encoded = pc.dictionary_encode(column)
            dictionary = encoded.chunk(0).dictionary if encoded.num_chunks else pa.array([], pa.int64())
            texts = pl.Series(dictionary.to_pylist(), dtype=pl.Int64).cast(pl.String)
            codes = np.concatenate(
                [values_buffer(c.indices, np.dtype(np.int32)) for c in encoded.chunks] or [np.zeros(0, np.int32)]
            )
    if valid is not None:
        codes = np.where(valid, codes, len(texts))
    return _Coded(codes, pl.concat([texts, pl.Series([""], dtype=pl.String)]))


def pack_indicators(indicators: pa.Table) -> pa.Array:
    """The indicator values of every row as one short text: ``<set version>|v1|v2|…`` in ``INDICATORS`` order
    (empty for null; values as a Polars cast to text writes them; codes with ``%`` and ``|`` escaped).

    Column-wise, and with few parts per row: numbers are cast to text; each run of adjacent counts, flags,
    integers and codes is coded by its distinct values (each formatted once) and joined once per distinct
    combination of them (a run ends before its possible combinations exceed n/16), then taken back to the rows.
    """
    n = indicators.num_rows
    budget = max(1024, n // 16)
    parts: list[pl.Expr] = [pl.lit(INDICATOR_SET_VERSION)]
    run: list[_Coded] = []
    space = 1
    frame: dict[str, pl.Series] = {}

    def close_run() -> None:
        nonlocal space
        if run:
            joined = run[0] if len(run) == 1 else _combined(run, n, VALUE_SEP)
            name = f"run{len(frame)}"
            frame[name] = joined.texts.gather(joined.codes)
            parts.append(pl.col(name))
            run.clear()
        space = 1

    for d in INDICATORS:
        column = indicators.column(d.code)
        if d.kind is IndicatorKind.NUMBER:  # mostly distinct: cast row by row (a hash of them costs as much)
            close_run()
            frame[d.code] = pl.Series(d.code, column)
            parts.append(pl.col(d.code).cast(pl.String).fill_null(""))
            continue
        coded = _coded_indicator(column, d.kind)
        if run and space * len(coded.texts) > budget:
            close_run()
        run.append(coded)
        space *= len(coded.texts)
    close_run()
    packed = pl.DataFrame(frame, height=n).select(pl.concat_str(parts, separator=VALUE_SEP).alias("i")).to_series()
    return packed.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(pa.string())


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
