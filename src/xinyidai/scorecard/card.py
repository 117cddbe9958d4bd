"""The scorecard: per-feature points tables, fast dict and columnar scoring, reason codes, SQL and JSON export.

A card is a list of features, each with its bins (see :mod:`xinyidai.scorecard.binning`) and the points of every
bin; the score of a record is the sum of the points of the bins it falls in, and the PD is a logistic function of
the score (calibrated at fit time). Lookup structures are built once per card: sorted edges + a points tuple per
numeric feature (``bisect``), a category -> bin dict per categorical feature, so scoring one dict needs no
DataFrame; the columnar kernel uses ``np.searchsorted`` / ``take`` on the same tables.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from xinyidai.scorecard.binning import Binning
from xinyidai.scorecard.errors import CardFormatError, ScorecardInputError

FORMAT = "xinyidai.scorecard"
FORMAT_VERSION = 1
_BLOCK = 65_536
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)
_THREADS = 2
#: Bytes of a row block ``top_k_smallest`` copies row-major (about an L2 cache).
_TOPK_BLOCK_BYTES = 1 << 19
#: Points lost below this do not make a reason.
_NO_LOSS = 1e-9


@dataclass(frozen=True)
class Reason:
    """One reason code: a feature whose bin cost the applicant points relative to the feature's best bin."""

    feature: str
    label: str
    bin_label: str
    points_lost: float
    text_zh: str
    text_en: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "feature": self.feature,
            "label": self.label,
            "bin": self.bin_label,
            "points_lost": round(self.points_lost, 4),
            "text_zh": self.text_zh,
            "text_en": self.text_en,
        }


@dataclass(frozen=True)
class ScoredRow:
    """The result of scoring one record."""

    score: float
    pd: float
    reasons: tuple[Reason, ...]
    points: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (``score``, ``pd``, ``reasons``)."""
        return {"score": round(self.score, 4), "pd": self.pd, "reasons": [r.to_dict() for r in self.reasons]}


@dataclass(frozen=True)
class CardFeature:
    """One feature of a card: its binning, the logistic coefficient and the points of each bin (layout order)."""

    binning: Binning
    label: str
    coefficient: float
    points: tuple[float, ...]

    @property
    def name(self) -> str:
        """Column name."""
        return self.binning.name


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


class _Lookup:
    """Precomputed per-feature lookup for dict scoring and the columnar kernel."""

    __slots__ = (
        "best",
        "cat_map",
        "edges",
        "edges_list",
        "kind",
        "labels",
        "missing",
        "name",
        "points",
        "points_arr",
        "specials",
    )

    def __init__(self, feature: CardFeature) -> None:
        b = feature.binning
        self.name = feature.name
        self.kind = b.kind
        self.points = feature.points
        self.points_arr = np.asarray(feature.points, dtype=np.float64)
        self.best = max(feature.points)
        self.labels = b.labels()
        self.missing = b.missing_index
        self.edges_list = list(b.edges)
        self.edges = np.asarray(b.edges, dtype=np.float64)
        self.specials: dict[Any, int] = {}
        self.cat_map: dict[str, int] = {}
        base = b.missing_index + 1
        if b.kind == "numeric":
            self.specials = {float(s): base + k for k, s in enumerate(b.specials)}
        else:
            self.cat_map = {c: i for i, g in enumerate(b.groups) for c in g}
            self.cat_map.update({str(s): base + k for k, s in enumerate(b.specials)})

    def index_one(self, value: object) -> int:
        kind = type(value)
        if self.kind == "numeric":
            if kind is float or kind is int:
                x = float(value)  # type: ignore[arg-type]
                if x != x:  # NaN
                    return self.missing
                if self.specials:
                    special = self.specials.get(x)
                    if special is not None:
                        return special
                return bisect_right(self.edges_list, x)
            return self._index_slow(value)
        if kind is str:
            return self.cat_map.get(value, self.missing)  # type: ignore[call-overload, no-any-return]
        return self._index_slow(value)

    def _index_slow(self, value: object) -> int:
        if _is_missing(value):
            return self.missing
        if self.kind != "numeric":
            return self.cat_map.get(str(value), self.missing)
        if isinstance(value, str):
            # The same numeric text the columnar kernel accepts; anything else ("abc", "inf") is missing.
            text = value.strip()
            if not _NUMBER.fullmatch(text):
                return self.missing
            value = text
        try:
            x = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return self.missing
        if math.isnan(x):
            return self.missing
        special = self.specials.get(x)
        return special if special is not None else bisect_right(self.edges_list, x)


class Scorecard:
    """A fitted scorecard. Immutable; build with :func:`xinyidai.scorecard.fit_scorecard` or :meth:`from_dict`."""

    def __init__(
        self,
        features: Sequence[CardFeature],
        *,
        intercept: float,
        base_score: float,
        base_odds: float,
        pdo: float,
        calibration: tuple[float, float] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        if not features:
            raise CardFormatError("a scorecard needs at least one feature")
        self.card_features: tuple[CardFeature, ...] = tuple(features)
        self.features: tuple[str, ...] = tuple(f.name for f in features)
        self.intercept = float(intercept)
        self.base_score = float(base_score)
        self.base_odds = float(base_odds)
        self.pdo = float(pdo)
        self.factor = self.pdo / math.log(2.0)
        self.offset = self.base_score - self.factor * math.log(self.base_odds)
        # pd = 1 / (1 + exp(-(a + b * score))), b < 0; uncalibrated = the logistic model itself.
        self.calibration = calibration if calibration is not None else (self.offset / self.factor, -1.0 / self.factor)
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._lookups = tuple(_Lookup(f) for f in self.card_features)
        self._best = np.asarray([lk.best for lk in self._lookups], dtype=np.float64)

    # ------------------------------------------------------------------ scoring one record

    def pd_of(self, score: float) -> float:
        """PD of a score (calibrated logistic)."""
        a, b = self.calibration
        z = a + b * score
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))

    def score_one(self, record: Mapping[str, object], *, k: int = 3) -> ScoredRow:
        """Score one plain dict (absent keys, None and NaN are missing); top ``k`` reasons."""
        total = 0.0
        lost: list[tuple[float, int, int]] = []
        points: dict[str, float] = {}
        get = record.get
        for pos, lk in enumerate(self._lookups):
            idx = lk.index_one(get(lk.name))
            p = lk.points[idx]
            total += p
            points[lk.name] = p
            if lk.best - p > 1e-9:
                lost.append((lk.best - p, pos, idx))
        lost.sort(key=lambda t: (-t[0], t[1]))
        reasons = tuple(self._reason(pos, idx, gap) for gap, pos, idx in lost[:k])
        return ScoredRow(score=total, pd=self.pd_of(total), reasons=reasons, points=points)

    def _reason(self, pos: int, idx: int, gap: float) -> Reason:
        feature = self.card_features[pos]
        bin_label = self._lookups[pos].labels[idx]
        return Reason(
            feature=feature.name,
            label=feature.label,
            bin_label=bin_label,
            points_lost=gap,
            text_zh=f"{feature.label}为「{bin_label}」，较该项最优档少 {gap:.1f} 分",
            text_en=f"{feature.name} in bin {bin_label}: {gap:.1f} points below its best bin",
        )

    # ------------------------------------------------------------------ columnar kernel

    def bin_indices(self, columns: Mapping[str, Any]) -> npt.NDArray[np.int64]:
        """Bin index of every row for every feature, shape (n, n_features)."""
        n = _row_count(columns, self.features)
        out = np.empty((n, len(self.features)), dtype=np.int64, order="F")
        for j, lk in enumerate(self._lookups):
            out[:, j] = _column_indices(lk, columns[lk.name])
        return out

    def score_columns(
        self, columns: Mapping[str, npt.NDArray[Any] | pa.Array | pa.ChunkedArray], *, threads: int = _THREADS
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Score a batch: (score, pd, points of shape (n, n_features)); no per-row Python.

        Each column is converted once (numbers to float64, categories to bin indices through the Arrow
        dictionary or ``index_in``); numeric bins are then found block by block (cache-sized blocks, compares
        against the few edges) and the points gathered with ``take``; large batches use ``threads`` threads
        (numpy releases the GIL); the result does not depend on it.
        """
        n = _row_count(columns, self.features)
        prepared = [_prepare(lk, columns[lk.name]) for lk in self._lookups]
        points = np.empty((n, len(self.features)), dtype=np.float64, order="F")

        def block(lo: int, hi: int) -> None:
            for j, (lk, (is_numeric, arr, table)) in enumerate(zip(self._lookups, prepared, strict=True)):
                idx = _numeric_indices(lk, arr[lo:hi]) if is_numeric else arr[lo:hi].astype(np.intp, copy=False)
                np.take(table, idx, out=points[lo:hi, j], mode="clip")  # indices are in range; "raise" buffers

        starts = range(0, n, _BLOCK)
        if threads > 1 and n >= 4 * _BLOCK:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(lambda lo: block(lo, min(lo + _BLOCK, n)), starts))
        else:
            for lo in starts:
                block(lo, min(lo + _BLOCK, n))
        score = points.sum(axis=1)
        return score, self.pd_array(score), points

    def pd_array(self, score: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """PD of an array of scores."""
        a, b = self.calibration
        z = np.multiply(score, -b)  # pd = 1 / (1 + exp(-(a + b * score))), computed in place
        z -= a
        with np.errstate(over="ignore"):
            np.exp(z, out=z)
        z += 1.0
        np.reciprocal(z, out=z)
        return z

    def reason_codes(self, points: npt.NDArray[np.float64], k: int = 3) -> npt.NDArray[np.int64]:
        """Top-``k`` feature indices by points lost per row (shape (n, k)); -1 where fewer features lost points."""
        # The most points lost first (ties: feature order) = the smallest ``points - best``.
        order, top = top_k_smallest(points - self._best[None, :], k, ceiling=-_NO_LOSS)
        return np.where(top < -_NO_LOSS, order, -1).astype(np.int64)

    def reasons_for(self, points_row: npt.NDArray[np.float64], bins_row: npt.NDArray[np.int64], k: int = 3) -> tuple[Reason, ...]:
        """Reason objects for one row of the columnar output (``points`` row and ``bin_indices`` row)."""
        idx = self.reason_codes(points_row.reshape(1, -1), k)[0]
        return tuple(self._reason(int(j), int(bins_row[j]), float(self._best[j] - points_row[j])) for j in idx if j >= 0)

    # ------------------------------------------------------------------ SQL

    def to_sql(self, table: str, key: str) -> str:
        """A portable ``SELECT key, <sum of CASE expressions> AS score FROM table`` (SQLite and PostgreSQL)."""
        terms = [_case_sql(lk) for lk in self._lookups]
        body = "\n  + ".join(terms)
        return f"SELECT {_ident(key)} AS {_ident(key)},\n  {body}\n  AS score\nFROM {_ident(table)}"

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, versioned form with the training metadata."""
        feats = []
        for f in self.card_features:
            b = f.binning
            feats.append(
                {
                    "name": b.name,
                    "label": f.label,
                    "kind": b.kind,
                    "edges": list(b.edges),
                    "groups": [list(g) for g in b.groups],
                    "specials": list(b.specials),
                    "counts": list(b.counts),
                    "bads": list(b.bads),
                    "woe": list(b.woe),
                    "iv": b.iv,
                    "trend": b.trend,
                    "coefficient": f.coefficient,
                    "points": list(f.points),
                    "bin_labels": list(b.labels()),
                }
            )
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "scaling": {"base_score": self.base_score, "base_odds": self.base_odds, "pdo": self.pdo},
            "intercept": self.intercept,
            "calibration": {"a": self.calibration[0], "b": self.calibration[1]},
            "features": feats,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scorecard:
        """Rebuild a card from :meth:`to_dict` output; refuses unknown formats and versions."""
        if data.get("format") != FORMAT:
            raise CardFormatError("not a xinyidai scorecard", format=data.get("format"))
        if data.get("version") != FORMAT_VERSION:
            raise CardFormatError(f"unsupported scorecard version {data.get('version')!r}", version=data.get("version"))
        try:
            features = []
            for item in data["features"]:
                kind = item["kind"]
                if kind not in ("numeric", "categorical"):
                    raise CardFormatError(f"unknown feature kind {kind!r}")
                specials = (
                    tuple(float(s) for s in item["specials"]) if kind == "numeric" else tuple(str(s) for s in item["specials"])
                )
                binning = Binning(
                    name=str(item["name"]),
                    kind=kind,
                    edges=tuple(float(e) for e in item["edges"]),
                    groups=tuple(tuple(str(c) for c in g) for g in item["groups"]),
                    specials=specials,
                    counts=tuple(int(c) for c in item["counts"]),
                    bads=tuple(int(c) for c in item["bads"]),
                    woe=tuple(float(w) for w in item["woe"]),
                    iv=float(item["iv"]),
                    trend=str(item["trend"]),
                )
                n_bins = binning.n_regular + 1 + len(specials)
                points = tuple(float(p) for p in item["points"])
                if len(points) != n_bins or len(binning.woe) != n_bins:
                    raise CardFormatError(f"feature {binning.name!r}: {len(points)} points for {n_bins} bins")
                features.append(
                    CardFeature(binning=binning, label=str(item["label"]), coefficient=float(item["coefficient"]), points=points)
                )
            scaling = data["scaling"]
            cal = data["calibration"]
            return cls(
                features,
                intercept=float(data["intercept"]),
                base_score=float(scaling["base_score"]),
                base_odds=float(scaling["base_odds"]),
                pdo=float(scaling["pdo"]),
                calibration=(float(cal["a"]), float(cal["b"])),
                metadata=dict(data.get("metadata") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CardFormatError(f"malformed scorecard: {exc}") from exc


# ---------------------------------------------------------------------- columnar helpers


def top_k_smallest(
    matrix: npt.NDArray[np.float64],
    k: int,
    *,
    columns: npt.NDArray[np.int64] | None = None,
    ceiling: float = math.inf,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Positions (in ``columns``, default all columns) and values of the ``k`` smallest values per row, ties in
    column order (what a stable ascending sort gives); values above ``ceiling`` count as ``ceiling``, and once
    a row's smallest remaining value is the ceiling its remaining positions are 0 with the ceiling as value.

    Row blocks that fit the CPU cache are copied row-major and searched by ``k`` row-wise ``argmin`` passes,
    instead of sorting every row of the whole matrix (which may be column-major where it comes from).
    """
    n = matrix.shape[0]
    m = matrix.shape[1] if columns is None else len(columns)
    k = min(k, m)
    order = np.zeros((n, k), dtype=np.int64)
    top = np.full((n, k), ceiling, dtype=np.float64)
    step = max(1, _TOPK_BLOCK_BYTES // max(1, m * 8))
    for lo in range(0, n, step):
        part = matrix[lo : lo + step]
        block = np.minimum(part if columns is None else part[:, columns], ceiling, order="C")
        live = np.arange(block.shape[0])
        for r in range(k):
            # Rows whose smallest remaining value is the ceiling have nothing more to rank.
            sub = block if r == 0 else block[live]
            at = sub.argmin(axis=1)
            value = sub[np.arange(len(live)), at]
            order[lo + live, r] = at
            top[lo + live, r] = value
            keep = value < ceiling
            live, at = live[keep], at[keep]
            if not live.size:
                break
            block[live, at] = np.inf
    return order, top


def _row_count(columns: Mapping[str, Any], features: Sequence[str]) -> int:
    missing = [f for f in features if f not in columns]
    if missing:
        raise ScorecardInputError(f"输入缺少评分卡所需的列：{', '.join(missing)}", columns=missing)
    lengths = {len(columns[f]) for f in features}
    if len(lengths) != 1:
        raise ScorecardInputError("输入各列的行数不一致")
    return lengths.pop()


def _as_arrow(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if isinstance(values, pa.Array):
        return values
    arr = np.asarray(values)
    if arr.dtype.kind in "fiub":
        return pa.array(arr)
    return pa.array(arr.astype(object) if arr.dtype.kind == "U" else arr, from_pandas=True)


def _numeric_values(values: Any) -> npt.NDArray[np.float64]:
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values.astype(np.float64, copy=False)
    arr = _as_arrow(values)
    if isinstance(arr, pa.DictionaryArray):
        arr = arr.dictionary_decode()
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        trimmed = pc.utf8_trim_whitespace(arr)
        ok = pc.match_substring_regex(trimmed, "^" + _NUMBER.pattern + "$")
        arr = pc.if_else(ok, trimmed, pa.scalar(None, pa.string())).cast(pa.float64())
    elif not (
        pa.types.is_integer(arr.type)
        or pa.types.is_floating(arr.type)
        or pa.types.is_boolean(arr.type)
        or pa.types.is_null(arr.type)
    ):
        raise ScorecardInputError(f"数值列的类型无法识别：{arr.type}")
    return np.asarray(arr.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _numeric_indices(lk: _Lookup, x: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    edges = lk.edges
    if len(edges) <= 16:
        # A few compares beat a binary search per element: idx = number of edges <= x (NaN compares False).
        small = np.zeros(x.shape, dtype=np.int8)
        for e in edges:
            small += x >= e
        idx = small.astype(np.intp)
    else:
        idx = np.searchsorted(edges, x, side="right").astype(np.intp)
    nan = np.isnan(x)
    if nan.any():
        idx[nan] = lk.missing
    for value, pos in lk.specials.items():
        hit = x == value
        if hit.any():
            idx[hit] = pos
    return idx


def _prepare(lk: _Lookup, values: Any) -> tuple[bool, npt.NDArray[Any], npt.NDArray[np.float64]]:
    """Once per column: (True, float64 values, points by bin) for a numeric feature, and for a categorical one
    (False, codes, points by code), the codes indexing the Arrow dictionary (or the card's categories)."""
    if lk.kind == "numeric":
        return True, _numeric_values(values), lk.points_arr
    codes, code_bins = _categorical_codes(lk, values)
    return False, codes, lk.points_arr.take(code_bins)


def _categorical_codes(lk: _Lookup, values: Any) -> tuple[npt.NDArray[Any], npt.NDArray[np.intp]]:
    """(code per row, bin per code): dictionary codes for Arrow dictionary arrays, else positions in the card's
    categories found with ``index_in``; the last code stands for null/unknown and maps to the missing bin."""
    arr = _as_arrow(values)
    if isinstance(arr, pa.DictionaryArray):
        dictionary = arr.dictionary.cast(pa.string()) if not pa.types.is_string(arr.dictionary.type) else arr.dictionary
        code_bins = np.asarray(
            [lk.cat_map.get(v, lk.missing) if v else lk.missing for v in dictionary.to_pylist()] + [lk.missing], dtype=np.intp
        )
        indices = arr.indices if arr.null_count == 0 else arr.indices.fill_null(len(dictionary))
        # Kept in Arrow's integer type (no copy); the kernel widens them block by block.
        return np.asarray(indices.to_numpy(zero_copy_only=False)), code_bins
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.string())
    cats = list(lk.cat_map)
    code_bins = np.asarray([lk.cat_map[c] for c in cats] + [lk.missing], dtype=np.intp)
    found = pc.index_in(arr, value_set=pa.array(cats, type=pa.string()))
    codes = (found if found.null_count == 0 else found.fill_null(len(cats))).to_numpy(zero_copy_only=False)
    return np.asarray(codes), code_bins


def _categorical_indices(lk: _Lookup, values: Any) -> npt.NDArray[np.intp]:
    codes, code_bins = _categorical_codes(lk, values)
    return np.asarray(code_bins.take(codes.astype(np.intp, copy=False)), dtype=np.intp)


def _column_indices(lk: _Lookup, values: Any) -> npt.NDArray[np.intp]:
    if lk.kind == "numeric":
        return _numeric_indices(lk, _numeric_values(values))
    return _categorical_indices(lk, values)


# ---------------------------------------------------------------------- SQL helpers


def _ident(name: str) -> str:
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def _num(value: float) -> str:
    return repr(float(value))


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _case_sql(lk: _Lookup) -> str:
    col = _ident(lk.name)
    pts = lk.points
    parts: list[str] = []
    if lk.kind == "numeric":
        parts.append(f"WHEN {col} IS NULL THEN {_num(pts[lk.missing])}")
        for value, pos in lk.specials.items():
            parts.append(f"WHEN {col} = {_num(value)} THEN {_num(pts[pos])}")
        for i, e in enumerate(lk.edges_list):
            parts.append(f"WHEN {col} < {_num(e)} THEN {_num(pts[i])}")
        # PostgreSQL stores NaN and orders it above every number, so it reaches the top bin: it is missing, as in
        # Python. Tested only for rows that got this far (the text cast works on every numeric type; SQLite
        # stores NaN as NULL, caught above).
        parts.append(f"WHEN CAST({col} AS TEXT) = 'NaN' THEN {_num(pts[lk.missing])}")
        parts.append(f"ELSE {_num(pts[len(lk.edges_list)])}")
    else:
        text = f"CAST({col} AS TEXT)"
        parts.append(f"WHEN {col} IS NULL OR {text} = '' THEN {_num(pts[lk.missing])}")
        by_bin: dict[int, list[str]] = {}
        for cat, pos in lk.cat_map.items():
            by_bin.setdefault(pos, []).append(cat)
        for pos in sorted(by_bin):
            cats = ", ".join(_text(c) for c in sorted(by_bin[pos]))
            parts.append(f"WHEN {text} IN ({cats}) THEN {_num(pts[pos])}")
        parts.append(f"ELSE {_num(pts[lk.missing])}")
    return "(CASE " + " ".join(parts) + " END)"
