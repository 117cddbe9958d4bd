"""Pure rules of the product market: products and their life cycle, eligibility rules, matching, ranking and the
pre-approval estimate (预授信额度). Standard library and kernel only; the batch path in `batch.py` mirrors these rules."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Any

import numpy as np

from xinyidai.kernel.errors import Conflict


class ProductType(StrEnum):
    """Kind of security a product takes (担保方式)."""

    PURE_CREDIT = "pure_credit"
    GUARANTEED = "guaranteed"
    MORTGAGE = "mortgage"
    PLEDGE = "pledge"
    CREDIT_GUARANTEE_FUND = "credit_guarantee_fund"
    OTHER = "other"

    @property
    def label_zh(self) -> str:
        """Chinese name."""
        return _TYPE_LABELS[self]


_TYPE_LABELS = {
    ProductType.PURE_CREDIT: "纯信用",
    ProductType.GUARANTEED: "保证",
    ProductType.MORTGAGE: "抵押",
    ProductType.PLEDGE: "质押",
    ProductType.CREDIT_GUARANTEE_FUND: "信保基金",
    ProductType.OTHER: "其他",
}


class RepaymentMethod(StrEnum):
    """How a loan is repaid (还款方式)."""

    EQUAL_INSTALMENT = "equal_instalment"
    EQUAL_PRINCIPAL = "equal_principal"
    INTEREST_FIRST = "interest_first"
    BULLET = "bullet"
    REVOLVING = "revolving"

    @property
    def label_zh(self) -> str:
        """Chinese name."""
        return _REPAYMENT_LABELS[self]


_REPAYMENT_LABELS = {
    RepaymentMethod.EQUAL_INSTALMENT: "等额本息",
    RepaymentMethod.EQUAL_PRINCIPAL: "等额本金",
    RepaymentMethod.INTEREST_FIRST: "先息后本",
    RepaymentMethod.BULLET: "到期一次还本付息",
    RepaymentMethod.REVOLVING: "随借随还",
}


class ProductStatus(StrEnum):
    """Life-cycle state of a product."""

    DRAFT = "draft"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"

    @property
    def label_zh(self) -> str:
        """Chinese name."""
        return {"draft": "草稿", "published": "已发布", "withdrawn": "已下架"}[self.value]


class Transition(StrEnum):
    """A change of a product's state."""

    PUBLISH = "publish"
    WITHDRAW = "withdraw"


#: The life cycle: draft → published → withdrawn (final). Anything else is a 409.
TRANSITIONS: dict[tuple[ProductStatus, Transition], ProductStatus] = {
    (ProductStatus.DRAFT, Transition.PUBLISH): ProductStatus.PUBLISHED,
    (ProductStatus.PUBLISHED, Transition.WITHDRAW): ProductStatus.WITHDRAWN,
}


class ProductStateConflict(Conflict):
    """The transition does not exist from the product's current state."""

    code = "product_state_conflict"
    title = "产品当前状态不允许此操作"


def next_status(current: ProductStatus, transition: Transition) -> ProductStatus:
    """The state after `transition`, or ProductStateConflict."""
    found = TRANSITIONS.get((current, transition))
    if found is None:
        raise ProductStateConflict(f"产品状态为{current.label_zh}，不能{'发布' if transition is Transition.PUBLISH else '下架'}")
    return found


class Urgency(StrEnum):
    """How soon the enterprise needs the money."""

    NORMAL = "normal"
    URGENT = "urgent"
    VERY_URGENT = "very_urgent"

    @property
    def label_zh(self) -> str:
        """Chinese name."""
        return {"normal": "一般", "urgent": "较急", "very_urgent": "紧急"}[self.value]


#: Fields an enterprise may choose to share with institutions when it posts a need (with Chinese labels).
SHAREABLE_FIELDS: dict[str, str] = {
    "name": "企业名称",
    "uscc": "统一社会信用代码",
    "region_code": "注册地行政区划",
    "industry_code": "所属行业",
    "size_class": "企业规模",
    "established_on": "成立日期",
    "registered_capital": "注册资本（万元）",
}


class Outcome(StrEnum):
    """Result of one rule, and of a product's eligibility as a whole."""

    PASS = "pass"  # noqa: S105 - an enum value, not a password
    FAIL = "fail"
    UNKNOWN = "unknown"

    @property
    def label_zh(self) -> str:
        """Chinese name."""
        return {"pass": "符合", "fail": "不符合", "unknown": "无法判断"}[self.value]

    @property
    def rank(self) -> int:
        """Order for sorting and for the invariant "a rule never improves the outcome": fail < unknown < pass."""
        return {"fail": 0, "unknown": 1, "pass": 2}[self.value]


#: Public credit evaluation grades (GB/T 45255-2025 style), best first.
GRADES = ("A", "B", "C", "D")
#: Tax credit grades (纳税信用等级), best first; M (new enterprises) ranks between B and C.
TAX_GRADES = ("A", "B", "M", "C", "D")
SIZE_CLASSES = ("micro", "small", "medium", "large")
_SIZE_LABELS = {"micro": "微型", "small": "小型", "medium": "中型", "large": "大型"}


def grade_rank(grade: str, scale: Sequence[str] = GRADES) -> int:
    """Higher is better: A → 3 for evaluation grades; raises ValueError for a grade not on the scale."""
    return len(scale) - 1 - scale.index(grade)


# --- eligibility rules -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EligibilityRules:
    """A product's eligibility rules as data; an empty or None rule does not apply.

    regions: GB/T 2260 code prefixes ("35", "3501", "350102"); industries: GB/T 4754 section letters ("C") or
    two-digit divisions ("65"); size_classes: micro/small/medium/large; amounts in 万元.
    """

    regions: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    size_classes: tuple[str, ...] = ()
    min_years: int | None = None
    min_grade: str | None = None
    exclude_serious_dishonesty: bool = False
    min_tax_grade: str | None = None
    max_registered_capital: Decimal | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form for storage."""
        return {
            "regions": list(self.regions),
            "industries": list(self.industries),
            "size_classes": list(self.size_classes),
            "min_years": self.min_years,
            "min_grade": self.min_grade,
            "exclude_serious_dishonesty": self.exclude_serious_dishonesty,
            "min_tax_grade": self.min_tax_grade,
            "max_registered_capital": None if self.max_registered_capital is None else str(self.max_registered_capital),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EligibilityRules:
        """Inverse of to_json."""
        cap = data.get("max_registered_capital")
        return cls(
            regions=tuple(data.get("regions") or ()),
            industries=tuple(data.get("industries") or ()),
            size_classes=tuple(data.get("size_classes") or ()),
            min_years=data.get("min_years"),
            min_grade=data.get("min_grade"),
            exclude_serious_dishonesty=bool(data.get("exclude_serious_dishonesty")),
            min_tax_grade=data.get("min_tax_grade"),
            max_registered_capital=None if cap is None else Decimal(str(cap)),
        )


def validate_rules(rules: EligibilityRules) -> list[str]:
    """Every problem with a rule set (empty when sound)."""
    errors = [
        f"regions: 行政区划代码前缀应为2-6位数字，实际 {r!r}" for r in rules.regions if not (2 <= len(r) <= 6 and r.isdigit())
    ]
    for code in rules.industries:
        if not ((len(code) == 1 and "A" <= code <= "T") or (len(code) == 2 and code.isdigit())):
            errors.append(f"industries: 应为门类字母A-T或两位大类代码，实际 {code!r}")
    errors += [f"size_classes: 未知的企业规模 {s!r}" for s in rules.size_classes if s not in SIZE_CLASSES]
    if rules.min_years is not None and rules.min_years < 0:
        errors.append("min_years: 不能为负")
    if rules.min_grade is not None and rules.min_grade not in GRADES:
        errors.append(f"min_grade: 评价等级应为 {'/'.join(GRADES)}")
    if rules.min_tax_grade is not None and rules.min_tax_grade not in TAX_GRADES:
        errors.append(f"min_tax_grade: 纳税信用等级应为 {'/'.join(TAX_GRADES)}")
    if rules.max_registered_capital is not None and rules.max_registered_capital <= 0:
        errors.append("max_registered_capital: 应大于0")
    return errors


@dataclass(frozen=True, slots=True)
class SubjectFacts:
    """What matching knows about one enterprise; None means unknown (never treated as a pass).

    Registration facts come from the registry; grade, score, list and tax facts from a `SubjectFacts` provider
    (see README): the default provider leaves them None.
    """

    uscc: str
    name: str | None = None
    region_code: str | None = None
    industry_code: str | None = None  # GB/T 4754 digits, e.g. "6510"
    industry_section: str | None = None  # its 门类 letter, e.g. "I"
    size_class: str | None = None
    established_on: date | None = None
    registered_capital: Decimal | None = None  # 万元
    evaluation_grade: str | None = None  # A/B/C/D
    evaluation_score: Decimal | None = None  # 0-100
    serious_dishonesty: bool | None = None  # on a 严重失信主体名单
    tax_grade: str | None = None  # A/B/M/C/D


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One rule's outcome for one enterprise, with the Chinese reason the enterprise sees."""

    rule: str
    outcome: Outcome
    reason: str


def years_between(start: date, end: date) -> int:
    """Full years from `start` to `end` (anniversary-based; 0 when end precedes the first anniversary)."""
    years = end.year - start.year - ((end.month, end.day) < (start.month, start.day))
    return max(years, 0)


def _unknown(rule: str, what: str) -> RuleResult:
    return RuleResult(rule, Outcome.UNKNOWN, f"无法判断：缺少{what}信息")


def evaluate_rules(rules: EligibilityRules, facts: SubjectFacts, *, as_of: date) -> list[RuleResult]:
    """Evaluate every rule that applies; an unknown fact gives UNKNOWN (无法判断), never a pass."""
    out: list[RuleResult] = []
    if rules.regions:
        allowed = "、".join(rules.regions)
        if not facts.region_code:
            out.append(_unknown("region", "注册地"))
        elif any(facts.region_code.startswith(p) for p in rules.regions):
            out.append(RuleResult("region", Outcome.PASS, f"注册地 {facts.region_code} 在产品服务区域（{allowed}）内"))
        else:
            out.append(RuleResult("region", Outcome.FAIL, f"注册地 {facts.region_code} 不在产品服务区域（{allowed}）内"))
    if rules.industries:
        allowed = "、".join(rules.industries)
        if not facts.industry_code:
            out.append(_unknown("industry", "所属行业"))
        else:
            hit = any(
                (facts.industry_section == code) if code.isalpha() else facts.industry_code.startswith(code)
                for code in rules.industries
            )
            where = f"所属行业 {facts.industry_code}（门类 {facts.industry_section or '?'}）"
            outcome = Outcome.PASS if hit else Outcome.FAIL
            out.append(RuleResult("industry", outcome, f"{where}{'属于' if hit else '不属于'}产品支持的行业（{allowed}）"))
    if rules.size_classes:
        allowed = "、".join(_SIZE_LABELS.get(s, s) for s in rules.size_classes)
        if facts.size_class not in SIZE_CLASSES:
            out.append(_unknown("size", "企业规模"))
        else:
            hit = facts.size_class in rules.size_classes
            label = _SIZE_LABELS[facts.size_class or ""]
            out.append(RuleResult("size", Outcome.PASS if hit else Outcome.FAIL, f"企业规模为{label}，产品面向{allowed}企业"))
    if rules.min_years is not None:
        if facts.established_on is None:
            out.append(_unknown("years", "成立日期"))
        else:
            years = years_between(facts.established_on, as_of)
            hit = years >= rules.min_years
            out.append(
                RuleResult(
                    "years",
                    Outcome.PASS if hit else Outcome.FAIL,
                    f"成立满 {years} 年，产品要求至少 {rules.min_years} 年",
                )
            )
    if rules.min_grade is not None:
        if facts.evaluation_grade not in GRADES:
            out.append(_unknown("grade", "信用评价等级"))
        else:
            grade = facts.evaluation_grade or ""
            hit = grade_rank(grade) >= grade_rank(rules.min_grade)
            out.append(
                RuleResult(
                    "grade",
                    Outcome.PASS if hit else Outcome.FAIL,
                    f"信用评价等级为 {grade}，产品要求 {rules.min_grade} 级及以上",
                )
            )
    if rules.exclude_serious_dishonesty:
        if facts.serious_dishonesty is None:
            out.append(_unknown("dishonesty", "严重失信主体名单"))
        elif facts.serious_dishonesty:
            out.append(RuleResult("dishonesty", Outcome.FAIL, "列入严重失信主体名单，产品不予受理"))
        else:
            out.append(RuleResult("dishonesty", Outcome.PASS, "未列入严重失信主体名单"))
    if rules.min_tax_grade is not None:
        if facts.tax_grade not in TAX_GRADES:
            out.append(_unknown("tax_grade", "纳税信用等级"))
        else:
            tax = facts.tax_grade or ""
            hit = grade_rank(tax, TAX_GRADES) >= grade_rank(rules.min_tax_grade, TAX_GRADES)
            out.append(
                RuleResult(
                    "tax_grade",
                    Outcome.PASS if hit else Outcome.FAIL,
                    f"纳税信用等级为 {tax}，产品要求 {rules.min_tax_grade} 级及以上",
                )
            )
    if rules.max_registered_capital is not None:
        if facts.registered_capital is None:
            out.append(_unknown("capital", "注册资本"))
        else:
            hit = facts.registered_capital <= rules.max_registered_capital
            out.append(
                RuleResult(
                    "capital",
                    Outcome.PASS if hit else Outcome.FAIL,
                    f"注册资本 {facts.registered_capital.normalize():f} 万元，产品要求不超过 "
                    f"{rules.max_registered_capital.normalize():f} 万元",
                )
            )
    return out


def combine(results: Iterable[RuleResult]) -> Outcome:
    """FAIL if any rule fails, else UNKNOWN if any is unknown, else PASS (no rules: PASS)."""
    ranks = [r.outcome.rank for r in results]
    worst = min(ranks, default=Outcome.PASS.rank)
    return {0: Outcome.FAIL, 1: Outcome.UNKNOWN, 2: Outcome.PASS}[worst]


# --- products -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProductTerms:
    """What an institution states about a product: the part matching uses, and the part the market shows."""

    name: str
    type: ProductType
    credit_loan: bool
    amount_min: Decimal  # 万元
    amount_max: Decimal
    term_min: int  # months
    term_max: int
    rate_min: Decimal  # annual %
    rate_max: Decimal
    repayment_methods: tuple[RepaymentMethod, ...]
    scope_items: tuple[str, ...] = ()
    purpose: str = "credit_approval"
    rules: EligibilityRules = field(default_factory=EligibilityRules)
    description: str = ""


def validate_terms(terms: ProductTerms) -> list[str]:
    """Every problem with a product's terms (empty when sound)."""
    errors: list[str] = []
    if not terms.name.strip():
        errors.append("name: 必填")
    if terms.amount_min <= 0 or terms.amount_max < terms.amount_min:
        errors.append("amount: 额度范围应满足 0 < 最低额度 ≤ 最高额度")
    if terms.term_min <= 0 or terms.term_max < terms.term_min:
        errors.append("term: 期限范围应满足 0 < 最短期限 ≤ 最长期限")
    if terms.rate_min < 0 or terms.rate_max < terms.rate_min or terms.rate_max > 36:
        errors.append("rate: 利率范围应满足 0 ≤ 最低利率 ≤ 最高利率 ≤ 36")
    if not terms.repayment_methods:
        errors.append("repayment_methods: 至少一种还款方式")
    if terms.type is ProductType.PURE_CREDIT and not terms.credit_loan:
        errors.append("credit_loan: 纯信用产品即为信用贷款")
    if terms.type in (ProductType.MORTGAGE, ProductType.PLEDGE, ProductType.GUARANTEED) and terms.credit_loan:
        errors.append(f"credit_loan: {terms.type.label_zh}产品不是信用贷款")
    return errors + validate_rules(terms.rules)


@dataclass(frozen=True, slots=True)
class Product:
    """A product as matching sees it."""

    id: str
    institution_id: str
    institution_name: str
    status: ProductStatus
    terms: ProductTerms


# --- the pre-approval estimate --------------------------------------------------------------------------

#: Share of the product's maximum amount an evaluation grade supports, in percent (unconfirmed: configuration,
#: to be calibrated with loan outcomes). D supports nothing.
GRADE_SHARE_PCT: dict[str, int] = {"A": 100, "B": 70, "C": 40, "D": 0}


@dataclass(frozen=True, slots=True)
class Estimate:
    """A pre-approval estimate (预授信额度) in whole 万元, or None with the reason none could be made."""

    amount: Decimal | None
    reason: str


def score_adjust_pct(score: Decimal | None) -> int:
    """80-100 %: 80 + floor(score)//5 for a score on 0-100 (clamped); 100 when no score is known."""
    if score is None:
        return 100
    whole = int(min(max(score, Decimal(0)), Decimal(100)).to_integral_value(rounding=ROUND_FLOOR))
    return 80 + whole // 5


def estimate(terms: ProductTerms, facts: SubjectFacts, outcome: Outcome) -> Estimate:
    """预授信额度 = floor(最高额度 × 等级系数 × 分数系数), in whole 万元.

    等级系数 = GRADE_SHARE_PCT[grade] / 100; 分数系数 = (80 + floor(score) // 5) / 100, 1 without a score.
    Only an eligible enterprise with a known grade gets one; a result below the product's minimum is 0.
    """
    if outcome is not Outcome.PASS:
        return Estimate(None, "不符合或无法判断准入条件，不估算额度")
    if facts.evaluation_grade not in GRADE_SHARE_PCT:
        return Estimate(None, "缺少信用评价等级，无法估算额度")
    grade = facts.evaluation_grade or ""
    pct = GRADE_SHARE_PCT[grade] * score_adjust_pct(facts.evaluation_score)
    amount = (terms.amount_max * pct / 10000).to_integral_value(rounding=ROUND_FLOOR)
    if amount < terms.amount_min:
        return Estimate(Decimal(0), f"按评价等级 {grade} 估算的额度低于产品最低额度")
    return Estimate(
        amount, f"最高额度 × 等级 {grade} 系数 {GRADE_SHARE_PCT[grade]}% × 分数系数 {score_adjust_pct(facts.evaluation_score)}%"
    )


# --- matching and ranking -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Wish:
    """What the enterprise asks for (from a financing need), to rank products by fit; None: no preference."""

    amount: Decimal | None = None
    term_months: int | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """One product for one enterprise: the outcome, every rule's reason, the fit score and the estimate."""

    product: Product
    outcome: Outcome
    results: tuple[RuleResult, ...]
    score: float
    estimate: Estimate


def fit_score(terms: ProductTerms, facts: SubjectFacts, wish: Wish) -> float:
    """Ranking key in 0-100 (not money, so a float): amount fit 40, term fit 20, rate 20, credit loan 10, grade margin 10.

    amount/term fit: 1 when no wish or the wish lies in the product's range, else 0; rate: max(0, 1 - rate_min/24);
    grade margin: (grade rank - required rank) / 3 with a known grade (required rank 0 without a grade rule), else 0.
    """
    amount_fit = 1.0 if wish.amount is None or terms.amount_min <= wish.amount <= terms.amount_max else 0.0
    term_fit = 1.0 if wish.term_months is None or terms.term_min <= wish.term_months <= terms.term_max else 0.0
    rate = max(0.0, 1.0 - float(terms.rate_min) / 24.0)
    credit = 1.0 if terms.credit_loan else 0.0
    margin = 0.0
    if facts.evaluation_grade in GRADES:
        required = grade_rank(terms.rules.min_grade) if terms.rules.min_grade else 0
        margin = max(0, grade_rank(facts.evaluation_grade or "") - required) / 3.0
    return 20.0 * rate + 10.0 * credit + 40.0 * amount_fit + 20.0 * term_fit + 10.0 * margin


def match_product(product: Product, facts: SubjectFacts, *, as_of: date, wish: Wish | None = None) -> Match:
    """Match one enterprise with one product."""
    results = tuple(evaluate_rules(product.terms.rules, facts, as_of=as_of))
    outcome = combine(results)
    return Match(
        product=product,
        outcome=outcome,
        results=results,
        score=fit_score(product.terms, facts, wish or Wish()),
        estimate=estimate(product.terms, facts, outcome),
    )


def match_one(facts: SubjectFacts, products: Iterable[Product], *, as_of: date, wish: Wish | None = None) -> list[Match]:
    """The single-enterprise fast path: every product matched and ranked (eligible first, then by fit, then name)."""
    matches = [match_product(p, facts, as_of=as_of, wish=wish) for p in products]
    matches.sort(key=lambda m: (-m.outcome.rank, -m.score, m.product.terms.name, m.product.id))
    return matches


def with_rules(terms: ProductTerms, rules: EligibilityRules) -> ProductTerms:
    """The same terms with other rules (used by tests and the market's what-if)."""
    return replace(terms, rules=rules)


# --- needs ------------------------------------------------------------------------------------------------


def validate_need(*, amount: Decimal, term_months: int, purpose: str, shared_fields: Sequence[str]) -> list[str]:
    """Every problem with a financing need."""
    errors: list[str] = []
    if amount <= 0:
        errors.append("amount: 应大于0")
    if not 1 <= term_months <= 360:
        errors.append("term_months: 应在1-360个月之间")
    if not purpose.strip():
        errors.append("purpose: 必填")
    errors += [f"shared_fields: 不可共享的字段 {f!r}" for f in shared_fields if f not in SHAREABLE_FIELDS]
    return errors


def could_serve(terms: ProductTerms, *, amount: Decimal, term_months: int, facts: SubjectFacts, as_of: date) -> bool:
    """Whether a product could serve a need: amount and term in range and no rule fails (unknown may be clarified)."""
    if not (terms.amount_min <= amount <= terms.amount_max and terms.term_min <= term_months <= terms.term_max):
        return False
    return combine(evaluate_rules(terms.rules, facts, as_of=as_of)) is not Outcome.FAIL


# --- the single-enterprise fast path -----------------------------------------------------------------------

_MICRO = 1_000_000


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One product's rules reduced to sets and integers (built once per product list)."""

    regions: frozenset[str]
    industries: frozenset[str]
    sizes: frozenset[str]
    min_years: int | None
    min_grade: int | None
    dishonesty: bool
    min_tax: int | None
    max_cap: int | None
    amount_min: Decimal
    amount_max: Decimal
    term_min: int
    term_max: int
    base_score: float  # rate and credit-loan parts of fit_score
    required: int


def _compile(p: Product) -> _Compiled:
    r, t = p.terms.rules, p.terms
    return _Compiled(
        regions=frozenset(r.regions),
        industries=frozenset(r.industries),
        sizes=frozenset(r.size_classes),
        min_years=r.min_years,
        min_grade=grade_rank(r.min_grade) if r.min_grade else None,
        dishonesty=r.exclude_serious_dishonesty,
        min_tax=grade_rank(r.min_tax_grade, TAX_GRADES) if r.min_tax_grade else None,
        max_cap=None if r.max_registered_capital is None else int(r.max_registered_capital * _MICRO),
        amount_min=t.amount_min,
        amount_max=t.amount_max,
        term_min=t.term_min,
        term_max=t.term_max,
        base_score=20.0 * max(0.0, 1.0 - float(t.rate_min) / 24.0) + (10.0 if t.credit_loan else 0.0),
        required=grade_rank(r.min_grade) if r.min_grade else 0,
    )


class Matcher:
    """The single-enterprise fast path: products compiled once; `rank` decides and orders every product without
    building reasons, `explain` builds the full `Match` (reasons, estimate) for those shown.

    Compilation groups the products by each rule's value (a few dozen distinct region lists, grade floors …, not
    thousands), so `rank` evaluates each distinct rule once in Python and spreads it over all products with numpy
    (gather, minimum, lexsort). `rank` gives exactly `match_one`'s order, outcomes and scores (tests check it: the
    float additions are done in the same order); keep one Matcher per product list.
    """

    _FIELDS = ("regions", "industries", "sizes", "min_years", "min_grade", "dishonesty", "min_tax", "max_cap")

    def __init__(self, products: Sequence[Product]) -> None:
        self.products = list(products)
        self._compiled = [_compile(p) for p in self.products]
        n = len(self.products)
        self._keys: dict[str, list[Any]] = {}
        self._index: dict[str, np.ndarray[Any, np.dtype[np.intp]]] = {}
        for name in (*self._FIELDS, "amount", "term"):
            distinct: dict[Any, int] = {}
            idx = np.empty(n, dtype=np.intp)
            for i, c in enumerate(self._compiled):
                key = (
                    (c.amount_min, c.amount_max)
                    if name == "amount"
                    else (c.term_min, c.term_max)
                    if name == "term"
                    else getattr(c, name)
                )
                idx[i] = distinct.setdefault(key, len(distinct))
            self._keys[name] = list(distinct)
            self._index[name] = idx
        self._base = np.array([c.base_score for c in self._compiled], dtype=np.float64)
        self._required = np.array([c.required for c in self._compiled], dtype=np.int64)
        order = sorted(range(n), key=lambda i: (self.products[i].terms.name, self.products[i].id))
        self._name_rank = np.empty(n, dtype=np.int64)
        self._name_rank[order] = np.arange(n, dtype=np.int64)

    def _spread(self, name: str, decide: Callable[[Any], int]) -> np.ndarray[Any, np.dtype[np.int8]]:
        codes = np.array([decide(k) for k in self._keys[name]], dtype=np.int8)
        spread: np.ndarray[Any, np.dtype[np.int8]] = codes[self._index[name]]
        return spread

    def rank(self, facts: SubjectFacts, *, as_of: date, wish: Wish | None = None) -> list[tuple[Outcome, float, Product]]:
        """Every product with its outcome and fit score, best first."""
        if not self.products:
            return []
        wish = wish or Wish()
        region = facts.region_code
        regions = {region[:n] for n in range(2, len(region) + 1)} if region else None
        industry = facts.industry_code
        industries = ({industry[:2]} | ({facts.industry_section} if facts.industry_section else set())) if industry else None
        size = facts.size_class if facts.size_class in SIZE_CLASSES else None
        years = years_between(facts.established_on, as_of) if facts.established_on else None
        grade = grade_rank(facts.evaluation_grade) if facts.evaluation_grade in GRADES else None
        tax = grade_rank(facts.tax_grade, TAX_GRADES) if facts.tax_grade in TAX_GRADES else None
        cap = None if facts.registered_capital is None else int(facts.registered_capital * _MICRO)
        dishonest = facts.serious_dishonesty

        def known(value: object, hit: Callable[[], bool]) -> int:
            return 1 if value is None else (2 if hit() else 0)

        rules: list[tuple[str, Callable[[Any], int]]] = [
            ("regions", lambda k: 2 if not k else known(regions, lambda: not k.isdisjoint(regions))),
            ("industries", lambda k: 2 if not k else known(industries, lambda: not k.isdisjoint(industries))),
            ("sizes", lambda k: 2 if not k else known(size, lambda: size in k)),
            ("min_years", lambda k: 2 if k is None else known(years, lambda: years is not None and years >= k)),
            ("min_grade", lambda k: 2 if k is None else known(grade, lambda: grade is not None and grade >= k)),
            ("dishonesty", lambda k: 2 if not k else known(dishonest, lambda: not dishonest)),
            ("min_tax", lambda k: 2 if k is None else known(tax, lambda: tax is not None and tax >= k)),
            ("max_cap", lambda k: 2 if k is None else known(cap, lambda: cap is not None and cap <= k)),
        ]
        worst = np.full(len(self.products), 2, dtype=np.int8)
        for name, decide in rules:
            np.minimum(worst, self._spread(name, decide), out=worst)
        amount_fit = self._spread("amount", lambda k: 1 if wish.amount is None or k[0] <= wish.amount <= k[1] else 0)
        term_fit = self._spread("term", lambda k: 1 if wish.term_months is None or k[0] <= wish.term_months <= k[1] else 0)
        score = self._base + np.where(amount_fit == 1, 40.0, 0.0)
        score = score + np.where(term_fit == 1, 20.0, 0.0)
        if grade is not None:
            score = score + 10.0 * (np.maximum(0, grade - self._required) / 3.0)
        order = np.lexsort((self._name_rank, -score, -worst.astype(np.int64)))
        outcomes = (Outcome.FAIL, Outcome.UNKNOWN, Outcome.PASS)
        worst_list, score_list = worst.tolist(), score.tolist()
        return [(outcomes[worst_list[i]], score_list[i], self.products[i]) for i in order.tolist()]

    def explain(self, product: Product, facts: SubjectFacts, *, as_of: date, wish: Wish | None = None) -> Match:
        """The full match of one product: each rule's reason and the estimate."""
        return match_product(product, facts, as_of=as_of, wish=wish)
