"""Pure rules of lending: the Chinese working-day calendar, the application state machine and decision deadline,
rejection reasons, repayment schedules, the five-category classification, renewal and default."""

from __future__ import annotations

import calendar as _gregorian
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Final

import chinese_calendar  # type: ignore[import-untyped]

from xinyidai.kernel.deadline import DeadlineTone as DeadlineTone
from xinyidai.kernel.errors import Conflict, InvalidInput
from xinyidai.kernel.money import WAN_QUANTUM

log = logging.getLogger("xinyidai.lending")

CHINA_TIME = timezone(timedelta(hours=8), "CST")

#: Working days an institution has from acceptance (受理) to decision (Chongqing rule, seed 003).
DECISION_WORKING_DAYS = 10
#: A reminder reaches the institution this many working days before the decision is due.
REMINDER_WORKING_DAYS_BEFORE = 2
#: The queue turns amber when this many working days or fewer are left.
AMBER_WORKING_DAYS = 3
#: Days past due from which a loan counts as defaulted even if classified better (Basel 90-day rule).
DEFAULT_DPD = 90


# --- working-day calendar ------------------------------------------------------------------------

_warned_years: set[int] = set()


def calendar_years() -> tuple[int, int]:
    """The first and last year the installed calendar package knows the holidays of."""
    years = [d.year for d in chinese_calendar.holidays]
    return min(years), max(years)


def calendar_covers(day: date) -> bool:
    """Whether the official holiday arrangement of `day`'s year is known (else weekdays stand in)."""
    first, last = calendar_years()
    return first <= day.year <= last


def is_working_day(day: date) -> bool:
    """Whether `day` is a working day in China: holidays are off, make-up days (调休) are on.

    Beyond the years the package knows (the State Council publishes each year's arrangement in
    the preceding autumn) Monday to Friday stand in, with a warning logged once per year: a
    deadline a few days off is better than refusing applications until the package is upgraded.
    """
    if calendar_covers(day):
        return bool(chinese_calendar.is_workday(day))
    if day.year not in _warned_years:
        _warned_years.add(day.year)
        log.warning("no official holiday arrangement for %d: counting Monday to Friday as working days", day.year)
    return day.weekday() < 5


def add_working_days(start: date, n: int) -> date:
    """The n-th working day after `start` (n ≥ 0; n = 0 is `start` itself). `start` need not be a working day."""
    if n < 0:
        raise ValueError("n must not be negative")
    day = start
    left = n
    while left:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return day


def working_days_between(start: date, end: date) -> int:
    """Working days in (start, end]; negative (−working days in (end, start]) when end is before start."""
    if end < start:
        return -working_days_between(end, start)
    count = 0
    day = start
    while day < end:
        day += timedelta(days=1)
        if is_working_day(day):
            count += 1
    return count


def china_date(at: datetime) -> date:
    """The date in China of an instant."""
    return at.astimezone(CHINA_TIME).date()


def china_instant(day: date, at: time) -> datetime:
    """The instant of a wall-clock time on a date in China."""
    return datetime.combine(day, at, tzinfo=CHINA_TIME)


# --- applications --------------------------------------------------------------------------------


class ApplicationStatus(StrEnum):
    """Where an application stands."""

    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"

    @property
    def label_zh(self) -> str:
        """Chinese name."""
        return _STATUS_LABELS[self]

    @property
    def final(self) -> bool:
        """Decided or withdrawn: nothing more happens to it."""
        return self in (ApplicationStatus.APPROVED, ApplicationStatus.REJECTED, ApplicationStatus.WITHDRAWN)


_STATUS_LABELS = {
    ApplicationStatus.SUBMITTED: "已提交",
    ApplicationStatus.ACCEPTED: "已受理",
    ApplicationStatus.APPROVED: "已批准",
    ApplicationStatus.REJECTED: "已拒绝",
    ApplicationStatus.WITHDRAWN: "已撤回",
}


class ApplicationAction(StrEnum):
    """What can happen to an application."""

    ACCEPT = "accept"
    APPROVE = "approve"
    REJECT = "reject"
    WITHDRAW = "withdraw"

    @property
    def label_zh(self) -> str:
        """Chinese name."""
        return {"accept": "受理", "approve": "批准", "reject": "拒绝", "withdraw": "撤回"}[self.value]


S, A = ApplicationStatus, ApplicationAction
#: The state machine: (status, action) → next status. The enterprise withdraws; the institution does the rest.
APPLICATION_TRANSITIONS: dict[tuple[ApplicationStatus, ApplicationAction], ApplicationStatus] = {
    (S.SUBMITTED, A.ACCEPT): S.ACCEPTED,
    (S.ACCEPTED, A.APPROVE): S.APPROVED,
    (S.ACCEPTED, A.REJECT): S.REJECTED,
    (S.SUBMITTED, A.WITHDRAW): S.WITHDRAWN,
    (S.ACCEPTED, A.WITHDRAW): S.WITHDRAWN,
}
ENTERPRISE_ACTIONS = frozenset({A.WITHDRAW})


class InvalidTransition(Conflict):
    """The application (or loan) is not in a state that allows this step."""

    code = "invalid_transition"
    title = "当前状态不允许此操作"


def next_status(current: ApplicationStatus, action: ApplicationAction) -> ApplicationStatus:
    """The status after `action`, or InvalidTransition."""
    target = APPLICATION_TRANSITIONS.get((current, action))
    if target is None:
        raise InvalidTransition(f"申请状态为“{current.label_zh}”，不能{action.label_zh}")
    return target


def allowed_actions(current: ApplicationStatus) -> tuple[ApplicationAction, ...]:
    """The actions possible from `current`."""
    return tuple(a for a in ApplicationAction if (current, a) in APPLICATION_TRANSITIONS)


class RejectionReason(StrEnum):
    """Coded reasons an institution states when it turns an application down."""

    ELIGIBILITY = "eligibility"
    CREDIT_RECORD = "credit_record"
    OPERATIONS = "operations"
    INCOMPLETE = "incomplete"
    POLICY_LIMIT = "policy_limit"
    COLLATERAL = "collateral"
    REPAYMENT_CAPACITY = "repayment_capacity"
    OTHER = "other"

    @property
    def label_zh(self) -> str:
        """Chinese label shown to the enterprise."""
        return _REASON_LABELS[self]


_REASON_LABELS = {
    RejectionReason.ELIGIBILITY: "不符合准入条件",
    RejectionReason.CREDIT_RECORD: "信用记录不良",
    RejectionReason.OPERATIONS: "经营状况不佳",
    RejectionReason.INCOMPLETE: "资料不全",
    RejectionReason.POLICY_LIMIT: "超出授信政策",
    RejectionReason.COLLATERAL: "担保措施不足",
    RejectionReason.REPAYMENT_CAPACITY: "还款能力不足",
    RejectionReason.OTHER: "其他",
}


@dataclass(frozen=True, slots=True)
class Approval:
    """What an approval grants."""

    amount_wan: Decimal
    annual_rate_pct: Decimal
    term_months: int


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an application was turned down: at least one coded reason, and text."""

    reasons: tuple[RejectionReason, ...]
    text: str


def validate_request(*, amount_wan: Decimal, term_months: int, purpose: str) -> None:
    """An application asks for a positive amount over 1–360 months for a stated purpose."""
    problems = []
    if not amount_wan.is_finite() or amount_wan <= 0:
        problems.append("申请金额须大于 0")
    if not 1 <= term_months <= 360:
        problems.append("期限须为 1–360 个月")
    if not purpose.strip():
        problems.append("须说明借款用途")
    if problems:
        raise InvalidInput("；".join(problems))


def validate_approval(approval: Approval) -> None:
    """An approval grants a positive amount at a rate in [0, 36) % for 1–360 months."""
    problems = []
    if not approval.amount_wan.is_finite() or approval.amount_wan <= 0:
        problems.append("批准金额须大于 0")
    if not approval.annual_rate_pct.is_finite() or not Decimal(0) <= approval.annual_rate_pct < Decimal(36):
        problems.append("年利率须在 0%–36% 之间")
    if not 1 <= approval.term_months <= 360:
        problems.append("期限须为 1–360 个月")
    if problems:
        raise InvalidInput("；".join(problems))


@dataclass(frozen=True, slots=True)
class ProductLimits:
    """The ranges a published product states (万元, months, annual %, repayment method codes): an application, an
    approval and a loan under the product stay within them."""

    amount_min_wan: Decimal
    amount_max_wan: Decimal
    term_min: int
    term_max: int
    rate_min_pct: Decimal
    rate_max_pct: Decimal
    methods: tuple[str, ...] = ()


class OutsideProductTerms(InvalidInput):
    """An application, approval or loan outside the ranges the product states."""

    code = "outside_product_terms"
    title = "超出产品公布的额度、期限、利率或还款方式"


#: A product offering this may be drawn and repaid in any of the loan methods.
REVOLVING: Final = "revolving"


def product_limit_problems(
    limits: ProductLimits,
    *,
    amount_wan: Decimal | None = None,
    term_months: int | None = None,
    rate_pct: Decimal | None = None,
    method: LoanRepaymentMethod | None = None,
) -> list[str]:
    """What in the given terms lies outside the product's ranges (empty when nothing does)."""
    problems = []
    if amount_wan is not None and not limits.amount_min_wan <= amount_wan <= limits.amount_max_wan:
        problems.append(f"金额须在产品额度 {limits.amount_min_wan.normalize():f}–{limits.amount_max_wan.normalize():f} 万元之间")
    if term_months is not None and not limits.term_min <= term_months <= limits.term_max:
        problems.append(f"期限须在产品期限 {limits.term_min}–{limits.term_max} 个月之间")
    if rate_pct is not None and not limits.rate_min_pct <= rate_pct <= limits.rate_max_pct:
        problems.append(f"年利率须在产品利率 {limits.rate_min_pct.normalize():f}%–{limits.rate_max_pct.normalize():f}% 之间")
    if method is not None and limits.methods and REVOLVING not in limits.methods and method.value not in limits.methods:
        known = {m.value for m in LoanRepaymentMethod}
        offered = "、".join(LoanRepaymentMethod(m).label_zh for m in limits.methods if m in known)
        problems.append(f"还款方式须为产品提供的方式：{offered}")
    return problems


def check_product_limits(
    limits: ProductLimits | None,
    *,
    amount_wan: Decimal | None = None,
    term_months: int | None = None,
    rate_pct: Decimal | None = None,
    method: LoanRepaymentMethod | None = None,
) -> None:
    """Refuse (``OutsideProductTerms``) terms outside the product's ranges; no limits known, nothing to check."""
    if limits is None:
        return
    problems = product_limit_problems(limits, amount_wan=amount_wan, term_months=term_months, rate_pct=rate_pct, method=method)
    if problems:
        raise OutsideProductTerms("；".join(problems))


class ReasonRequired(InvalidInput):
    """A rejection without a coded reason and an explanation."""

    code = "rejection_reason_required"
    title = "拒绝须选择至少一项原因并说明"


def validate_rejection(rejection: Rejection) -> None:
    """A rejection names at least one coded reason and explains it in words."""
    if not rejection.reasons or not rejection.text.strip():
        raise ReasonRequired()


@dataclass(frozen=True, slots=True)
class Deadline:
    """When an accepted application must be decided, and when the institution is reminded and escalated."""

    due_on: date
    remind_at: datetime
    escalate_at: datetime
    provisional: bool


def decision_deadline(accepted_on: date, *, working_days: int = DECISION_WORKING_DAYS) -> Deadline:
    """The decision is due on the `working_days`-th working day after acceptance (受理), by the end of that day.

    The clock starts at acceptance because the rule reads "the bank accepts, then decides within
    10 working days"; the days count from the day after acceptance, like statutory periods (期间
    开始的日不计算在内). The reminder is at 09:00 China time `REMINDER_WORKING_DAYS_BEFORE` working
    days before the due date; escalation at midnight after it. `provisional` when a date fell
    beyond the years the holiday calendar knows.
    """
    due = add_working_days(accepted_on, working_days)
    remind_on = add_working_days(accepted_on, max(working_days - REMINDER_WORKING_DAYS_BEFORE, 0))
    return Deadline(
        due_on=due,
        remind_at=china_instant(remind_on, time(9, 0)),
        escalate_at=china_instant(due + timedelta(days=1), time(0, 0)),
        provisional=not calendar_covers(due),
    )


def working_days_left(due_on: date, today: date) -> int:
    """Working days left until the due date (0 on the due date itself; negative once overdue)."""
    if today > due_on:
        return -max(working_days_between(due_on, today), 1)
    return working_days_between(today, due_on)


def deadline_tone(due_on: date, today: date) -> DeadlineTone:
    """The queue colour of an application due on `due_on`, seen on `today`."""
    if today > due_on:
        return DeadlineTone.RED
    return DeadlineTone.GREEN if working_days_left(due_on, today) > AMBER_WORKING_DAYS else DeadlineTone.AMBER


# --- loans --------------------------------------------------------------------------------------


class LoanRepaymentMethod(StrEnum):
    """How a loan is repaid."""

    EQUAL_INSTALMENT = "equal_instalment"
    EQUAL_PRINCIPAL = "equal_principal"
    INTEREST_FIRST = "interest_first"
    BULLET = "bullet"

    @property
    def label_zh(self) -> str:
        """Chinese name."""
        return {
            "equal_instalment": "等额本息",
            "equal_principal": "等额本金",
            "interest_first": "先息后本",
            "bullet": "到期一次还本付息",
        }[self.value]


@dataclass(frozen=True, slots=True)
class Instalment:
    """One instalment of a schedule: amounts in 万元, exact to 0.01 yuan."""

    number: int
    due_on: date
    principal: Decimal
    interest: Decimal

    @property
    def total(self) -> Decimal:
        """Principal plus interest."""
        return self.principal + self.interest


def add_months(start: date, months: int) -> date:
    """The same day `months` later, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, _gregorian.monthrange(year, month)[1]))


def _q(value: Decimal) -> Decimal:
    return value.quantize(WAN_QUANTUM, rounding=ROUND_HALF_EVEN)


def repayment_schedule(
    *, amount_wan: Decimal, annual_rate_pct: Decimal, start_on: date, term_months: int, method: LoanRepaymentMethod
) -> tuple[Instalment, ...]:
    """The instalments of a loan, monthly on the start day (bullet: one, at maturity).

    Each amount is rounded half-even to 0.000001 万元 (one fen); the last instalment takes the
    principal left, so the principal parts sum to the amount exactly. Interest is monthly at
    annual rate ÷ 12 on the balance outstanding (the usual convention for these methods).
    """
    if amount_wan <= 0 or term_months < 1 or annual_rate_pct < 0:
        raise InvalidInput("金额须大于 0，期限至少 1 个月，利率不得为负")
    amount = _q(amount_wan)
    r = annual_rate_pct / Decimal(100) / Decimal(12)
    if method is LoanRepaymentMethod.BULLET:
        interest = _q(amount * r * term_months)
        return (Instalment(1, add_months(start_on, term_months), amount, interest),)
    n = term_months
    out: list[Instalment] = []
    balance = amount
    if method is LoanRepaymentMethod.EQUAL_INSTALMENT:
        payment = amount / n if r == 0 else amount * r * (1 + r) ** n / ((1 + r) ** n - 1)
    for k in range(1, n + 1):
        interest = _q(balance * r)
        if k == n:
            principal = balance
        elif method is LoanRepaymentMethod.EQUAL_INSTALMENT:
            principal = min(_q(payment - interest), balance)
        elif method is LoanRepaymentMethod.EQUAL_PRINCIPAL:
            principal = min(_q(amount / n), balance)
        else:  # interest first: principal at maturity
            principal = Decimal(0).quantize(WAN_QUANTUM)
        out.append(Instalment(k, add_months(start_on, k), principal, interest))
        balance -= principal
    return tuple(out)


class LoanClass(StrEnum):
    """The five-category loan classification (贷款五级分类), from best to worst."""

    NORMAL = "normal"
    SPECIAL_MENTION = "special_mention"
    SUBSTANDARD = "substandard"
    DOUBTFUL = "doubtful"
    LOSS = "loss"

    @property
    def label_zh(self) -> str:
        """Chinese name."""
        return {"normal": "正常", "special_mention": "关注", "substandard": "次级", "doubtful": "可疑", "loss": "损失"}[
            self.value
        ]

    @property
    def rank(self) -> int:
        """0 (正常) … 4 (损失)."""
        return list(LoanClass).index(self)


class LoanStatus(StrEnum):
    """Where a loan stands."""

    ACTIVE = "active"
    REPAID = "repaid"
    RENEWED = "renewed"

    @property
    def label_zh(self) -> str:
        """Chinese name."""
        return {"active": "存续", "repaid": "已结清", "renewed": "已续贷"}[self.value]


def is_default(classification: LoanClass, days_past_due: int) -> bool:
    """Defaulted: classified 次级 or worse, or 90 or more days past due."""
    return classification.rank >= LoanClass.SUBSTANDARD.rank or days_past_due >= DEFAULT_DPD


def renewal_refusal(status: LoanStatus, classification: LoanClass, days_past_due: int) -> str | None:
    """Why a loan may not be renewed without repaying first (续贷), or None when it may.

    Only a live loan in good standing qualifies: classified 正常 and nothing past due.
    """
    if status is not LoanStatus.ACTIVE:
        return f"贷款状态为“{status.label_zh}”，不能续贷"
    if classification is not LoanClass.NORMAL:
        return f"贷款分类为“{classification.label_zh}”，仅正常类贷款可以无还本续贷"
    if days_past_due > 0:
        return f"贷款逾期 {days_past_due} 天，不能无还本续贷"
    return None


@dataclass(frozen=True, slots=True)
class LoanTerms:
    """What a registered loan grants."""

    amount_wan: Decimal
    annual_rate_pct: Decimal
    start_on: date
    term_months: int
    method: LoanRepaymentMethod
    credit_loan: bool
    guarantee: str

    @property
    def maturity_on(self) -> date:
        """The date the last instalment falls due."""
        return add_months(self.start_on, self.term_months)


def validate_loan_terms(terms: LoanTerms) -> None:
    """A loan lends a positive amount at a rate in [0, 36) % for 1–360 months; a secured loan names its guarantee."""
    validate_approval(Approval(terms.amount_wan, terms.annual_rate_pct, terms.term_months))
    if not terms.credit_loan and not terms.guarantee.strip():
        raise InvalidInput("非信用贷款须说明担保方式")
