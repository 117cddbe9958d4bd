"""Pure rules of authorization (授权): the artefact's terms, its life cycle, fair-use bounds and the access decision.

Nothing here touches a database, a clock or a network: times are passed in, so every rule is a
function of its arguments and is tested in milliseconds (tests/unit/consent).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType
from typing import ClassVar

from xinyidai.kernel.errors import Conflict, InvalidInput

#: Rules are stated in China Standard Time (UTC+8, no daylight saving): a "day" of a frequency cap is a day in China.
CHINA_TIME = timezone(timedelta(hours=8))

# --- vocabularies -------------------------------------------------------------------------------


class Purpose(StrEnum):
    """Why an institution asks (授权用途); the coded list an artefact names and fair-use bounds are set per."""

    PRE_LOAN_REVIEW = "pre_loan_review"
    CREDIT_APPROVAL = "credit_approval"
    POST_LOAN_MANAGEMENT = "post_loan_management"
    LOAN_RENEWAL = "loan_renewal"
    GUARANTEE = "guarantee"
    RISK_COMPENSATION = "risk_compensation"
    FINANCING_MATCHING = "financing_matching"

    @property
    def label_zh(self) -> str:
        """Chinese name: 贷前审查, 授信审批 …"""
        return PURPOSE_LABELS[self]


PURPOSE_LABELS: Mapping[Purpose, str] = MappingProxyType(
    {
        Purpose.PRE_LOAN_REVIEW: "贷前审查",
        Purpose.CREDIT_APPROVAL: "授信审批",
        Purpose.POST_LOAN_MANAGEMENT: "贷后管理",
        Purpose.LOAN_RENEWAL: "续贷",
        Purpose.GUARANTEE: "担保",
        Purpose.RISK_COMPENSATION: "风险补偿",
        Purpose.FINANCING_MATCHING: "融资对接",
    }
)


class AuthorizationStatus(StrEnum):
    """Where an authorization is in its life."""

    REQUESTED = "requested"
    ACTIVE = "active"
    PAUSED = "paused"
    REJECTED = "rejected"
    REVOKED = "revoked"
    EXPIRED = "expired"

    @property
    def label_zh(self) -> str:
        """Chinese name for users."""
        return STATUS_LABELS[self]

    @property
    def terminal(self) -> bool:
        """True when no transition leads out of this status."""
        return self in TERMINAL_STATUSES


STATUS_LABELS: Mapping[AuthorizationStatus, str] = MappingProxyType(
    {
        AuthorizationStatus.REQUESTED: "待企业确认",
        AuthorizationStatus.ACTIVE: "生效中",
        AuthorizationStatus.PAUSED: "已暂停",
        AuthorizationStatus.REJECTED: "已拒绝",
        AuthorizationStatus.REVOKED: "已撤销",
        AuthorizationStatus.EXPIRED: "已到期",
    }
)

TERMINAL_STATUSES: frozenset[AuthorizationStatus] = frozenset(
    {AuthorizationStatus.REJECTED, AuthorizationStatus.REVOKED, AuthorizationStatus.EXPIRED}
)


class Transition(StrEnum):
    """A change of status; each one is audited with its reason."""

    APPROVE = "approve"
    REJECT = "reject"
    PAUSE = "pause"
    RESUME = "resume"
    REVOKE = "revoke"
    EXPIRE = "expire"

    @property
    def label_zh(self) -> str:
        """Chinese name for users."""
        return TRANSITION_LABELS[self]


TRANSITION_LABELS: Mapping[Transition, str] = MappingProxyType(
    {
        Transition.APPROVE: "同意授权",
        Transition.REJECT: "拒绝授权",
        Transition.PAUSE: "暂停授权",
        Transition.RESUME: "恢复授权",
        Transition.REVOKE: "撤销授权",
        Transition.EXPIRE: "授权到期",
    }
)

_S = AuthorizationStatus
_T = Transition

#: The whole life cycle: (status, transition) → next status. Anything not listed is refused.
TRANSITIONS: Mapping[tuple[AuthorizationStatus, Transition], AuthorizationStatus] = MappingProxyType(
    {
        (_S.REQUESTED, _T.APPROVE): _S.ACTIVE,
        (_S.REQUESTED, _T.REJECT): _S.REJECTED,
        (_S.REQUESTED, _T.EXPIRE): _S.EXPIRED,
        (_S.ACTIVE, _T.PAUSE): _S.PAUSED,
        (_S.ACTIVE, _T.REVOKE): _S.REVOKED,
        (_S.ACTIVE, _T.EXPIRE): _S.EXPIRED,
        (_S.PAUSED, _T.RESUME): _S.ACTIVE,
        (_S.PAUSED, _T.REVOKE): _S.REVOKED,
        (_S.PAUSED, _T.EXPIRE): _S.EXPIRED,
    }
)

#: Transitions the enterprise (the data subject) makes in its portal; expiry is the platform's, driven by the clock.
ENTERPRISE_TRANSITIONS: frozenset[Transition] = frozenset({_T.APPROVE, _T.REJECT, _T.PAUSE, _T.RESUME, _T.REVOKE})


class AuthorizationStateConflict(Conflict):
    """The transition does not exist from the current status (revoking a revoked one, resuming an active one …)."""

    code: ClassVar[str] = "authorization_state_conflict"
    title: ClassVar[str] = "授权当前状态不允许该操作"


def next_status(current: AuthorizationStatus, transition: Transition) -> AuthorizationStatus:
    """The status after `transition`, or AuthorizationStateConflict (409) when the life cycle has no such step."""
    target = TRANSITIONS.get((current, transition))
    if target is None:
        raise AuthorizationStateConflict(
            f"授权当前为“{current.label_zh}”，不能{transition.label_zh}",
            current_status=current.value,
            transition=transition.value,
        )
    return target


def effective_status(status: AuthorizationStatus, *, expires_at: datetime, at: datetime) -> AuthorizationStatus:
    """The status that holds at `at`: expiry is driven by time, so a non-final one past its expiry is expired already.

    The expiry job later records the change (audit, push); decisions never wait for it.
    """
    if not status.terminal and at >= expires_at:
        return AuthorizationStatus.EXPIRED
    return status


class FetchType(StrEnum):
    """One fetch only, or repeated fetches up to a cap per period (Account Aggregator's ONETIME / PERIODIC)."""

    ONE_TIME = "one_time"
    PERIODIC = "periodic"

    @property
    def label_zh(self) -> str:
        """Chinese name for users."""
        return "一次性查询" if self is FetchType.ONE_TIME else "周期性查询"


class FrequencyUnit(StrEnum):
    """The period of a frequency cap, a calendar period in China time (weeks start on Monday)."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"

    @property
    def label_zh(self) -> str:
        """Chinese name for users: 日 / 周 / 月 / 年."""
        return _UNIT_LABELS[self]


_UNIT_LABELS: Mapping[FrequencyUnit, str] = MappingProxyType(
    {FrequencyUnit.DAY: "日", FrequencyUnit.WEEK: "周", FrequencyUnit.MONTH: "月", FrequencyUnit.YEAR: "年"}
)

#: Periods per year, to compare caps stated in different units (10 a day is more than 30 a month).
_PER_YEAR: Mapping[FrequencyUnit, Fraction] = MappingProxyType(
    {
        FrequencyUnit.DAY: Fraction(365),
        FrequencyUnit.WEEK: Fraction(365, 7),
        FrequencyUnit.MONTH: Fraction(12),
        FrequencyUnit.YEAR: Fraction(1),
    }
)


@dataclass(frozen=True, slots=True)
class Frequency:
    """At most `max_fetches` fetches per calendar `unit`."""

    max_fetches: int
    unit: FrequencyUnit

    @property
    def per_year(self) -> Fraction:
        """The cap as fetches per year, exactly, for comparing caps."""
        return self.max_fetches * _PER_YEAR[self.unit]

    def __str__(self) -> str:
        return f"每{self.unit.label_zh}最多 {self.max_fetches} 次"


@dataclass(frozen=True, slots=True)
class DateRange:
    """A range of days, both ends included (the period of data an authorization covers)."""

    start: date
    end: date

    @property
    def days(self) -> int:
        """How many days the range spans, both ends counted."""
        return (self.end - self.start).days + 1

    def contains(self, other: DateRange) -> bool:
        """Whether `other` lies wholly inside this range."""
        return self.start <= other.start and other.end <= self.end

    def __str__(self) -> str:
        return f"{self.start.isoformat()} 至 {self.end.isoformat()}"


@dataclass(frozen=True, slots=True)
class Scope:
    """What an authorization covers: whole catalog categories and/or single items (codes of `xinyidai.catalog`)."""

    categories: frozenset[str] = frozenset()
    items: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        """True when nothing is covered."""
        return not self.categories and not self.items

    def covers(self, item: ItemRef) -> bool:
        """Whether the item is named, or its category is."""
        return item.code in self.items or item.category in self.categories


@dataclass(frozen=True, slots=True)
class AuthorizationTerms:
    """What an institution asks for and, once approved, what the signed artefact states."""

    purpose: Purpose
    scope: Scope
    data_range: DateRange
    fetch_type: FetchType
    #: The cap per period for periodic fetches; None for a one-time authorization (one fetch in all).
    frequency: Frequency | None
    #: How many days the institution may keep what it fetched (0: view only, keep nothing).
    data_life_days: int
    #: When it takes effect; None: on approval.
    starts_at: datetime | None
    expires_at: datetime


def validate_terms(terms: AuthorizationTerms, *, now: datetime) -> list[str]:
    """Every problem with the terms themselves (not the fair-use bounds), in Chinese; empty when they are sound."""
    problems: list[str] = []
    if terms.scope.empty:
        problems.append("授权范围不能为空：至少选择一个信息类别或信息项")
    if terms.data_range.start > terms.data_range.end:
        problems.append("数据起始日期不能晚于截止日期")
    if terms.fetch_type is FetchType.PERIODIC and terms.frequency is None:
        problems.append("周期性查询须设定查询频次上限")
    if terms.fetch_type is FetchType.ONE_TIME and terms.frequency is not None:
        problems.append("一次性查询不设查询频次")
    if terms.frequency is not None and terms.frequency.max_fetches < 1:
        problems.append("查询频次上限至少为 1 次")
    if terms.data_life_days < 0:
        problems.append("数据保存期限不能为负数")
    if terms.expires_at <= now:
        problems.append("授权到期时间须晚于当前时间")
    if terms.starts_at is not None and terms.starts_at >= terms.expires_at:
        problems.append("授权生效时间须早于到期时间")
    return problems


# --- fair use -----------------------------------------------------------------------------------


class Bound(StrEnum):
    """The fair-use bounds an operator sets per purpose."""

    VALIDITY = "max_validity_days"
    DATA_RANGE = "max_data_range_days"
    FREQUENCY = "max_frequency"
    DATA_LIFE = "max_data_life_days"

    @property
    def label_zh(self) -> str:
        """Chinese name for users."""
        return _BOUND_LABELS[self]


_BOUND_LABELS: Mapping[Bound, str] = MappingProxyType(
    {
        Bound.VALIDITY: "最长授权期限",
        Bound.DATA_RANGE: "最宽数据时间范围",
        Bound.FREQUENCY: "最高查询频次",
        Bound.DATA_LIFE: "最长数据保存期限",
    }
)


@dataclass(frozen=True, slots=True)
class FairUsePolicy:
    """The widest authorization an institution may ask for one purpose; wider requests are refused."""

    purpose: Purpose
    max_validity_days: int
    max_data_range_days: int
    max_frequency: Frequency
    max_data_life_days: int


def _policy(purpose: Purpose, validity: int, data_range: int, fetches: int, unit: FrequencyUnit, life: int) -> FairUsePolicy:
    return FairUsePolicy(purpose, validity, data_range, Frequency(fetches, unit), life)


_M = FrequencyUnit.MONTH
#: Defaults seeded by the migration (unconfirmed: no official table; operators change them with PUT /consent/policies).
DEFAULT_POLICIES: Mapping[Purpose, FairUsePolicy] = MappingProxyType(
    {
        Purpose.PRE_LOAN_REVIEW: _policy(Purpose.PRE_LOAN_REVIEW, 90, 1096, 10, _M, 180),
        Purpose.CREDIT_APPROVAL: _policy(Purpose.CREDIT_APPROVAL, 180, 1096, 10, _M, 365),
        Purpose.POST_LOAN_MANAGEMENT: _policy(Purpose.POST_LOAN_MANAGEMENT, 1096, 1827, 4, _M, 1827),
        Purpose.LOAN_RENEWAL: _policy(Purpose.LOAN_RENEWAL, 180, 1096, 10, _M, 365),
        Purpose.GUARANTEE: _policy(Purpose.GUARANTEE, 365, 1096, 4, _M, 1096),
        Purpose.RISK_COMPENSATION: _policy(Purpose.RISK_COMPENSATION, 730, 1827, 4, _M, 1827),
        Purpose.FINANCING_MATCHING: _policy(Purpose.FINANCING_MATCHING, 30, 366, 5, _M, 30),
    }
)


@dataclass(frozen=True, slots=True)
class Breach:
    """One fair-use bound a request goes beyond."""

    bound: Bound
    limit: str
    requested: str

    @property
    def message(self) -> str:
        """Chinese explanation naming the bound."""
        return f"超出{self.bound.label_zh}：上限为 {self.limit}，申请为 {self.requested}"


def _validity_days(terms: AuthorizationTerms, now: datetime) -> Fraction:
    start = max(terms.starts_at or now, now)
    return Fraction(int((terms.expires_at - start).total_seconds()), 86_400)


def check_fair_use(terms: AuthorizationTerms, policy: FairUsePolicy, *, now: datetime) -> tuple[Breach, ...]:
    """Every bound of `policy` the terms go beyond; empty when the request is within fair use."""
    if policy.purpose is not terms.purpose:
        raise ValueError(f"policy for {policy.purpose} applied to a request for {terms.purpose}")
    breaches: list[Breach] = []
    validity = _validity_days(terms, now)
    if validity > policy.max_validity_days:
        shown = f"{float(validity):.1f} 天" if validity.denominator != 1 else f"{validity} 天"
        breaches.append(Breach(Bound.VALIDITY, f"{policy.max_validity_days} 天", shown))
    if terms.data_range.days > policy.max_data_range_days:
        breaches.append(Breach(Bound.DATA_RANGE, f"{policy.max_data_range_days} 天", f"{terms.data_range.days} 天"))
    if terms.frequency is not None and terms.frequency.per_year > policy.max_frequency.per_year:
        breaches.append(Breach(Bound.FREQUENCY, str(policy.max_frequency), str(terms.frequency)))
    if terms.data_life_days > policy.max_data_life_days:
        breaches.append(Breach(Bound.DATA_LIFE, f"{policy.max_data_life_days} 天", f"{terms.data_life_days} 天"))
    return tuple(breaches)


class FairUseExceeded(InvalidInput):
    """A request wider than the operator's fair-use bounds for its purpose; the problem names the bound."""

    code: ClassVar[str] = "fair_use_exceeded"
    title: ClassVar[str] = "授权申请超出公平使用范围"

    def __init__(self, purpose: Purpose, breaches: Iterable[Breach]) -> None:
        found = tuple(breaches)
        if not found:
            raise ValueError("FairUseExceeded needs at least one breach")
        super().__init__(
            f"用途“{purpose.label_zh}”：" + "；".join(b.message for b in found),
            bound=found[0].bound.value,
            bounds=[{"bound": b.bound.value, "limit": b.limit, "requested": b.requested} for b in found],
            purpose=purpose.value,
        )
        self.breaches = found


def validate_policy(policy: FairUsePolicy) -> list[str]:
    """Problems with a policy an operator submits (each bound positive; data life may be 0)."""
    problems = []
    if policy.max_validity_days < 1:
        problems.append(f"{policy.purpose.label_zh}：最长授权期限至少 1 天")
    if policy.max_data_range_days < 1:
        problems.append(f"{policy.purpose.label_zh}：最宽数据时间范围至少 1 天")
    if policy.max_frequency.max_fetches < 1:
        problems.append(f"{policy.purpose.label_zh}：最高查询频次至少 1 次")
    if policy.max_data_life_days < 0:
        problems.append(f"{policy.purpose.label_zh}：最长数据保存期限不能为负数")
    return problems


# --- the authorization as decisions see it ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Authorization:
    """An authorization of `enterprise_uscc` to `institution_id`: its status and terms."""

    id: uuid.UUID
    enterprise_uscc: str
    institution_id: uuid.UUID
    status: AuthorizationStatus
    terms: AuthorizationTerms
    #: When it took effect (approval, or the requested start if later); None while requested.
    valid_from: datetime | None = None

    def status_at(self, at: datetime) -> AuthorizationStatus:
        """The status that holds at `at` (time-driven expiry included)."""
        return effective_status(self.status, expires_at=self.terms.expires_at, at=at)


def _china_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CHINA_TIME).astimezone(UTC)


def fetch_window_start(authorization: Authorization, *, at: datetime) -> datetime | None:
    """The start of the period whose fetches count against the cap at `at`; None: since the beginning (one-time)."""
    frequency = authorization.terms.frequency
    if authorization.terms.fetch_type is FetchType.ONE_TIME or frequency is None:
        return None
    local = at.astimezone(CHINA_TIME).date()
    if frequency.unit is FrequencyUnit.DAY:
        first = local
    elif frequency.unit is FrequencyUnit.WEEK:
        first = local - timedelta(days=local.weekday())
    elif frequency.unit is FrequencyUnit.MONTH:
        first = local.replace(day=1)
    else:
        first = local.replace(month=1, day=1)
    return _china_midnight(first)


def fetch_cap(authorization: Authorization) -> int:
    """How many fetches one window allows: 1 in all for one-time, the frequency's cap per period otherwise."""
    frequency = authorization.terms.frequency
    if authorization.terms.fetch_type is FetchType.ONE_TIME or frequency is None:
        return 1
    return frequency.max_fetches


# --- the access decision ------------------------------------------------------------------------


class AccessorKind(StrEnum):
    """Who is reading, as the decision sees it."""

    ENTERPRISE = "enterprise"
    INSTITUTION = "institution"
    DEPARTMENT = "department"
    PLATFORM = "platform"
    ANONYMOUS = "anonymous"


class AccessAction(StrEnum):
    """What the read is for: viewing records, pulling an authorized report, or a verification (数据核验)."""

    READ = "read"
    REPORT = "report"
    VERIFY = "verify"


#: Disclosure classes of `xinyidai.catalog.Disclosure` (a StrEnum, so its members compare equal to these).
PUBLIC = "public"
AUTHORIZED = "authorized"
CONSENT = "consent"
_NON_PUBLIC = frozenset({AUTHORIZED, CONSENT})


@dataclass(frozen=True, slots=True)
class ItemRef:
    """A catalog item as the decision needs it: code, category and disclosure class."""

    code: str
    category: str
    disclosure: str


@dataclass(frozen=True, slots=True)
class AccessDecision:
    """Whether one read of one item is allowed, why, and under which authorization; the reasons go into the audit event."""

    allowed: bool
    reasons: tuple[str, ...]
    authorization_id: uuid.UUID | None = None
    item: str = ""
    #: The data period the caller may return when allowed under an authorization; None: not restricted.
    data_range: DateRange | None = None
    #: True when the read is made under the authorization and counts against its frequency cap.
    counted: bool = False
    #: The authorization named belongs to another institution: callers answer 404, as if it did not exist.
    foreign: bool = False


def decide_access(
    *,
    principal_kind: AccessorKind,
    principal_institution: uuid.UUID | None,
    action: AccessAction,
    subject_uscc: str,
    item: ItemRef,
    purpose: Purpose | None,
    authorization: Authorization | None,
    at: datetime,
    principal_enterprise: str | None = None,
    fetch_count: int = 0,
    data_range: DateRange | None = None,
) -> AccessDecision:
    """Decide one read of `item` about `subject_uscc`; deny unless a rule allows.

    Rules, in order: public items are open to everyone; an enterprise may always read its own
    data; anything else needs, for an institution, an authorization by that subject to that
    institution which at `at` is active (not requested, paused, rejected, revoked or expired)
    and already in effect, for the same purpose, covering the item by category or item scope,
    whose data range contains `data_range` (when given) and whose frequency cap is not used up
    (`fetch_count`: fetches already made in the current window, see `fetch_window_start`).
    Every failing condition is listed in the reasons, not only the first.
    """
    code = item.code
    # Callers outside this package may pass the codes as plain strings: take them by value, refuse unknown ones.
    try:
        action = AccessAction(action)
        principal_kind = AccessorKind(principal_kind)
        purpose = Purpose(purpose) if purpose is not None else None
    except ValueError as exc:
        return AccessDecision(False, (f"未知的访问类型、主体类型或查询用途：{exc}",), item=code)
    if item.disclosure == PUBLIC:
        return AccessDecision(True, ("公开信息，无需授权",), item=code)
    if item.disclosure not in _NON_PUBLIC:
        return AccessDecision(False, (f"信息项 {code} 的公开类别“{item.disclosure}”未知，默认拒绝",), item=code)
    if principal_kind is AccessorKind.ENTERPRISE:
        if principal_enterprise is not None and principal_enterprise == subject_uscc:
            return AccessDecision(True, ("企业查询本企业信息",), item=code)
        return AccessDecision(False, ("企业只能查询本企业的非公开信息",), item=code)
    if principal_kind is not AccessorKind.INSTITUTION or principal_institution is None:
        return AccessDecision(False, ("非公开信息仅向经企业授权的金融机构提供",), item=code)
    if authorization is None:
        return AccessDecision(False, ("未提供授权：非公开信息须经企业授权方可查询",), item=code)
    auth_id = authorization.id
    if authorization.institution_id != principal_institution:
        # Nothing else is said about another institution's authorization.
        return AccessDecision(False, ("该授权不属于本机构",), authorization_id=auth_id, item=code, foreign=True)
    reasons: list[str] = []
    if authorization.enterprise_uscc != subject_uscc:
        reasons.append("授权主体与查询主体不符")
    status = authorization.status_at(at)
    if status is not AuthorizationStatus.ACTIVE:
        reasons.append(f"授权{status.label_zh}，不能据此查询")
    else:
        starts = [d for d in (authorization.valid_from, authorization.terms.starts_at) if d is not None]
        if starts and at < max(starts):
            reasons.append("授权尚未生效")
    terms = authorization.terms
    if purpose is None:
        reasons.append("未说明查询用途")
    elif purpose is not terms.purpose:
        reasons.append(f"查询用途“{purpose.label_zh}”与授权用途“{terms.purpose.label_zh}”不符")
    if not terms.scope.covers(item):
        reasons.append(f"授权范围未覆盖信息项 {code}")
    if data_range is not None and not terms.data_range.contains(data_range):
        reasons.append(f"所查数据期间 {data_range} 超出授权数据范围 {terms.data_range}")
    cap = fetch_cap(authorization)
    if fetch_count >= cap:
        if terms.fetch_type is FetchType.ONE_TIME:
            reasons.append("一次性授权已查询过，不能再次查询")
        else:
            reasons.append(f"已达查询频次上限（{terms.frequency}）")
    if reasons:
        return AccessDecision(False, tuple(reasons), authorization_id=auth_id, item=code)
    granted = f"依据授权 {auth_id}（{terms.purpose.label_zh}）"
    return AccessDecision(
        True,
        (granted, f"本期已查询 {fetch_count} 次，上限 {cap} 次"),
        authorization_id=auth_id,
        item=code,
        data_range=data_range or terms.data_range,
        counted=True,
    )
