"""The swap's bulk load stores every row exactly, in full multi-row statements and the remainder alike."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import polars as pl
import pytest
import sqlalchemy as sa

from xinyidai.db import Database
from xinyidai.evaluation import batch
from xinyidai.evaluation.batch import _Constants, swap_current


def _frame(n: int, *, card: bool) -> pl.DataFrame:
    i = pl.int_range(0, n, eager=True)
    return pl.DataFrame(
        {
            "uscc": pl.select(pl.format("91350102{}X", i.cast(pl.String).str.zfill(9))).to_series(),
            "rule_score": (i * 0.25 + 300.5).cast(pl.Float64),
            "grade": pl.select(pl.when(i % 4 == 0).then(pl.lit("A")).otherwise(pl.lit("C"))).to_series(),
            "card_score": (i * 1.5 - 7.25).cast(pl.Float64) if card else pl.repeat(None, n, dtype=pl.Float64, eager=True),
            "pd": (i / (n + 1)).cast(pl.Float64) if card else pl.repeat(None, n, dtype=pl.Float64, eager=True),
            "reasons": pl.select(pl.format("r:rule_{}:-{}.0", i % 7, i % 3)).to_series(),
            "indicators": pl.select(pl.format("2026.1|{}|天|%7C", i)).to_series(),
        }
    ).reverse()  # the load writes in uscc order whatever order it is given


@pytest.mark.parametrize(
    ("n", "card", "load_slice"), [(1_000, False, 50_000), (1_000, True, 300), (199, False, 1), (3, True, 50_000)]
)
def test_every_row_is_stored_exactly(db: Database, monkeypatch: pytest.MonkeyPatch, n: int, card: bool, load_slice: int) -> None:
    monkeypatch.setattr(batch, "LOAD_SLICE", load_slice)  # slices converted while the previous one is inserted
    frame = _frame(n, card=card)
    run_id, snapshot_id = uuid.uuid4(), uuid.uuid4()
    constants = _Constants(run_id, snapshot_id, date(2026, 6, 30), None, None, datetime(2026, 6, 30, 8, tzinfo=UTC))
    with db.transaction() as s:
        swap_current(s, frame, constants)
    columns = ", ".join(frame.columns)
    with db.transaction() as s:
        stored = s.execute(sa.text(f"SELECT {columns}, run_id, as_of FROM evaluation_current ORDER BY uscc")).all()
    expected = frame.sort("uscc").rows()
    assert [tuple(row[: len(frame.columns)]) for row in stored] == expected
    assert {uuid.UUID(str(row[-2])) for row in stored} == {run_id}
    assert {str(row[-1]) for row in stored} == {"2026-06-30"}


def test_statements_carry_as_many_rows_as_the_parameter_limit_allows() -> None:
    constants = _Constants(uuid.uuid4(), uuid.uuid4(), date(2026, 6, 30), None, None, datetime(2026, 6, 30, 8, tzinfo=UTC))
    sql = batch._sqlite_insert("t", constants, upsert=False, nulls=("card_score", "pd"), rows=3)
    assert sql.count("?") == 15
    assert sql.count("), (") == 2
