"""Benchmark of matching; prints one JSON object.

Single path: one enterprise × 5,000 products, `Matcher.rank` over all of them plus the full reasons of the first
page of 20; wall p50/p99 ms and CPU (thread time) mean/p50/p99 ms over 200 runs (target p99 <= 20 ms). Batch: N
enterprises (default 1,000,000, synthetic, built in memory with Polars) × 1,000 products with `batch.best_matches`,
3 runs: wall and CPU seconds per run and their medians (target <= 60 s), and peak RSS MB. On a shared machine the
CPU figures are the ones that mean something; `loadavg_1m` says how shared it was.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import numpy as np
import polars as pl

from xinyidai.product.batch import best_matches
from xinyidai.product.model import (
    EligibilityRules,
    Matcher,
    Product,
    ProductStatus,
    ProductTerms,
    ProductType,
    RepaymentMethod,
    SubjectFacts,
    Wish,
)

AS_OF = date(2026, 6, 30)
REGIONS = ["350102", "350103", "350203", "350503", "440305", "330106", "110108", "510107"]
SECTIONS = {"6510": "I", "3911": "C", "5211": "F", "0111": "A", "7212": "L", "5182": "F"}


def synthetic_products(n: int, seed: int = 7) -> list[Product]:
    """n products with a mix of rules."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        credit = rnd.random() < 0.5
        lo = Decimal(rnd.choice([1, 5, 10, 50, 100]))
        rules = EligibilityRules(
            regions=tuple(rnd.sample(["35", "3501", "3502", "44", "33", "11"], rnd.randint(0, 2))),
            industries=tuple(rnd.sample(["C", "I", "F", "65", "39"], rnd.randint(0, 2))),
            size_classes=tuple(rnd.sample(["micro", "small", "medium"], rnd.randint(0, 2))),
            min_years=rnd.choice([None, 1, 2, 3, 5]),
            min_grade=rnd.choice([None, "A", "B", "C"]),
            exclude_serious_dishonesty=rnd.random() < 0.7,
            min_tax_grade=rnd.choice([None, "A", "B", "M"]),
            max_registered_capital=rnd.choice([None, Decimal(1000), Decimal(5000)]),
        )
        terms = ProductTerms(
            name=f"产品{i:05d}",
            type=ProductType.PURE_CREDIT if credit else ProductType.GUARANTEED,
            credit_loan=credit,
            amount_min=lo,
            amount_max=lo * rnd.choice([10, 20, 50]),
            term_min=rnd.choice([1, 3, 6]),
            term_max=rnd.choice([12, 24, 36, 60]),
            rate_min=Decimal(rnd.randint(300, 600)) / 100,
            rate_max=Decimal(rnd.randint(600, 1200)) / 100,
            repayment_methods=(RepaymentMethod.EQUAL_INSTALMENT,),
            rules=rules,
        )
        out.append(Product(f"p{i}", "inst", "银行", ProductStatus.PUBLISHED, terms))
    return out


def synthetic_subjects(n: int, seed: int = 11) -> pl.DataFrame:
    """n enterprises built with Polars expressions (hash-based pseudo-random columns, no per-row Python)."""
    idx = pl.int_range(0, n, dtype=pl.Int64, eager=False)

    def pick(values: Sequence[object], salt: int, null_share: int = 0) -> pl.Expr:
        h = (idx + salt).hash(seed) % (len(values) + null_share)
        return h.cast(pl.Int64).replace_strict(dict(enumerate(values)), default=None)

    codes = list(SECTIONS)
    frame = pl.select(
        idx.cast(pl.String).str.zfill(18).alias("uscc"),
        pick(REGIONS, 1).alias("region_code"),
        pick(codes, 2, 1).alias("industry_code"),
        pick(["micro", "small", "medium", "large"], 3, 1).alias("size_class"),
        (pl.lit(date(2000, 1, 1)) + pl.duration(days=((idx + 4).hash(seed) % 9500).cast(pl.Int64))).alias("established_on"),
        ((idx + 5).hash(seed) % 100_000_000).cast(pl.Decimal(38, 6)).truediv(10_000).alias("registered_capital"),
        pick(["A", "B", "C", "D"], 6, 2).alias("evaluation_grade"),
        ((idx + 7).hash(seed) % 10_000).cast(pl.Float64).truediv(100).alias("evaluation_score"),
        pick([False, True], 8, 1).cast(pl.Boolean).alias("serious_dishonesty"),
        pick(["A", "B", "M", "C", "D"], 9, 2).alias("tax_grade"),
    )
    return frame.with_columns(pl.col("industry_code").replace_strict(SECTIONS, default=None).alias("industry_section"))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 3)


def bench_single(products: list[Product], runs: int) -> dict[str, float]:
    """Wall and CPU (`time.thread_time`, this thread only: what one match costs, whatever else the machine runs)
    milliseconds per match: rank every product, then the full reasons of the first page of 20."""
    facts = SubjectFacts(
        uscc="91350100M000100Y43", region_code="350102", industry_code="6510", industry_section="I", size_class="small",
        established_on=date(2019, 5, 1), registered_capital=Decimal(300), evaluation_grade="B",
        evaluation_score=Decimal("81.5"), serious_dishonesty=False, tax_grade="B",
    )  # fmt: skip
    matcher = Matcher(products)  # compiled once per product list, as the service caches it
    wish = Wish(Decimal(100), 12)
    for _ in range(5):  # warm-up, not measured
        matcher.rank(facts, as_of=AS_OF, wish=wish)
    gc.collect()
    wall, cpu = [], []
    for _ in range(runs):
        start, cpu_start = time.perf_counter(), time.thread_time()
        ranked = matcher.rank(facts, as_of=AS_OF, wish=wish)  # every product decided and ordered
        [matcher.explain(p, facts, as_of=AS_OF, wish=wish) for _o, _s, p in ranked[:20]]  # reasons for one page
        cpu.append((time.thread_time() - cpu_start) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
    return {
        "p50_ms": _pct(wall, 0.5),
        "p99_ms": _pct(wall, 0.99),
        "max_ms": round(max(wall), 3),
        "cpu_mean_ms": round(statistics.fmean(cpu), 3),
        "cpu_p50_ms": _pct(cpu, 0.5),
        "cpu_p99_ms": _pct(cpu, 0.99),
    }


def bench_batch(enterprises: int, products: list[Product], repeat: int) -> dict[str, object]:
    """`best_matches` `repeat` times on the same synthetic enterprises: wall and CPU (`time.process_time`, all
    threads of this process) seconds, each run and the medians, and the peak RSS of the process."""
    start = time.perf_counter()
    subjects = synthetic_subjects(enterprises)
    built = time.perf_counter() - start
    wall, cpu = [], []
    result = pl.DataFrame()
    for _ in range(repeat):
        del result
        gc.collect()
        start, cpu_start = time.perf_counter(), time.process_time()
        result = best_matches(subjects, products, as_of=AS_OF)
        wall.append(round(time.perf_counter() - start, 2))
        cpu.append(round(time.process_time() - cpu_start, 2))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "enterprises": enterprises,
        "products": len(products),
        "build_s": round(built, 2),
        "runs": repeat,
        "match_s": wall,
        "match_cpu_s": cpu,
        "match_s_median": statistics.median(wall),
        "match_cpu_s_median": statistics.median(cpu),
        "target_s": 60,
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "enterprises_with_eligible": int((result["eligible"] > 0).sum()),
        "mean_eligible": round(float(np.mean(result["eligible"].to_numpy())) if result.height else 0.0, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--enterprises", type=int, default=1_000_000)
    parser.add_argument("--batch-products", type=int, default=1_000)
    parser.add_argument("--single-products", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=200, help="single matches measured")
    parser.add_argument("--repeat", type=int, default=3, help="batch runs (medians reported)")
    parser.add_argument("--skip-batch", action="store_true")
    args = parser.parse_args()

    single = bench_single(synthetic_products(args.single_products), args.runs)
    batch = (
        None if args.skip_batch else bench_batch(args.enterprises, synthetic_products(args.batch_products, seed=13), args.repeat)
    )
    print(
        json.dumps(
            {
                "benchmark": "matching",
                "cpus": os.cpu_count(),
                "loadavg_1m": round(os.getloadavg()[0], 2),
                "python": sys.version.split()[0],
                "polars": pl.__version__,
                "numpy": np.__version__,
                "single": {"products": args.single_products, "runs": args.runs, **single, "target_p99_ms": 20},
                "batch": batch,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
