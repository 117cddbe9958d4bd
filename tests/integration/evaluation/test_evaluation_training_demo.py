"""`prepare_demo` on real demo data: the generator's files ingested through the ingest pipeline (clock frozen at the
generator's as-of date, so the records are received by then), the default rules and a scorecard trained on the
synthetic outcomes approved by a second actor, and a batch run in which every enterprise gets a grade with reasons,
scored by the approved champion card."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.conftest import make_settings
from xinyidai import ingest
from xinyidai.app import build_container
from xinyidai.db import Database
from xinyidai.demodata import generate
from xinyidai.evaluation import models, training
from xinyidai.evaluation.batch import read_current
from xinyidai.evaluation.model import ModelFamily, ModelRole, ModelStatus
from xinyidai.evaluation.service import get_evaluation
from xinyidai.kernel.actor import ActorKind, ActorRef
from xinyidai.kernel.clock import FrozenClock
from xinyidai.principal import ROLE_PERMISSIONS, AuthMethod, Principal, Role

AS_OF = date(2026, 6, 30)
OPERATOR = Principal(
    kind=ActorKind.USER, id=uuid.UUID(int=5), label="运营测试", permissions=ROLE_PERMISSIONS[Role.OPERATOR],
    method=AuthMethod.SESSION, role=Role.OPERATOR,
)  # fmt: skip


def test_prepare_demo_grades_every_enterprise_with_the_approved_card(database_url: str, db: Database, tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    generate(enterprises=60, seed=11, out_dir=data, as_of=AS_OF)
    clock = FrozenClock(datetime(2026, 6, 30, 2, tzinfo=UTC))
    container = build_container(make_settings(database_url, var_dir=tmp_path / "var"), db=db, clock=clock)
    actor = ActorRef.system("demo-test")
    ingest.seed_sources(db, actor, clock)
    entries = ingest.ingest_directory(
        db, actor=actor, clock=clock, cipher=container.cipher, var_dir=tmp_path / "var", directory=data
    )
    assert all(e.result is not None for e in entries if e.file != "outcomes.csv")
    usccs = [line.split(",")[0] for line in (data / "outcomes.csv").read_text(encoding="utf-8").splitlines()[1:]]
    assert len(usccs) == 60

    with pytest.raises(training.TrainingDataInsufficient, match="评价基准日"):  # nothing was received by then
        training.prepare_demo(container, outcomes_csv=data / "outcomes.csv", as_of=date(2025, 12, 31))

    result = training.prepare_demo(container, outcomes_csv=data / "outcomes.csv", as_of=AS_OF)
    json.dumps(result)  # the CLI prints it as JSON
    run = result["run"]
    assert run["enterprises"] == 60
    assert sum(run["grades"].values()) == 60

    held = models.serving(db)
    rules = held[(ModelFamily.RULES, ModelRole.CHAMPION)]
    card = held[(ModelFamily.SCORECARD, ModelRole.CHAMPION)]
    assert rules.status is card.status is ModelStatus.APPROVED
    assert card.approved_by == training.DEMO_APPROVER.label != card.created_by  # four-eyes in the demo too
    assert run["card_version_id"] == str(card.id) == result["card_version_id"]
    assert run["rules_version_id"] == str(rules.id)
    assert card.has_validation_html
    assert 0.0 <= result["card_headline"]["auc"] <= 1.0
    assert rules.validation["rows"] == 60
    assert rules.validation["labelled"] == 60

    for uscc in usccs:
        row = read_current(db, uscc)
        assert row is not None, uscc
        assert row["grade"] in ("A", "B", "C", "D")
        assert str(row["card_version_id"]).replace("-", "") == card.id.hex
        assert row["card_score"] is not None
        assert 0.0 < row["pd"] < 1.0
        view = get_evaluation(db, actor=OPERATOR, clock=clock, uscc=uscc)
        assert view.grade == row["grade"]
        assert view.card_version_id == card.id
        assert view.reasons, uscc  # every grade is explained: what cost points, else what earned them
        assert all(r.text and r.advice and r.points for r in view.reasons)
        assert any(r.link and r.link.startswith("/records/mine#") for r in view.reasons)

    # Run again: the champions stay, no second draft is made, every enterprise is graded afresh.
    again = training.prepare_demo(container, outcomes_csv=data / "outcomes.csv", as_of=AS_OF)
    assert "card_version_id" not in again
    assert again["run"]["enterprises"] == 60
    assert len(models.list_versions(db)) == 2
