"""The exported SQL scores rows on PostgreSQL exactly as the card does (runs when XINYIDAI_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from tests.unit.scorecard.scorecard_data import SPECIAL, synthetic_frame
from xinyidai.scorecard import FitOptions, fit_scorecard

PG_ENV = "XINYIDAI_TEST_POSTGRES_URL"

pytestmark = pytest.mark.postgres


def test_exported_sql_equals_python_scores_on_postgresql() -> None:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set")
    import psycopg
    from psycopg.conninfo import make_conninfo

    frame = synthetic_frame(rows=1500, seed=17)
    options = FitOptions(test_size=0.0, special_values=(SPECIAL,), c_grid=(1.0,), binning_grid=None)
    card = fit_scorecard(frame, target="default", bad_value="bad", options=options).card
    rows = synthetic_frame(rows=300, seed=99).to_dicts()
    rows[0].update(income=None, sector=None, region="海外")
    rows[1].update(debt_ratio=SPECIAL, region="")
    rows[2].update(income=math.nan, debt_ratio=math.nan)  # PostgreSQL keeps NaN (above every number): missing
    expected = [card.score_one(r).score for r in rows]
    # Only a temporary table is used, so the server's maintenance database will do (no migrated schema needed).
    with psycopg.connect(make_conninfo(url, dbname="postgres")) as conn, conn.cursor() as cur:
        cur.execute(
            'CREATE TEMP TABLE "score input" (id bigint, income double precision, debt_ratio double precision, '
            "age double precision, region text, sector text, noise double precision)"
        )
        cur.executemany(
            'INSERT INTO "score input" VALUES (%s, %s, %s, %s, %s, %s, %s)',
            [
                (
                    i,
                    r["income"],
                    r["debt_ratio"],
                    r["age"],
                    r["region"],
                    r["sector"],
                    r["noise"],
                )
                for i, r in enumerate(rows)
            ],
        )
        cur.execute(card.to_sql("score input", "id"))
        by_id = {int(k): float(v) for k, v in cur.fetchall()}
        conn.rollback()
    assert np.allclose([by_id[i] for i in range(len(rows))], expected, atol=1e-9)
