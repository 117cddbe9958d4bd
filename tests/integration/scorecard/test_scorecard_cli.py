"""`xinyidai scorecard fit|score`: one JSON summary, the card directory, one JSON line per scored row, exit codes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from tests.unit.scorecard.scorecard_data import synthetic_frame
from xinyidai.cli import app
from xinyidai.scorecard import load_card

runner = CliRunner()


@pytest.fixture
def training_csv(tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    synthetic_frame(rows=1500, seed=21).write_csv(path)
    return path


def test_fit_prints_summary_and_writes_card_report_and_sql_then_score_prints_rows_in_order(
    training_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "card"
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"debt_ratio": "负债率", "income": "月收入"}, ensure_ascii=False), encoding="utf-8")
    args = ["--target", "default", "--bad", "bad", "--test-size", "0.3", "--out", str(out), "--labels", str(labels)]
    result = runner.invoke(app, ["scorecard", "fit", str(training_csv), *args])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert {"auc", "ks", "variables", "gini", "train_auc", "rows", "iv"} <= set(summary)
    assert summary["evaluated_on"] == "test"
    assert summary["test_rows"] == 450
    assert 0.5 < summary["auc"] <= 1
    assert 0 < summary["ks"] <= 1
    card = load_card(out)
    assert summary["variables"] == len(card.features)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "<svg" in html
    assert "<script" not in html
    sql = (out / "score.sql").read_text(encoding="utf-8")

    rows = synthetic_frame(rows=40, seed=3)
    score_file = tmp_path / "apply.csv"
    rows.write_csv(score_file)
    scored = runner.invoke(app, ["scorecard", "score", str(out), str(score_file)])
    assert scored.exit_code == 0, scored.output
    objs = [json.loads(line) for line in scored.stdout.splitlines()]
    assert [o["row"] for o in objs] == list(range(40))
    for o in objs:
        assert {"score", "pd", "reasons"} <= set(o)
        assert 0 < o["pd"] < 1
        assert len(o["reasons"]) <= 3
        assert all({"feature", "points_lost", "text_zh", "text_en", "bin"} <= set(r) for r in o["reasons"])
    assert {f.label for f in card.card_features} >= {"负债率", "月收入"}
    assert any(r["text_zh"].startswith(("负债率", "月收入")) for o in objs for r in o["reasons"])
    expected = [card.score_one(r).score for r in rows.iter_rows(named=True)]
    assert [o["score"] for o in objs] == pytest.approx(expected, abs=1e-3)
    with sqlite3.connect(":memory:") as db:
        pl_rows = rows.select(["id", *card.features])
        db.execute(f"CREATE TABLE applicants ({', '.join(pl_rows.columns)})")
        db.executemany(f"INSERT INTO applicants VALUES ({', '.join('?' * len(pl_rows.columns))})", pl_rows.rows())
        by_id = dict(db.execute(sql.rstrip().rstrip(";")).fetchall())
    assert [by_id[i] for i in range(40)] == pytest.approx(expected, abs=1e-9)

    jsonl = tmp_path / "apply.jsonl"
    rows.write_ndjson(jsonl)
    again = runner.invoke(app, ["scorecard", "score", str(out), str(jsonl), "--reasons", "0"])
    assert again.exit_code == 0, again.output
    assert [json.loads(line)["score"] for line in again.stdout.splitlines()] == [o["score"] for o in objs]


def test_fit_with_test_size_zero_reports_training_figures(training_csv: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "scorecard",
            "fit",
            str(training_csv),
            "--target",
            "default",
            "--bad",
            "bad",
            "--test-size",
            "0",
            "--out",
            str(tmp_path / "c"),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["evaluated_on"] == "train"
    assert summary["test_rows"] == 0
    assert summary["auc"] == summary["train_auc"]


def test_exit_codes_for_unreadable_input_missing_target_and_other_user_errors(training_csv: Path, tmp_path: Path) -> None:
    base = ["scorecard", "fit"]
    missing_file = runner.invoke(
        app, [*base, str(tmp_path / "nope.csv"), "--target", "default", "--bad", "bad", "--out", str(tmp_path)]
    )
    assert missing_file.exit_code == 2
    assert "找不到输入文件" in missing_file.stderr
    garbage = tmp_path / "bad.parquet"
    garbage.write_bytes(b"not parquet at all")
    unreadable = runner.invoke(app, [*base, str(garbage), "--target", "default", "--bad", "bad", "--out", str(tmp_path)])
    assert unreadable.exit_code == 2
    no_target = runner.invoke(app, [*base, str(training_csv), "--target", "absent", "--bad", "bad", "--out", str(tmp_path)])
    assert no_target.exit_code == 2
    assert "absent" in no_target.stderr
    bad_labels = tmp_path / "labels.json"
    bad_labels.write_text("[1, 2]", encoding="utf-8")
    labels_rejected = runner.invoke(
        app,
        [*base, str(training_csv), "--target", "default", "--bad", "bad", "--out", str(tmp_path), "--labels", str(bad_labels)],
    )
    assert labels_rejected.exit_code == 2
    one_class = runner.invoke(app, [*base, str(training_csv), "--target", "default", "--bad", "nobody", "--out", str(tmp_path)])
    assert one_class.exit_code == 1
    bad_split = runner.invoke(
        app, [*base, str(training_csv), "--target", "default", "--bad", "bad", "--test-size", "1.5", "--out", str(tmp_path)]
    )
    assert bad_split.exit_code == 1

    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    unwritable = runner.invoke(
        app, [*base, str(training_csv), "--target", "default", "--bad", "bad", "--out", str(blocker / "card")]
    )
    assert unwritable.exit_code == 1
    assert "cannot write" in unwritable.stderr

    out = tmp_path / "card"
    assert runner.invoke(app, [*base, str(training_csv), "--target", "default", "--bad", "bad", "--out", str(out)]).exit_code == 0
    lacking = tmp_path / "lacking.csv"
    pl.DataFrame({"id": [1, 2]}).write_csv(lacking)
    assert runner.invoke(app, ["scorecard", "score", str(out), str(lacking)]).exit_code == 2
    assert runner.invoke(app, ["scorecard", "score", str(tmp_path / "no-card"), str(lacking)]).exit_code == 2
