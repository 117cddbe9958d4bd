"""Scoring contracts: points sum to the score; dict, columnar and SQL scoring agree; PD; reasons; persistence."""

from __future__ import annotations

import json
import math
import sqlite3
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.scorecard.scorecard_data import SPECIAL, synthetic_frame
from xinyidai.scorecard import (
    CardFormatError,
    FitOptions,
    Scorecard,
    ScorecardError,
    ScorecardInputError,
    fit_scorecard,
    load_card,
    save_card,
)

LABELS = {"income": "月收入", "debt_ratio": "负债率", "region": "所在地区", "sector": "所属行业", "age": "经营者年龄"}


@cache
def card() -> Scorecard:
    options = FitOptions(test_size=0.0, special_values=(SPECIAL,), c_grid=(0.1, 1.0), binning_grid=None, min_iv=0.01)
    result = fit_scorecard(synthetic_frame(), target="default", bad_value="bad", options=options, feature_labels=LABELS)
    return result.card


records = st.fixed_dictionaries(
    {
        "income": st.one_of(st.none(), st.just(math.nan), st.floats(-5, 80, allow_nan=False)),
        "debt_ratio": st.one_of(st.none(), st.just(SPECIAL), st.floats(-1, 3, allow_nan=False)),
        "age": st.one_of(st.none(), st.integers(0, 100).map(float)),
        "region": st.one_of(st.none(), st.sampled_from(["福州", "厦门", "泉州", "漳州", "南平", "莆田", ""])),
        "sector": st.one_of(st.none(), st.sampled_from(["制造业", "批发零售", "建筑业", "科技服务", "金融业"])),
        "noise": st.floats(-3, 3, allow_nan=False),
    }
)


def _columns(rows: list[dict[str, Any]]) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    for name in ("income", "debt_ratio", "age", "noise"):
        cols[name] = np.asarray([np.nan if r[name] is None else r[name] for r in rows], dtype=np.float64)
    for name in ("region", "sector"):
        cols[name] = pa.array([r[name] for r in rows], type=pa.string())
    return cols


def test_fitted_card_keeps_the_informative_features_and_scores_them_monotonically() -> None:
    c = card()
    assert {"income", "debt_ratio", "region", "sector"} <= set(c.features)
    assert "noise" not in c.features
    for f in c.card_features:
        assert f.coefficient < 0
        b = f.binning
        if b.kind == "numeric" and b.n_regular > 2:
            d = np.diff(b.woe[: b.n_regular])
            assert np.all(d > 0) or np.all(d < 0)
    debt = next(f for f in c.card_features if f.name == "debt_ratio")
    assert debt.binning.specials == (SPECIAL,)
    assert debt.binning.trend == "ascending"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(records, min_size=1, max_size=25))
def test_dict_columnar_and_sql_scoring_agree_and_points_sum_to_the_score(rows: list[dict[str, Any]]) -> None:
    c = card()
    score, pd, points = c.score_columns(_columns(rows))
    assert points.shape == (len(rows), len(c.features))
    assert np.allclose(points.sum(axis=1), score)
    with sqlite3.connect(":memory:") as db:
        db.execute("CREATE TABLE apps (id INTEGER, income REAL, debt_ratio REAL, age REAL, region TEXT, sector TEXT, noise REAL)")
        db.executemany(
            "INSERT INTO apps VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    i,
                    None if r["income"] is None or math.isnan(r["income"]) else r["income"],
                    r["debt_ratio"],
                    r["age"],
                    r["region"],
                    r["sector"],
                    r["noise"],
                )
                for i, r in enumerate(rows)
            ],
        )
        sql_scores = dict(db.execute(c.to_sql("apps", "id")).fetchall())
    for i, row in enumerate(rows):
        one = c.score_one(row)
        assert one.score == pytest.approx(score[i], abs=1e-9)
        assert one.score == pytest.approx(sum(one.points.values()), abs=1e-9)
        assert one.pd == pytest.approx(pd[i], rel=1e-12)
        assert sql_scores[i] == pytest.approx(score[i], abs=1e-9)
        assert 0.0 < one.pd < 1.0


@settings(max_examples=60, deadline=None)
@given(a=st.floats(0, 1000, allow_nan=False), b=st.floats(0, 1000, allow_nan=False))
def test_pd_is_a_probability_that_falls_as_the_score_rises(a: float, b: float) -> None:
    c = card()
    lo, hi = min(a, b), max(a, b)
    assert c.calibration[1] < 0
    assert 0.0 < c.pd_of(hi) <= c.pd_of(lo) < 1.0
    if hi - lo > 1.0:
        assert c.pd_of(hi) < c.pd_of(lo)


def test_reasons_name_the_features_that_lost_the_most_points_in_order() -> None:
    c = card()
    row = {"income": 1.0, "debt_ratio": 1.15, "age": 30.0, "region": "南平", "sector": "建筑业", "noise": 0.0}
    scored = c.score_one(row, k=3)
    assert 1 <= len(scored.reasons) <= 3
    lost = [r.points_lost for r in scored.reasons]
    assert lost == sorted(lost, reverse=True)
    assert all(x > 0 for x in lost)
    best = {f.name: max(f.points) for f in c.card_features}
    for r in scored.reasons:
        assert r.points_lost == pytest.approx(best[r.feature] - scored.points[r.feature])
        assert r.label == LABELS[r.feature]
        assert r.bin_label in r.text_zh
        assert r.label in r.text_zh
    _, _, points = c.score_columns(_columns([row]))
    idx = c.reason_codes(points, k=3)[0]
    assert [c.features[j] for j in idx if j >= 0] == [r.feature for r in scored.reasons]
    # The best possible applicant loses nothing and gets no reasons.
    top = c.score_one({f.name: _best_value(f) for f in c.card_features})
    assert top.reasons == ()
    assert (
        c.reason_codes(c.score_columns(_columns([{**row, **{f.name: _best_value(f) for f in c.card_features}}]))[2]) == -1
    ).all()


def _best_value(feature: Any) -> Any:
    b = feature.binning
    i = int(np.argmax(feature.points))
    if i >= b.n_regular:
        return None if i == b.missing_index else b.specials[i - b.missing_index - 1]
    if b.kind == "categorical":
        return b.groups[i][0]
    edges = [-1e9, *b.edges, 1e9]
    return edges[i] if i > 0 else edges[1] - 1


def test_missing_keys_none_nan_and_unknown_categories_score_as_missing() -> None:
    c = card()
    a = c.score_one({})
    b = c.score_one({"income": math.nan, "region": "海外", "sector": "", "debt_ratio": "not a number"})
    assert a.score == pytest.approx(b.score)
    assert set(a.points) == set(c.features)
    region = next(f for f in c.card_features if f.name == "region")
    assert a.points["region"] == region.points[region.binning.missing_index]


def test_save_and_load_round_trip_scores_identically(tmp_path: Path) -> None:
    c = card()
    path = save_card(c, tmp_path / "card")
    loaded = load_card(tmp_path / "card")
    assert loaded.to_dict() == json.loads(path.read_text(encoding="utf-8"))
    assert loaded.features == c.features
    assert loaded.metadata["target"] == "default"
    frame = synthetic_frame(rows=400, seed=11)
    cols = {f: frame.get_column(f).to_arrow() for f in c.features}
    s1, p1, pts1 = c.score_columns(cols)
    s2, p2, pts2 = loaded.score_columns(cols)
    assert np.array_equal(s1, s2)
    assert np.array_equal(p1, p2)
    assert np.array_equal(pts1, pts2)
    assert c.to_sql("t", "id") == loaded.to_sql("t", "id")


def test_loading_refuses_other_formats_and_versions(tmp_path: Path) -> None:
    data = card().to_dict()
    with pytest.raises(CardFormatError):
        Scorecard.from_dict({**data, "version": 99})
    with pytest.raises(CardFormatError):
        Scorecard.from_dict({**data, "format": "other"})
    broken = json.loads(json.dumps(data))
    broken["features"][0]["points"] = broken["features"][0]["points"][:-1]
    with pytest.raises(CardFormatError):
        Scorecard.from_dict(broken)
    (tmp_path / "card.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CardFormatError) as info:
        load_card(tmp_path)
    assert info.value.code == "scorecard_format"
    with pytest.raises(ScorecardInputError):
        load_card(tmp_path / "absent")


def test_columnar_scoring_accepts_arrow_dictionary_string_and_numeric_text_columns() -> None:
    c = card()
    frame = synthetic_frame(rows=300, seed=5)
    plain = {f: frame.get_column(f).to_arrow() for f in c.features}
    variants = dict(plain)
    for f in c.features:
        col = frame.get_column(f)
        if col.dtype == pl.Utf8:
            variants[f] = col.cast(pl.Categorical).to_arrow()
        else:
            variants[f] = col.cast(pl.Utf8).to_arrow()
    assert np.allclose(c.score_columns(plain)[0], c.score_columns(variants)[0])
    with pytest.raises(ScorecardInputError):
        c.score_columns({k: v for k, v in plain.items() if k != c.features[0]})


def test_fit_rejects_a_target_with_one_class_and_a_missing_target_column() -> None:
    frame = synthetic_frame(rows=200)
    with pytest.raises(ScorecardError):
        fit_scorecard(frame, target="default", bad_value="no-such-value")
    with pytest.raises(ScorecardInputError):
        fit_scorecard(frame, target="absent", bad_value="bad")
    with pytest.raises(ScorecardError):
        FitOptions(test_size=1.0)


@pytest.mark.parametrize("text", ["12.5", " 3 ", "-0.5e1", "inf", "nan", "abc", "１２", "", "1,5"])
def test_numeric_text_is_read_the_same_way_by_dict_and_columnar_scoring(text: str) -> None:
    c = card()
    row = {"income": text, "debt_ratio": text, "age": text, "region": "福州", "sector": "制造业", "noise": 0.0}
    cols = {f: pa.array([row[f]], type=pa.string()) for f in c.features}
    assert c.score_one(row).score == pytest.approx(c.score_columns(cols)[0][0], abs=1e-9)


def test_threaded_blocks_give_the_same_result_as_one_thread() -> None:
    c = card()
    frame = synthetic_frame(rows=1000, seed=13)
    reps = 300  # 300,000 rows: several blocks, so the threaded path runs
    cols: dict[str, Any] = {}
    for f in c.features:
        col = frame.get_column(f)
        cols[f] = (
            pa.chunked_array([col.to_arrow()] * reps) if col.dtype == pl.Utf8 else np.tile(col.cast(pl.Float64).to_numpy(), reps)
        )
    s1, p1, pts1 = c.score_columns(cols, threads=1)
    s2, p2, pts2 = c.score_columns(cols, threads=2)
    assert len(s1) == 300_000
    assert np.array_equal(pts1, pts2)
    assert np.array_equal(s1, s2)
    assert np.array_equal(p1, p2)
    assert np.array_equal(s1[:1000], s1[1000:2000])


def test_columnar_scoring_accepts_plain_numpy_unicode_and_object_columns() -> None:
    c = card()
    rows = [
        {"income": 5.0, "debt_ratio": 0.2, "age": 33.0, "region": "厦门", "sector": "科技服务", "noise": 0.0},
        {"income": None, "debt_ratio": SPECIAL, "age": None, "region": None, "sector": None, "noise": 0.0},
        {"income": 12.0, "debt_ratio": 1.1, "age": 61.0, "region": "海外", "sector": "建筑业", "noise": 0.0},
    ]
    # Numbers with None and categories with None, as generic object columns.
    cols: dict[str, Any] = {f: np.asarray([r[f] for r in rows], dtype=object) for f in c.features}
    expected = [c.score_one(r).score for r in rows]
    assert np.allclose(c.score_columns(cols)[0], expected)
    text = {
        f: (np.asarray(["" if v is None else v for v in cols[f]], dtype=str) if f in ("region", "sector") else cols[f])
        for f in cols
    }
    assert np.allclose(c.score_columns(text)[0], expected)
