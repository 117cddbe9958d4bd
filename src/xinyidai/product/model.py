"""Pure rules of the product market: products and their life cycle, eligibility rules, matching, ranking and the
pre-approval estimate (预授信额度). Standard library and kernel only; the batch path in `batch.py` mirrors these rules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


#: The rule kinds in `evaluate_rules`' order; the fast paths (`Matcher`, `batch`) decide each kind with `decide`.
RULE_KINDS = ("region", "industry", "size", "years", "grade", "dishonesty", "tax", "capital")
FAIL, UNKNOWN, PASS = 0, 1, 2  # Outcome.rank as plain integers, for numpy


def rule_values(rules: EligibilityRules) -> tuple[tuple[str, Any], ...]:
    """The rules that apply as (kind, value) pairs, each value normalised so that equal rules compare equal (a
    region or industry list is a set of alternatives: sorted, without repeats)."""
    out: list[tuple[str, Any]] = []
    if rules.regions:
        out.append(("region", tuple(sorted(set(rules.regions)))))
    if rules.industries:
        out.append(("industry", tuple(sorted(set(rules.industries)))))
    if rules.size_classes:
        out.append(("size", tuple(sorted(set(rules.size_classes)))))
    if rules.min_years is not None:
        out.append(("years", rules.min_years))
    if rules.min_grade is not None:
        out.append(("grade", grade_rank(rules.min_grade)))
    if rules.exclude_serious_dishonesty:
        out.append(("dishonesty", True))
    if rules.min_tax_grade is not None:
        out.append(("tax", grade_rank(rules.min_tax_grade, TAX_GRADES)))
    if rules.max_registered_capital is not None:
        out.append(("capital", rules.max_registered_capital))
    return tuple(out)


def fact_values(facts: SubjectFacts, *, as_of: date) -> dict[str, Any]:
    """The fact each rule kind looks at, as `decide` takes it (grades as ranks, None when unknown)."""
    return {
        "region": facts.region_code,
        "industry": (facts.industry_code, facts.industry_section),
        "size": facts.size_class,
        "years": None if facts.established_on is None else years_between(facts.established_on, as_of),
        "grade": grade_rank(facts.evaluation_grade) if facts.evaluation_grade in GRADES else None,
        "dishonesty": facts.serious_dishonesty,
        "tax": grade_rank(facts.tax_grade, TAX_GRADES) if facts.tax_grade in TAX_GRADES else None,
        "capital": facts.registered_capital,
    }


def decide(kind: str, rule: Any, fact: Any) -> int:
    """One rule of `rule_values` against one fact of `fact_values`: FAIL, UNKNOWN or PASS, as `evaluate_rules`
    decides it (without the reason). The capital rule compares whatever the two sides are (Decimal or micro-units)."""
    if kind == "region":
        return UNKNOWN if not fact else PASS if any(fact.startswith(p) for p in rule) else FAIL
    if kind == "industry":
        code, section = fact
        if not code:
            return UNKNOWN
        return PASS if any((section == c) if c.isalpha() else code.startswith(c) for c in rule) else FAIL
    if kind == "size":
        return UNKNOWN if fact not in SIZE_CLASSES else PASS if fact in rule else FAIL
    if kind == "dishonesty":
        return UNKNOWN if fact is None else FAIL if fact else PASS
    if kind in ("years", "grade", "tax"):
        return UNKNOWN if fact is None else PASS if fact >= rule else FAIL
    if kind == "capital":
        return UNKNOWN if fact is None else PASS if fact <= rule else FAIL
    raise ValueError(f"unknown rule kind {kind!r}")


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
    amount_fit = wish.amount is None or terms.amount_min <= wish.amount <= terms.amount_max
    term_fit = wish.term_months is None or terms.term_min <= wish.term_months <= terms.term_max
    grade = grade_rank(facts.evaluation_grade) if facts.evaluation_grade in GRADES else None
    return fit_part(terms, grade=grade, amount_fit=amount_fit, term_fit=term_fit)


def fit_part(terms: ProductTerms, *, grade: int | None, amount_fit: bool, term_fit: bool) -> float:
    """`fit_score` from its parts (grade as a rank, None when unknown): the one place the float sum is done, so the
    fast paths, which tabulate it per grade and fit, give the very same floats."""
    rate = max(0.0, 1.0 - float(terms.rate_min) / 24.0)
    credit = 1.0 if terms.credit_loan else 0.0
    margin = 0.0
    if grade is not None:
        required = grade_rank(terms.rules.min_grade) if terms.rules.min_grade else 0
        margin = max(0, grade - required) / 3.0
    return 20.0 * rate + 10.0 * credit + 40.0 * float(amount_fit) + 20.0 * float(term_fit) + 10.0 * margin


#: Grade index of the fit tables: a grade's rank (D 0 … A 3), and 4 for an unknown grade.
GRADE_SLOTS = len(GRADES) + 1


def fit_table(terms: ProductTerms) -> list[list[float]]:
    """`fit_part` for every grade slot (rows) and fit (columns: amount fit × 2 + term fit)."""
    return [
        [fit_part(terms, grade=None if g == len(GRADES) else g, amount_fit=bool(f >> 1), term_fit=bool(f & 1)) for f in range(4)]
        for g in range(GRADE_SLOTS)
    ]


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

_OUTCOME_OF = (Outcome.FAIL, Outcome.UNKNOWN, Outcome.PASS)
_I8 = np.ndarray[Any, np.dtype[np.int8]]
_IP = np.ndarray[Any, np.dtype[np.intp]]


def rank_positions(products: Sequence[Product], scores: np.ndarray[Any, np.dtype[np.float64]]) -> np.ndarray[Any, Any]:
    """For `scores` (products, grade slots, fits) the rank position of each (product, fit) pair within its grade
    slot, higher better: by score desc, then name and id asc — `match_one`'s order after the outcome. So that
    outcome × (products × fits) + position is an integer key that orders products exactly as `match_one` does."""
    n, slots, fits = scores.shape
    order = sorted(range(n), key=lambda i: (products[i].terms.name, products[i].id))
    name_rank = np.empty(n, dtype=np.int64)
    name_rank[order] = np.arange(n, dtype=np.int64)
    position = np.zeros((slots, n, fits), dtype=np.int64)
    for g in range(slots):
        ranked = np.lexsort((-np.repeat(name_rank, fits), scores[:, g, :].reshape(-1)))  # ascending: worst first
        position[g].reshape(-1)[ranked] = np.arange(n * fits, dtype=np.int64)
    return position


class Ranking(Sequence[tuple[Outcome, float, Product]]):
    """Products in `match_one`'s order for one enterprise, as (outcome, fit score, product); items are built only
    when read, so taking a page of 20 out of thousands costs 20 tuples."""

    __slots__ = ("_order", "_outcome", "_products", "_score")

    def __init__(self, products: list[Product], order: _IP, outcome: _I8, score: np.ndarray[Any, Any]) -> None:
        self._products, self._order, self._outcome, self._score = products, order, outcome, score

    def __len__(self) -> int:
        return len(self._order)

    def _item(self, i: int) -> tuple[Outcome, float, Product]:
        return _OUTCOME_OF[int(self._outcome[i])], float(self._score[i]), self._products[i]

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self._item(i) for i in self._order[index].tolist()]
        return self._item(int(self._order[index]))

    def __iter__(self) -> Any:
        return (self._item(i) for i in self._order.tolist())

    def where(self, admitted: np.ndarray[Any, np.dtype[np.bool_]]) -> Ranking:
        """Only the products whose `admitted` flag (indexed like `Matcher.products`) is set, in the same order."""
        return Ranking(self._products, self._order[admitted[self._order]], self._outcome, self._score)

    def eligible_only(self) -> Ranking:
        """Only the products the enterprise qualifies for."""
        return self.where(self._outcome == PASS)

    @property
    def eligible(self) -> int:
        """How many of the ranked products the enterprise qualifies for."""
        return int(np.count_nonzero(self._outcome[self._order] == PASS))


class Matcher:
    """The single-enterprise fast path: products compiled once; `rank` decides and orders every product without
    building reasons, `explain` builds the full `Match` (reasons, estimate) for those shown.

    Compilation groups the products by each rule's value (`rule_values`: a few dozen distinct region lists, grade
    floors …, not thousands) and tabulates each product's fit score per grade slot and fit (`fit_table`) with its
    rank position (`rank_positions`). `rank` then decides each distinct rule value once in Python (`decide`, as
    the batch path does), spreads the outcomes over the products with numpy gathers and minimums, and orders them
    by one integer key: exactly `match_one`'s order, outcomes and scores (tests check it); keep one Matcher per
    product list.
    """

    def __init__(self, products: Sequence[Product]) -> None:
        self.products = list(products)
        n = len(self.products)
        rules: dict[str, dict[Any, int]] = {kind: {} for kind in RULE_KINDS}
        index = {kind: np.full(n, -1, dtype=np.intp) for kind in RULE_KINDS}
        amounts: dict[tuple[Decimal, Decimal], int] = {}
        terms: dict[tuple[int, int], int] = {}
        amount_index, term_index = np.empty(n, dtype=np.intp), np.empty(n, dtype=np.intp)
        for i, p in enumerate(self.products):
            for kind, value in rule_values(p.terms.rules):
                index[kind][i] = rules[kind].setdefault(value, len(rules[kind]))
            amount_index[i] = amounts.setdefault((p.terms.amount_min, p.terms.amount_max), len(amounts))
            term_index[i] = terms.setdefault((p.terms.term_min, p.terms.term_max), len(terms))
        # "no rule" is the last slot of each kind's outcome vector, always PASS
        self._rules = [(kind, list(rules[kind]), np.where(index[kind] < 0, len(rules[kind]), index[kind])) for kind in RULE_KINDS]
        self._rules = [r for r in self._rules if r[1]]  # kinds no product uses cost nothing
        self._amounts, self._amount_index = list(amounts), amount_index
        self._terms, self._term_index = list(terms), term_index
        scores = np.array([fit_table(p.terms) for p in self.products], dtype=np.float64).reshape(n, GRADE_SLOTS, 4)
        self._scores = scores
        self._positions = rank_positions(self.products, scores)  # (grade slots, products, fits)
        self._big = max(4 * n, 1)
        self._rows = np.arange(n, dtype=np.intp)

    def rank(self, facts: SubjectFacts, *, as_of: date, wish: Wish | None = None) -> Ranking:
        """Every product with its outcome and fit score, best first."""
        wish = wish or Wish()
        n = len(self.products)
        facts_of = fact_values(facts, as_of=as_of)
        worst = np.full(n, PASS, dtype=np.int8)
        for kind, values, index in self._rules:
            fact = facts_of[kind]
            codes = np.array([decide(kind, v, fact) for v in values] + [PASS], dtype=np.int8)
            np.minimum(worst, codes[index], out=worst)
        amount = np.array(
            [2 if wish.amount is None or lo <= wish.amount <= hi else 0 for lo, hi in self._amounts] or [0], dtype=np.intp
        )
        term = np.array(
            [1 if wish.term_months is None or lo <= wish.term_months <= hi else 0 for lo, hi in self._terms] or [0],
            dtype=np.intp,
        )
        fit = amount[self._amount_index] + term[self._term_index]  # amount fit × 2 + term fit
        grade = facts_of["grade"]
        slot = len(GRADES) if grade is None else grade
        key = worst.astype(np.int64) * self._big + self._positions[slot, self._rows, fit]
        order: _IP = np.argsort(-key, kind="stable")
        return Ranking(self.products, order, worst, self._scores[self._rows, slot, fit])

    def explain(self, product: Product, facts: SubjectFacts, *, as_of: date, wish: Wish | None = None) -> Match:
        """The full match of one product: each rule's reason and the estimate."""
        return match_product(product, facts, as_of=as_of, wish=wish)
