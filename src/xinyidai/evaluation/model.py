"""Pure rules of the evaluation model registry and what an evaluation says to its reader: families, statuses and
roles of model versions, the approval decision (four-eyes), PD bands, and the advice attached to each reason."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ModelFamily(StrEnum):
    """The two families of evaluation models."""

    RULES = "rules"  # the rule-based public credit comprehensive evaluation (GB/T 45255 style)
    SCORECARD = "scorecard"  # the statistical scorecard trained on loan outcomes

    @property
    def label_zh(self) -> str:
        """Chinese name of the family."""
        return {ModelFamily.RULES: "规则评价表", ModelFamily.SCORECARD: "统计评分卡"}[self]


class ModelStatus(StrEnum):
    """Life of a model version: a draft is approved by an operator before use, and retired when replaced."""

    DRAFT = "draft"
    APPROVED = "approved"
    RETIRED = "retired"

    @property
    def label_zh(self) -> str:
        """Chinese name of the status."""
        return {ModelStatus.DRAFT: "草稿", ModelStatus.APPROVED: "已批准", ModelStatus.RETIRED: "已停用"}[self]


class ModelRole(StrEnum):
    """Where an approved version serves: the champion scores for real, the challenger is compared beside it."""

    CHAMPION = "champion"
    CHALLENGER = "challenger"

    @property
    def label_zh(self) -> str:
        """Chinese name of the role."""
        return {ModelRole.CHAMPION: "冠军模型", ModelRole.CHALLENGER: "挑战者模型"}[self]


@dataclass(frozen=True, slots=True)
class ApprovalDecision:
    """Whether an approval may go ahead, with the reasons (they go into the audit event)."""

    allowed: bool
    reasons: tuple[str, ...]


def decide_approval(*, status: ModelStatus, created_by: str, approver: str, four_eyes: bool = True) -> ApprovalDecision:
    """Deny unless a rule allows: only a draft is approved, and (four-eyes) never by the actor who created it."""
    if status is not ModelStatus.DRAFT:
        return ApprovalDecision(False, (f"仅草稿可批准，当前状态为{status.label_zh}",))
    if four_eyes and created_by == approver:
        return ApprovalDecision(False, ("创建人不能批准自己创建的模型版本（双人复核）",))
    reasons = ["草稿待批准"]
    reasons.append("批准人与创建人不同（双人复核）" if four_eyes else "未要求双人复核")
    return ApprovalDecision(True, tuple(reasons))


def decide_role_change(*, status: ModelStatus, role: ModelRole | None, target: ModelRole | None) -> ApprovalDecision:
    """Promotion of an approved version to champion or challenger, or retirement (`target` None)."""
    if status is not ModelStatus.APPROVED:
        return ApprovalDecision(False, (f"仅已批准的版本可调整角色，当前状态为{status.label_zh}",))
    if role is target:
        return ApprovalDecision(False, ("角色未变化",))
    return ApprovalDecision(True, (f"{role.label_zh if role else '无角色'} → {target.label_zh if target else '停用'}",))


#: Upper bounds of the PD bands and their Chinese labels; the last band is open.
PD_BANDS: tuple[tuple[float, str], ...] = (
    (0.01, "极低（<1%）"),
    (0.03, "低（1%–3%）"),
    (0.10, "中（3%–10%）"),
    (0.20, "较高（10%–20%）"),
    (1.01, "高（≥20%）"),
)


def pd_band(pd: float | None) -> str | None:
    """The Chinese PD band of a probability of default (None: no scorecard has scored it)."""
    if pd is None:
        return None
    if not 0.0 <= pd <= 1.0:
        raise ValueError(f"pd out of range: {pd}")
    return next(label for bound, label in PD_BANDS if pd < bound)


#: Chinese names of the grades.
GRADE_LABELS = {"A": "A 级（信用优良）", "B": "B 级（信用良好）", "C": "C 级（信用一般）", "D": "D 级（信用较差）"}


def grade_label(grade: str | None) -> str:
    """The Chinese label of a grade (the code itself when unknown)."""
    if grade is None:
        return "未评价"
    return GRADE_LABELS.get(grade, grade)


#: What an enterprise can do about a deduction, by the indicator behind it (codes of `indicators.INDICATORS`).
ADVICE: dict[str, str] = {
    "years_in_business": "持续合规经营，成立年限会随时间增加。",
    "registered_capital_wan": "如实登记并按章程缴纳注册资本。",
    "tax_credit_grade": "依法按时申报纳税，争取在下一评价年度提升纳税信用等级。",
    "tax_paid_12m_wan": "保持稳定经营，按期足额缴纳税款。",
    "tax_paid_trend": "保持经营和纳税稳定增长。",
    "social_insured_headcount": "依法为职工足额缴纳社会保险。",
    "social_headcount_change": "保持用工稳定，依法为职工参保。",
    "housing_fund_depositors": "依法为职工按时缴存住房公积金。",
    "housing_fund_arrears_months": "尽快补缴欠缴的住房公积金，今后按月足额缴存。",
    "utility_on_time_rate": "按时缴纳水、电、气费用，避免欠费记录。",
    "court_defendant_cases_3y": "依法经营、妥善化解纠纷，依法履行生效裁判文书确定的义务。",
    "dishonest_debtor_listed": "尽快履行法定义务，履行后可申请移出失信被执行人名单并进行信用修复。",
    "serious_dishonesty_listed": "完成整改、履行义务，满足条件后可申请移出严重失信主体名单并进行信用修复。",
    "penalty_count": "整改违法行为、缴清罚款，公示期满后可按规定申请行政处罚信息信用修复。",
    "penalty_max_severity": "整改违法行为、缴清罚款，公示期满后可按规定申请行政处罚信息信用修复。",
    "penalty_days_since_latest": "保持合规经营，处罚时间越久远影响越小；符合条件时可申请信用修复。",
    "abnormal_operation_listed": "按时报送年度报告、保持登记住所可联系，移出经营异常名录后可申请信用修复。",
    "customs_credit_grade": "遵守海关监管规定，争取提升海关信用等级。",
    "commitment_count": "在行政审批等事项中主动作出并履行信用承诺。",
    "commitment_breaches": "认真履行信用承诺，按期兑现承诺事项。",
    "honour_count": "积极参与诚信建设，争取诚实守信相关荣誉。",
    "ip_count": "加强研发投入，依法申请专利、商标等知识产权。",
}
DEFAULT_ADVICE = "核实相关记录；如记录有误，可在“我的异议”中提出异议。"


def advice_for(indicator: str | None) -> str:
    """What to improve for a reason about `indicator` (matched by name, then by the longest known prefix)."""
    if not indicator:
        return DEFAULT_ADVICE
    if indicator in ADVICE:
        return ADVICE[indicator]
    for key in sorted(ADVICE, key=len, reverse=True):
        if indicator.startswith(key) or key in indicator:
            return ADVICE[key]
    return DEFAULT_ADVICE


def stored_json(value: Any) -> Any:
    """A JSON column stored as text (evaluation_current's reasons and indicators) as Python values."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value
