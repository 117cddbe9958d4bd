"""The per-process memo tables of a chunk's publication terms give what the rules give, row by row, whatever
was seen before (warm, cold, or a table started again past its limit)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyidai.catalog import load_catalog
from xinyidai.ingest import frames, model
from xinyidai.ingest.frames import plan_for

PENALTY = load_catalog().item("admin_penalty")
PLAN = plan_for(PENALTY)
BASES = [
    None,
    "",
    "《中华人民共和国食品安全法》第一百二十四条",
    "《特种设备安全法》第八十四条",
    "《中华人民共和国市场主体登记管理条例》第四十四条",
    "《消防法》第六十条；《安全生产法》第九十九条",
]
TYPES = [None, "警告", "罚款", "罚款;没收违法所得", "吊销许可证", "责令停产停业,罚款", "未知类别"]
DATES = st.one_of(
    st.none(),
    st.just("不是日期"),
    st.dates(min_value=date(2015, 1, 1), max_value=date(2027, 12, 31)).map(date.isoformat),
)
Row = tuple[str | None, str | None, str | None, str | None]
ROWS = st.lists(st.tuples(DATES, st.sampled_from(TYPES), st.sampled_from(BASES), st.sampled_from(BASES)), min_size=1, max_size=40)


@pytest.fixture(autouse=True)
def _cold_tables() -> Iterator[None]:
    """Each test starts from empty tables and leaves none behind."""
    frames._TERMS_TABLES.clear()
    frames._SECTOR_TABLES.clear()
    yield
    frames._TERMS_TABLES.clear()
    frames._SECTOR_TABLES.clear()


def _chunk(rows: Sequence[Row]) -> pl.DataFrame:
    decided, types, basis, conduct = zip(*rows, strict=True)
    return pl.DataFrame(
        {"CF_JDRQ": list(decided), "CF_CFLB": list(types), "CF_YJ": list(basis), "CF_WFXW": list(conduct)},
        schema=dict.fromkeys(("CF_JDRQ", "CF_CFLB", "CF_YJ", "CF_WFXW"), pl.String),
    )


def _reference(rows: Sequence[Row]) -> list[tuple[object, ...]]:
    """Row by row through the pure rules (``publication_terms`` and ``model.penalty_sectors``)."""
    out: list[tuple[object, ...]] = []
    for decided, types, basis, conduct in rows:
        try:
            day = date.fromisoformat(decided) if decided else None
        except ValueError:
            day = None
        if day is None:
            out.append((None, None, None, None))
            continue
        terms = frames.publication_terms(PENALTY, day, types, model.penalty_sectors(basis or "", conduct or ""))
        out.append((terms.severity, terms.rule, terms.min_end, terms.end))
    return out


def _columns(rows: Sequence[Row]) -> list[tuple[object, ...]]:
    return list(frames._publication_columns(_chunk(rows), PLAN).iter_rows())


@settings(max_examples=60, deadline=None)
@given(st.lists(ROWS, min_size=1, max_size=4))
def test_chunk_after_chunk_the_memo_tables_give_the_rules_terms(chunks: list[list[Row]]) -> None:
    frames._TERMS_TABLES.clear()
    frames._SECTOR_TABLES.clear()
    for rows in chunks:
        assert _columns(rows) == _reference(rows)


def test_a_table_past_its_limit_starts_again_from_the_chunk_at_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(frames, "_TERMS_CACHE_LIMIT", 3)
    first: list[Row] = [("2024-03-01", "罚款", BASES[2], None), ("2024-03-02", "警告", None, None)]
    second: list[Row] = [
        ("2024-03-01", "罚款", BASES[2], None),
        ("2025-06-30", "吊销许可证", BASES[3], ""),
        (None, "罚款", None, None),
    ]
    assert _columns(first) == _reference(first)
    assert _columns(second) == _reference(second)
    # The second chunk's three distinct keys would have made five: the table holds the chunk's own keys only.
    assert frames._TERMS_TABLES[PENALTY.code].height == 3
    assert _columns(first) == _reference(first)
