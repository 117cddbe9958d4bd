"""Monotonic optimal binning: constraints hold on arbitrary data; missing and special values get their own bins."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xinyidai.scorecard.binning import bin_categorical, bin_numeric, woe_iv


def _strictly_monotonic(values: tuple[float, ...]) -> bool:
    d = np.diff(np.asarray(values))
    return bool(np.all(d > 0) or np.all(d < 0))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(50, 600),
    shape=st.sampled_from(["up", "down", "u", "noise"]),
    max_bins=st.integers(1, 8),
    min_bin_size=st.sampled_from([0.02, 0.05, 0.1]),
)
def test_numeric_binning_is_monotonic_and_respects_sizes(
    seed: int, rows: int, shape: str, max_bins: int, min_bin_size: float
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows).round(rng.integers(0, 3))
    z = {"up": x, "down": -x, "u": x**2 - 1, "noise": np.zeros(rows)}[shape]
    bad = rng.random(rows) < 1 / (1 + np.exp(-z))
    if bad.all() or not bad.any():
        bad[0] = not bad[0]
    b = bin_numeric("x", x, bad, max_bins=max_bins, min_bin_size=min_bin_size)
    regular = b.n_regular
    assert regular <= max_bins
    assert sum(b.counts) == rows
    assert list(b.edges) == sorted(set(b.edges))
    if regular > 1:
        assert _strictly_monotonic(b.woe[:regular])
        assert min(b.counts[:regular]) >= min_bin_size * rows - 1e-9
        assert b.trend in ("ascending", "descending")
    # Recomputing WoE/IV from the stored counts gives the stored figures for observed bins.
    counts = np.asarray(b.counts, dtype=float)
    bads = np.asarray(b.bads, dtype=float)
    woe, iv = woe_iv(counts - bads, bads)
    observed = counts > 0
    assert np.allclose(np.asarray(b.woe)[observed], woe[observed])
    assert abs(iv - b.iv) < 1e-9
    assert b.iv >= 0


def test_missing_and_special_values_get_their_own_bins_and_unseen_bins_score_as_the_worst() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 10, size=1000)
    bad = rng.random(1000) < (x / 12)
    x[:50] = np.nan
    x[50:90] = -1.0
    b = bin_numeric("x", x, bad, specials=[-1.0, -2.0])
    assert b.specials == (-1.0,)  # -2 never occurs, so it gets no bin
    assert b.counts[b.missing_index] == 50
    assert b.counts[b.missing_index + 1] == 40
    assert b.trend == "ascending"  # the bad rate rises with x
    assert b.woe[0] > b.woe[b.n_regular - 1]
    no_missing = bin_numeric("x", x[50:], bad[50:])
    assert no_missing.counts[no_missing.missing_index] == 0
    assert no_missing.woe[no_missing.missing_index] == min(no_missing.woe[: no_missing.n_regular])


def test_categorical_binning_groups_every_category_once_in_woe_order() -> None:
    rng = np.random.default_rng(5)
    cats = rng.choice(list("ABCDEFG"), size=2000)
    risk = {c: i / 8 for i, c in enumerate("ABCDEFG")}
    bad = rng.random(2000) < np.vectorize(risk.get)(cats)
    values: list[str | None] = list(cats)
    values[:30] = [None] * 30
    values[30:60] = ["未知"] * 30
    b = bin_categorical("c", values, bad, max_bins=4, specials=["未知"])
    members = [c for g in b.groups for c in g]
    assert sorted(members) == list("ABCDEFG")
    assert len(members) == len(set(members))
    assert 1 < len(b.groups) <= 4
    assert _strictly_monotonic(b.woe[: b.n_regular])
    assert b.counts[b.missing_index] == 30
    assert b.counts[b.missing_index + 1] == 30
    assert b.labels()[b.missing_index] == "缺失"
    assert b.labels()[-1] == "特殊值 未知"
