"""Fitting internals: the logistic solver matches scikit-learn; fitted cards survive a JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from xinyidai.scorecard import FitOptions, Scorecard, fit_scorecard
from xinyidai.scorecard.fit import logistic_fit


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(40, 400), k=st.integers(1, 6), c=st.sampled_from([0.01, 0.3, 1.0, 10.0]))
def test_logistic_fit_matches_scikit_learn(seed: int, n: int, k: int, c: float) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, k))
    y = rng.random(n) < 1 / (1 + np.exp(-(x @ rng.normal(size=k) + 0.3)))
    y[0], y[1] = True, False
    coef, intercept = logistic_fit(x, y, c)
    ref = LogisticRegression(C=c, tol=1e-10, max_iter=10_000).fit(x, y)
    assert np.allclose(coef, ref.coef_[0], atol=1e-4)
    assert intercept == pytest.approx(float(ref.intercept_[0]), abs=1e-4)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), decimals=st.sampled_from([None, 0, 2]))
def test_any_fitted_card_round_trips_through_json(seed: int, decimals: int | None) -> None:
    rng = np.random.default_rng(seed)
    n = 600
    x = rng.normal(size=n)
    cat = rng.choice(["甲", "乙", "丙"], size=n)
    y = rng.random(n) < 1 / (1 + np.exp(-(x + (cat == "丙"))))
    frame = pl.DataFrame({"x": x, "c": cat, "y": y.astype(np.int64)})
    options = FitOptions(test_size=0.0, c_grid=(1.0,), binning_grid=None, min_iv=0.0, points_decimals=decimals)
    card = fit_scorecard(frame, target="y", bad_value=1, options=options).card
    data = json.loads(json.dumps(card.to_dict()))
    again = Scorecard.from_dict(data)
    assert again.to_dict() == card.to_dict()
    cols = {f: frame.get_column(f).to_arrow() for f in card.features}
    assert np.array_equal(again.score_columns(cols)[0], card.score_columns(cols)[0])
    if decimals == 0:
        assert all(float(p).is_integer() for f in card.card_features for p in f.points)
