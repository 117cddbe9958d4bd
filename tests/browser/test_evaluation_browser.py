"""Credit evaluation in real Chromium: the enterprise reads its grade and the reasons, and follows a reason to the
record behind it; the operator opens a scorecard version's validation report from the model registry."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI

from tests.browser.conftest import ENTERPRISE_USCC, log_in
from tests.integration.evaluation.evaluation_data import add_record, penalty
from tests.integration.evaluation.test_evaluation_registry_models import _synthetic
from xinyidai.demo import DemoLogin
from xinyidai.evaluation import models, training
from xinyidai.evaluation.batch import run_evaluation
from xinyidai.evaluation.model import ModelFamily, ModelRole
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import today

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

RECEIVED = datetime(2026, 1, 10, tzinfo=UTC)
APPROVER = ActorRef.system("browser-test-approver")


@pytest.fixture(scope="module")
def evaluated(live_app: FastAPI) -> str:
    """Records for the demo enterprise, an approved champion card, and a batch run; returns the card's label."""
    container = live_app.state.container
    db, clock = container.db, container.clock
    held = models.serving(db)
    card = held.get((ModelFamily.SCORECARD, ModelRole.CHAMPION))
    if card is None:  # idempotent within the session's database
        with db.transaction() as s:
            add_record(s, "dishonest_debtor", ENTERPRISE_USCC, {"case_no": "（2026）闽01执9号", "listed_on": "2026-03-01"},
                       received_at=RECEIVED)  # fmt: skip
            penalty(s, ENTERPRISE_USCC, decided=date(2026, 2, 1), received_at=RECEIVED)
        table, outcomes = _synthetic()
        draft = training.train_scorecard_on(
            db, actor=training.TRAINING_ACTOR, clock=clock, indicators=table, snapshot_id=None, as_of=today(clock),
            outcomes=outcomes,
        )  # fmt: skip
        card = models.approve_version(db, actor=APPROVER, clock=clock, version_id=draft.id)
        run_evaluation(container, actor=APPROVER, as_of=today(clock))
    return card.label


def test_enterprise_sees_grade_and_reasons_operator_opens_the_report(
    evaluated: str, page: Page, live_server: str, demo_logins: dict[str, DemoLogin]
) -> None:
    enterprise = demo_logins["enterprise"]
    log_in(page, enterprise.username, enterprise.password)
    page.wait_for_url(f"{live_server}/")
    page.get_by_role("link", name="我的信用评价").first.click()
    page.wait_for_url("**/evaluation")
    assert page.locator("#grade .badge").inner_text().strip() == "D"  # a dishonest-debtor listing caps the grade
    reasons = page.locator("#reasons tr.reason")
    assert reasons.count() >= 2
    first = reasons.first
    assert "失信被执行人" in first.inner_text()
    assert "移出失信被执行人名单" in first.inner_text()  # what to do about it
    assert "违约概率区间" in page.content()
    first.get_by_role("link", name="查看记录").click()
    page.wait_for_url("**/records/mine#group-dishonest_debtor")
    assert page.locator("#group-dishonest_debtor").is_visible()
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url("**/login")

    operator = demo_logins["operator"]
    log_in(page, operator.username, operator.password)
    page.wait_for_url(f"{live_server}/")
    page.goto("/evaluation/models")
    page.get_by_role("link", name=evaluated, exact=True).first.click()
    page.wait_for_url("**/evaluation/models/*")
    report = page.locator("#validation-report")
    assert report.is_visible()
    text = report.inner_text()
    assert "AUC" in text
    assert "KS" in text
    assert report.locator("svg").count() >= 1
    assert "冠军模型" in page.locator("main").inner_text()
