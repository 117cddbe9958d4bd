"""Benchmark USCC validation: a deterministic mix of valid and invalid codes, one JSON line out.

    python benchmarks/uscc.py [--codes 1000000] [--runs 3] [--invalid-share 0.2] [--seed 2015]

Codes are generated before timing starts. Valid codes use real GB/T 2260 divisions
and the authority/type mix of a registration feed (mostly 91 企业 and 92 个体工商户);
invalid ones carry the faults seen in practice: a wrong check character, a typo,
two characters swapped, an illegal letter, a wrong length, plus codes that are
valid only after normalisation (lower case, full width, blanks). Each run validates
every code strictly. ``seconds``/``codes_per_s`` are the fastest run,
``median_codes_per_s`` the median; ``peak_mb`` is the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import time

from xinyidai.kernel.divisions import RegionLevel, all_regions
from xinyidai.kernel.uscc import ALPHABET, make_uscc, validate

# (authority, org type) → weight in a registration feed.
KINDS = {("9", "1"): 60, ("9", "2"): 30, ("9", "3"): 3, ("1", "2"): 2, ("5", "2"): 2, ("N", "2"): 1, ("Y", "1"): 1, ("A", "1"): 1}
FULLWIDTH = {ord(ch): ord(ch) + 0xFEE0 for ch in ALPHABET}


def _corrupt(code: str, rng: random.Random) -> str:
    """Return a faulty variant of a valid code (one of the common fault kinds)."""
    kind = rng.random()
    if kind < 0.35:  # wrong check character
        return code[:17] + rng.choice(ALPHABET.replace(code[17], ""))
    if kind < 0.55:  # typo somewhere in the first 17
        i = rng.randrange(17)
        return code[:i] + rng.choice(ALPHABET.replace(code[i], "")) + code[i + 1 :]
    if kind < 0.70:  # adjacent transposition
        i = rng.randrange(17)
        return code[:i] + code[i + 1] + code[i] + code[i + 2 :]
    if kind < 0.80:  # illegal letter
        i = rng.randrange(18)
        return code[:i] + rng.choice("IOSVZ") + code[i + 1 :]
    if kind < 0.90:  # wrong length
        return code[:-1] if rng.random() < 0.5 else code + rng.choice(ALPHABET)
    variant = rng.random()  # valid after normalisation
    if variant < 0.4:
        return code.lower()
    if variant < 0.7:
        return code.translate(FULLWIDTH)
    return f" {code}\t"


def generate(count: int, invalid_share: float, seed: int) -> list[str]:
    """Return ``count`` codes, about ``invalid_share`` of them faulty, the same for the same seed."""
    rng = random.Random(seed)
    regions = sorted(code for code, r in all_regions().items() if r.level is not RegionLevel.COUNTRY)
    kinds = list(KINDS)
    weights = list(KINDS.values())
    codes: list[str] = []
    for _ in range(count):
        authority, org_type = rng.choices(kinds, weights)[0]
        body = "".join(rng.choices(ALPHABET, k=8))
        code = make_uscc(authority, org_type, rng.choice(regions), body)
        codes.append(_corrupt(code, rng) if rng.random() < invalid_share else code)
    return codes


def run_once(codes: list[str]) -> tuple[float, int]:
    """Validate every code; return the elapsed seconds and how many were valid."""
    valid = 0
    start = time.perf_counter()
    for code in codes:
        valid += validate(code).valid
    return time.perf_counter() - start, valid


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: print one JSON object."""
    parser = argparse.ArgumentParser(description="USCC validation benchmark")
    parser.add_argument("--codes", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--invalid-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=2015)
    args = parser.parse_args(argv)
    if args.codes < 1 or args.runs < 1 or not 0 <= args.invalid_share <= 1:
        parser.error("--codes and --runs must be positive, --invalid-share within [0, 1]")

    codes = generate(args.codes, args.invalid_share, args.seed)
    validate(codes[0])  # load the region table outside the timed runs
    timings: list[float] = []
    valid = 0
    for _ in range(args.runs):
        seconds, valid = run_once(codes)
        timings.append(seconds)
    best = min(timings)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    print(
        json.dumps(
            {
                "benchmark": "uscc",
                "codes": args.codes,
                "seconds": round(best, 3),
                "codes_per_s": round(args.codes / best),
                "peak_mb": round(peak_kb / 1024, 1),
                "runs": args.runs,
                "median_codes_per_s": round(args.codes / statistics.median(timings)),
                "valid_codes": valid,
                "invalid_share": args.invalid_share,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
