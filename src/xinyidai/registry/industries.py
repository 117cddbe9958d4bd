"""GB/T 4754-2017 industries (国民经济行业分类): 门类 (sections A-T) and 大类 (divisions 01-97).

The table is ``data/industries.csv``, transcribed from the standard (see
``data/industries.source.txt``); it has the 20 sections and 97 divisions but
not the 中类/小类 levels. Codes are accepted as ``"C"``, ``"39"``, ``"391"``,
``"3911"`` or with the section letter in front (``"C3911"``); a deeper code
resolves to the most specific level the table has (its 大类).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib.resources import files
from types import MappingProxyType


class IndustryLevel(StrEnum):
    """Level of a classification entry."""

    SECTION = "section"  # 门类
    DIVISION = "division"  # 大类


@dataclass(frozen=True, slots=True)
class Industry:
    """One classification entry with its section letter and Chinese name."""

    code: str
    name: str
    level: IndustryLevel
    section: str
    parent_code: str | None


@cache
def _table() -> Mapping[str, Industry]:
    text = files("xinyidai.registry.data").joinpath("industries.csv").read_text(encoding="utf-8")
    table = {
        row["code"]: Industry(row["code"], row["name"], IndustryLevel(row["level"]), row["section"], row["parent_code"] or None)
        for row in csv.DictReader(io.StringIO(text))
    }
    return MappingProxyType(table)


def normalize_code(code: str) -> str | None:
    """Return the digits of a code (or the section letter alone), or None if malformed.

    ``"C3911"`` → ``"3911"``; ``" c "`` → ``"C"``; a section letter that does not
    match the digits (``"A3911"``) makes the code malformed.
    """
    text = code.strip().upper()
    if len(text) == 1:
        return text if "A" <= text <= "T" else None
    letter, digits = (text[0], text[1:]) if text[:1].isalpha() else ("", text)
    if not (2 <= len(digits) <= 4 and digits.isascii() and digits.isdigit()):
        return None
    division = _table().get(digits[:2])
    if division is None or (letter and letter != division.section):
        return None
    return digits


def industry(code: str) -> Industry | None:
    """Return the entry for a code: the section for a letter, else the code's 大类; None if unknown."""
    norm = normalize_code(code)
    if norm is None:
        return None
    return _table().get(norm if len(norm) == 1 else norm[:2])


def section_of(code: str) -> str | None:
    """Return the section letter (门类) of any code, or None if unknown."""
    found = industry(code)
    return found.section if found is not None else None


def sections() -> tuple[Industry, ...]:
    """Return the 20 sections in order."""
    return tuple(i for i in _table().values() if i.level is IndustryLevel.SECTION)


def divisions(section: str | None = None) -> tuple[Industry, ...]:
    """Return the 大类, all of them or those of one section, in code order."""
    return tuple(i for i in _table().values() if i.level is IndustryLevel.DIVISION and (section is None or i.section == section))
