"""Fitting a scorecard: split, bin, select by IV, L2 logistic regression with C chosen by CV, scale, calibrate.

Everything that is learned is learned on the training part only (the stratified test part is scored once, at the
end, for the test report). Steps:

1. stratified train/test split (``test_size`` 0 trains on everything);
2. monotonic optimal binning of every candidate feature (:mod:`~xinyidai.scorecard.binning`);
3. keep features with IV >= ``min_iv`` (at most ``max_features``, highest IV first), drop one of every pair whose
   WoE columns correlate above ``max_correlation`` (the one with the lower IV);
4. L2 logistic regression of bad on the WoE columns, C chosen by stratified K-fold CV AUC on the training set;
   features whose coefficient has the wrong sign (higher WoE must mean lower risk) are dropped and the model refit;
5. points: ``score = offset + factor * ln(good:bad odds)``, ``factor = pdo / ln 2``,
   ``offset = base_score - factor * ln(base_odds)``, split evenly over features;
6. PD calibration: a logistic (Platt) fit of bad on the out-of-fold CV scores, so the PD reflects
   out-of-sample risk; it must decrease with the score (otherwise the model's own PD is kept).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from xinyidai.scorecard.binning import Binning, bin_categorical, bin_numeric
from xinyidai.scorecard.card import CardFeature, Scorecard
from xinyidai.scorecard.errors import ScorecardError, ScorecardInputError
from xinyidai.scorecard.validate import ValidationReport, bad_mask, score_bands, score_metrics, validate

_NUMERIC = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64, pl.Float32, pl.Float64)


@dataclass(frozen=True)
class FitOptions:
    """Everything that can be tuned when fitting a card (defaults suit application scorecards)."""

    test_size: float = 0.3
    seed: int = 42
    features: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    max_bins: int = 6
    min_bin_size: float = 0.05
    max_prebins: int = 20
    min_prebin_size: float = 0.02
    special_values: tuple[float | str, ...] = ()
    special_values_by_feature: Mapping[str, tuple[float | str, ...]] = field(default_factory=dict)
    monotonic_trend: Mapping[str, Literal["ascending", "descending", "auto"]] = field(default_factory=dict)
    min_iv: float = 0.02
    max_features: int | None = None
    max_correlation: float | None = 0.8
    c_grid: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
    cv_folds: int = 5
    base_score: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0
    points_decimals: int | None = None
    calibrate: bool = True
    binning_grid: tuple[tuple[float, int], ...] | None = ((0.05, 6), (0.03, 8), (0.02, 8))

    def __post_init__(self) -> None:
        if not 0.0 <= self.test_size < 1.0:
            raise ScorecardError("test_size 须在 [0, 1) 之间")
        if self.max_bins < 1 or not 0.0 < self.min_bin_size <= 0.5:
            raise ScorecardError("max_bins 须 >= 1，min_bin_size 须在 (0, 0.5] 之间")
        if self.pdo <= 0 or self.base_odds <= 0:
            raise ScorecardError("pdo 与 base_odds 须为正数")
        if self.cv_folds < 2 or not self.c_grid:
            raise ScorecardError("cv_folds 须 >= 2 且 c_grid 不能为空")


@dataclass(frozen=True)
class FitResult:
    """A fitted card with its reports and how it was chosen."""

    card: Scorecard
    train_report: ValidationReport
    test_report: ValidationReport | None
    c: float
    cv_auc: float
    iv: Mapping[str, float]
    dropped: Mapping[str, str]
    train_rows: int
    test_rows: int

    def summary(self) -> dict[str, Any]:
        """Headline figures: test (or train when there is no test part) ``auc``, ``ks``, ``gini``, ``variables``..."""
        head = self.test_report or self.train_report
        return {
            "auc": head.auc,
            "ks": head.ks,
            "gini": head.gini,
            "variables": len(self.card.features),
            "evaluated_on": "test" if self.test_report is not None else "train",
            "train_auc": self.train_report.auc,
            "train_ks": self.train_report.ks,
            "cv_auc": self.cv_auc,
            "c": self.c,
            "rows": self.train_rows + self.test_rows,
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "bad_rate": head.bad_rate,
            "hosmer_lemeshow_p": head.hosmer_lemeshow.p_value,
            "features": list(self.card.features),
            "iv": {k: round(v, 6) for k, v in sorted(self.iv.items(), key=lambda kv: -kv[1])},
            "dropped": dict(self.dropped),
        }


def _column_values(frame: pl.DataFrame, name: str, categorical: bool) -> tuple[npt.NDArray[Any], bool]:
    series = frame.get_column(name)
    if not categorical and series.dtype in _NUMERIC:
        return series.cast(pl.Float64).fill_nan(None).to_numpy().astype(np.float64), False
    if series.dtype == pl.Boolean:
        series = series.cast(pl.Int8)
    values = series.cast(pl.Utf8).to_list()
    return np.asarray(values, dtype=object), True


def _bin_feature(frame: pl.DataFrame, name: str, bad: npt.NDArray[np.bool_], options: FitOptions) -> Binning:
    specials = options.special_values_by_feature.get(name, options.special_values)
    values, is_cat = _column_values(frame, name, name in options.categorical)
    if is_cat:
        return bin_categorical(
            name,
            list(values),
            bad,
            max_bins=options.max_bins,
            min_bin_size=options.min_bin_size,
            max_prebins=options.max_prebins,
            specials=[str(s) for s in specials],
        )
    numeric_specials: list[float] = []
    for s in specials:
        try:
            numeric_specials.append(float(s))
        except (TypeError, ValueError):
            continue
    return bin_numeric(
        name,
        values,
        bad,
        max_bins=options.max_bins,
        min_bin_size=options.min_bin_size,
        max_prebins=options.max_prebins,
        min_prebin_size=options.min_prebin_size,
        specials=numeric_specials,
        trend=options.monotonic_trend.get(name, "auto"),
    )


def _woe_matrix(card_bins: list[Binning], indices: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    out = np.empty(indices.shape, dtype=np.float64)
    for j, b in enumerate(card_bins):
        out[:, j] = np.asarray(b.woe)[indices[:, j]]
    return out


def logistic_fit(x: npt.NDArray[np.float64], y: npt.NDArray[np.bool_], c: float) -> tuple[npt.NDArray[np.float64], float]:
    """L2-penalised logistic regression of ``y`` on ``x`` (intercept not penalised), as scikit-learn's objective.

    Minimises ``sum(log loss) + ||w||^2 / (2c)`` by Newton's method with step halving: the problem is small
    (rows x a few dozen WoE columns) and strictly convex, so a handful of Cholesky solves converge; this avoids
    the per-call overhead of a general solver inside the CV loops.
    """
    n, k = x.shape
    design = np.hstack([x, np.ones((n, 1))])
    target = y.astype(np.float64)
    ridge = np.full(k + 1, 1.0 / c)
    ridge[-1] = 0.0
    w = np.zeros(k + 1)
    mean = float(target.mean())
    w[-1] = math.log(mean / (1.0 - mean))

    def loss(v: npt.NDArray[np.float64]) -> float:
        z = design @ v
        return float(np.sum(np.logaddexp(0.0, z) - target * z) + 0.5 * np.sum(ridge * v * v))

    current = loss(w)
    for _ in range(100):
        z = design @ w
        p = 1.0 / (1.0 + np.exp(-z))
        grad = design.T @ (p - target) + ridge * w
        hess = (design * (p * (1.0 - p))[:, None]).T @ design + np.diag(ridge) + 1e-10 * np.eye(k + 1)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while True:
            trial = w - t * step
            value = loss(trial)
            if value <= current + 1e-12 or t < 1e-8:
                break
            t *= 0.5
        w, previous, current = trial, current, value
        if previous - current < 1e-10 * max(1.0, abs(current)) and float(np.max(np.abs(t * step))) < 1e-8:
            break
    return w[:-1].copy(), float(w[-1])


def _cv_choose_c(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.bool_], options: FitOptions
) -> tuple[float, float, npt.NDArray[np.float64]]:
    """C with the best mean CV AUC (ties: the smaller C), that AUC, and the out-of-fold linear predictor."""
    from sklearn.model_selection import StratifiedKFold  # fit time only: keeps scoring imports light

    folds = list(StratifiedKFold(n_splits=options.cv_folds, shuffle=True, random_state=options.seed).split(x, y))
    best: tuple[float, float, npt.NDArray[np.float64]] | None = None
    for c in sorted(options.c_grid):
        oof = np.empty(len(y), dtype=np.float64)
        aucs = []
        for tr, va in folds:
            coef, intercept = logistic_fit(x[tr], y[tr], c)
            oof[va] = x[va] @ coef + intercept
            aucs.append(score_metrics(-oof[va], y[va])["auc"])
        mean = float(np.mean(aucs))
        if best is None or mean > best[1] + 1e-6:
            best = (c, mean, oof)
    assert best is not None
    return best


@dataclass
class _Model:
    names: list[str]
    binnings: dict[str, Binning]
    coef: npt.NDArray[np.float64]
    intercept: float
    c: float
    cv_auc: float
    oof: npt.NDArray[np.float64]
    iv: dict[str, float]
    dropped: dict[str, str]
    columns: dict[str, Any]


def _fit_model(train: pl.DataFrame, y: npt.NDArray[np.bool_], candidates: list[str], options: FitOptions) -> _Model:
    """Bin, select and fit the logistic regression on the training part for one binning configuration."""
    iv: dict[str, float] = {}
    dropped: dict[str, str] = {}
    binnings: dict[str, Binning] = {}
    for name in candidates:
        b = _bin_feature(train, name, y, options)
        iv[name] = b.iv
        if b.iv < options.min_iv or (len(b.counts) - np.count_nonzero(b.counts)) == len(b.counts) - 1:
            dropped[name] = "low_iv" if b.iv < options.min_iv else "single_bin"
            continue
        binnings[name] = b
    ranked = sorted(binnings, key=lambda k: -binnings[k].iv)
    if options.max_features is not None:
        for name in ranked[options.max_features :]:
            dropped[name] = "max_features"
        ranked = ranked[: options.max_features]
    if not ranked:
        raise ScorecardError("没有信息值达到阈值的特征", min_iv=options.min_iv)

    # Bin indices of the training rows through a provisional card (same code path as scoring).
    def provisional(names: list[str]) -> Scorecard:
        return Scorecard(
            [CardFeature(binnings[n], n, 0.0, tuple(0.0 for _ in binnings[n].woe)) for n in names],
            intercept=0.0,
            base_score=options.base_score,
            base_odds=options.base_odds,
            pdo=options.pdo,
        )

    train_columns = {n: train.get_column(n).to_arrow() for n in ranked}
    all_idx = provisional(ranked).bin_indices(train_columns)
    woe_all = _woe_matrix([binnings[n] for n in ranked], all_idx)

    kept = list(range(len(ranked)))
    if options.max_correlation is not None and len(kept) > 1:
        corr = np.atleast_2d(np.nan_to_num(np.asarray(np.corrcoef(woe_all, rowvar=False), dtype=np.float64)))
        keep: list[int] = []
        for j in kept:  # ranked by IV, so the first of a correlated pair has the higher IV
            partner = next((k for k in keep if abs(corr[j, k]) > options.max_correlation), None)
            if partner is None:
                keep.append(j)
            else:
                dropped[ranked[j]] = f"correlated_with:{ranked[partner]}"
        kept = keep

    while True:
        x = woe_all[:, kept]
        c, cv_auc, oof = _cv_choose_c(x, y, options)
        coef, intercept = logistic_fit(x, y, c)
        wrong = [kept[j] for j in range(len(kept)) if coef[j] >= 0]
        if not wrong or len(wrong) == len(kept):
            break
        worst = max(wrong, key=lambda j: coef[kept.index(j)])
        dropped[ranked[worst]] = "wrong_sign"
        kept = [j for j in kept if j != worst]
    names = [ranked[j] for j in kept]
    return _Model(
        names=names,
        binnings={n: binnings[n] for n in names},
        coef=coef,
        intercept=intercept,
        c=c,
        cv_auc=cv_auc,
        oof=oof,
        iv=iv,
        dropped=dropped,
        columns={n: train_columns[n] for n in names},
    )


def fit_scorecard(
    frame: pl.DataFrame,
    *,
    target: str,
    bad_value: object,
    options: FitOptions = FitOptions(),
    feature_labels: Mapping[str, str] | None = None,
) -> FitResult:
    """Fit a scorecard on ``frame`` (target column ``target``, ``bad_value`` marks a bad outcome)."""
    if target not in frame.columns:
        raise ScorecardInputError(f"缺少目标列 {target!r}", column=target)
    frame = frame.filter(pl.col(target).is_not_null())
    bad_all = bad_mask(frame.get_column(target), bad_value)
    n_bad = int(bad_all.sum())
    if n_bad == 0 or n_bad == len(bad_all):
        raise ScorecardError("目标列须同时包含坏样本与好样本", bad_value=str(bad_value), bads=n_bad, rows=len(bad_all))
    candidates = list(options.features) if options.features is not None else [c for c in frame.columns if c != target]
    unknown = [c for c in candidates if c not in frame.columns]
    if unknown:
        raise ScorecardInputError(f"输入缺少特征列：{', '.join(unknown)}", columns=unknown)
    candidates = [c for c in candidates if c not in options.exclude and c != target]
    if not candidates:
        raise ScorecardError("没有可用的特征列")
    min_class = min(n_bad, len(bad_all) - n_bad)
    if min_class < options.cv_folds * (2 if options.test_size > 0 else 1):
        raise ScorecardError("坏样本或好样本太少，无法交叉验证", minority=min_class)

    if options.test_size > 0:
        from sklearn.model_selection import train_test_split

        positions = np.arange(frame.height)
        tr_pos, te_pos = train_test_split(positions, test_size=options.test_size, stratify=bad_all, random_state=options.seed)
        train = frame[np.sort(tr_pos)]
        test: pl.DataFrame | None = frame[np.sort(te_pos)]
    else:
        train, test = frame, None
    y = bad_mask(train.get_column(target), bad_value)

    configs = [(options.min_bin_size, options.max_bins)] if options.binning_grid is None else list(options.binning_grid)
    fitted: _Model | None = None
    for min_bin_size, max_bins in configs:
        trial = _fit_model(
            train, y, candidates, replace(options, min_bin_size=min_bin_size, max_bins=max_bins, binning_grid=None)
        )
        if fitted is None or trial.cv_auc > fitted.cv_auc + 1e-6:
            fitted = trial
    assert fitted is not None
    names, binnings, coef, intercept, c, cv_auc, oof = (
        fitted.names,
        fitted.binnings,
        fitted.coef,
        fitted.intercept,
        fitted.c,
        fitted.cv_auc,
        fitted.oof,
    )
    iv, dropped, train_columns = fitted.iv, fitted.dropped, fitted.columns
    labels = dict(feature_labels or {})

    factor = options.pdo / math.log(2.0)
    offset = options.base_score - factor * math.log(options.base_odds)
    share = (offset - factor * intercept) / len(names)
    features = []
    for j, name in enumerate(names):
        b = binnings[name]
        pts = [share - factor * float(coef[j]) * w for w in b.woe]
        if options.points_decimals is not None:
            pts = [round(p, options.points_decimals) for p in pts]
        features.append(CardFeature(binning=b, label=labels.get(name, name), coefficient=float(coef[j]), points=tuple(pts)))

    card = Scorecard(features, intercept=intercept, base_score=options.base_score, base_odds=options.base_odds, pdo=options.pdo)
    train_score, _, _ = card.score_columns({n: train_columns[n] for n in names})
    calibration = card.calibration
    if options.calibrate:
        # Platt fit of bad on the out-of-fold log-odds of good (u = (score - offset) / factor), mapped to the score.
        slope_u, intercept_u = logistic_fit((-oof).reshape(-1, 1), y, 1e9)
        if slope_u[0] < 0:
            calibration = (intercept_u - float(slope_u[0]) * offset / factor, float(slope_u[0]) / factor)
    metadata = {
        "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": target,
        "bad_value": str(bad_value),
        "train_rows": train.height,
        "train_bads": int(y.sum()),
        "test_rows": 0 if test is None else test.height,
        "c": c,
        "cv_auc": cv_auc,
        "options": {
            "test_size": options.test_size,
            "seed": options.seed,
            "max_bins": options.max_bins,
            "min_bin_size": options.min_bin_size,
            "min_iv": options.min_iv,
            "max_correlation": options.max_correlation,
            "cv_folds": options.cv_folds,
        },
        "candidate_iv": iv,
        "dropped": dropped,
        "score_bands": score_bands(train_score),
    }
    card = Scorecard(
        features,
        intercept=intercept,
        base_score=options.base_score,
        base_odds=options.base_odds,
        pdo=options.pdo,
        calibration=calibration,
        metadata=metadata,
    )
    train_report = validate(card, train, target=target, bad_value=bad_value)
    test_report = validate(card, test, target=target, bad_value=bad_value) if test is not None else None
    return FitResult(
        card=card,
        train_report=train_report,
        test_report=test_report,
        c=c,
        cv_auc=cv_auc,
        iv=iv,
        dropped=dropped,
        train_rows=train.height,
        test_rows=0 if test is None else test.height,
    )
