"""Evaluation reads: one enterprise's evaluation (for itself, for an institution under an authorization covering
`credit_evaluation`, for the operator and the regulator), and the grade distribution by region and industry.

Each read is one transaction and audited in it. An institution's read goes through `consent.check_access`, whose
decision and reasons are the audit event; a denial is committed before it is raised.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

import sqlalchemy as sa

from xinyidai import audit, consent, registry
from xinyidai.db import Database
from xinyidai.evaluation.batch import row_reasons
from xinyidai.evaluation.indicators import BY_CODE, INDICATORS
from xinyidai.evaluation.kernel import unpack_indicators
from xinyidai.evaluation.model import advice_for, grade_label, pd_band, stored_json
from xinyidai.evaluation.model_tables import EvaluationModelVersion
from xinyidai.evaluation.push import EVALUATION_ITEM, evaluation_payload
from xinyidai.evaluation.rules import RuleTable, default_rules, explain
from xinyidai.evaluation.runs_tables import EvaluationCurrent
from xinyidai.kernel import divisions
from xinyidai.kernel.clock import Clock
from xinyidai.kernel.errors import Forbidden, InvalidInput, NotFound
from xinyidai.principal import Permission, Principal

GRADES = ("A", "B", "C", "D")


class EvaluationNotFound(NotFound):
    """The enterprise has no stored evaluation (or the caller may not know it has)."""

    code: ClassVar[str] = "evaluation_not_found"
    title: ClassVar[str] = "未找到该企业的信用评价"


@dataclass(frozen=True, slots=True)
class IndicatorValue:
    """One indicator of an evaluation, with its definition."""

    code: str
    name_zh: str
    name_en: str
    doc_zh: str
    unit: str
    value: Any
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReasonView:
    """One reason of an evaluation: what cost (or earned) points, what to improve, and the record behind it."""

    text: str
    points: float | None
    indicator: str | None
    indicator_name: str | None
    advice: str
    link: str | None
    source: str  # "rules" or "scorecard"


@dataclass(frozen=True, slots=True)
class EvaluationView:
    """An enterprise's current evaluation and where it came from."""

    uscc: str
    grade: str | None
    grade_label: str
    rule_score: float | None
    card_score: float | None
    pd: float | None
    pd_band: str | None
    reasons: tuple[ReasonView, ...]
    indicators: tuple[IndicatorValue, ...]
    run_id: uuid.UUID
    snapshot_id: uuid.UUID
    as_of: date
    rules_version_id: uuid.UUID | None
    rules_version_label: str | None
    card_version_id: uuid.UUID | None
    card_version_label: str | None
    evaluated_at: datetime

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (the API's body)."""
        return {
            "uscc": self.uscc,
            "grade": self.grade,
            "grade_label": self.grade_label,
            "rule_score": self.rule_score,
            "card_score": self.card_score,
            "pd": self.pd,
            "pd_band": self.pd_band,
            "reasons": [
                {
                    "text": r.text,
                    "points": r.points,
                    "indicator": r.indicator,
                    "indicator_name": r.indicator_name,
                    "advice": r.advice,
                    "link": r.link,
                    "source": r.source,
                }
                for r in self.reasons
            ],
            "indicators": [
                {
                    "code": i.code,
                    "name_zh": i.name_zh,
                    "name_en": i.name_en,
                    "definition_zh": i.doc_zh,
                    "unit": i.unit,
                    "value": i.value,
                    "items": list(i.items),
                }
                for i in self.indicators
            ],
            "run_id": str(self.run_id),
            "snapshot_id": str(self.snapshot_id),
            "as_of": self.as_of.isoformat(),
            "rules_version_id": str(self.rules_version_id) if self.rules_version_id else None,
            "rules_version_label": self.rules_version_label,
            "card_version_id": str(self.card_version_id) if self.card_version_id else None,
            "card_version_label": self.card_version_label,
            "evaluated_at": self.evaluated_at.isoformat(),
        }


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _record_link(reason: dict[str, Any], indicator: str | None) -> str | None:
    """Where the enterprise finds the record behind a reason on 我的信用记录."""
    records = reason.get("record_ids") or reason.get("records") or ([reason["record_id"]] if reason.get("record_id") else [])
    if records:
        first = records[0]
        return f"/records/mine#record-{first['id'] if isinstance(first, dict) else first}"
    item = reason.get("item")
    if not item and indicator in BY_CODE:
        items = [i for i in BY_CODE[indicator].items if i != "registry"]
        item = items[0] if items else None
    return f"/records/mine#group-{item}" if item else None


def reason_views(raw: Any) -> tuple[ReasonView, ...]:
    """The stored reasons (rule deductions and scorecard reason codes) as the enterprise reads them."""
    out: list[ReasonView] = []
    raw = stored_json(raw)
    for r in raw if isinstance(raw, list) else []:
        if not isinstance(r, dict):
            continue
        indicator = r.get("indicator") or r.get("feature")
        indicator = str(indicator) if indicator else None
        points = r.get("points", r.get("points_lost"))
        if r.get("points_lost") is not None and r.get("points") is None:
            points = -float(r["points_lost"])
        text = str(r.get("text_zh") or r.get("name_zh") or r.get("text") or r.get("label") or indicator or "")
        definition = BY_CODE.get(indicator) if indicator else None
        out.append(
            ReasonView(
                text=text,
                points=_float(points),
                indicator=indicator,
                indicator_name=definition.name_zh if definition else r.get("label"),
                advice=str(r.get("advice_zh") or r.get("advice") or advice_for(indicator)),
                link=_record_link(r, indicator),
                source=str(r.get("source") or ("scorecard" if "points_lost" in r else "rules")),
            )
        )
    return tuple(out)


def earned_reasons(indicators: Any, table: RuleTable) -> tuple[ReasonView, ...]:
    """When nothing cost the enterprise points, what earned them: the rule table's bonuses that applied, recomputed
    from the stored indicator values (the same pure rules the batch scored with)."""
    values = stored_json(indicators)
    if not isinstance(values, dict):
        return ()
    out = []
    for hit in explain(values, table):
        if hit.points <= 0:
            continue
        out.append(
            ReasonView(
                text=hit.name_zh,
                points=hit.points,
                indicator=hit.indicator,
                indicator_name=BY_CODE[hit.indicator].name_zh if hit.indicator in BY_CODE else None,
                advice=hit.advice_zh or "继续保持。",
                link=_record_link({"item": hit.item}, hit.indicator),
                source="rule",
            )
        )
    return tuple(out[:3])


def _rule_table(session: sa.orm.Session, version_id: uuid.UUID | None) -> RuleTable:
    content = (
        session.scalar(sa.select(EvaluationModelVersion.content).where(EvaluationModelVersion.id == version_id))
        if version_id
        else None
    )
    return RuleTable.from_dict(content) if content else default_rules()


def _indicator_values(raw: Any) -> tuple[IndicatorValue, ...]:
    raw = stored_json(raw)
    values = raw if isinstance(raw, dict) else {}
    return tuple(
        IndicatorValue(d.code, d.name_zh, d.name_en, d.doc_zh, d.unit, values.get(d.code), tuple(d.items)) for d in INDICATORS
    )


def _labels(session: sa.orm.Session, *ids: uuid.UUID | None) -> dict[uuid.UUID, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = session.execute(
        sa.select(EvaluationModelVersion.id, EvaluationModelVersion.label).where(EvaluationModelVersion.id.in_(wanted))
    ).all()
    return {r[0]: r[1] for r in rows}


def _view(session: sa.orm.Session, row: EvaluationCurrent) -> EvaluationView:
    labels = _labels(session, row.rules_version_id, row.card_version_id)
    pd = _float(row.pd)
    stored_indicators = unpack_indicators(row.indicators)
    reasons = reason_views(row_reasons(row)) or earned_reasons(stored_indicators, _rule_table(session, row.rules_version_id))
    return EvaluationView(
        uscc=row.uscc,
        grade=row.grade,
        grade_label=grade_label(row.grade),
        rule_score=_float(row.rule_score),
        card_score=_float(row.card_score),
        pd=pd,
        pd_band=pd_band(pd),
        reasons=reasons,
        indicators=_indicator_values(stored_indicators),
        run_id=row.run_id,
        snapshot_id=row.snapshot_id,
        as_of=row.as_of,
        rules_version_id=row.rules_version_id,
        rules_version_label=labels.get(row.rules_version_id) if row.rules_version_id else None,
        card_version_id=row.card_version_id,
        card_version_label=labels.get(row.card_version_id) if row.card_version_id else None,
        evaluated_at=row.evaluated_at,
    )


def _current(session: sa.orm.Session, uscc: str) -> EvaluationCurrent | None:
    return session.scalar(sa.select(EvaluationCurrent).where(EvaluationCurrent.uscc == uscc))


def get_evaluation(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    uscc: str,
    purpose: consent.Purpose | None = None,
    authorization_id: uuid.UUID | None = None,
) -> EvaluationView:
    """The enterprise's current evaluation. Deny unless a rule allows: the enterprise itself; an institution under
    an active authorization covering `credit_evaluation` for `purpose` (consent decides and audits, the fetch counts);
    the operator and the regulator (EVALUATION_READ). Refusals are audited before they are raised."""
    code = uscc.strip().upper()
    if actor.institution_id is not None and Permission.EVALUATION_PULL in actor.permissions:
        if authorization_id is None:
            purposes = [purpose.value] if purpose else None
            authorization_id = consent.find_active_authorization(
                db, enterprise_uscc=code, institution_id=actor.institution_id, clock=clock, purposes=purposes
            )
        with db.transaction() as s:
            check = consent.check_access(
                s,
                principal=actor,
                action=consent.AccessAction.READ,
                subject_uscc=code,
                items=[EVALUATION_ITEM],
                purpose=purpose,
                authorization_id=authorization_id,
                clock=clock,
            )
            row = _current(s, code) if check.allowed else None
            view = _view(s, row) if row is not None else None
        check.raise_for_denial()
        if view is None:
            raise EvaluationNotFound()
        return view
    own = actor.enterprise_uscc is not None and actor.enterprise_uscc == code
    may_own = own and Permission.EVALUATION_READ_OWN in actor.permissions
    may_all = Permission.EVALUATION_READ in actor.permissions
    reasons = ["企业查看本企业信用评价"] if may_own else ["持有权限 evaluation:evaluation:read"] if may_all else []
    with db.transaction() as s:
        if not reasons:
            audit.record(
                s,
                actor=actor.ref,
                action="evaluation.evaluation.read.denied",
                subject=code,
                reasons=["既非本企业，也未持有查看信用评价的权限"],
                clock=clock,
            )
        else:
            row = _current(s, code)
            audit.record(
                s,
                actor=actor.ref,
                action="evaluation.evaluation.read",
                subject=code,
                target_type="evaluation_run",
                target_id=row.run_id if row is not None else None,
                reasons=reasons,
                data={"found": row is not None},
                clock=clock,
            )
            if row is not None:
                return _view(s, row)
    if not reasons:
        raise Forbidden("无权查看该企业的信用评价")
    raise EvaluationNotFound()


# --- distribution -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupCounts:
    """Grade counts of one region or industry."""

    code: str
    name: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """Enterprises evaluated in the group."""
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class Distribution:
    """Grade distribution overall, by region (prefecture) and by industry section (门类)."""

    total: int
    overall: dict[str, int]
    by_region: tuple[GroupCounts, ...]
    by_industry: tuple[GroupCounts, ...]
    as_of: date | None
    run_ids: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready."""

        def groups(items: tuple[GroupCounts, ...]) -> list[dict[str, Any]]:
            return [{"code": g.code, "name": g.name, "total": g.total, "counts": g.counts} for g in items]

        return {
            "total": self.total,
            "overall": self.overall,
            "by_region": groups(self.by_region),
            "by_industry": groups(self.by_industry),
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "run_ids": list(self.run_ids),
        }


def _prefecture(region_code: str | None) -> tuple[str, str]:
    if not region_code or len(region_code) < 4:
        return "000000", "未知地区"
    code = region_code[:4] + "00"
    return code, divisions.region_name(code) or divisions.region_name(region_code) or code


def _section(industry_code: str | None) -> tuple[str, str]:
    section = registry.industries.section_of(industry_code) if industry_code else None
    if not section:
        return "-", "未知行业"
    found = registry.industries.industry(section)
    return section, f"{section} {found.name}" if found is not None else section


def _subject_places(db: Database) -> dict[str, tuple[str | None, str | None]]:
    """Region and industry of every registered subject (public registration facts), paged through the registry."""
    places: dict[str, tuple[str | None, str | None]] = {}
    offset, page = 0, 5000
    while True:
        rows, total = registry.search_subjects(db, limit=page, offset=offset)
        for r in rows:
            places[r.uscc] = (r.region_code, r.industry_code)
        offset += len(rows)
        if not rows or offset >= total:
            return places


def _grouped(keyed: list[tuple[tuple[str, str], str]]) -> tuple[GroupCounts, ...]:
    counts: dict[tuple[str, str], Counter[str]] = {}
    for key, grade in keyed:
        counts.setdefault(key, Counter())[grade] += 1
    groups = [GroupCounts(code, name, {g: c.get(g, 0) for g in GRADES}) for (code, name), c in counts.items()]
    return tuple(sorted(groups, key=lambda g: (-g.total, g.code)))


def distribution(db: Database, *, actor: Principal, clock: Clock) -> Distribution:
    """Grade counts of the current evaluations, overall and by region and industry (aggregates; audited)."""
    if Permission.EVALUATION_READ not in actor.permissions:
        raise Forbidden("无权查看信用评价分布")
    places = _subject_places(db)
    with db.transaction() as s:
        rows = s.execute(sa.select(EvaluationCurrent.uscc, EvaluationCurrent.grade, EvaluationCurrent.run_id)).all()
        as_of = s.scalar(sa.select(sa.func.max(EvaluationCurrent.as_of)))
        audit.record(s, actor=actor.ref, action="evaluation.distribution.read", data={"enterprises": len(rows)}, clock=clock)
    graded = [(u, g) for u, g, _ in rows if g in GRADES]
    overall = Counter(g for _, g in graded)
    by_region = _grouped([(_prefecture(places.get(u, (None, None))[0] or u[2:8]), g) for u, g in graded])
    by_industry = _grouped([(_section(places.get(u, (None, None))[1]), g) for u, g in graded])
    return Distribution(
        total=len(graded),
        overall={g: overall.get(g, 0) for g in GRADES},
        by_region=by_region,
        by_industry=by_industry,
        as_of=as_of,
        run_ids=tuple(sorted({str(r) for _, _, r in rows})),
    )


def payload_for(db: Database, *, uscc: str) -> dict[str, Any] | None:
    """The stored evaluation of one enterprise as pushed (no access check: for the push and tests)."""
    with db.transaction() as s:
        row = _current(s, uscc)
        return evaluation_payload(row) if row is not None else None


def check_purpose(text: str | None) -> consent.Purpose | None:
    """A purpose code from a query parameter (None when absent)."""
    if not text:
        return None
    try:
        return consent.Purpose(text)
    except ValueError as exc:
        raise InvalidInput(f"未知的查询用途：{text}") from exc
