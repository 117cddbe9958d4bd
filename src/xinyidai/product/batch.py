"""Batch matching: every enterprise against every product, vectorised with numpy, without the enterprise × product
cross join in memory.

Input frame columns (any may be null = unknown): ``uscc``, ``region_code``, ``industry_code`` (GB/T 4754 digits),
``industry_section`` (letter), ``size_class``, ``established_on`` (date), ``registered_capital`` (万元, Decimal or
float with at most 6 decimals), ``evaluation_grade``, ``evaluation_score`` (0-100), ``serious_dishonesty`` (bool),
``tax_grade``; optional ``wish_amount`` (万元, at most 6 decimals) / ``wish_term`` (months) for fit.

How (see `_Plan` and `_Subjects`):

1. Each fact a rule looks at is factorised once (`_factorize`: the distinct values and an int32 code per
   enterprise). Each distinct rule value of the products (a few dozen region lists, grade floors …) is decided
   against each distinct fact value with `model.decide` — the very function the single path uses — into a small
   int8 lookup table (fail 0, unknown 1, pass 2). Registered capital is compared as integers in micro-万元.
2. Enterprises go `chunk` rows at a time. Per chunk, every distinct rule value becomes one int8 column by a
   gather from its lookup table; a product's outcome is the element-wise minimum of its rules' columns, computed
   once per distinct rule signature (products sharing all rule values share it).
3. Ranking without floats at run time: a product's fit score depends only on the enterprise's grade slot and on
   whether the wish fits its amount and term ranges (`model.fit_table`, the single path's own sum). For each
   grade slot all (product, fit) pairs are ordered once by (score desc, name, id) — `match_one`'s order — so a
   product's rank position is an integer, and outcome × positions + position is a key whose maximum over the
   products is the best product exactly as `match_one` ranks it (no quantised scores, no ties lost). Products
   with the same rule signature (and ranges, when there are wishes) are folded into one key table.
4. Memory is the input, a few int32 arrays per enterprise and per chunk a few int8 columns per distinct rule value.

`best_matches` gives one row per enterprise; `match_all` every enterprise × product (small inputs only).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl

from xinyidai.product.model import (
    FAIL,
    GRADE_SHARE_PCT,
    GRADE_SLOTS,
    GRADES,
    PASS,
    TAX_GRADES,
    UNKNOWN,
    Product,
    decide,
    fit_table,
    grade_rank,
    rank_positions,
    rule_values,
)

_MICRO = 1_000_000
_OUTCOMES = {FAIL: "fail", UNKNOWN: "unknown", PASS: "pass"}
#: Rule kinds decided through a lookup table over the factorised facts (capital is compared directly).
_TABLE_KINDS = ("region", "industry", "size", "years", "grade", "dishonesty", "tax")
_FACT_COLUMNS = {
    "region": ["region_code"],
    "industry": ["industry_code", "industry_section"],
    "size": ["size_class"],
    "years": ["_years"],
    "grade": ["_grade_rank"],
    "dishonesty": ["serious_dishonesty"],
    "tax": ["_tax_rank"],
}
#: Enterprises per chunk by default: a few int8 columns of this length per distinct rule value.
CHUNK = 131_072

I8 = np.ndarray[Any, np.dtype[np.int8]]
I32 = np.ndarray[Any, np.dtype[np.int32]]
I64 = np.ndarray[Any, np.dtype[np.int64]]
B = np.ndarray[Any, np.dtype[np.bool_]]


def _micro(value: Decimal) -> int:
    return int(value * _MICRO)


def _factorize(frame: pl.DataFrame, cols: list[str]) -> tuple[I32, list[Any]]:
    """An int32 code per row and the distinct values (tuples for several columns), nulls being a value."""
    part = frame.select(cols)
    keys = part.unique(maintain_order=True).with_row_index("_k")
    joined = part.join(keys, on=cols, how="left", nulls_equal=True, maintain_order="left")
    codes: I32 = joined["_k"].to_numpy().astype(np.int32)
    rows = keys.drop("_k").rows()
    return codes, [r if len(cols) > 1 else r[0] for r in rows]


@dataclass(slots=True)
class _Subjects:
    """The enterprises as arrays: factorised facts, capital, grade slot, estimate percentage, wishes."""

    uscc: pl.Series
    codes: dict[str, I32]
    values: dict[str, list[Any]]
    cap: I64
    cap_known: B
    grade: I8  # grade slot: rank D 0 … A 3, 4 unknown
    pct: I64  # GRADE_SHARE_PCT × score adjustment (1/10000); -1 without a grade
    wish_amount: I64
    wish_amount_known: B
    wish_term: I64
    wish_term_known: B

    @property
    def height(self) -> int:
        return len(self.uscc)

    @property
    def with_wish(self) -> bool:
        return bool(self.wish_amount_known.any() or self.wish_term_known.any())


def _subjects(subjects: pl.DataFrame | pl.LazyFrame, *, as_of: date) -> _Subjects:
    strings = ("uscc", "region_code", "industry_code", "industry_section", "size_class", "evaluation_grade", "tax_grade")
    frame = subjects.lazy().with_columns(
        *(pl.col(c).cast(pl.String) for c in strings),
        pl.col("established_on").cast(pl.Date),
        pl.col("serious_dishonesty").cast(pl.Boolean),
    )  # all-null columns arrive as the Null type
    names = frame.collect_schema().names()
    est = pl.col("established_on")
    years = (
        pl.lit(as_of.year)
        - est.dt.year().cast(pl.Int32)
        - ((est.dt.month().cast(pl.Int32) * 100 + est.dt.day().cast(pl.Int32)) > (as_of.month * 100 + as_of.day)).cast(pl.Int32)
    ).clip(lower_bound=0)  # model.years_between
    score = pl.col("evaluation_score").cast(pl.Float64).clip(0, 100).floor().cast(pl.Int64)
    grade = pl.col("evaluation_grade").replace_strict({g: grade_rank(g) for g in GRADES}, default=None, return_dtype=pl.Int8)
    share = grade.replace_strict({grade_rank(g): p for g, p in GRADE_SHARE_PCT.items()}, default=None, return_dtype=pl.Int64)
    adj = pl.when(score.is_null()).then(100).otherwise(80 + score // 5).cast(pl.Int64)  # model.score_adjust_pct

    def micro(name: str) -> pl.Expr:
        if name not in names:
            return pl.lit(None, dtype=pl.Int64)
        return (pl.col(name).cast(pl.Decimal(38, 6)) * _MICRO).cast(pl.Int64)

    enc = frame.select(
        "uscc",
        "region_code",
        "industry_code",
        "industry_section",
        "size_class",
        "serious_dishonesty",
        years.alias("_years"),
        grade.alias("_grade_rank"),
        pl.col("tax_grade")
        .replace_strict({g: grade_rank(g, TAX_GRADES) for g in TAX_GRADES}, default=None, return_dtype=pl.Int8)
        .alias("_tax_rank"),
        micro("registered_capital").alias("_cap"),
        (share * adj).fill_null(-1).alias("_pct"),
        grade.fill_null(len(GRADES)).alias("_slot"),
        micro("wish_amount").alias("_wish_amount"),
        (pl.col("wish_term").cast(pl.Int64) if "wish_term" in names else pl.lit(None, dtype=pl.Int64)).alias("_wish_term"),
    ).collect()
    codes: dict[str, I32] = {}
    values: dict[str, list[Any]] = {}
    for kind in _TABLE_KINDS:
        codes[kind], values[kind] = _factorize(enc, _FACT_COLUMNS[kind])

    def ints(name: str) -> tuple[I64, B]:
        col = enc[name]
        known: B = col.is_not_null().to_numpy()
        return col.fill_null(0).to_numpy().astype(np.int64), known

    cap, cap_known = ints("_cap")
    wish_amount, wish_amount_known = ints("_wish_amount")
    wish_term, wish_term_known = ints("_wish_term")
    return _Subjects(
        uscc=enc["uscc"],
        codes=codes,
        values=values,
        cap=cap,
        cap_known=cap_known,
        grade=enc["_slot"].to_numpy().astype(np.int8),
        pct=enc["_pct"].to_numpy().astype(np.int64),
        wish_amount=wish_amount,
        wish_amount_known=wish_amount_known,
        wish_term=wish_term,
        wish_term_known=wish_term_known,
    )


@dataclass(slots=True)
class _Group:
    """Products sharing a rule signature (and amount and term ranges, with wishes): their best key per case."""

    members: list[int]
    amount: int  # index of the amount range
    term: int  # index of the term range
    keys: I32 = field(default_factory=lambda: np.zeros(0, dtype=np.int32))


@dataclass(slots=True)
class _Plan:
    """The products compiled against the enterprises' distinct facts."""

    products: list[Product]
    fits: int  # 4 (amount fit × 2 + term fit) with wishes, else 1 (both fit)
    big: int  # rank positions per grade slot: products × fits
    tables: dict[str, I8]  # per table kind: (distinct rule values, distinct facts) outcomes
    caps: list[int]  # distinct capital ceilings, micro-万元
    amounts: list[tuple[int, int]]  # distinct amount ranges, micro-万元
    terms: list[tuple[int, int]]
    signatures: dict[tuple[tuple[str, int], ...], list[_Group]]
    scores: np.ndarray[Any, np.dtype[np.float64]]  # (products, grade slots, fits)
    inverse: I32  # (grade slots, big): rank position → product × fits + fit
    amount_max: I64
    amount_min: I64


def _plan(products: Sequence[Product], subjects: _Subjects) -> _Plan:
    products = list(products)
    n, fits = len(products), 4 if subjects.with_wish else 1
    distinct: dict[str, dict[Any, int]] = defaultdict(dict)
    signatures: dict[tuple[tuple[str, int], ...], list[_Group]] = defaultdict(list)
    amounts: dict[tuple[int, int], int] = {}
    terms: dict[tuple[int, int], int] = {}
    for i, p in enumerate(products):
        sig = []
        for kind, value in rule_values(p.terms.rules):
            key = _micro(value) if kind == "capital" else value
            sig.append((kind, distinct[kind].setdefault(key, len(distinct[kind]))))
        t = p.terms
        a = amounts.setdefault((_micro(t.amount_min), _micro(t.amount_max)), len(amounts))
        m = terms.setdefault((t.term_min, t.term_max), len(terms))
        groups = signatures[tuple(sig)]
        found = next((g for g in groups if fits == 1 or (g.amount, g.term) == (a, m)), None)
        if found is None:
            groups.append(_Group([i], a, m))
        else:
            found.members.append(i)
    tables = {
        kind: np.array(
            [[decide(kind, rule, fact) for fact in subjects.values[kind]] for rule in distinct[kind]] or np.zeros((0, 0)),
            dtype=np.int8,
        ).reshape(len(distinct[kind]), len(subjects.values[kind]))
        for kind in _TABLE_KINDS
    }
    scores = np.zeros((n, GRADE_SLOTS, fits), dtype=np.float64)
    for i, p in enumerate(products):
        table = np.array(fit_table(p.terms), dtype=np.float64)
        scores[i] = table if fits == 4 else table[:, 3:]
    big = max(n * fits, 1)
    position = rank_positions(products, scores).astype(np.int32)  # (grade slots, products, fits), higher better
    inverse = np.zeros((GRADE_SLOTS, big), dtype=np.int32)
    for g in range(GRADE_SLOTS):
        inverse[g, position[g].reshape(-1)] = np.arange(n * fits, dtype=np.int32)
    for groups in signatures.values():
        for grp in groups:
            keys = np.zeros((3, GRADE_SLOTS, fits), dtype=np.int32)
            best = position[:, grp.members, :].max(axis=1)  # (grade slots, fits)
            keys[UNKNOWN] = UNKNOWN * big + best
            keys[PASS] = PASS * big + best
            grp.keys = keys.reshape(-1)
    return _Plan(
        products=products,
        fits=fits,
        big=big,
        tables=tables,
        caps=list(distinct["capital"]),
        amounts=list(amounts),
        terms=list(terms),
        signatures=dict(signatures),
        scores=scores,
        inverse=inverse,
        amount_max=np.array([_micro(p.terms.amount_max) for p in products] or [0], dtype=np.int64),
        amount_min=np.array([_micro(p.terms.amount_min) for p in products] or [0], dtype=np.int64),
    )


@dataclass(slots=True)
class _Chunk:
    """One chunk of enterprises: each distinct rule value's outcome column, and each range's fit column."""

    lo: int
    hi: int
    grade: I8
    columns: dict[str, I8]  # kind → (distinct rule values, rows)
    caps: list[I8]
    amount_fit: list[I8]
    term_fit: list[I8]
    all_pass: I8

    def outcome(self, signature: tuple[tuple[str, int], ...]) -> I8:
        """The worst outcome of the signature's rules per enterprise (a fresh array)."""
        if not signature:
            return self.all_pass.copy()
        first, *rest = signature
        out = self._column(*first).copy()
        for kind, idx in rest:
            np.minimum(out, self._column(kind, idx), out=out)
        return out

    def _column(self, kind: str, idx: int) -> I8:
        return self.caps[idx] if kind == "capital" else self.columns[kind][idx]


def _chunks(plan: _Plan, subjects: _Subjects, chunk: int) -> Iterator[_Chunk]:
    for lo in range(0, subjects.height, chunk):
        hi = min(lo + chunk, subjects.height)
        cap, cap_known = subjects.cap[lo:hi], subjects.cap_known[lo:hi]
        caps = [np.where(cap_known, np.where(cap <= k, PASS, FAIL), UNKNOWN).astype(np.int8) for k in plan.caps]

        def fit(values: I64, known: B, ranges: list[tuple[int, int]]) -> list[I8]:
            return [(~known | ((values >= a) & (values <= b))).astype(np.int8) for a, b in ranges]

        with_wish = plan.fits == 4
        yield _Chunk(
            lo=lo,
            hi=hi,
            grade=subjects.grade[lo:hi],
            columns={kind: plan.tables[kind][:, subjects.codes[kind][lo:hi]] for kind in _TABLE_KINDS},
            caps=caps,
            amount_fit=fit(subjects.wish_amount[lo:hi], subjects.wish_amount_known[lo:hi], plan.amounts) if with_wish else [],
            term_fit=fit(subjects.wish_term[lo:hi], subjects.wish_term_known[lo:hi], plan.terms) if with_wish else [],
            all_pass=np.full(hi - lo, PASS, dtype=np.int8),
        )


def best_matches(
    subjects: pl.DataFrame | pl.LazyFrame, products: Sequence[Product], *, as_of: date, chunk: int = CHUNK
) -> pl.DataFrame:
    """One row per enterprise: ``uscc, eligible`` (products passed), ``unknown`` (undecidable), and the best non-failing
    product (``best_product_id, best_outcome, best_score, best_estimate``) exactly as `model.match_one` ranks it."""
    subj = _subjects(subjects, as_of=as_of)
    plan = _plan(products, subj)
    n = subj.height
    eligible = np.zeros(n, dtype=np.int32)
    unknown = np.zeros(n, dtype=np.int32)
    best = np.zeros(n, dtype=np.int32)
    slots, fits = GRADE_SLOTS, plan.fits
    for part in _chunks(plan, subj, chunk):
        sl = slice(part.lo, part.hi)
        top = best[sl]
        for signature, groups in plan.signatures.items():
            o = part.outcome(signature)
            size = sum(len(g.members) for g in groups)
            passed, undecided = (o == PASS), (o == UNKNOWN)
            if size == 1:
                eligible[sl] += passed
                unknown[sl] += undecided
            else:
                eligible[sl] += passed * np.int32(size)
                unknown[sl] += undecided * np.int32(size)
            case = o * np.int8(slots) + part.grade  # outcome × grade slots + grade slot
            for grp in groups:
                idx = case
                if fits != 1:  # × 4 + amount fit × 2 + term fit
                    idx = case * np.int8(4) + part.amount_fit[grp.amount] * np.int8(2) + part.term_fit[grp.term]
                np.maximum(top, grp.keys.take(idx), out=top)
    return _summary(plan, subj, eligible, unknown, best)


def _summary(plan: _Plan, subj: _Subjects, eligible: I32, unknown: I32, best: I32) -> pl.DataFrame:
    found = best > 0
    outcome = best // plan.big
    pair = plan.inverse[subj.grade.astype(np.intp), best % plan.big]
    product = pair // plan.fits
    fit = pair % plan.fits
    score = plan.scores[product, subj.grade, fit] if plan.products else np.zeros(len(best))
    amount = plan.amount_max[product] * subj.pct // (10000 * _MICRO)
    amount = np.where(amount * _MICRO < plan.amount_min[product], 0, amount)
    ids = pl.Series([p.id for p in plan.products] or [""], dtype=pl.String)
    return pl.DataFrame(
        {
            "uscc": subj.uscc,
            "eligible": eligible,
            "unknown": unknown,
            "_found": found,
            "_pass": outcome == PASS,
            "_id": ids.gather(pl.Series(product, dtype=pl.Int64)),
            "_score": score,
            "_estimate": amount,
            "_grade_known": subj.pct >= 0,
        }
    ).select(
        "uscc",
        "eligible",
        "unknown",
        pl.when("_found").then("_id").alias("best_product_id"),
        pl.when("_found").then(pl.when("_pass").then(pl.lit("pass")).otherwise(pl.lit("unknown"))).alias("best_outcome"),
        pl.when("_found").then("_score").alias("best_score"),
        pl.when(pl.col("_found") & pl.col("_pass") & pl.col("_grade_known")).then("_estimate").alias("best_estimate"),
    )


def match_all(
    subjects: pl.DataFrame | pl.LazyFrame, products: Sequence[Product], *, as_of: date, chunk: int = CHUNK
) -> pl.DataFrame:
    """Every enterprise × product: ``uscc, product_id, outcome ("pass"/"unknown"/"fail"), score, estimate`` (万元).

    The result has len(subjects) × len(products) rows: use `best_matches` for national-scale runs.
    """
    subj = _subjects(subjects, as_of=as_of)
    plan = _plan(products, subj)
    frames: list[pl.DataFrame] = []
    labels = np.array([_OUTCOMES[FAIL], _OUTCOMES[UNKNOWN], _OUTCOMES[PASS]], dtype=object)
    for part in _chunks(plan, subj, chunk):
        uscc = subj.uscc[part.lo : part.hi]
        pct = subj.pct[part.lo : part.hi]
        for signature, groups in plan.signatures.items():
            o = part.outcome(signature)
            for grp in groups:
                fit = (
                    np.zeros(len(o), dtype=np.int8)
                    if plan.fits == 1
                    else part.amount_fit[grp.amount] * np.int8(2) + part.term_fit[grp.term]
                )
                for i in grp.members:
                    amount = plan.amount_max[i] * pct // (10000 * _MICRO)
                    amount = np.where(amount * _MICRO < plan.amount_min[i], 0, amount)
                    frames.append(
                        pl.DataFrame(
                            {
                                "uscc": uscc,
                                "product_id": pl.Series([plan.products[i].id] * len(o), dtype=pl.String),
                                "outcome": pl.Series(labels[o].tolist(), dtype=pl.String),
                                "score": plan.scores[i, part.grade, fit],
                                "estimate": pl.Series(np.where((o == PASS) & (pct >= 0), amount, 0), dtype=pl.Int64),
                                "_has": (o == PASS) & (pct >= 0),
                            }
                        )
                        .with_columns(pl.when("_has").then("estimate").alias("estimate"))
                        .drop("_has")
                    )
    if not frames:
        return pl.DataFrame(
            schema={"uscc": pl.String, "product_id": pl.String, "outcome": pl.String, "score": pl.Float64, "estimate": pl.Int64}
        )
    return pl.concat(frames)
