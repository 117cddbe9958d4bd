"""`xinyidai scorecard fit|score`: fit a statistical scorecard from a file, score a file with a saved card.

``fit`` prints one JSON object (test ``auc``, ``ks``, ``variables``, …) and writes the card directory
(``card.json``, ``report.html``, ``score.sql``). ``score`` prints one JSON object per input row, in input order.
Exit status 2: unreadable input or a missing column; 1: any other user error.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from xinyidai.cli.root import emit

scorecard_app = typer.Typer(help="Statistical scorecards (评分卡): fit and score.", no_args_is_help=True)


def _fail(exc: Exception) -> typer.Exit:
    from xinyidai.scorecard import ScorecardInputError

    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2 if isinstance(exc, ScorecardInputError) else 1)


def _read_labels(path: Path, error: type[Exception]) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"无法读取特征名称文件 {path}：{exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise error("特征名称文件须为 JSON 对象 {列名: 中文名称}")
    return data


@scorecard_app.command("fit")
def fit(
    file: Path = typer.Argument(..., help="Training data: CSV, .parquet or .jsonl."),
    target: str = typer.Option(..., "--target", help="Target column."),
    bad: str = typer.Option(..., "--bad", help="Target value that marks a bad outcome."),
    test_size: float = typer.Option(0.3, "--test-size", help="Stratified test share; 0 trains on the whole file."),
    seed: int = typer.Option(42, "--seed", help="Random seed for the split and the CV folds."),
    out: Path = typer.Option(..., "--out", help="Directory to write card.json, report.html and score.sql into."),
    sql_table: str = typer.Option("applicants", "--sql-table", help="Table name used in score.sql."),
    sql_key: str = typer.Option("id", "--sql-key", help="Key column used in score.sql (never a feature)."),
    exclude: list[str] = typer.Option([], "--exclude", help="Column that must not be a feature (repeatable)."),
    labels: Path | None = typer.Option(None, "--labels", help='JSON object {"column": "中文名称"} used in reason codes.'),
) -> None:
    """Fit a scorecard and print its headline figures as one JSON object."""
    from xinyidai.scorecard import (
        FitOptions,
        ScorecardError,
        ScorecardInputError,
        fit_scorecard,
        read_table,
        render_validation_page,
        save_card,
    )

    try:
        feature_labels = _read_labels(labels, ScorecardInputError) if labels is not None else None
        frame = read_table(file)
        options = FitOptions(test_size=test_size, seed=seed, exclude=(sql_key, *exclude))
        result = fit_scorecard(frame, target=target, bad_value=bad, options=options, feature_labels=feature_labels)
    except ScorecardError as exc:
        raise _fail(exc) from exc
    try:
        card_path = save_card(result.card, out)
        (out / "report.html").write_text(render_validation_page(result.train_report, result.test_report), encoding="utf-8")
        (out / "score.sql").write_text(result.card.to_sql(sql_table, sql_key) + ";\n", encoding="utf-8")
    except OSError as exc:
        typer.echo(f"error: cannot write the card to {out}: {exc}", err=True)
        raise typer.Exit(1) from exc
    summary = result.summary()
    summary["card"] = str(card_path)
    emit(summary)


@scorecard_app.command("score")
def score(
    card_dir: Path = typer.Argument(..., help="Directory written by `scorecard fit` (or its card.json)."),
    file: Path = typer.Argument(..., help="Rows to score: CSV, .parquet or .jsonl."),
    reasons: int = typer.Option(3, "--reasons", min=0, help="Number of reason codes per row."),
) -> None:
    """Print one JSON object per input row (in input order): score, pd and the top reason codes."""
    from xinyidai.scorecard import ScorecardError, load_card, read_table

    try:
        card = load_card(card_dir)
        frame = read_table(file)
        columns = {f: frame.get_column(f).to_arrow() for f in card.features if f in frame.columns}
        bins = card.bin_indices(columns)
        scores, pds, points = card.score_columns(columns)
    except ScorecardError as exc:
        raise _fail(exc) from exc
    for i in range(len(scores)):
        row_reasons = card.reasons_for(points[i], bins[i], k=reasons) if reasons else ()
        emit({"row": i, "score": round(float(scores[i]), 4), "pd": float(pds[i]), "reasons": [r.to_dict() for r in row_reasons]})


def register(app: typer.Typer) -> None:
    """Attach the commands."""
    app.add_typer(scorecard_app, name="scorecard")
