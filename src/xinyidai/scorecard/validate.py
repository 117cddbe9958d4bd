"""Validation of a scorecard on a labelled table: discrimination, calibration and stability.

AUC, KS and Gini (higher score = better credit); calibration by score band with the Hosmer–Lemeshow test;
IV per feature on the validated table; PSI of the score and CSI per feature against the training population
(bands and bin shares stored in the card at fit time) or against an explicit ``reference`` table; the score
distribution by band. Bands are the training-score deciles stored in the card, so reports are comparable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl

from xinyidai.scorecard.binning import woe_iv
from xinyidai.scorecard.errors import ScorecardError, ScorecardInputError

if TYPE_CHECKING:
    from xinyidai.scorecard.card import Scorecard

_PSI_FLOOR = 1e-4


def bad_mask(series: pl.Series, bad_value: object) -> npt.NDArray[np.bool_]:
    """True where the target equals ``bad_value`` (numbers compare numerically, everything else as text)."""
    if series.dtype.is_numeric():
        try:
            wanted = float(bad_value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return np.zeros(series.len(), dtype=bool)
        return np.asarray((series.cast(pl.Float64) == wanted).fill_null(False).to_numpy(), dtype=bool)
    if series.dtype == pl.Boolean:
        wanted_bool = str(bad_value).strip().lower() in ("1", "true", "yes", "y", "t")
        return np.asarray((series == wanted_bool).fill_null(False).to_numpy(), dtype=bool)
    return np.asarray((series.cast(pl.Utf8) == str(bad_value)).fill_null(False).to_numpy(), dtype=bool)


def score_metrics(scores: npt.NDArray[np.float64], bad: npt.NDArray[np.bool_]) -> dict[str, float]:
    """AUC, KS and Gini of ``scores`` against ``bad`` (higher score = better credit; AUC is P(good > bad))."""
    scores = np.asarray(scores, dtype=np.float64)
    bad = np.asarray(bad, dtype=bool)
    n_bad = int(bad.sum())
    n_good = len(bad) - n_bad
    if n_bad == 0 or n_good == 0:
        raise ScorecardError("计算 AUC/KS 需要同时有好样本与坏样本")
    from scipy import stats  # imported on use: scipy.stats is slow to import and scoring never needs it

    ranks = stats.rankdata(scores)
    auc = float((ranks[~bad].sum() - n_good * (n_good + 1) / 2) / (n_good * n_bad))
    order = np.argsort(scores, kind="stable")
    s_sorted = scores[order]
    b_sorted = bad[order]
    last_of_value = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    cum_bad = np.cumsum(b_sorted)[last_of_value] / n_bad
    cum_good = np.cumsum(~b_sorted)[last_of_value] / n_good
    ks = float(np.max(np.abs(cum_bad - cum_good)))
    return {"auc": auc, "ks": ks, "gini": 2.0 * auc - 1.0}


def score_bands(scores: npt.NDArray[np.float64], bands: int = 10) -> dict[str, list[float]]:
    """Decile band edges of a score distribution and the share of rows in each band (stored in cards)."""
    qs = np.quantile(scores, np.linspace(0, 1, bands + 1)[1:-1]) if len(scores) else np.array([])
    edges = np.unique(qs)
    idx = np.searchsorted(edges, scores, side="right")
    shares = np.bincount(idx, minlength=len(edges) + 1) / max(len(scores), 1)
    return {"edges": [float(e) for e in edges], "shares": [float(s) for s in shares]}


def psi(expected: npt.NDArray[np.float64], actual: npt.NDArray[np.float64]) -> float:
    """Population stability index of two share vectors (shares floored at 1e-4)."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), _PSI_FLOOR)
    a = np.maximum(np.asarray(actual, dtype=np.float64), _PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class HosmerLemeshow:
    """Hosmer–Lemeshow goodness-of-fit over the score bands."""

    statistic: float
    dof: int
    p_value: float


@dataclass(frozen=True)
class Band:
    """One score band: rows, bads, observed bad rate and mean predicted PD."""

    lower: float | None
    upper: float | None
    rows: int
    bads: int
    bad_rate: float
    mean_pd: float
    share: float
    reference_share: float


@dataclass(frozen=True)
class FeatureStat:
    """Per-feature figures on the validated table: IV and CSI against the reference population."""

    feature: str
    label: str
    iv: float
    csi: float


@dataclass(frozen=True)
class ValidationReport:
    """Validation of one card on one labelled table."""

    rows: int
    bads: int
    bad_rate: float
    auc: float
    ks: float
    gini: float
    psi: float
    hosmer_lemeshow: HosmerLemeshow
    bands: tuple[Band, ...]
    features: tuple[FeatureStat, ...]
    roc: tuple[tuple[float, float], ...]
    score_min: float
    score_max: float
    reference: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        out = asdict(self)
        out["roc"] = [list(p) for p in self.roc]
        return out


def _roc_points(scores: npt.NDArray[np.float64], bad: npt.NDArray[np.bool_], points: int = 60) -> tuple[tuple[float, float], ...]:
    """ROC curve (false good rate, true bad rate) taking applicants from the lowest score up; thinned for charts."""
    order = np.argsort(scores, kind="stable")
    b = bad[order]
    tpr = np.r_[0.0, np.cumsum(b) / max(int(b.sum()), 1)]
    fpr = np.r_[0.0, np.cumsum(~b) / max(int((~b).sum()), 1)]
    take = np.unique(np.linspace(0, len(tpr) - 1, min(points, len(tpr))).astype(int))
    return tuple((float(fpr[i]), float(tpr[i])) for i in take)


def _hosmer_lemeshow(
    bad: npt.NDArray[np.bool_], pd: npt.NDArray[np.float64], idx: npt.NDArray[np.int64], n_bands: int
) -> HosmerLemeshow:
    rows = np.bincount(idx, minlength=n_bands).astype(np.float64)
    obs = np.bincount(idx, weights=bad.astype(np.float64), minlength=n_bands)
    exp = np.bincount(idx, weights=pd, minlength=n_bands)
    used = (rows > 0) & (exp > 0) & (exp < rows)
    stat = float(np.sum((obs[used] - exp[used]) ** 2 / (exp[used] * (1.0 - exp[used] / rows[used]))))
    dof = max(int(used.sum()) - 2, 1)
    from scipy import stats

    return HosmerLemeshow(statistic=stat, dof=dof, p_value=float(stats.chi2.sf(stat, dof)))


def validate(
    card: Scorecard,
    frame: pl.DataFrame,
    *,
    target: str,
    bad_value: object,
    reference: pl.DataFrame | None = None,
) -> ValidationReport:
    """Validate ``card`` on ``frame``; stability is measured against ``reference`` or the training population."""
    if target not in frame.columns:
        raise ScorecardInputError(f"缺少目标列 {target!r}", column=target)
    frame = frame.filter(pl.col(target).is_not_null())
    bad = bad_mask(frame.get_column(target), bad_value)
    columns = {f: frame.get_column(f).to_arrow() for f in card.features if f in frame.columns}
    bins = card.bin_indices(columns)
    score, pd, _ = card.score_columns(columns)
    metrics = score_metrics(score, bad)

    stored = card.metadata.get("score_bands")
    if reference is not None:
        ref_cols = {f: reference.get_column(f).to_arrow() for f in card.features if f in reference.columns}
        ref_score, _, _ = card.score_columns(ref_cols)
        ref_bins = card.bin_indices(ref_cols)
        band_info: Mapping[str, Any] = score_bands(ref_score)
        ref_feature_shares = [
            np.bincount(ref_bins[:, j], minlength=len(cf.points)) / max(reference.height, 1)
            for j, cf in enumerate(card.card_features)
        ]
        reference_name = "reference"
    else:
        band_info = stored if isinstance(stored, Mapping) else score_bands(score)
        ref_feature_shares = [
            np.asarray(cf.binning.counts, dtype=np.float64) / max(sum(cf.binning.counts), 1) for cf in card.card_features
        ]
        reference_name = "training" if isinstance(stored, Mapping) else "self"
    edges = np.asarray(band_info["edges"], dtype=np.float64)
    ref_shares = np.asarray(band_info["shares"], dtype=np.float64)
    n_bands = len(edges) + 1
    idx = np.searchsorted(edges, score, side="right").astype(np.int64)
    rows = np.bincount(idx, minlength=n_bands)
    bads = np.bincount(idx, weights=bad.astype(np.float64), minlength=n_bands)
    pd_sum = np.bincount(idx, weights=pd, minlength=n_bands)
    shares = rows / max(len(score), 1)
    bands = tuple(
        Band(
            lower=float(edges[i - 1]) if i > 0 else None,
            upper=float(edges[i]) if i < len(edges) else None,
            rows=int(rows[i]),
            bads=int(bads[i]),
            bad_rate=float(bads[i] / rows[i]) if rows[i] else 0.0,
            mean_pd=float(pd_sum[i] / rows[i]) if rows[i] else 0.0,
            share=float(shares[i]),
            reference_share=float(ref_shares[i]) if i < len(ref_shares) else 0.0,
        )
        for i in range(n_bands)
    )
    feats = []
    for j, cf in enumerate(card.card_features):
        n_bins = len(cf.points)
        counts = np.bincount(bins[:, j], minlength=n_bins).astype(np.float64)
        fb = np.bincount(bins[:, j], weights=bad.astype(np.float64), minlength=n_bins).astype(np.float64)
        _, iv = woe_iv(counts - fb, fb)
        feats.append(
            FeatureStat(feature=cf.name, label=cf.label, iv=iv, csi=psi(ref_feature_shares[j], counts / max(len(score), 1)))
        )
    return ValidationReport(
        rows=len(score),
        bads=int(bad.sum()),
        bad_rate=float(bad.mean()),
        auc=metrics["auc"],
        ks=metrics["ks"],
        gini=metrics["gini"],
        psi=psi(ref_shares, shares) if len(ref_shares) == n_bands else 0.0,
        hosmer_lemeshow=_hosmer_lemeshow(bad, pd, idx, n_bands),
        bands=bands,
        features=tuple(feats),
        roc=_roc_points(score, bad),
        score_min=float(score.min()),
        score_max=float(score.max()),
        reference=reference_name,
    )
