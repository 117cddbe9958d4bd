"""The model registry on a migrated database: drafts, four-eyes approval, one champion and one challenger per family,
audit events, `active_models`, and training/validation of a scorecard and a rule table on a synthetic indicator table."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa

from xinyidai.audit.tables import AuditEvent
from xinyidai.db import Database
from xinyidai.evaluation import models, training
from xinyidai.evaluation.model import ModelFamily, ModelRole, ModelStatus
from xinyidai.evaluation.rules import default_rules
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import FrozenClock

ALICE = ActorRef.system("op-alice")
BOB = ActorRef.system("op-bob")


def _actions(db: Database) -> list[str]:
    with db.transaction() as s:
        return list(
            s.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("evaluation.model.%")).order_by(AuditEvent.seq))
        )


def test_draft_approve_promote_retire(db: Database, clock: FrozenClock) -> None:
    v1 = models.create_rules_draft(db, actor=ALICE, clock=clock, table=default_rules().to_dict())
    assert v1.status is ModelStatus.DRAFT
    with db.transaction() as s:
        before = models.active_models(s)
    assert before.rules_version_id is None  # a draft never serves: the default table does
    assert before.card is None
    with pytest.raises(models.ModelApprovalRefused, match="双人复核"):
        models.approve_version(db, actor=ALICE, clock=clock, version_id=v1.id)
    v1 = models.approve_version(db, actor=BOB, clock=clock, version_id=v1.id)
    assert (v1.status, v1.role, v1.approved_by) == (ModelStatus.APPROVED, ModelRole.CHAMPION, BOB.label)

    edited = default_rules().to_dict()
    edited["base"] = float(edited["base"]) - 50
    v2 = models.create_rules_draft(db, actor=ALICE, clock=clock, table=edited, parent_id=v1.id, note="降低基础分")
    v2 = models.approve_version(db, actor=BOB, clock=clock, version_id=v2.id, role=ModelRole.CHALLENGER)
    with db.transaction() as s:
        active = models.active_models(s)
    assert active.rules_version_id == v1.id
    assert active.rules.base == default_rules().base

    models.set_role(db, actor=BOB, clock=clock, version_id=v2.id, role=ModelRole.CHAMPION)
    states = {v.id: (v.status, v.role) for v in models.list_versions(db, family=ModelFamily.RULES)}
    assert states[v2.id] == (ModelStatus.APPROVED, ModelRole.CHAMPION)
    assert states[v1.id] == (ModelStatus.RETIRED, None)
    with db.transaction() as s:
        assert models.active_models(s).rules.base == default_rules().base - 50
    with pytest.raises(models.ModelApprovalRefused):
        models.approve_version(db, actor=BOB, clock=clock, version_id=v1.id)
    assert _actions(db) == [
        "evaluation.model.create",
        "evaluation.model.approve.refused",
        "evaluation.model.approve",
        "evaluation.model.create",
        "evaluation.model.approve",
        "evaluation.model.promote",
        "evaluation.model.approve.refused",
    ]


def test_invalid_content_and_unknown_version_are_refused(db: Database, clock: FrozenClock) -> None:
    with pytest.raises(models.InvalidModelContent):
        models.create_rules_draft(db, actor=ALICE, clock=clock, table={"rules": []})
    broken = default_rules().to_dict()
    broken["rules"][0]["indicator"] = "no_such_indicator"
    with pytest.raises(models.InvalidModelContent, match="未知指标"):
        models.create_rules_draft(db, actor=ALICE, clock=clock, table=broken)
    with pytest.raises(models.ModelVersionNotFound):
        models.approve_version(db, actor=BOB, clock=clock, version_id=ALICE_ID)


ALICE_ID = __import__("uuid").UUID(int=7)


def _synthetic(n: int = 500, seed: int = 3) -> tuple[pa.Table, dict[str, int]]:
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=n)
    table = pa.table(
        {
            "uscc": [f"U{i:05d}" for i in range(n)],
            "years_in_business": (6 + 3 * quality + rng.normal(size=n)).clip(0),
            "tax_credit_grade": pa.array(np.where(quality > 0.5, "A", np.where(quality > -0.5, "B", "C")).tolist()),
            "penalty_count": pa.array(np.maximum(0, (1 - quality + rng.normal(size=n)).round()).astype(np.int64)),
            "utility_on_time_rate": (0.9 + 0.05 * quality + 0.02 * rng.normal(size=n)).clip(0, 1),
        }
    )
    bad = rng.random(n) < 1 / (1 + np.exp(2 + 1.5 * quality))
    return table, {f"U{i:05d}": int(b) for i, b in enumerate(bad)}


def test_train_a_scorecard_then_serve_it(db: Database, clock: FrozenClock) -> None:
    table, outcomes = _synthetic()
    card = training.train_scorecard_on(
        db,
        actor=training.TRAINING_ACTOR,
        clock=clock,
        indicators=table,
        snapshot_id=None,
        as_of=date(2026, 6, 30),
        outcomes=outcomes,
    )
    assert card.family is ModelFamily.SCORECARD
    assert card.status is ModelStatus.DRAFT
    assert card.has_validation_html
    head = card.summary()["headline"]
    assert head["auc"] > 0.6
    assert 0 <= head["hosmer_lemeshow_p"] <= 1
    assert card.training_figures["matched"] == 500
    assert set(card.validation) == {"train", "test"}
    html = models.validation_html(db, version_id=card.id)
    assert html is not None
    assert "<svg" in html
    models.approve_version(db, actor=BOB, clock=clock, version_id=card.id)
    with db.transaction() as s:
        active = models.active_models(s)
    assert active.card_version_id == card.id
    assert active.card is not None
    assert 0 < active.card.score_one({"years_in_business": 5.0}).pd < 1


def test_training_needs_both_outcomes(db: Database, clock: FrozenClock) -> None:
    table, outcomes = _synthetic(n=60)
    with pytest.raises(training.TrainingDataInsufficient):
        training.train_scorecard_on(
            db, actor=ALICE, clock=clock, indicators=table, snapshot_id=None, as_of=date(2026, 6, 30),
            outcomes=dict.fromkeys(outcomes, 0),
        )  # fmt: skip


def test_rules_validation_report(db: Database, clock: FrozenClock) -> None:
    table, outcomes = _synthetic()
    version = models.create_rules_draft(db, actor=ALICE, clock=clock, table=default_rules().to_dict())
    checked = training.validate_rules_on(db, actor=ALICE, clock=clock, version_id=version.id, indicators=table, outcomes=outcomes)
    report = checked.validation
    assert report["rows"] == 500
    assert sum(g["rows"] for g in report["grades"]) == 500
    assert [g["grade"] for g in report["grades"]] == ["A", "B", "C", "D"]
    assert 0 <= report["test"]["auc"] <= 1
    assert checked.status is ModelStatus.DRAFT
    assert "evaluation.model.validate" in _actions(db)
