"""Synthetic credit data with numeric, categorical, missing and special values (shared by the scorecard tests)."""

from __future__ import annotations

import numpy as np
import polars as pl

SPECIAL = -999.0


def synthetic_frame(rows: int = 3000, seed: int = 7) -> pl.DataFrame:
    """Rows whose bad flag depends on income (down), debt ratio (up), region and sector; with gaps and specials."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(mean=2.0, sigma=0.6, size=rows)
    debt = rng.uniform(0, 1.2, size=rows)
    age = rng.integers(20, 70, size=rows).astype(np.float64)
    region = rng.choice(["福州", "厦门", "泉州", "漳州", "南平"], size=rows, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    sector = rng.choice(["制造业", "批发零售", "建筑业", "科技服务"], size=rows)
    region_effect = {"福州": -0.3, "厦门": -0.5, "泉州": 0.0, "漳州": 0.3, "南平": 0.6}
    sector_effect = {"制造业": 0.0, "批发零售": 0.3, "建筑业": 0.6, "科技服务": -0.4}
    logit = (
        -1.0
        - 0.15 * income
        + 1.8 * debt
        - 0.01 * (age - 40)
        + np.vectorize(region_effect.get)(region)
        + np.vectorize(sector_effect.get)(sector)
    )
    bad = rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))
    income_col: list[float | None] = [float(v) for v in income]
    debt_col: list[float | None] = [float(v) for v in debt]
    for i in rng.choice(rows, size=rows // 20, replace=False):
        income_col[i] = None
    for i in rng.choice(rows, size=rows // 25, replace=False):
        debt_col[i] = SPECIAL
    sector_col: list[str | None] = list(sector)
    for i in rng.choice(rows, size=rows // 30, replace=False):
        sector_col[i] = None
    return pl.DataFrame(
        {
            "id": np.arange(rows),
            "income": pl.Series(income_col, dtype=pl.Float64),
            "debt_ratio": pl.Series(debt_col, dtype=pl.Float64),
            "age": age,
            "region": list(region),
            "sector": pl.Series(sector_col, dtype=pl.Utf8),
            "noise": rng.normal(size=rows),
            "default": np.where(bad, "bad", "good"),
        }
    )
