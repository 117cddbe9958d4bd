"""Run every benchmark script in this folder and print one JSON object per benchmark (a JSON array at the end).

Usage: python benchmarks/run.py [--only NAME ...] [--quick]
Each script prints one JSON object on its last line; this runner collects them. Benchmarks never run in CI.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
#: Arguments per benchmark: the figure the issue names, and a quick variant for a smoke run.
PLANS: dict[str, tuple[list[str], list[str]]] = {
    "uscc": (["--codes", "1000000", "--runs", "3"], ["--codes", "100000", "--runs", "1"]),
    "demodata": (["--enterprises", "100000"], ["--enterprises", "5000"]),
    "ingest": (["--rows", "1000000"], ["--rows", "20000", "--db", "sqlite", "--no-compare"]),
    "matching": ([], ["--enterprises", "20000", "--runs", "20"]),
    "report_api": (["--db", "both", "--seconds", "8"], ["--db", "sqlite", "--seconds", "2"]),
    "scorecard": (["--rows", "1000000", "--runs", "5"], ["--rows", "20000", "--runs", "1", "--dict-rows", "1000"]),
    "evaluate": (["--enterprises", "1000000", "--runs", "1"], ["--enterprises", "2000", "--runs", "1"]),
}


def main() -> int:
    """Run the selected benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--quick", action="store_true", help="small sizes, for checking that the scripts run")
    args = parser.parse_args()
    results = []
    for name, (full, quick) in PLANS.items():
        if args.only and name not in args.only:
            continue
        script = HERE / f"{name}.py"
        if not script.exists():
            continue
        out = subprocess.run(
            [sys.executable, str(script), *(quick if args.quick else full)], capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            results.append({"benchmark": name, "error": out.stderr.strip().splitlines()[-1:]})
            continue
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps(result, ensure_ascii=False), flush=True)
        results.append(result)
    print(json.dumps(results, ensure_ascii=False))
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
