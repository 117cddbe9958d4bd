"""Reading input tables (CSV, Parquet, JSON lines) and saving/loading cards as a directory."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from xinyidai.scorecard.card import Scorecard
from xinyidai.scorecard.errors import CardFormatError, ScorecardInputError

CARD_FILE = "card.json"


def read_table(path: str | Path) -> pl.DataFrame:
    """Read a CSV (default), ``.parquet`` or ``.jsonl``/``.ndjson`` file; unreadable input raises ScorecardInputError."""
    p = Path(path)
    if not p.is_file():
        raise ScorecardInputError(f"找不到输入文件：{p}", path=str(p))
    suffix = p.suffix.lower()
    try:
        if suffix == ".parquet":
            return pl.read_parquet(p)
        if suffix in (".jsonl", ".ndjson"):
            return pl.read_ndjson(p)
        return pl.read_csv(p, infer_schema_length=10000, null_values=["", "NA", "NaN", "null", "NULL"])
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise ScorecardInputError(f"无法读取输入文件 {p.name}：{exc}", path=str(p)) from exc


def save_card(card: Scorecard, directory: str | Path) -> Path:
    """Write ``card.json`` into ``directory`` (created if needed); returns the file path."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    target = d / CARD_FILE
    tmp = d / (CARD_FILE + ".tmp")
    tmp.write_text(json.dumps(card.to_dict(), ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(target)
    return target


def load_card(directory: str | Path) -> Scorecard:
    """Load a card saved by :func:`save_card` (a directory holding ``card.json``, or the JSON file itself)."""
    p = Path(directory)
    if p.is_dir():
        p = p / CARD_FILE
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ScorecardInputError(f"找不到评分卡文件：{p}", path=str(p)) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CardFormatError(f"评分卡文件无法解析：{exc}", path=str(p)) from exc
    if not isinstance(data, dict):
        raise CardFormatError("评分卡文件不是 JSON 对象", path=str(p))
    return Scorecard.from_dict(data)
