"""Facts for product matching from the evaluation: the enterprise's grade, rule score, serious-dishonesty listing and
tax grade, read from `evaluation_current` on top of the registry facts (`product.SubjectFactsProvider`).

The composition root registers it under `product.FACTS_SERVICE`. Reading is audited under the actor matching
runs as (the enterprise itself, for its own matches).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from xinyidai import audit, product
from xinyidai.db import Database
from xinyidai.evaluation.kernel import unpack_indicators
from xinyidai.evaluation.model_tables import EvaluationModelVersion
from xinyidai.evaluation.rules import default_rules
from xinyidai.evaluation.runs_tables import EvaluationCurrent
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock, SystemClock


class EvaluationFacts:
    """Registry facts plus the evaluation's grade, score, serious-dishonesty flag and tax grade (None when unknown)."""

    def __init__(self, db: Database, *, base: product.SubjectFactsProvider | None = None, clock: Clock | None = None) -> None:
        self.db = db
        self.base = base if base is not None else product.RegistryFacts(db)
        self.clock = clock or SystemClock()

    def facts_for(self, uscc: str, *, actor: ActorRef) -> product.SubjectFacts:
        """The registry facts with the current evaluation's facts added (the read is audited)."""
        facts = self.base.facts_for(uscc, actor=actor)
        code = uscc.strip().upper()
        with self.db.transaction() as s:
            row = s.execute(
                sa.select(
                    EvaluationCurrent.grade,
                    EvaluationCurrent.rule_score,
                    EvaluationCurrent.indicators,
                    EvaluationCurrent.run_id,
                    EvaluationCurrent.rules_version_id,
                ).where(EvaluationCurrent.uscc == code)
            ).first()
            if row is None:
                return facts
            content = (
                s.scalar(sa.select(EvaluationModelVersion.content).where(EvaluationModelVersion.id == row[4])) if row[4] else None
            )
            audit.record(
                s,
                actor=actor,
                action="evaluation.facts.read",
                subject=code,
                target_type="evaluation_run",
                target_id=row[3],
                reasons=["产品匹配读取信用评价等级、得分、严重失信与纳税信用等级"],
                clock=self.clock,
            )
        parsed = unpack_indicators(row[2])
        indicators = parsed if isinstance(parsed, dict) else {}
        listed = indicators.get("serious_dishonesty_listed")
        tax = indicators.get("tax_credit_grade")
        return dataclasses.replace(
            facts,
            evaluation_grade=row[0],
            evaluation_score=score_0_100(row[1], content),
            serious_dishonesty=None if listed is None else bool(int(listed)),
            tax_grade=str(tax) if tax else None,
        )


def score_0_100(value: object, table: dict[str, Any] | None) -> Decimal | None:
    """The rule score rescaled from its table's [min_score, max_score] to the 0–100 scale matching rules use."""
    if value is None:
        return None
    rules = default_rules()
    low = float(table.get("min_score", rules.min_score)) if table else rules.min_score
    high = float(table.get("max_score", rules.max_score)) if table else rules.max_score
    if high <= low:
        return None
    scaled = (float(str(value)) - low) * 100.0 / (high - low)
    return Decimal(str(min(max(scaled, 0.0), 100.0))).quantize(Decimal("0.01"))
