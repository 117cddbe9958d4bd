"""Training and validating evaluation models: a scorecard fitted on the indicators as of a date joined to loan
outcomes, validated on a held-out sample (AUC, KS, Gini, calibration with Hosmer–Lemeshow, IV, PSI/CSI against the
training population), stored as a draft version with its report; and the validation report of a rule table
(AUC/KS/Gini of the rule score against the same outcomes, and the grade distribution with bad rates).

Outcomes come from the synthetic generator's ground-truth file (`outcomes.csv`: uscc, latent_quality,
loan_default) or from institutions' reported loan performance (`lending.loan_outcomes`: an enterprise is bad when
any of its loans defaulted).
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, ClassVar, Final

import numpy as np
import polars as pl
import pyarrow as pa

from xinyidai import audit, lending, scorecard
from xinyidai.db import Database
from xinyidai.evaluation.indicators import INDICATORS, IndicatorKind
from xinyidai.evaluation.model import ModelFamily, ModelRole, ModelStatus
from xinyidai.evaluation.model_tables import EvaluationModelVersion
from xinyidai.evaluation.models import (
    ModelVersion,
    ModelVersionNotFound,
    add_version,
    approve_version,
    create_rules_draft,
    list_versions,
    version_view,
)
from xinyidai.evaluation.rules import GRADES, RuleTable, default_rules, indicator_schema, score_rules
from xinyidai.http.container import Container
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock, today
from xinyidai.kernel.errors import InvalidInput

#: Name of the outcome column in training frames (1 = defaulted).
TARGET = "loan_default"
#: The actor training runs are recorded under: the machine fits, a person approves (four-eyes holds).
TRAINING_ACTOR = ActorRef.system("evaluation-training")


class TrainingDataInsufficient(InvalidInput):
    """Too few enterprises with both indicators and an outcome, or outcomes of one class only."""

    code: ClassVar[str] = "evaluation_training_data"
    title: ClassVar[str] = "训练样本不足，无法训练评分卡"


@dataclass(frozen=True, slots=True)
class TrainingSet:
    """Indicators joined to outcomes: the frame (indicator columns + `loan_default`) and what was matched."""

    frame: pl.DataFrame
    features: tuple[str, ...]
    categorical: tuple[str, ...]
    indicator_rows: int
    outcomes: int


def read_outcomes_csv(path: Path) -> dict[str, int]:
    """`uscc → 1 (defaulted) / 0` from the generator's `outcomes.csv` (columns uscc, latent_quality, loan_default)."""
    out: dict[str, int] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "uscc" not in reader.fieldnames or TARGET not in reader.fieldnames:
            raise InvalidInput(f"结果文件须含 uscc 与 {TARGET} 列：{path.name}")
        for row in reader:
            value = (row.get(TARGET) or "").strip()
            if value in ("0", "1"):
                out[row["uscc"].strip().upper()] = int(value)
    return out


def lending_outcomes(db: Database) -> dict[str, int]:
    """`uscc → 1 / 0` from institutions' reported loan performance: bad when any of the enterprise's loans defaulted."""
    out: dict[str, int] = {}
    for o in lending.loan_outcomes(db):
        out[o.uscc] = max(out.get(o.uscc, 0), int(o.defaulted))
    return out


def training_set(indicators: pa.Table, outcomes: Mapping[str, int]) -> TrainingSet:
    """Join the indicator table (uscc + one column per indicator) to the outcomes, keeping indicator columns only."""
    if "uscc" not in indicators.column_names:
        raise InvalidInput("指标表缺少 uscc 列")
    features = tuple(d.code for d in INDICATORS if d.code in indicators.column_names)
    categorical = tuple(d.code for d in INDICATORS if d.code in features and d.kind is IndicatorKind.CODE)
    frame = pl.from_arrow(indicators.select(["uscc", *features]))
    assert isinstance(frame, pl.DataFrame)
    labels = pl.DataFrame(
        {"uscc": list(outcomes.keys()), TARGET: [int(v) for v in outcomes.values()]},
        schema={"uscc": pl.Utf8, TARGET: pl.Int64},
    )
    joined = frame.join(labels, on="uscc", how="inner").sort("uscc")
    return TrainingSet(joined, features, categorical, indicators.num_rows, len(outcomes))


def _checked(ts: TrainingSet) -> None:
    bads = int(ts.frame.get_column(TARGET).sum()) if ts.frame.height else 0
    if ts.frame.height == 0 or bads == 0 or bads == ts.frame.height:
        raise TrainingDataInsufficient(
            f"指标与结果匹配的企业 {ts.frame.height} 户，其中违约 {bads} 户：须同时有违约与未违约的企业",
            matched=ts.frame.height,
            bads=bads,
        )


#: Below this many bad enterprises in the training part, the card is kept small (fewer, coarser features).
SMALL_SAMPLE_BADS = 50


def fit_options(ts: TrainingSet, *, test_size: float = 0.3) -> scorecard.FitOptions:
    """Fit options for the indicator table: its features and categorical codes; on a small sample (a demo, a new node)
    as many cross-validation folds as there are bad enterprises to stratify (at most 5) and at most 5 coarse features,
    since a card fitted on a few dozen defaults overfits whatever it is given."""
    bads = int(ts.frame.get_column(TARGET).sum())
    train_bads = int(bads * (1.0 - test_size))
    if train_bads >= SMALL_SAMPLE_BADS:
        return scorecard.FitOptions(features=ts.features, categorical=ts.categorical, test_size=test_size)
    return scorecard.FitOptions(
        features=ts.features,
        categorical=ts.categorical,
        test_size=test_size,
        cv_folds=max(2, min(5, bads // 2 if test_size > 0 else bads)),  # the library wants 2 per fold with a test part
        max_features=5,
        max_bins=4,
        min_bin_size=0.1,
        binning_grid=None,
    )


def _figures(ts: TrainingSet, result: scorecard.FitResult) -> dict[str, Any]:
    bads = int(ts.frame.get_column(TARGET).sum())
    return {
        "indicator_rows": ts.indicator_rows,
        "outcomes": ts.outcomes,
        "matched": ts.frame.height,
        "bads": bads,
        "bad_rate": bads / ts.frame.height,
        "train_rows": result.train_rows,
        "test_rows": result.test_rows,
        "features_kept": len(result.card.features),
        "features": list(result.card.features),
        "c": result.c,
        "cv_auc": result.cv_auc,
        "iv": {k: float(v) for k, v in result.iv.items()},
        "dropped": dict(result.dropped),
    }


def train_scorecard_on(
    db: Database,
    *,
    actor: ActorRef,
    clock: Clock,
    indicators: pa.Table,
    snapshot_id: uuid.UUID | None,
    as_of: date,
    outcomes: Mapping[str, int],
    options: scorecard.FitOptions | None = None,
    label: str | None = None,
) -> ModelVersion:
    """Fit, validate (held-out test sample; stability against the training population) and store a draft scorecard."""
    ts = training_set(indicators, outcomes)
    _checked(ts)
    opts = options or fit_options(ts)
    labels = {d.code: d.name_zh for d in INDICATORS}
    try:
        result = scorecard.fit_scorecard(ts.frame.drop("uscc"), target=TARGET, bad_value=1, options=opts, feature_labels=labels)
    except scorecard.ScorecardError as exc:
        raise TrainingDataInsufficient(f"评分卡无法训练：{exc.detail}") from exc
    train, test = result.train_report, result.test_report
    validation: dict[str, Any] = {"train": train.to_dict(), "test": test.to_dict() if test is not None else None}
    html = scorecard.render_validation_html(train, title="训练样本")
    if test is not None:
        html = scorecard.render_validation_html(test, title="测试样本（留出 30%）") + html
    with db.transaction() as s:
        return add_version(
            s,
            actor=actor,
            clock=clock,
            family=ModelFamily.SCORECARD,
            content=result.card.to_dict(),
            label=label,
            note=f"以 {as_of.isoformat()} 的指标与贷款结果训练",
            training_snapshot_id=snapshot_id,
            training_as_of=as_of,
            training_figures=_figures(ts, result),
            validation=validation,
            validation_html=html,
        )


def rules_validation(table: RuleTable, indicators: pa.Table, outcomes: Mapping[str, int]) -> dict[str, Any]:
    """The validation report of a rule table: score metrics against outcomes and the grade distribution."""
    schema = indicator_schema(table.indicators)
    for f in schema:  # an indicator the table reads but the input lacks counts as missing
        if f.name not in indicators.column_names:
            indicators = indicators.append_column(f, pa.nulls(indicators.num_rows, type=f.type))
    scored = score_rules(indicators, table)
    usccs = [str(u) for u in indicators.column("uscc").to_pylist()]
    grades = np.asarray(GRADES, dtype=object)[scored.grade]
    known = np.asarray([u in outcomes for u in usccs], dtype=bool)
    bad = np.asarray([outcomes.get(u, 0) == 1 for u in usccs], dtype=bool)
    by_grade = []
    for g in GRADES:
        in_grade = grades == g
        labelled = in_grade & known
        n_bad = int((bad & labelled).sum())
        by_grade.append(
            {
                "grade": g,
                "rows": int(in_grade.sum()),
                "labelled": int(labelled.sum()),
                "bads": n_bad,
                "bad_rate": n_bad / int(labelled.sum()) if labelled.any() else None,
            }
        )
    report: dict[str, Any] = {
        "rows": len(usccs),
        "labelled": int(known.sum()),
        "grades": by_grade,
        "score_min": float(scored.score.min()) if len(usccs) else None,
        "score_max": float(scored.score.max()) if len(usccs) else None,
        "score_mean": float(scored.score.mean()) if len(usccs) else None,
    }
    labelled_bad = bad[known]
    if known.any() and 0 < int(labelled_bad.sum()) < int(known.sum()):
        metrics = scorecard.score_metrics(scored.score[known], labelled_bad)
        report["test"] = {
            **metrics,
            "rows": int(known.sum()),
            "bads": int(labelled_bad.sum()),
            "bad_rate": float(labelled_bad.mean()),
        }
    return report


def validate_rules_on(
    db: Database,
    *,
    actor: ActorRef,
    clock: Clock,
    version_id: uuid.UUID,
    indicators: pa.Table,
    outcomes: Mapping[str, int],
    snapshot_id: uuid.UUID | None = None,
    as_of: date | None = None,
) -> ModelVersion:
    """Attach a validation report to a rule-table version (any status: the report never changes its content)."""
    with db.transaction() as s:
        row = s.get(EvaluationModelVersion, version_id, with_for_update=True)
        if row is None or row.family != ModelFamily.RULES.value:
            raise ModelVersionNotFound("未找到该规则评价表版本")
        table = RuleTable.from_dict(row.content)
        report = rules_validation(table, indicators, outcomes)
        report.update(snapshot_id=str(snapshot_id) if snapshot_id else None, as_of=as_of.isoformat() if as_of else None)
        row.validation = report
        if row.status == ModelStatus.DRAFT.value and snapshot_id is not None:
            row.training_snapshot_id = snapshot_id
            row.training_as_of = as_of
        s.flush()
        audit.record(
            s,
            actor=actor,
            action="evaluation.model.validate",
            target_type="evaluation_model_version",
            target_id=row.id,
            data={"family": row.family, "label": row.label, "rows": report["rows"], "labelled": report["labelled"]},
            clock=clock,
        )
        return version_view(row)


# --- composition: snapshot → indicators → model -------------------------------------------------

#: The actors the demo drafts and approves under (two, so the four-eyes rule holds in the demo too).
DEMO_DRAFTER = ActorRef.system("demo-evaluation-drafter")
DEMO_APPROVER = ActorRef.system("demo-evaluation-approver")


def indicators_as_of(container: Container, *, as_of: date) -> tuple[uuid.UUID, pa.Table]:
    """Snapshot the records an evaluation as of `as_of` may see and compute the indicator table over it."""
    from xinyidai.evaluation.batch import snapshot_directory
    from xinyidai.evaluation.engine import compute_indicators
    from xinyidai.evaluation.snapshot import write_snapshot

    snapshot = write_snapshot(
        container.db, as_of=as_of, directory=snapshot_directory(container.settings.var_dir) / "training", clock=container.clock
    )
    return snapshot.id, compute_indicators(snapshot)


def _outcomes(container: Container, outcomes: Mapping[str, int] | None) -> Mapping[str, int]:
    return outcomes if outcomes is not None else lending_outcomes(container.db)


def train_scorecard(
    container: Container, *, actor: ActorRef, as_of: date | None = None, outcomes: Mapping[str, int] | None = None
) -> ModelVersion:
    """Train a draft scorecard on the indicators as of `as_of` (default today in China) joined to the outcomes
    (default: institutions' reported loan performance)."""
    day = as_of or today(container.clock)
    snapshot_id, table = indicators_as_of(container, as_of=day)
    return train_scorecard_on(
        container.db,
        actor=actor,
        clock=container.clock,
        indicators=table,
        snapshot_id=snapshot_id,
        as_of=day,
        outcomes=_outcomes(container, outcomes),
    )


def validate_rules(
    container: Container,
    *,
    actor: ActorRef,
    version_id: uuid.UUID,
    as_of: date | None = None,
    outcomes: Mapping[str, int] | None = None,
) -> ModelVersion:
    """Attach a validation report on the indicators as of `as_of` to a rule-table version."""
    day = as_of or today(container.clock)
    snapshot_id, table = indicators_as_of(container, as_of=day)
    return validate_rules_on(
        container.db,
        actor=actor,
        clock=container.clock,
        version_id=version_id,
        indicators=table,
        outcomes=_outcomes(container, outcomes),
        snapshot_id=snapshot_id,
        as_of=day,
    )


#: Test AUC a demo-trained card must reach to serve as champion; below it, it is approved as challenger only.
DEMO_CHAMPION_MIN_AUC: Final = 0.6


def prepare_demo(container: Container, *, outcomes_csv: Path, as_of: date) -> dict[str, Any]:
    """For `make demo`: draft the default rules and a scorecard trained on the generator's outcomes, validate, approve
    both as champions (a second actor approves: four-eyes), then run the batch so every enterprise has a grade."""
    from xinyidai.evaluation.batch import run_evaluation

    outcomes = read_outcomes_csv(outcomes_csv)
    snapshot_id, table = indicators_as_of(container, as_of=as_of)
    if table.num_rows == 0:  # point-in-time: records received after the as-of date are not seen
        raise TrainingDataInsufficient(
            f"截至评价基准日 {as_of.isoformat()} 没有已接收的企业登记信息：请以数据接收之日或之后为基准日",
            as_of=as_of.isoformat(),
        )
    db, clock = container.db, container.clock
    held = {(v.family, v.role) for v in list_versions(db) if v.role is not None}
    result: dict[str, Any] = {"snapshot_id": str(snapshot_id), "outcomes": len(outcomes)}
    if (ModelFamily.RULES, ModelRole.CHAMPION) not in held:
        rules = create_rules_draft(db, actor=DEMO_DRAFTER, clock=clock, table=default_rules().to_dict(), note="默认规则表")
        validate_rules_on(
            db, actor=DEMO_DRAFTER, clock=clock, version_id=rules.id, indicators=table, outcomes=outcomes,
            snapshot_id=snapshot_id, as_of=as_of,
        )  # fmt: skip
        result["rules_version_id"] = str(approve_version(db, actor=DEMO_APPROVER, clock=clock, version_id=rules.id).id)
    if not held & {(ModelFamily.SCORECARD, ModelRole.CHAMPION), (ModelFamily.SCORECARD, ModelRole.CHALLENGER)}:
        try:
            card = train_scorecard_on(
                db, actor=DEMO_DRAFTER, clock=clock, indicators=table, snapshot_id=snapshot_id, as_of=as_of, outcomes=outcomes
            )
        except TrainingDataInsufficient as refusal:  # a tiny demo may have no defaults: grade with the rules alone
            result["card_skipped"] = str(refusal)
            result["run"] = run_evaluation(container, actor=DEMO_APPROVER, as_of=as_of).to_dict()
            return result
        headline = card.summary()["headline"]
        auc = headline.get("auc")
        # A card that does not separate the test sample (few defaults in a small demo) is kept as challenger:
        # the rules alone grade until a better-trained card is approved.
        role = ModelRole.CHAMPION if isinstance(auc, int | float) and auc >= DEMO_CHAMPION_MIN_AUC else ModelRole.CHALLENGER
        approved = approve_version(db, actor=DEMO_APPROVER, clock=clock, version_id=card.id, role=role)
        result["card_version_id"] = str(approved.id)
        result["card_role"] = role.value
        result["card_headline"] = headline
    summary = run_evaluation(container, actor=DEMO_APPROVER, as_of=as_of)
    result["run"] = summary.to_dict()
    return result
