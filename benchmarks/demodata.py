"""Benchmark the synthetic source-data generator: rows per second and peak memory; prints JSON."""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from xinyidai.demodata import generate


def main(argv: list[str] | None = None) -> int:
    """Generate ``--enterprises`` enterprises; print {enterprises, rows, seconds, rows_per_s, peak_mb, …}."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="processes drawing enterprises (output is identical)")
    parser.add_argument("--out", type=Path, default=None, help="keep the files here (default: a temporary directory)")
    args = parser.parse_args(argv)

    out_dir = args.out or Path(tempfile.mkdtemp(prefix="xinyidai-demodata-"))
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        summary = generate(enterprises=args.enterprises, seed=args.seed, out_dir=out_dir, workers=args.workers)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        if args.out is None:
            shutil.rmtree(out_dir, ignore_errors=True)
    # ru_maxrss is in KiB on Linux and in bytes on macOS; with workers, the largest worker counts too.
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    peak_mb = peak / (1 << 20) if sys.platform == "darwin" else peak / 1024
    result = {
        "enterprises": summary.enterprises,
        "rows": summary.rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(summary.rows / seconds) if seconds else None,
        "peak_mb": round(peak_mb, 1),
        # On a shared machine wall time varies; the parent's CPU time shows the generator's own cost.
        "cpu_seconds": round(cpu_seconds, 2),
        "workers": args.workers,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
