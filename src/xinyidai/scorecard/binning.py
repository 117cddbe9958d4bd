"""Monotonic optimal binning, weight of evidence and information value.

Numeric features: missing and special values are set aside (each gets its own bin); the rest is pre-binned
with a CART tree (as OptBinning does) and the pre-bins are merged into at most ``max_bins`` bins by an exact
dynamic programme that maximises the information value subject to (a) every bin holding at least
``min_bin_size`` of the rows and (b) the WoE being strictly monotonic across bins, ascending or descending (both
are solved; the better one wins unless a trend is forced). ``trend`` names the direction of the bad rate, as
OptBinning does (``ascending``: the bad rate rises with the value, so the WoE falls). Categorical features:
each category is a pre-bin, ordered by WoE, and the same programme merges neighbours (so a categorical binning
is monotonic in its own order).

WoE of a bin is ``ln(share of goods / share of bads)`` with a 0.5 smoothing count (higher = better credit); a bin
with no training rows (missing or a special value never seen) gets the lowest WoE of the observed bins, so an
unseen or withheld value never scores better than a disclosed one. IV is ``sum((share_good - share_bad) * woe)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

import numpy as np
import numpy.typing as npt

Kind = Literal["numeric", "categorical"]
Trend = Literal["ascending", "descending", "auto"]

_SMOOTH = 0.5
_EPS = 1e-9


@dataclass(frozen=True)
class Binning:
    """The bins of one feature (layout: regular bins, then the missing bin, then one bin per special value).

    Numeric regular bin ``i`` holds ``edges[i-1] <= x < edges[i]``. Categorical regular bin ``i`` holds the
    categories ``groups[i]``; categories never seen in training score as missing.
    """

    name: str
    kind: Kind
    edges: tuple[float, ...]
    groups: tuple[tuple[str, ...], ...]
    specials: tuple[float | str, ...]
    counts: tuple[int, ...]
    bads: tuple[int, ...]
    woe: tuple[float, ...]
    iv: float
    trend: str

    @property
    def n_regular(self) -> int:
        """Number of regular bins (excluding missing and special bins)."""
        return len(self.edges) + 1 if self.kind == "numeric" else len(self.groups)

    @property
    def missing_index(self) -> int:
        """Index of the missing bin in the layout."""
        return self.n_regular

    def labels(self) -> tuple[str, ...]:
        """Human-readable bin labels in layout order (Chinese where words are needed)."""
        out: list[str] = []
        if self.kind == "numeric":
            bounds = [-math.inf, *self.edges, math.inf]
            for lo, hi in pairwise(bounds):
                if lo == -math.inf and hi == math.inf:
                    out.append("全部取值")
                elif lo == -math.inf:
                    out.append(f"< {_fmt(hi)}")
                elif hi == math.inf:
                    out.append(f">= {_fmt(lo)}")
                else:
                    out.append(f"[{_fmt(lo)}, {_fmt(hi)})")
        else:
            for group in self.groups:
                text = "、".join(group[:6])
                out.append(text + ("等" if len(group) > 6 else ""))
        out.append("缺失")
        out.extend(f"特殊值 {_fmt(s) if isinstance(s, float) else s}" for s in self.specials)
        return tuple(out)


def _fmt(value: float) -> str:
    """A bin edge as people read it (4 significant digits); the card scores with the exact edges."""
    return f"{value:.4g}"


def woe_iv(goods: npt.NDArray[np.float64], bads: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], float]:
    """Smoothed WoE per bin and the total IV; empty bins get WoE 0 and add nothing to the IV."""
    total_good = float(goods.sum())
    total_bad = float(bads.sum())
    share_good = (goods + _SMOOTH) / (total_good + _SMOOTH)
    share_bad = (bads + _SMOOTH) / (total_bad + _SMOOTH)
    woe = np.log(share_good / share_bad)
    empty = (goods + bads) == 0
    woe[empty] = 0.0
    iv = float(np.sum(np.where(empty, 0.0, (share_good - share_bad) * woe)))
    return woe, iv


def _optimal_merge(
    goods: npt.NDArray[np.float64],
    bads: npt.NDArray[np.float64],
    *,
    total_good: float,
    total_bad: float,
    min_count: float,
    max_bins: int,
    ascending: bool,
) -> tuple[list[int], float] | None:
    """Best partition of consecutive pre-bins: returns the start index of each bin and the IV, or None.

    Exact dynamic programme over (number of bins, last bin = pre-bins i..j) with the previous bin's WoE strictly
    below (ascending) or above (descending) the last bin's WoE.
    """
    n = len(goods)
    cg = np.concatenate([[0.0], np.cumsum(goods)])
    cb = np.concatenate([[0.0], np.cumsum(bads)])
    i_idx, j_idx = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    valid = j_idx >= i_idx
    g = np.where(valid, cg[np.minimum(j_idx + 1, n)] - cg[i_idx], 0.0)
    b = np.where(valid, cb[np.minimum(j_idx + 1, n)] - cb[i_idx], 0.0)
    sg = (g + _SMOOTH) / (total_good + _SMOOTH)
    sb = (b + _SMOOTH) / (total_bad + _SMOOTH)
    woe = np.log(sg / sb)
    iv = (sg - sb) * woe
    feasible = valid & ((g + b) >= min_count)
    sign = 1.0 if ascending else -1.0
    swoe = sign * woe
    neg = -np.inf
    # best[k][i, j]: best IV with k+1 bins covering pre-bins 0..j, the last bin being i..j.
    best = [np.full((n, n), neg)]
    best[0][0, :] = np.where(feasible[0, :], iv[0, :], neg)
    parents: list[npt.NDArray[np.int64]] = [np.full((n, n), -1, dtype=np.int64)]
    for _k in range(1, max_bins):
        prev = best[-1]
        cur = np.full((n, n), neg)
        par = np.full((n, n), -1, dtype=np.int64)
        for i in range(1, n):
            cand = prev[:i, i - 1]  # previous bin k..i-1 for k < i
            if not np.isfinite(cand).any():
                continue
            cand_woe = swoe[:i, i - 1]
            last_woe = swoe[i, i:]  # last bin i..j for j >= i
            ok = cand_woe[:, None] < last_woe[None, :] - _EPS
            vals = np.where(ok, cand[:, None], neg)
            arg = np.argmax(vals, axis=0)
            top = vals[arg, np.arange(n - i)]
            row_ok = feasible[i, i:] & np.isfinite(top)
            cur[i, i:] = np.where(row_ok, top + iv[i, i:], neg)
            par[i, i:] = np.where(row_ok, arg, -1)
        best.append(cur)
        parents.append(par)
    best_val = neg
    best_at: tuple[int, int] | None = None
    for k, table in enumerate(best):
        col = table[:, n - 1]
        i = int(np.argmax(col))
        if col[i] > best_val + _EPS:
            best_val = float(col[i])
            best_at = (k, i)
    if best_at is None:
        return None
    starts: list[int] = []
    k, i = best_at
    j = n - 1
    while True:
        starts.append(i)
        if k == 0:
            break
        prev_start = int(parents[k][i, j])
        j = i - 1
        i = prev_start
        k -= 1
    starts.reverse()
    return starts, best_val


def _merge(
    goods: npt.NDArray[np.float64],
    bads: npt.NDArray[np.float64],
    *,
    min_count: float,
    max_bins: int,
    trend: Trend,
    total_good: float,
    total_bad: float,
) -> tuple[list[int], str]:
    # ``trend`` is about the bad rate (as in OptBinning): a rising bad rate is a falling WoE.
    directions = {"ascending": [False], "descending": [True], "auto": [True, False]}[trend]
    best: tuple[list[int], float, str] | None = None
    for woe_rising in directions:
        found = _optimal_merge(
            goods, bads, total_good=total_good, total_bad=total_bad, min_count=min_count, max_bins=max_bins, ascending=woe_rising
        )
        if found is not None and (best is None or found[1] > best[1] + _EPS):
            best = (found[0], found[1], "descending" if woe_rising else "ascending")
    if best is None:
        return [0], "none"
    starts, _, direction = best
    return starts, direction if len(starts) > 1 else "none"


def _is_special(values: npt.NDArray[np.float64], specials: Sequence[float]) -> npt.NDArray[np.bool_]:
    mask = np.zeros(values.shape, dtype=bool)
    for s in specials:
        mask |= values == s
    return mask


def bin_numeric(
    name: str,
    values: npt.NDArray[np.float64],
    bad: npt.NDArray[np.bool_],
    *,
    max_bins: int = 6,
    min_bin_size: float = 0.05,
    max_prebins: int = 20,
    min_prebin_size: float = 0.02,
    specials: Sequence[float] = (),
    trend: Trend = "auto",
) -> Binning:
    """Monotonic optimal binning of a numeric feature (NaN = missing; each present special value = own bin)."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    missing = np.isnan(values)
    present_specials = tuple(float(s) for s in specials if bool(np.any(values == float(s))))
    special = _is_special(values, present_specials)
    regular = ~missing & ~special
    x = values[regular]
    y = bad[regular]
    edges: list[float] = []
    direction = "none"
    if len(x) > 0 and len(np.unique(x)) > 1:
        from sklearn.tree import DecisionTreeClassifier  # fit time only: keeps scoring imports light

        tree = DecisionTreeClassifier(
            max_leaf_nodes=max_prebins,
            min_samples_leaf=max(1, math.ceil(min_prebin_size * n)),
            random_state=0,
        )
        tree.fit(x.reshape(-1, 1), y)
        thresholds = np.unique(tree.tree_.threshold[tree.tree_.feature >= 0])
        # Tree splits are x <= t; snap each to the smallest data value above it so bins read [lo, hi).
        ux = np.unique(x)
        pre_edges = np.unique(ux[np.searchsorted(ux, thresholds, side="right")]) if len(thresholds) else np.array([])
        if len(pre_edges):
            pre_idx = np.searchsorted(pre_edges, x, side="right")
            k = len(pre_edges) + 1
            goods = np.bincount(pre_idx, weights=(~y).astype(np.float64), minlength=k).astype(np.float64)
            bads_ = np.bincount(pre_idx, weights=y.astype(np.float64), minlength=k).astype(np.float64)
            starts, direction = _merge(
                goods,
                bads_,
                min_count=min_bin_size * n,
                max_bins=max_bins,
                trend=trend,
                total_good=float((~bad).sum()),
                total_bad=float(bad.sum()),
            )
            edges = [float(pre_edges[s - 1]) for s in starts[1:]]
    edge_arr = np.asarray(edges, dtype=np.float64)
    idx = np.searchsorted(edge_arr, values, side="right")
    n_regular = len(edges) + 1
    idx[missing] = n_regular
    for k, s in enumerate(present_specials):
        idx[values == s] = n_regular + 1 + k
    return _finish(
        name, "numeric", idx, bad, n_regular + 1 + len(present_specials), tuple(edges), (), present_specials, direction
    )


def bin_categorical(
    name: str,
    values: Sequence[str | None],
    bad: npt.NDArray[np.bool_],
    *,
    max_bins: int = 6,
    min_bin_size: float = 0.05,
    max_prebins: int = 20,
    specials: Sequence[str] = (),
) -> Binning:
    """Optimal binning of a categorical feature (None or "" = missing; each present special value = own bin)."""
    arr = np.asarray([("" if v is None else str(v)) for v in values], dtype=object)
    n = len(arr)
    missing = arr == ""
    present_specials = tuple(s for s in dict.fromkeys(str(s) for s in specials) if bool(np.any(arr == s)))
    special = np.isin(arr, np.asarray(present_specials, dtype=object)) if present_specials else np.zeros(n, dtype=bool)
    regular = ~missing & ~special
    cats, inverse = np.unique(arr[regular].astype(str), return_inverse=True)
    y = bad[regular]
    total_good = float((~bad).sum())
    total_bad = float(bad.sum())
    groups: list[tuple[str, ...]] = []
    direction = "none"
    if len(cats) > 0:
        goods = np.bincount(inverse, weights=(~y).astype(np.float64), minlength=len(cats)).astype(np.float64)
        bads_ = np.bincount(inverse, weights=y.astype(np.float64), minlength=len(cats)).astype(np.float64)
        woe, _ = woe_iv(goods, bads_)
        order = np.lexsort((cats, woe))  # by WoE, ties by name (deterministic)
        pre: list[list[int]] = [[int(c)] for c in order]
        if len(pre) > max_prebins:
            # Too many categories for the exact programme: merge WoE-ordered neighbours into equal-count pre-bins.
            counts = (goods + bads_)[order]
            cum = np.cumsum(counts) / counts.sum()
            cut = np.minimum((cum * max_prebins).astype(int), max_prebins - 1)
            pre = [[int(c) for c in order[cut == q]] for q in range(max_prebins) if np.any(cut == q)]
        # Pre-bins are in rising-WoE order (falling bad rate), so any merge of neighbours stays monotonic.
        pg = np.asarray([goods[p].sum() for p in pre])
        pb = np.asarray([bads_[p].sum() for p in pre])
        starts, direction = _merge(
            pg, pb, min_count=min_bin_size * n, max_bins=max_bins, trend="descending", total_good=total_good, total_bad=total_bad
        )
        bounds = [*starts, len(pre)]
        for lo, hi in pairwise(bounds):
            members = sorted(str(cats[c]) for p in pre[lo:hi] for c in p)
            groups.append(tuple(members))
        direction = "ordered" if len(groups) > 1 else "none"
    if not groups:
        groups = [()]
    lookup = {c: i for i, g in enumerate(groups) for c in g}
    n_regular = len(groups)
    idx = np.full(n, n_regular, dtype=np.int64)
    if len(cats) > 0:
        idx[regular] = np.asarray([lookup[str(c)] for c in cats], dtype=np.int64)[inverse]
    for k, s in enumerate(present_specials):
        idx[arr == s] = n_regular + 1 + k
    return _finish(
        name, "categorical", idx, bad, n_regular + 1 + len(present_specials), (), tuple(groups), present_specials, direction
    )


def _finish(
    name: str,
    kind: Kind,
    idx: npt.NDArray[np.int64],
    bad: npt.NDArray[np.bool_],
    n_bins: int,
    edges: tuple[float, ...],
    groups: tuple[tuple[str, ...], ...],
    specials: tuple[float, ...] | tuple[str, ...],
    trend: str,
) -> Binning:
    counts = np.bincount(idx, minlength=n_bins).astype(np.float64)
    bads = np.bincount(idx, weights=bad.astype(np.float64), minlength=n_bins).astype(np.float64)
    woe, iv = woe_iv(counts - bads, bads)
    observed = counts > 0
    if observed.any():
        # A bin never seen in training (missing, a special value) is scored like the riskiest observed bin:
        # withholding a value must never earn more points than disclosing it.
        woe[~observed] = float(woe[observed].min())
    return Binning(
        name=name,
        kind=kind,
        edges=edges,
        groups=groups,
        specials=tuple(specials),
        counts=tuple(int(c) for c in counts),
        bads=tuple(int(b) for b in bads),
        woe=tuple(float(w) for w in woe),
        iv=iv,
        trend=trend,
    )
