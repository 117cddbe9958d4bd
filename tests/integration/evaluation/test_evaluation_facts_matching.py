"""The evaluation's facts reach product matching through `product.FACTS_SERVICE`: grade, 0–100 score, serious-dishonesty
listing and tax grade from the current evaluation, each read audited; all unknown (无法判断) before any evaluation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import make_settings
from tests.integration.evaluation.evaluation_data import add_record
from tests.integration.evaluation.evaluation_world import AS_OF, RECEIVED, add_enterprises, evaluate
from xinyidai import product
from xinyidai.app import build_container
from xinyidai.audit.tables import AuditEvent
from xinyidai.db import Database
from xinyidai.evaluation.facts import EvaluationFacts, score_0_100
from xinyidai.evaluation.rules import default_rules
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import FrozenClock
from xinyidai.product import EligibilityRules, Outcome

RULES = EligibilityRules(min_grade="B", exclude_serious_dishonesty=True, min_tax_grade="B")


def test_matching_sees_the_evaluation(db: Database, database_url: str, clock: FrozenClock, tmp_path: Path) -> None:
    good, bad, plain = add_enterprises(db, base=9400)
    with db.transaction() as s:  # the bad enterprise is also on a serious-dishonesty list
        add_record(s, "serious_dishonesty", bad, {"name": "测试企业", "list_name": "严重失信主体名单", "reason": "拒不履行",
                                                  "listed_on": "2026-03-01", "listing_authority": "某局"},
                   received_at=RECEIVED, event_date=date(2026, 3, 1))  # fmt: skip
    container = build_container(make_settings(database_url), db=db, clock=clock)
    provider = product.provider_for(container)
    assert isinstance(provider, EvaluationFacts)
    actor = ActorRef.system("matching-test")

    before = provider.facts_for(good, actor=actor)
    assert (before.evaluation_grade, before.evaluation_score, before.serious_dishonesty, before.tax_grade) == (None,) * 4
    assert before.established_on == date(2010, 1, 1)  # the registry facts underneath still come through
    unknown = {r.rule: r.outcome for r in product.evaluate_rules(RULES, before, as_of=AS_OF)}
    assert unknown == {"grade": Outcome.UNKNOWN, "dishonesty": Outcome.UNKNOWN, "tax_grade": Outcome.UNKNOWN}

    run = evaluate(db, clock, tmp_path)
    g = provider.facts_for(good, actor=actor)
    assert (g.evaluation_grade, g.serious_dishonesty, g.tax_grade) == ("A", False, "A")
    assert g.evaluation_score is not None
    assert Decimal(80) <= g.evaluation_score <= Decimal(100)
    passed = {r.rule: r.outcome for r in product.evaluate_rules(RULES, g, as_of=AS_OF)}
    assert set(passed.values()) == {Outcome.PASS}

    b = provider.facts_for(bad, actor=actor)
    assert (b.evaluation_grade, b.serious_dishonesty, b.tax_grade) == ("D", True, None)
    assert b.evaluation_score is not None
    assert b.evaluation_score < g.evaluation_score
    failed = {r.rule: r.outcome for r in product.evaluate_rules(RULES, b, as_of=AS_OF)}
    assert failed == {"grade": Outcome.FAIL, "dishonesty": Outcome.FAIL, "tax_grade": Outcome.UNKNOWN}

    p = provider.facts_for(plain, actor=actor)
    assert p.serious_dishonesty is False
    assert p.tax_grade is None
    assert p.evaluation_grade in ("A", "B", "C", "D")

    with db.transaction() as s:
        reads = s.execute(
            sa.select(AuditEvent.subject, AuditEvent.target_id).where(AuditEvent.action == "evaluation.facts.read")
        ).all()
    assert sorted(reads) == sorted([(good, str(run.run_id)), (bad, str(run.run_id)), (plain, str(run.run_id))])


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_score_0_100_is_bounded_and_monotonic(value: float) -> None:
    table = default_rules().to_dict()
    scaled = score_0_100(value, table)
    assert scaled is not None
    assert Decimal(0) <= scaled <= Decimal(100)
    higher = score_0_100(value + 50, table)
    assert higher is not None
    assert higher >= scaled
    assert score_0_100(None, table) is None
    assert score_0_100(value, {"min_score": 10, "max_score": 10}) is None
