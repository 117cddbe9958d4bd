"""Vectorised matching: the rules of `model.py` compiled to Polars expressions over all enterprises × products.

Input frame columns (any may be null = unknown): ``uscc``, ``region_code`` (6 digits), ``industry_code`` (GB/T 4754
digits), ``industry_section`` (letter), ``size_class``, ``established_on`` (date), ``registered_capital`` (万元,
Decimal or float with at most 6 decimals), ``evaluation_grade``, ``evaluation_score`` (0-100),
``serious_dishonesty`` (bool), ``tax_grade``; optional ``wish_amount`` / ``wish_term`` for fit. The single path
(`model.match_one`) and this one agree on outcome and estimate exactly, on score to float rounding
(``tests/unit/product/test_product_batch.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import polars as pl

from xinyidai.product.model import GRADE_SHARE_PCT, GRADES, SIZE_CLASSES, TAX_GRADES, Product, grade_rank

_SECTIONS = {chr(c): c - ord("A") for c in range(ord("A"), ord("T") + 1)}
_MICRO = 1_000_000
_FAIL, _UNKNOWN, _PASS = 0, 1, 2
_OUTCOMES = {_FAIL: "fail", _UNKNOWN: "unknown", _PASS: "pass"}
#: Bits of the packed ranking key of `best_matches`: outcome | score quantised to 1e-6 (27) | reversed product index (20).
_IDX_BITS, _SCORE_BITS = 20, 27


def _micro(value: Decimal) -> int:
    return int(value * _MICRO)


def prepare(subjects: pl.DataFrame | pl.LazyFrame, *, as_of: date) -> pl.LazyFrame:
    """Encode the facts as compact numeric columns (`_region`, `_ind`, `_sec`, `_size`, `_years`, `_cap`, `_grade`,
    `_adj`, `_dis`, `_tax`) once, so that each product's rules are a handful of integer comparisons."""
    strings = ("uscc", "region_code", "industry_code", "industry_section", "size_class", "evaluation_grade", "tax_grade")
    frame = subjects.lazy().with_columns(
        *(pl.col(c).cast(pl.String) for c in strings), pl.col("established_on").cast(pl.Date)
    )  # all-null columns arrive as the Null type
    names = frame.collect_schema().names()
    est = pl.col("established_on")
    years = (
        pl.lit(as_of.year)
        - est.dt.year().cast(pl.Int32)
        - ((est.dt.month().cast(pl.Int32) * 100 + est.dt.day().cast(pl.Int32)) > (as_of.month * 100 + as_of.day)).cast(pl.Int32)
    ).clip(lower_bound=0)
    score = pl.col("evaluation_score").cast(pl.Float64).clip(0, 100).floor().cast(pl.Int32)
    region = pl.col("region_code")
    cols = [
        pl.when(region.str.len_chars() == 6).then(region.cast(pl.Int64, strict=False)).alias("_region"),
        pl.col("industry_code").str.slice(0, 2).cast(pl.Int32, strict=False).alias("_ind"),
        pl.col("industry_code").is_not_null().alias("_has_ind"),
        pl.col("industry_section").replace_strict(_SECTIONS, default=None, return_dtype=pl.Int8).alias("_sec"),
        pl.col("size_class")
        .replace_strict({s: i for i, s in enumerate(SIZE_CLASSES)}, default=None, return_dtype=pl.Int8)
        .alias("_size"),
        years.alias("_years"),
        (pl.col("registered_capital").cast(pl.Decimal(38, 6)) * _MICRO).cast(pl.Int64).alias("_cap"),
        pl.col("evaluation_grade")
        .replace_strict({g: grade_rank(g) for g in GRADES}, default=None, return_dtype=pl.Int8)
        .alias("_grade"),
        pl.when(score.is_null()).then(100).otherwise(80 + score // 5).cast(pl.Int64).alias("_adj"),
        pl.col("serious_dishonesty").cast(pl.Boolean).alias("_dis"),
        pl.col("tax_grade")
        .replace_strict({g: grade_rank(g, TAX_GRADES) for g in TAX_GRADES}, default=None, return_dtype=pl.Int8)
        .alias("_tax"),
        (pl.col("wish_amount").cast(pl.Decimal(38, 6)) * _MICRO).cast(pl.Int64).alias("_wish_amount")
        if "wish_amount" in names
        else pl.lit(None, dtype=pl.Int64).alias("_wish_amount"),
        pl.col("wish_term").cast(pl.Int64).alias("_wish_term")
        if "wish_term" in names
        else pl.lit(None, dtype=pl.Int64).alias("_wish_term"),
    ]
    share = pl.col("_grade").replace_strict(
        {grade_rank(g): p for g, p in GRADE_SHARE_PCT.items()}, default=None, return_dtype=pl.Int64
    )
    margins = [
        pl.when(pl.col("_grade").is_null())
        .then(0.0)
        .otherwise(10.0 * ((pl.col("_grade").cast(pl.Float64) - r).clip(0) / 3.0))
        .alias(f"_m{r}")
        for r in range(len(GRADES))
    ]
    quantised = [
        ((pl.col(f"_m{r}") * 1e6).round().cast(pl.Int64) * (1 << _IDX_BITS)).alias(f"_mk{r}") for r in range(len(GRADES))
    ]
    return frame.with_columns(cols).with_columns((share * pl.col("_adj")).alias("_pct"), *margins).with_columns(quantised)


def _rule(known: pl.Expr, hit: pl.Expr) -> pl.Expr:
    """0 fail, 1 unknown, 2 pass."""
    return (
        pl.when(~known).then(pl.lit(_UNKNOWN, pl.Int8)).when(hit).then(pl.lit(_PASS, pl.Int8)).otherwise(pl.lit(_FAIL, pl.Int8))
    )


def outcome_expr(product: Product) -> pl.Expr:
    """The product's eligibility rules as one Int8 expression over a `prepare`d frame (0 fail, 1 unknown, 2 pass)."""
    rules = product.terms.rules
    parts: list[pl.Expr] = []
    if rules.regions:
        region = pl.col("_region")
        hit = pl.any_horizontal([(region // 10 ** (6 - len(p))) == int(p) for p in rules.regions]).fill_null(False)
        parts.append(_rule(region.is_not_null(), hit))
    if rules.industries:
        tests = [(pl.col("_sec") == _SECTIONS[c]) if c.isalpha() else (pl.col("_ind") == int(c)) for c in rules.industries]
        parts.append(_rule(pl.col("_has_ind"), pl.any_horizontal(tests).fill_null(False)))
    if rules.size_classes:
        codes = [SIZE_CLASSES.index(s) for s in rules.size_classes]
        parts.append(_rule(pl.col("_size").is_not_null(), pl.col("_size").is_in(codes)))
    if rules.min_years is not None:
        parts.append(_rule(pl.col("_years").is_not_null(), pl.col("_years") >= rules.min_years))
    if rules.min_grade is not None:
        parts.append(_rule(pl.col("_grade").is_not_null(), pl.col("_grade") >= grade_rank(rules.min_grade)))
    if rules.exclude_serious_dishonesty:
        parts.append(_rule(pl.col("_dis").is_not_null(), ~pl.col("_dis")))
    if rules.min_tax_grade is not None:
        parts.append(_rule(pl.col("_tax").is_not_null(), pl.col("_tax") >= grade_rank(rules.min_tax_grade, TAX_GRADES)))
    if rules.max_registered_capital is not None:
        parts.append(_rule(pl.col("_cap").is_not_null(), pl.col("_cap") <= _micro(rules.max_registered_capital)))
    if not parts:
        return pl.lit(_PASS, pl.Int8)
    return pl.min_horizontal(parts) if len(parts) > 1 else parts[0]


def score_expr(product: Product) -> pl.Expr:
    """`model.fit_score` as an expression (same order of float additions, so equal to the last bit)."""
    t = product.terms
    wish_amount, wish_term = pl.col("_wish_amount"), pl.col("_wish_term")
    amount_fit = (wish_amount.is_null() | wish_amount.is_between(_micro(t.amount_min), _micro(t.amount_max))).cast(pl.Float64)
    term_fit = (wish_term.is_null() | wish_term.is_between(t.term_min, t.term_max)).cast(pl.Float64)
    base = 20.0 * max(0.0, 1.0 - float(t.rate_min) / 24.0) + (10.0 if t.credit_loan else 0.0)
    required = grade_rank(t.rules.min_grade) if t.rules.min_grade else 0
    return pl.lit(base) + 40.0 * amount_fit + 20.0 * term_fit + pl.col(f"_m{required}")


def estimate_expr(product: Product, outcome: pl.Expr) -> pl.Expr:
    """`model.estimate` as an Int64 expression in whole 万元 (null when no estimate)."""
    t = product.terms
    amount = (pl.lit(_micro(t.amount_max), pl.Int64) * pl.col("_pct")) // (10000 * _MICRO)
    amount = pl.when(amount * _MICRO < _micro(t.amount_min)).then(0).otherwise(amount)
    return pl.when(outcome == _PASS).then(amount).otherwise(None).cast(pl.Int64)


def match_all(subjects: pl.DataFrame | pl.LazyFrame, products: Sequence[Product], *, as_of: date) -> pl.DataFrame:
    """Every enterprise × product: ``uscc, product_id, outcome ("pass"/"unknown"/"fail"), score, estimate`` (万元).

    The result has len(subjects) × len(products) rows: use `best_matches` for national-scale runs.
    """
    prepared = prepare(subjects, as_of=as_of)
    frames = []
    for product in products:
        outcome = outcome_expr(product)
        frames.append(
            prepared.select(
                pl.col("uscc"),
                pl.lit(product.id).alias("product_id"),
                outcome.replace_strict(_OUTCOMES, return_dtype=pl.String).alias("outcome"),
                score_expr(product).alias("score"),
                estimate_expr(product, outcome).alias("estimate"),
            )
        )
    if not frames:
        return pl.DataFrame(
            schema={"uscc": pl.String, "product_id": pl.String, "outcome": pl.String, "score": pl.Float64, "estimate": pl.Int64}
        )
    return pl.concat(frames).collect()


def _score_key(product: Product, with_wish: bool) -> pl.Expr:
    """The score quantised to 1e-6 and shifted into the key; without wishes the fit parts are constant (one add)."""
    if with_wish:
        return (score_expr(product) * 1e6).round().cast(pl.Int64) * (1 << _IDX_BITS)
    t = product.terms
    base = 20.0 * max(0.0, 1.0 - float(t.rate_min) / 24.0) + (10.0 if t.credit_loan else 0.0) + 40.0 + 20.0
    required = grade_rank(t.rules.min_grade) if t.rules.min_grade else 0
    return pl.col(f"_mk{required}") + round(base * 1e6) * (1 << _IDX_BITS)


def best_matches(
    subjects: pl.DataFrame | pl.LazyFrame, products: Sequence[Product], *, as_of: date, chunk: int = 20
) -> pl.DataFrame:
    """One row per enterprise: ``uscc, eligible`` (products passed), ``unknown`` (undecidable), and the best non-failing
    product (``best_product_id, best_outcome, best_score, best_estimate``), ranked as in `model.match_one`.

    Each product's outcome, score and position pack into one Int64 key (outcome, then score to 1e-6, then name
    order), so the best product is a running `max_horizontal`; products go `chunk` at a time, so memory holds a few
    columns per chunk rather than N × M cells. Scores equal to 1e-6 tie-break by name (the single path by exact score).
    """
    ordered = sorted(products, key=lambda p: (p.terms.name, p.id))
    if len(ordered) >= 1 << _IDX_BITS:
        raise ValueError("too many products for one batch")
    base = prepare(subjects, as_of=as_of).collect()
    with_wish = base["_wish_amount"].null_count() < base.height or base["_wish_term"].null_count() < base.height
    state = base.select("uscc", "_pct", eligible=pl.lit(0, pl.Int32), unknown=pl.lit(0, pl.Int32), key=pl.lit(0, pl.Int64))
    top = (1 << _IDX_BITS) - 1
    for start in range(0, len(ordered), chunk):
        part = ordered[start : start + chunk]
        outcomes = [outcome_expr(p) for p in part]
        keys = [
            pl.when(o == _FAIL)
            .then(pl.lit(0, pl.Int64))
            .otherwise(o.cast(pl.Int64) * (1 << (_SCORE_BITS + _IDX_BITS)) + _score_key(p, with_wish) + (top - (start + j)))
            for j, (p, o) in enumerate(zip(part, outcomes, strict=True))
        ]
        step = base.select(
            e=pl.sum_horizontal([(o == _PASS).cast(pl.Int32) for o in outcomes]),
            u=pl.sum_horizontal([(o == _UNKNOWN).cast(pl.Int32) for o in outcomes]),
            k=pl.max_horizontal(keys),
        )
        state = state.with_columns(
            eligible=pl.col("eligible") + step["e"],
            unknown=pl.col("unknown") + step["u"],
            key=pl.max_horizontal("key", step["k"]),
        )
    ids = [p.id for p in ordered]
    amount_max = pl.Series([_micro(p.terms.amount_max) for p in ordered] or [0], dtype=pl.Int64)
    amount_min = pl.Series([_micro(p.terms.amount_min) for p in ordered] or [0], dtype=pl.Int64)
    key = pl.col("key")
    idx = pl.when(key > 0).then(top - key % (1 << _IDX_BITS)).otherwise(0).cast(pl.Int64)
    rank = key // (1 << (_SCORE_BITS + _IDX_BITS))
    found = key > 0
    est = (pl.lit(amount_max).gather(idx) * pl.col("_pct")) // (10000 * _MICRO)
    est = pl.when(est * _MICRO < pl.lit(amount_min).gather(idx)).then(0).otherwise(est)
    return state.select(
        "uscc",
        "eligible",
        "unknown",
        pl.when(found)
        .then(idx.replace_strict(dict(enumerate(ids)), default=None, return_dtype=pl.String))
        .alias("best_product_id"),
        pl.when(found).then(pl.when(rank == _PASS).then(pl.lit("pass")).otherwise(pl.lit("unknown"))).alias("best_outcome"),
        pl.when(found).then(((key // (1 << _IDX_BITS)) % (1 << _SCORE_BITS)).cast(pl.Float64) / 1e6).alias("best_score"),
        pl.when(found & (rank == _PASS)).then(est).cast(pl.Int64).alias("best_estimate"),
    )
