"""Validation figures against independent implementations, and the HTML report."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import roc_auc_score

from tests.unit.scorecard.scorecard_data import SPECIAL, synthetic_frame
from xinyidai.scorecard import FitOptions, fit_scorecard, render_validation_html, render_validation_page, score_metrics, validate
from xinyidai.scorecard.validate import psi


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(10, 400), ties=st.booleans())
def test_score_metrics_match_sklearn_auc_and_scipy_ks(seed: int, n: int, ties: bool) -> None:
    rng = np.random.default_rng(seed)
    bad = rng.random(n) < 0.3
    bad[0], bad[1] = True, False
    scores = rng.normal(size=n) - bad * rng.uniform(0, 2)
    if ties:
        scores = scores.round(0)
    m = score_metrics(scores, bad)
    assert m["auc"] == pytest.approx(roc_auc_score(~bad, scores))
    assert m["gini"] == pytest.approx(2 * m["auc"] - 1)
    assert m["ks"] == pytest.approx(stats.ks_2samp(scores[bad], scores[~bad], method="asymp").statistic)


def test_psi_is_zero_for_identical_shares_and_positive_otherwise() -> None:
    assert psi(np.array([0.2, 0.3, 0.5]), np.array([0.2, 0.3, 0.5])) == 0.0
    assert psi(np.array([0.2, 0.3, 0.5]), np.array([0.5, 0.3, 0.2])) > 0.25


def test_validation_report_of_a_fitted_card() -> None:
    frame = synthetic_frame(rows=3000, seed=7)
    options = FitOptions(test_size=0.3, special_values=(SPECIAL,), c_grid=(0.1, 1.0), binning_grid=None)
    result = fit_scorecard(frame, target="default", bad_value="bad", options=options, feature_labels={"income": "月收入"})
    assert result.test_report is not None
    train, test = result.train_report, result.test_report
    assert train.rows == 2100
    assert test.rows == 900
    assert train.bads + test.bads == int((frame["default"] == "bad").sum())
    assert 0.6 < test.auc < train.auc + 0.05
    # Bands are the training deciles: on the training set each holds about a tenth, and PSI is ~0.
    assert train.psi < 1e-6
    assert all(abs(b.share - b.reference_share) < 1e-9 for b in train.bands)
    assert sum(b.rows for b in test.bands) == test.rows
    # Observed bad rate falls from the lowest to the highest band; PD is calibrated (HL does not reject).
    assert test.bands[0].bad_rate > test.bands[-1].bad_rate
    assert train.hosmer_lemeshow.p_value > 0.01
    assert train.hosmer_lemeshow.dof == len(train.bands) - 2
    # A shifted population shows up in PSI and in the CSI of the shifted feature.
    shifted = frame.with_columns(pl.col("income") * 3)
    drift = validate(result.card, shifted, target="default", bad_value="bad")
    csi = {f.feature: f.csi for f in drift.features}
    assert drift.psi > 0.1
    assert csi["income"] > 0.25 > csi["region"]
    same = validate(result.card, frame, target="default", bad_value="bad", reference=frame)
    assert same.psi < 1e-9
    assert all(f.csi < 1e-9 for f in same.features)
    data = test.to_dict()
    assert set(data) >= {"auc", "ks", "gini", "psi", "hosmer_lemeshow", "bands", "features"}

    fragment = render_validation_html(test)
    assert fragment.startswith("<section")
    assert fragment.endswith("</section>")
    assert fragment.count("<svg") == 3
    assert "<script" not in fragment
    assert "http://" not in fragment.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "核心指标" in fragment
    assert "月收入" in fragment
    assert f"{test.auc:.4f}" in fragment
    page = render_validation_page(train, test)
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<section") == 2
    assert not re.search(r"<(script|link|img)\b", page)


def test_numeric_targets_and_escaping_in_the_report() -> None:
    frame = synthetic_frame(rows=1500, seed=9).with_columns((pl.col("default") == "bad").cast(pl.Int64).alias("default"))
    result = fit_scorecard(
        frame,
        target="default",
        bad_value="1",
        options=FitOptions(test_size=0.0, c_grid=(1.0,), binning_grid=None),
        feature_labels={"income": "<b>收入</b>"},
    )
    assert result.test_report is None
    assert result.train_report.bads == int(frame["default"].sum())
    html = render_validation_html(result.train_report)
    assert "<b>收入" not in html
    assert "&lt;b&gt;收入" in html
