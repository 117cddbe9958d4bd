"""The generative model: one enterprise's latent credit quality and every record it leaves behind."""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from random import Random
from typing import Final

from xinyidai.demodata import acts, vocab
from xinyidai.demodata.formats import iso, month_first_ordinal, month_index, period, resident_id, wan_from_fen
from xinyidai.demodata.world import LEVEL_CITY, LEVEL_COUNTY, Authority, Industry, Place, World
from xinyidai.kernel.uscc import ALPHABET, make_uscc

#: Rows of one enterprise, one list per file in ``files.FILES`` order.
Row = list[str]

SIZE_MICRO: Final = "micro"
SIZE_SMALL: Final = "small"
SIZE_MEDIUM: Final = "medium"

KIND_COMPANY: Final = "1"  # 企业 (USCC 91…)
KIND_SOLE: Final = "2"  # 个体工商户 (92…)
KIND_COOP: Final = "3"  # 农民专业合作社 (93…)

_YEAR = 365.25
#: Orders of the bijections that turn an enterprise index into a unique organisation-code body.
_MA_SPACE = 31**6
_MA_MULTIPLIER = 545_291_239  # coprime with 31; large, so neighbours look unrelated
_DIGIT_SPACE = 90_000_000
_DIGIT_MULTIPLIER = 53_471_161  # coprime with 2, 3 and 5
#: Organisation codes issued since the USCC reform (2015-10-01) look like MA5D6P3X.
_USCC_REFORM = date(2015, 10, 1).toordinal()

_COMPANY_SECTIONS = (
    ("F", 26.0), ("L", 14.0), ("C", 13.0), ("M", 10.0), ("I", 8.0), ("E", 7.0), ("G", 4.0), ("H", 3.0),
    ("K", 3.0), ("A", 2.0), ("O", 2.0), ("R", 2.0), ("P", 1.5), ("N", 1.0), ("Q", 1.0), ("D", 1.0),
    ("J", 0.5), ("B", 0.5),
)  # fmt: skip
_SOLE_SECTIONS = (("F", 55.0), ("H", 20.0), ("O", 15.0), ("C", 5.0), ("A", 5.0))
_SOLE_DIVISIONS = {"F": ("52",), "H": ("62",), "O": ("80", "81"), "C": ("13", "14", "18"), "A": ("01", "03")}
_IMPORT_PROPENSITY = {"C": 0.25, "F": 0.18, "G": 0.06, "I": 0.04, "M": 0.04}
_GAS_SECTIONS = frozenset({"C", "H", "D"})
#: Contribution bases are higher in the big coastal provinces.
_WAGE_FACTOR = {"11": 1.35, "31": 1.35, "44": 1.15, "33": 1.1, "32": 1.1}


def _cumulative(pairs: tuple[tuple[str, float], ...]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    keys: list[str] = []
    sums: list[float] = []
    total = 0.0
    for key, weight in pairs:
        total += weight
        keys.append(key)
        sums.append(total)
    return tuple(keys), tuple(sums)


_COMPANY_SECTION_PICK = _cumulative(_COMPANY_SECTIONS)
_SOLE_SECTION_PICK = _cumulative(_SOLE_SECTIONS)
_DEPARTMENT_PICK = _cumulative(tuple((str(i), float(w)) for i, (_, w, _) in enumerate(acts.OFFENCES)))
_ABNORMAL_PICK = _cumulative(tuple((str(i), float(w)) for i, w in enumerate(acts.ABNORMAL_WEIGHTS)))


def _pick(table: tuple[tuple[str, ...], tuple[float, ...]], rng: Random) -> str:
    keys, sums = table
    return keys[bisect_right(sums, rng.random() * sums[-1])]


@dataclass(frozen=True, slots=True)
class ModelParameters:
    """The knobs of the generative model; README.md explains each."""

    #: Latent quality q ~ Beta(quality_a, quality_b): mean about 0.71, a long tail of weak firms.
    quality_a: float = 4.0
    quality_b: float = 1.6
    #: P(default) = logistic(intercept + slope * (0.5 - q) + Normal(0, noise)).
    default_intercept: float = -1.85
    default_slope: float = 8.0
    default_noise: float = 0.6
    #: Monthly records cover between these many months before ``as_of``.
    min_periods: int = 12
    max_periods: int = 24
    #: Events (penalties, judgments, listings) reach back this many years.
    history_years: int = 5


def _poisson(rng: Random, mean: float) -> int:
    """Knuth's method: fine for the small means used here."""
    limit = math.exp(-mean)
    count = 0
    product = rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _between(rng: Random, low: int, high: int) -> int:
    """A uniform day in [low, high] (ordinals); callers ensure ``low <= high``."""
    return low + int(rng.random() * (high - low + 1))


def add_years(ordinal: int, years: int) -> int:
    """The same calendar day ``years`` later (29 February becomes 28 February)."""
    day = date.fromordinal(ordinal)
    try:
        return day.replace(year=day.year + years).toordinal()
    except ValueError:
        return day.replace(year=day.year + years, day=28).toordinal()


def add_months(ordinal: int, months: int) -> int:
    """The same day ``months`` later, clamped to the end of a shorter month."""
    day = date.fromordinal(ordinal)
    index = day.year * 12 + day.month - 1 + months
    year, month0 = divmod(index, 12)
    for dom in (day.day, 30, 29, 28):
        try:
            return date(year, month0 + 1, dom).toordinal()
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


#: Column positions in a penalty row (``files.ADMIN_PENALTY``): CF_WFXW and CF_JDRQ.
_PENALTY_BEHAVIOUR = 14
_PENALTY_DECIDED = 22
_SERIOUS_TAX_OFFENCES = frozenset(o.behaviour for o in acts.OFFENCES[1][2] if o.severity >= 3)

_ORDER_58_FROM = date(2023, 5, 1).toordinal()
_REPAIR_MEASURES_FROM = date(2026, 4, 1).toordinal()


def publication_end(decided_on: int, severity: int) -> int:
    """公示截止期 of a penalty: the maximum publication period of the rule in force on the decision date.

    2019 rule: general 1 year, serious 3 years; Order No. 58 (2023-05-01): 3 years;
    2026 measures (2026-04-01): minor 3 months, general 1 year, serious 3 years.
    """
    if decided_on < _ORDER_58_FROM:
        return add_years(decided_on, 3 if severity >= 3 else 1)
    if decided_on < _REPAIR_MEASURES_FROM:
        return add_years(decided_on, 3)
    if severity <= 1:
        return add_months(decided_on, 3)
    return add_years(decided_on, 3 if severity >= 3 else 1)


@dataclass(frozen=True, slots=True)
class _HeldLicence:
    """A licence row already drawn, so that a later penalty can suspend or revoke it."""

    certificate: str
    number: str
    decided: int
    department: str
    row: Row


#: Position of XK_ZT (当前状态) in a licence row.
_LICENCE_STATE = 24


@dataclass(slots=True)
class _Firm:
    """What later records of one enterprise need to know about it."""

    index: int
    uscc: str
    name: str
    kind: str
    size: str
    section: str
    place: Place
    quality: float
    established: int
    #: Last day it operated: the deregistration/revocation date, else ``as_of``.
    active_until: int
    ended: bool
    headcount: int
    rep_name: str
    rep_id: str
    subject_category: str
    licences: list[_HeldLicence]


class EnterpriseModel:
    """Draws enterprise ``index`` of a run and all its records; the same inputs always give the same rows."""

    def __init__(self, *, world: World, seed: int, as_of: date, parameters: ModelParameters | None = None) -> None:
        self.world = world
        self.seed = seed
        self.as_of = as_of
        self.params = parameters or ModelParameters()
        self._as_of = as_of.toordinal()
        # The last month whose tax (due the 15th) and bills (due the 20th) have fallen due by ``as_of``.
        self._last_month = month_index(as_of) - (1 if as_of.day >= 20 else 2)
        self._names = vocab.name_pools()
        self._faker_trade_names = vocab.faker_trade_names()
        self._streets = vocab.street_words()
        # Different seeds put the same index on different organisation-code bodies.
        offset_rng = Random(f"xinyidai-demodata-bodies:{seed}")
        self._ma_offset = int(offset_rng.random() * _MA_SPACE)
        self._digit_offset = int(offset_rng.random() * _DIGIT_SPACE)

    # --- identity -------------------------------------------------------------------------------

    def org_body(self, index: int, established: int) -> str:
        """A unique 8-character organisation-code body for enterprise ``index``.

        Two bijections of the index: ``MA`` + 6 alphabet characters for firms set
        up after the 2015 reform, 8 digits 10000000–99999999 before it. The forms
        never overlap, and authorities' bodies (``00…``) are outside both.
        """
        if index >= _DIGIT_SPACE:
            raise ValueError(f"at most {_DIGIT_SPACE} enterprises per run")
        if established >= _USCC_REFORM:
            number = (index * _MA_MULTIPLIER + self._ma_offset) % _MA_SPACE
            chars = []
            for _ in range(6):
                number, digit = divmod(number, 31)
                chars.append(ALPHABET[digit])
            return "MA" + "".join(reversed(chars))
        return str(10_000_000 + (index * _DIGIT_MULTIPLIER + self._digit_offset) % _DIGIT_SPACE)

    def _person(self, rng: Random, place: Place, established: int) -> tuple[str, str]:
        """A legal representative's name and resident ID number (aged 22–55 when the firm was set up)."""
        pools = self._names
        r = rng.random
        male = r() < 0.72
        surname = pools.surnames[bisect_right(pools.surname_cumulative, r() * pools.surname_cumulative[-1])]
        if r() < 0.55:
            given_pool = pools.male_given if male else pools.female_given
            given = given_pool[int(r() * len(given_pool))]
        else:
            singles = pools.male_single if male else pools.female_single
            given = singles[int(r() * len(singles))] + singles[int(r() * len(singles))]
        birth = established - int((22 + r() * 33) * _YEAR)
        birth = max(birth, date(1940, 1, 1).toordinal())
        home = place if r() < 0.75 else self.world.pick_place(rng)
        sequence = 2 * int(r() * 499) + (1 if male else 2)
        return surname + given, resident_id(home.code, date.fromordinal(birth), sequence)

    def _trade_name(self, rng: Random) -> str:
        r = rng.random
        if r() < 0.3:
            return self._faker_trade_names[int(r() * len(self._faker_trade_names))]
        chars = vocab.TRADE_NAME_CHARS
        first = chars[int(r() * len(chars))]
        second = chars[int(r() * len(chars))]
        while second == first:
            second = chars[int(r() * len(chars))]
        return first + second

    def _address(self, rng: Random, place: Place, kind: str) -> str:
        r = rng.random
        street = self._streets[int(r() * len(self._streets))] + vocab.STREET_SUFFIXES[int(r() * 10)]
        number = 1 + int(r() * 300)
        if kind == KIND_COOP:
            return f"{place.full_name}{street}{number}号"
        if kind == KIND_SOLE:
            return f"{place.full_name}{street}{number}号{1 + int(r() * 3)}层商铺"
        building = self._trade_name(rng) + vocab.BUILDING_WORDS[int(r() * len(vocab.BUILDING_WORDS))]
        floor = 1 + int(r() * 28)
        return f"{place.full_name}{street}{number}号{building}{floor}{1 + int(r() * 20):02d}室"

    # --- one enterprise -------------------------------------------------------------------------

    def enterprise(self, index: int) -> list[list[Row]]:
        """Every row enterprise ``index`` contributes, one list per file (``files.FILES`` order)."""
        rng = Random(f"xinyidai-demodata:{self.seed}:{index}")
        r = rng.random
        params = self.params
        quality = rng.betavariate(params.quality_a, params.quality_b)
        bad = 1.0 - quality
        place = self.world.pick_place(rng)

        u = r()
        kind = KIND_COMPANY if u < 0.80 else KIND_SOLE if u < 0.97 else KIND_COOP
        industry: Industry
        if kind == KIND_COMPANY:
            section = _pick(_COMPANY_SECTION_PICK, rng)
            industry = self.world.pick_industry(rng, section)
            u = r()
            size = SIZE_MICRO if u < 0.68 else SIZE_SMALL if u < 0.92 else SIZE_MEDIUM
        elif kind == KIND_SOLE:
            section = _pick(_SOLE_SECTION_PICK, rng)
            industry = self.world.pick_industry(rng, section, _SOLE_DIVISIONS[section])
            size = SIZE_MICRO
        else:
            section = "A"
            industry = self.world.pick_industry(rng, section, ("01", "02", "03", "04", "05"))
            size = SIZE_MICRO if r() < 0.85 else SIZE_SMALL
        if size == SIZE_MICRO:
            headcount = 1 + int(r() * (5 if kind == KIND_SOLE else 9))
        elif size == SIZE_SMALL:
            headcount = min(99, 10 + int(rng.expovariate(1 / 22)))
        else:
            headcount = min(299, 100 + int(rng.expovariate(1 / 60)))

        # Older firms are better on average (survivorship); at least ~2 months old.
        age_years = min(30.0, 0.2 + rng.expovariate(1 / (2.5 + 7 * quality)))
        established = self._as_of - int(age_years * _YEAR)

        status = vocab.STATUS_ACTIVE if kind == KIND_COMPANY else vocab.STATUS_OPERATING
        active_until = self._as_of
        ended = False
        u = r()
        p_revoked = 0.004 + 0.12 * bad**3
        end_low, end_high = established + 365, self._as_of - 30
        if end_low <= end_high:
            if u < p_revoked:
                status = vocab.STATUS_REVOKED
            elif u < p_revoked + 0.03:
                status = vocab.STATUS_CANCELLED
            elif u < p_revoked + 0.036:
                status = vocab.STATUS_MOVED_OUT
            elif u < p_revoked + 0.040:
                status = vocab.STATUS_SUSPENDED
            if status not in (vocab.STATUS_ACTIVE, vocab.STATUS_OPERATING):
                ended = True
                active_until = _between(rng, end_low, end_high)

        rep_name, rep_id = self._person(rng, place, established)
        body = self.org_body(index, established)
        uscc = make_uscc("9", kind, place.code, body)

        trade = self._trade_name(rng)
        if kind == KIND_COMPANY:
            words = vocab.INDUSTRY_WORDS[section]
            word = words[int(r() * len(words))]
            u = r()
            if (size == SIZE_MEDIUM and u < 0.25) or u < 0.03:
                entity_type = vocab.ENTITY_TYPES_COMPANY[3]
                name = f"{place.city}{trade}{word}股份有限公司"
            elif u < 0.10:
                entity_type = vocab.ENTITY_TYPES_COMPANY[4]
                name = f"{place.label}{trade}{word}经营部"
            elif u < 0.12:
                entity_type = vocab.ENTITY_TYPES_COMPANY[5]
                name = f"{place.city}{trade}{word}合伙企业（普通合伙）"
            else:
                entity_type = vocab.ENTITY_TYPES_COMPANY[0 if u < 0.70 else 1 if u < 0.93 else 2]
                name = f"{place.city}{trade}{word}有限公司"
            capital_wan = (
                (10, 30, 50, 100, 100, 200, 300, 500)[int(r() * 8)]
                if size == SIZE_MICRO
                else (100, 200, 500, 800, 1000, 2000)[int(r() * 6)]
                if size == SIZE_SMALL
                else (1000, 2000, 3000, 5000, 10000)[int(r() * 5)]
            )
            capital_yuan = capital_wan * 10_000
            subject_category = vocab.SUBJECT_LEGAL
        elif kind == KIND_SOLE:
            shops = vocab.SHOP_WORDS.get(section, vocab.SHOP_FALLBACK)
            name = f"{place.label}{trade}{shops[int(r() * len(shops))]}"
            entity_type = vocab.ENTITY_TYPE_SOLE
            capital_yuan = (1 + int(r() * 50)) * 10_000
            subject_category = vocab.SUBJECT_SOLE
        else:
            product = vocab.COOP_PRODUCTS[int(r() * len(vocab.COOP_PRODUCTS))]
            activity = vocab.COOP_ACTIVITIES[int(r() * len(vocab.COOP_ACTIVITIES))]
            name = f"{place.label}{trade}{product}{activity}专业合作社"
            entity_type = vocab.ENTITY_TYPE_COOP
            capital_yuan = (10 + int(r() * 490)) * 10_000
            subject_category = vocab.SUBJECT_LEGAL

        registrar = self.world.authority(acts.MARKET, place, LEVEL_COUNTY if r() < 0.8 else LEVEL_CITY)
        registration = [
            uscc,
            name,
            entity_type,
            rep_name,
            vocab.ID_TYPE_RESIDENT,
            rep_id,
            wan_from_fen(capital_yuan * 100),
            iso(established),
            place.code,
            industry.code,
            self._address(rng, place, kind),
            vocab.BUSINESS_SCOPES[section],
            status,
            registrar.name,
        ]
        firm = _Firm(
            index=index,
            uscc=uscc,
            name=name,
            kind=kind,
            size=size,
            section=section,
            place=place,
            quality=quality,
            established=established,
            active_until=active_until,
            ended=ended,
            headcount=headcount,
            rep_name=rep_name,
            rep_id=rep_id,
            subject_category=subject_category,
            licences=[],
        )

        licences = self._licences(rng, firm)
        penalties = self._penalties(rng, firm, status)
        tax_rows, overdue_by_year = self._taxes(rng, firm)
        judgments, dishonest = self._courts(rng, firm)
        grades = self._tax_grades(rng, firm, overdue_by_year, penalties, bool(dishonest))
        social_rows, insured = self._social_insurance(rng, firm)
        housing_rows = self._housing_fund(rng, firm, insured)
        utility_rows = self._utilities(rng, firm)
        abnormal = self._abnormal(rng, firm, status)
        customs = self._customs(rng, firm)
        honours = self._honours(rng, firm, bool(dishonest) or bool(abnormal))

        z = params.default_intercept + params.default_slope * (0.5 - quality) + rng.gauss(0.0, params.default_noise)
        defaulted = r() < 1.0 / (1.0 + math.exp(-z))
        outcome = [uscc, f"{quality:.4f}", "1" if defaulted else "0"]

        return [
            [registration],
            licences,
            penalties,
            tax_rows,
            grades,
            social_rows,
            housing_rows,
            utility_rows,
            judgments,
            dishonest,
            abnormal,
            customs,
            honours,
            [outcome],
        ]

    # --- windows --------------------------------------------------------------------------------

    def _months(self, rng: Random, firm: _Firm) -> range:
        """The consecutive months a monthly file covers for this firm (possibly none)."""
        last = min(self._last_month, month_index(date.fromordinal(firm.active_until)) - 1)
        first_possible = month_index(date.fromordinal(firm.established)) + 1
        wanted = self.params.min_periods + int(rng.random() * (self.params.max_periods - self.params.min_periods + 1))
        return range(max(first_possible, last - wanted + 1), last + 1)

    def _event_window(self, firm: _Firm, after_days: int = 30) -> tuple[int, int]:
        low = max(firm.established + after_days, add_years(self._as_of, -self.params.history_years))
        return low, firm.active_until

    # --- 行政许可 ---------------------------------------------------------------------------------

    def _subject_fields(self, firm: _Firm) -> list[str]:
        """相对人 columns shared by the 双公示 formats: name … 法定代表人证件号码, 相对人证件 (empty for organisations)."""
        return [
            firm.name, firm.subject_category, firm.uscc, "", "", "", "", "",
            firm.rep_name, vocab.ID_TYPE_RESIDENT, firm.rep_id, "", "",
        ]  # fmt: skip

    def _licences(self, rng: Random, firm: _Firm) -> list[Row]:
        r = rng.random
        cap = 3 if firm.kind == KIND_COMPANY else 2 if firm.kind == KIND_SOLE else 1
        count = min(cap, _poisson(rng, 0.25 + 1.3 * firm.quality))
        if count == 0:
            return []
        choices = list(acts.LICENCES_BY_SECTION.get(firm.section, acts.LICENCES_FALLBACK))
        rows: list[Row] = []
        subject = self._subject_fields(firm)
        for j in range(min(count, len(choices))):
            licence = choices.pop(int(r() * len(choices)))
            span = licence.valid_years
            # The certificate now on file: issued within one validity span before the end of operation.
            low = max(firm.established + 15, add_years(firm.active_until, -span))
            if low > firm.active_until:
                continue
            decided = _between(rng, low, firm.active_until)
            valid_to = add_years(decided, span) - 1
            level = licence.level if licence.level != "county" else (LEVEL_COUNTY if r() < 0.7 else LEVEL_CITY)
            authority = self.world.authority(licence.department, firm.place, level)
            year = date.fromordinal(decided).year
            serial = firm.index * 4 + j + 1
            valid = valid_to >= self._as_of and not firm.ended
            number = f"{licence.number_prefix}{firm.place.code}{serial:08d}"
            row = [
                *subject,
                "准予行政许可决定书",
                f"{authority.doc_prefix}许〔{year}〕{serial}号",
                licence.category,
                licence.certificate,
                number,
                f"准予核发{licence.certificate}，许可范围：{licence.content}",
                iso(decided),
                iso(decided),
                iso(valid_to),
                authority.name,
                authority.uscc,
                "有效" if valid else "无效",
                authority.name,
                authority.uscc,
                "",
            ]  # fmt: skip
            rows.append(row)
            firm.licences.append(_HeldLicence(licence.certificate, number, decided, licence.department.key, row))
        return rows

    # --- 行政处罚 ---------------------------------------------------------------------------------

    def _penalties(self, rng: Random, firm: _Firm, status: str) -> list[Row]:
        r = rng.random
        bad = 1.0 - firm.quality
        mean = 0.02 + 1.6 * bad**3 + (0.08 * bad if firm.section in ("C", "E", "G", "H") else 0.0)
        count = min(9, _poisson(rng, mean))
        rows: list[Row] = []
        low, high = self._event_window(firm)
        subject = self._subject_fields(firm)
        serial_base = firm.index * 10
        if low <= high:
            for j in range(count):
                department, _, offences = acts.OFFENCES[int(_pick(_DEPARTMENT_PICK, rng))]
                offence = offences[int(r() * len(offences))]
                # Serious offences are mostly committed by weak firms.
                if offence.severity >= 3 and r() > bad:
                    offence = offences[0]
                decided = _between(rng, low, high)
                level = LEVEL_COUNTY if r() < 0.75 else LEVEL_CITY
                authority = self.world.authority(department, firm.place, level)
                rows.append(self._penalty_row(rng, firm, subject, department, offence, authority, decided, serial_base + j + 1))
        if status == vocab.STATUS_REVOKED:
            # A revoked licence to do business is itself a published penalty, decided on the revocation date.
            authority = self.world.authority(acts.MARKET, firm.place, LEVEL_COUNTY)
            decided = firm.active_until
            rows.append([
                *subject,
                f"{authority.doc_prefix}罚〔{date.fromordinal(decided).year}〕{serial_base + 10}号",
                "成立后无正当理由超过6个月未开业或开业后自行停业连续6个月以上",
                "企业成立后无正当理由超过六个月未开业，或者开业后自行停业连续六个月以上",
                "《中华人民共和国市场主体登记管理条例》第四十六条",
                acts.SANCTION_REVOKE_LICENCE,
                "吊销营业执照",
                "",
                "",
                f"营业执照（{firm.uscc}）",
                iso(decided),
                "2099-12-31",
                iso(publication_end(decided, 3)),
                authority.name,
                authority.uscc,
                authority.name,
                authority.uscc,
                "",
            ])  # fmt: skip
        return rows

    def _penalty_row(
        self,
        rng: Random,
        firm: _Firm,
        subject: list[str],
        department: acts.Department,
        offence: acts.Offence,
        authority: Authority,
        decided: int,
        serial: int,
    ) -> Row:
        r = rng.random
        categories: list[str] = []
        content: list[str] = []
        fine = confiscated = 0
        certificate = ""
        valid_until = "2099-12-31"
        if offence.severity == 1 and r() < 0.35:
            categories.append(acts.SANCTION_WARNING)
            content.append("警告")
        else:
            step = 100 if offence.fine_max_yuan <= 10_000 else 1_000
            fine = offence.fine_min_yuan + int(r() * (offence.fine_max_yuan - offence.fine_min_yuan) / step) * step
            categories.append(acts.SANCTION_FINE)
            content.append(f"罚款人民币{fine}元")
        if offence.severity >= 2 and r() < 0.4:
            confiscated = 200 + int(r() * max(1, fine))
            categories.append(acts.SANCTION_CONFISCATE)
            content.append(f"没收违法所得人民币{confiscated}元")
        if offence.severity >= 3:
            u = r()
            # Only the department that granted a licence suspends or revokes it, and only once granted.
            held = next((h for h in firm.licences if h.decided < decided and h.department == department.key), None)
            if held is not None and u < 0.25:
                certificate = f"{held.certificate}（{held.number}）"
                categories.append(acts.SANCTION_SUSPEND_LICENCE)
                content.append(f"暂扣{held.certificate}三个月")
                valid_until = iso(add_months(decided, 3))
            elif held is not None and u < 0.40:
                certificate = f"{held.certificate}（{held.number}）"
                categories.append(acts.SANCTION_REVOKE_LICENCE)
                content.append(f"吊销{held.certificate}")
                held.row[_LICENCE_STATE] = "无效"
            elif u < 0.65:
                categories.append(acts.SANCTION_SUSPEND_BUSINESS)
                content.append("责令停产停业整顿六个月")
                valid_until = iso(add_months(decided, 6))
        year = date.fromordinal(decided).year
        return [
            *subject,
            f"{authority.doc_prefix}罚〔{year}〕{serial}号",
            offence.behaviour,
            f"当事人{firm.name}{offence.fact}，违反了相关规定。",
            offence.basis,
            ";".join(categories),
            "，".join(content),
            wan_from_fen(fine * 100) if fine else "",
            wan_from_fen(confiscated * 100) if confiscated else "",
            certificate,
            iso(decided),
            valid_until,
            iso(publication_end(decided, offence.severity)),
            authority.name,
            authority.uscc,
            authority.name,
            authority.uscc,
            "",
        ]

    # --- 纳税 -------------------------------------------------------------------------------------

    def _taxes(self, rng: Random, firm: _Firm) -> tuple[list[Row], dict[int, int]]:
        r = rng.random
        overdue_by_year: dict[int, int] = {}
        coverage = 0.95 if firm.kind == KIND_COMPANY else 0.8 if firm.kind == KIND_SOLE else 0.7
        if r() >= coverage:
            return [], overdue_by_year
        months = self._months(rng, firm)
        if not months:
            return [], overdue_by_year
        bad = 1.0 - firm.quality
        general = firm.kind == KIND_COMPANY and (firm.size != SIZE_MICRO or r() < 0.15)
        mu = {SIZE_MICRO: 10.8, SIZE_SMALL: 13.3, SIZE_MEDIUM: 15.4}[firm.size] - (1.0 if firm.kind != KIND_COMPANY else 0.0)
        revenue_base = math.exp(rng.gauss(mu, 0.7))  # yuan a month
        trend = (firm.quality - 0.55) * 0.3 / 12  # log-growth a month
        margin = max(0.0, rng.gauss(0.04 + 0.12 * (firm.quality - 0.5), 0.04))
        p_late = 0.004 + 0.45 * bad**3
        late_scale = 5 + 90 * bad
        withholding = firm.kind == KIND_COMPANY and firm.size != SIZE_MICRO
        uscc = firm.uscc
        as_of = self._as_of
        rows: list[Row] = []
        quarter_revenue = 0.0
        start = months.start
        for month in months:
            revenue = revenue_base * math.exp(trend * (month - start)) * (0.75 + 0.5 * r())
            quarter_revenue += revenue
            due: list[tuple[str, int]] = []
            quarter_end = month % 3 == 2
            if general:
                vat = int(revenue * (0.02 + 0.03 * r()) * 100)
                due.append((acts.TAX_TYPES_VAT, vat))
                due.append((acts.TAX_TYPES_CITY, vat * 7 // 100))
            elif quarter_end:
                # Small-scale taxpayers file quarterly; 300,000 yuan a quarter or less is exempt.
                vat = 0 if quarter_revenue <= 300_000 else int(quarter_revenue * 0.01 * 100)
                due.append((acts.TAX_TYPES_VAT, vat))
                if vat:
                    due.append((acts.TAX_TYPES_CITY, vat * 7 // 100))
            if quarter_end:
                if firm.kind == KIND_COMPANY:
                    rate = 0.05 if firm.size != SIZE_MEDIUM else 0.25
                    due.append((acts.TAX_TYPES_CIT, int(quarter_revenue * margin * rate * 100)))
                quarter_revenue = 0.0
            if withholding:
                due.append((acts.TAX_TYPES_IIT, int(firm.headcount * (80 + 400 * r()) * 100)))
            if not due:
                continue
            deadline = month_first_ordinal(month + 1) + 14
            text_period = period(month)
            for tax_type, amount in due:
                declared = deadline - int(r() * 14)
                paid = declared
                overdue = 0
                if r() < p_late:
                    paid = deadline + 1 + int(rng.expovariate(1 / late_scale))
                    if r() < 0.5:
                        declared = paid
                    if paid > as_of:
                        paid = 0
                    overdue = (paid or as_of) - deadline
                    year = date.fromordinal(deadline).year
                    overdue_by_year[year] = overdue_by_year.get(year, 0) + 1
                rows.append([
                    uscc,
                    text_period,
                    tax_type,
                    wan_from_fen(amount) if paid else "0",
                    iso(min(declared, as_of)),
                    iso(paid) if paid else "",
                    str(overdue),
                ])  # fmt: skip
        return rows, overdue_by_year

    def _tax_grades(
        self, rng: Random, firm: _Firm, overdue_by_year: dict[int, int], penalties: list[Row], dishonest: bool
    ) -> list[Row]:
        if firm.kind == KIND_SOLE or (firm.kind == KIND_COOP and rng.random() < 0.7):
            return []
        r = rng.random
        serious_tax_years = {
            int(row[_PENALTY_DECIDED][:4]) for row in penalties if row[_PENALTY_BEHAVIOUR] in _SERIOUS_TAX_OFFENCES
        }
        rows: list[Row] = []
        established_year = date.fromordinal(firm.established).year
        for year in range(self.as_of.year - 3, self.as_of.year):
            evaluated = date(year + 1, 4, 8 + int(r() * 18)).toordinal()
            if year < established_year or evaluated > self._as_of or evaluated > firm.active_until:
                continue
            overdue = overdue_by_year.get(year, 0)
            score = firm.quality + rng.gauss(0.0, 0.07) - 0.12 * overdue
            if year in serious_tax_years:
                grade = "D"
            elif year == established_year or (firm.size == SIZE_MICRO and r() < 0.3):
                # 新设立 or no operating revenue in the year.
                grade = "M"
            elif score >= 0.86 and overdue == 0:
                grade = "A"
            elif score >= 0.5:
                grade = "B"
            elif score >= 0.3:
                grade = "C"
            else:
                grade = "D"
            if dishonest and grade in ("A", "B"):
                grade = "C"
            rows.append([firm.uscc, str(year), grade, iso(evaluated)])
        return rows

    # --- 社保 / 公积金 / 水电气 ----------------------------------------------------------------------

    def _social_insurance(self, rng: Random, firm: _Firm) -> tuple[list[Row], int]:
        r = rng.random
        coverage = {KIND_COMPANY: 0.88, KIND_SOLE: 0.15, KIND_COOP: 0.1}[firm.kind]
        if r() >= coverage:
            return [], 0
        months = self._months(rng, firm)
        if not months:
            return [], 0
        bad = 1.0 - firm.quality
        per_person = int((1100 + 1500 * r()) * _WAGE_FACTOR.get(firm.place.code[:2], 1.0) * 100)  # fen
        insured = max(1, int(firm.headcount * (0.6 + 0.4 * r())))
        step = max(1, insured // 40)
        p_start = 0.002 + 0.12 * bad**3
        p_stay = 0.4 + 0.55 * bad
        in_arrears = False
        drift = 0.45 + 0.1 * firm.quality  # chance a change in headcount is a hire
        rows: list[Row] = []
        uscc = firm.uscc
        headcount_text = str(insured)
        contribution = insured * per_person
        contribution_text = wan_from_fen(contribution)
        for month in months:
            if r() < 0.2:
                insured = max(1, insured + (step if r() < drift else -step))
                headcount_text = str(insured)
                contribution = insured * per_person
                contribution_text = wan_from_fen(contribution)
            in_arrears = r() < (p_stay if in_arrears else p_start)
            arrears_text = wan_from_fen(int(contribution * (0.2 + 0.8 * r()))) if in_arrears else "0"
            rows.append([uscc, period(month), headcount_text, contribution_text, arrears_text])
        return rows, insured

    def _housing_fund(self, rng: Random, firm: _Firm, insured: int) -> list[Row]:
        r = rng.random
        base = {SIZE_MICRO: 0.2, SIZE_SMALL: 0.55, SIZE_MEDIUM: 0.85}[firm.size]
        if firm.kind != KIND_COMPANY:
            base = 0.03
        if r() >= base * (0.6 + 0.6 * firm.quality):
            return []
        months = self._months(rng, firm)
        if not months:
            return []
        bad = 1.0 - firm.quality
        depositors = max(1, int((insured or firm.headcount) * (0.5 + 0.5 * r())))
        wage = (3500 + 8000 * r()) * _WAGE_FACTOR.get(firm.place.code[:2], 1.0)
        rate = (5 + int(r() * 8)) / 100  # 5%–12% each from employer and employee
        per_person = int(wage * rate * 2 * 100)
        p_start = 0.002 + 0.08 * bad**3
        p_stay = 0.5 + 0.45 * bad
        arrears_months = 0
        rows: list[Row] = []
        uscc = firm.uscc
        hire = 0.5 + 0.1 * firm.quality
        count_text, amount_text = str(depositors), wan_from_fen(depositors * per_person)
        for month in months:
            if r() < 0.1:
                depositors = max(1, depositors + (1 if r() < hire else -1))
                count_text, amount_text = str(depositors), wan_from_fen(depositors * per_person)
            if r() < (p_stay if arrears_months else p_start):
                arrears_months += 1
            else:
                arrears_months = 0
            rows.append([uscc, period(month), count_text, amount_text, str(arrears_months)])
        return rows

    def _utilities(self, rng: Random, firm: _Firm) -> list[Row]:
        r = rng.random
        bad = 1.0 - firm.quality
        coverage = {KIND_COMPANY: 0.6, KIND_SOLE: 0.5, KIND_COOP: 0.4}[firm.kind]
        if r() >= coverage:
            return []
        months = self._months(rng, firm)
        if not months:
            return []
        mu = {SIZE_MICRO: 7.3, SIZE_SMALL: 9.6, SIZE_MEDIUM: 11.7}[firm.size] + (1.0 if firm.section == "C" else 0.0)
        electricity = math.exp(rng.gauss(mu, 0.6))
        bills: list[tuple[str, float]] = [("electricity", electricity)]
        if r() < 0.75:
            bills.append(("water", electricity * (0.08 + 0.12 * r())))
        if firm.section in _GAS_SECTIONS and r() < 0.5:
            bills.append(("gas", electricity * (0.2 + 0.3 * r())))
        bills.sort(key=lambda bill: acts.UTILITIES.index(bill[0]))
        p_late = 0.008 + 0.4 * bad**3
        late_scale = 4 + 50 * bad
        as_of = self._as_of
        uscc = firm.uscc
        rows: list[Row] = []
        for utility, level in bills:
            for month in months:
                due_fen = int(level * (0.8 + 0.4 * r()) * 100)
                due_text = wan_from_fen(due_fen)
                if r() >= p_late:
                    rows.append([uscc, utility, period(month), due_text, due_text, "true", "0"])
                    continue
                # Bills fall due on the 20th of the following month.
                due_on = month_first_ordinal(month + 1) + 19
                days_late = 1 + int(rng.expovariate(1 / late_scale))
                paid_text = due_text
                if due_on + days_late > as_of:
                    days_late = max(1, as_of - due_on)
                    paid_text = "0"
                elif r() < 0.15:
                    paid_text = wan_from_fen(int(due_fen * (0.3 + 0.6 * r())))
                rows.append([uscc, utility, period(month), due_text, paid_text, "false", str(days_late)])
        return rows

    # --- 司法 -------------------------------------------------------------------------------------

    def _court(self, rng: Random, firm: _Firm) -> Place:
        return firm.place if rng.random() < 0.85 else self.world.pick_place(rng)

    def _courts(self, rng: Random, firm: _Firm) -> tuple[list[Row], list[Row]]:
        r = rng.random
        bad = 1.0 - firm.quality
        judgments: list[Row] = []
        dishonest: list[Row] = []
        low, high = self._event_window(firm, after_days=180)
        if low > high:
            return judgments, dishonest
        serial = firm.index * 10
        as_defendant = min(4, _poisson(rng, 0.03 + 1.1 * bad**3))
        as_plaintiff = min(3, _poisson(rng, (0.04 + 0.12 * firm.quality) * (1.0 if firm.kind == KIND_COMPANY else 0.3)))
        roles = [acts.ROLE_DEFENDANT] * as_defendant + [acts.ROLE_PLAINTIFF] * as_plaintiff
        for role in roles:
            serial += 1
            court = self._court(rng, firm)
            decided = _between(rng, low, high)
            year = date.fromordinal(decided).year
            amount = self._claim_yuan(rng, firm)
            if r() < 0.04:
                # A firm sues an authority of its own place.
                court = firm.place
                case_type, kind_code = "行政", "行初"
                cause = acts.ADMINISTRATIVE_CAUSES[int(r() * len(acts.ADMINISTRATIVE_CAUSES))]
                role = acts.ROLE_PLAINTIFF
                amount = 0
            else:
                case_type, kind_code = "民事", "民初"
                cause = acts.CIVIL_CAUSES[int(r() * len(acts.CIVIL_CAUSES))]
            u = r()
            # Weak defendants lose more often; strong plaintiffs win more often.
            win_for_plaintiff = 0.55 + 0.35 * bad if role == acts.ROLE_DEFENDANT else 0.45 + 0.35 * firm.quality
            if u < win_for_plaintiff:
                result = acts.RESULTS_FOR_PLAINTIFF[int(r() * 2)]
            elif u < win_for_plaintiff + (1 - win_for_plaintiff) * 0.6:
                result = acts.RESULTS_NEUTRAL[int(r() * 2)]
            else:
                result = acts.RESULT_DISMISSED
            judgments.append([
                firm.uscc,
                f"（{year}）{court.court_code}{kind_code}{serial}号",
                f"{court.label}人民法院",
                case_type,
                cause,
                role,
                wan_from_fen(amount * 100) if amount else "",
                iso(decided),
                result,
            ])  # fmt: skip

        # 失信被执行人: a judgment the firm lost, not performed, then listed by the executing court.
        if r() < 0.003 + 0.9 * bad**3.5:
            listed_low = max(low + 240, firm.established + 365)
            listed_high = min(high, self._as_of - 1)
            if listed_low <= listed_high:
                listed = _between(rng, listed_low, listed_high)
                decided = max(low, listed - 60 - int(r() * 240))
                court = self._court(rng, firm)
                amount = self._claim_yuan(rng, firm)
                cause = acts.CIVIL_CAUSES[int(r() * 6)]
                serial += 1
                judgments.append([
                    firm.uscc,
                    f"（{date.fromordinal(decided).year}）{court.court_code}民初{serial}号",
                    f"{court.label}人民法院",
                    "民事",
                    cause,
                    acts.ROLE_DEFENDANT,
                    wan_from_fen(amount * 100),
                    iso(decided),
                    acts.RESULTS_FOR_PLAINTIFF[0],
                ])  # fmt: skip
                removed = ""
                if r() < 0.25 + 0.4 * firm.quality:
                    removed_on = listed + 20 + int(rng.expovariate(1 / 200))
                    if removed_on <= self._as_of:
                        removed = iso(removed_on)
                status = acts.PERFORMANCE_FULL if removed else (
                    acts.PERFORMANCE_PARTIAL if r() < 0.25 else acts.PERFORMANCE_NONE
                )  # fmt: skip
                dishonest.append([
                    firm.uscc,
                    firm.name,
                    f"（{date.fromordinal(listed).year}）{court.court_code}执{serial}号",
                    f"{court.label}人民法院",
                    f"支付{cause.removesuffix('纠纷')}款项人民币{amount}元及迟延履行期间的债务利息",
                    status,
                    iso(listed),
                    removed,
                ])  # fmt: skip
        return judgments, dishonest

    def _claim_yuan(self, rng: Random, firm: _Firm) -> int:
        mu = {SIZE_MICRO: 11.0, SIZE_SMALL: 12.5, SIZE_MEDIUM: 14.0}[firm.size]
        return max(1_000, min(50_000_000, int(math.exp(rng.gauss(mu, 1.1)))))

    # --- 经营异常 / 海关 / 荣誉 ----------------------------------------------------------------------

    def _abnormal(self, rng: Random, firm: _Firm, status: str) -> list[Row]:
        r = rng.random
        bad = 1.0 - firm.quality
        revoked = status == vocab.STATUS_REVOKED
        if not (revoked and r() < 0.7) and r() >= 0.015 + 0.45 * bad**2.5:
            return []
        low = max(firm.established + 365, add_years(self._as_of, -self.params.history_years))
        high = min(firm.active_until, self._as_of - 1)
        if revoked:
            # The listing precedes the revocation: a firm that stopped operating stops filing reports.
            high = min(high, firm.active_until - 60)
        if low > high:
            return []
        reason_index = 0 if revoked else int(_pick(_ABNORMAL_PICK, rng))
        reason, removal_reason = acts.ABNORMAL_REASONS[reason_index]
        listed = _between(rng, low, high)
        if reason_index == 0:
            # Annual reports are due by 30 June; listings follow in July and August.
            years = [
                y for y in range(date.fromordinal(low).year, date.fromordinal(high).year + 1)
                if low <= date(y, 7, 1).toordinal() and date(y, 8, 31).toordinal() <= high
            ]  # fmt: skip
            if years:
                july = date(years[-1 - int(r() * min(3, len(years)))], 7, 1).toordinal()
                listed = _between(rng, july, july + 61)
        authority = self.world.authority(acts.MARKET, firm.place, LEVEL_COUNTY)
        removed = ""
        removal = ""
        if not revoked and not firm.ended and r() < 0.2 + 0.5 * firm.quality:
            removed_on = listed + 10 + int(rng.expovariate(1 / 150))
            if removed_on <= self._as_of:
                removed, removal = iso(removed_on), removal_reason
        return [[firm.uscc, firm.name, reason, iso(listed), authority.name, removed, removal]]

    def _customs(self, rng: Random, firm: _Firm) -> list[Row]:
        r = rng.random
        if firm.kind != KIND_COMPANY:
            return []
        propensity = _IMPORT_PROPENSITY.get(firm.section, 0.015) * (2.0 if firm.size == SIZE_MEDIUM else 1.0)
        if r() >= propensity:
            return []
        low, high = self._event_window(firm, after_days=180)
        if low > high:
            return []
        score = firm.quality + rng.gauss(0.0, 0.06)
        if score >= 0.9 and firm.size != SIZE_MICRO:
            grade = acts.CUSTOMS_ADVANCED
        elif score < 0.3:
            grade = acts.CUSTOMS_DISHONEST
        else:
            grade = acts.CUSTOMS_GENERAL
        # 海关注册编码: 4-digit customs area, zone type, enterprise nature (6 私营), 4-digit serial.
        code = f"{firm.place.code[:4]}{(9, 1, 2, 3)[int(r() * 4)]}6{(firm.index * 7_919 + self.seed) % 10_000:04d}"
        return [[firm.uscc, code, grade, iso(_between(rng, low, high))]]

    def _honours(self, rng: Random, firm: _Firm, blemished: bool) -> list[Row]:
        r = rng.random
        if blemished or firm.kind == KIND_SOLE:
            return []
        chance = max(0.0, firm.quality - 0.6) * 0.9
        if r() >= chance:
            return []
        low = max(firm.established + 2 * 365, add_years(self._as_of, -self.params.history_years))
        high = firm.active_until
        if low > high:
            return []
        eligible = [h for h in acts.HONOURS if firm.quality + 0.05 * rng.gauss(0.0, 1.0) >= h.min_quality]
        rows: list[Row] = []
        for _ in range(min(len(eligible), 1 + _poisson(rng, 0.4))):
            honour = eligible.pop(int(r() * len(eligible)))
            place = firm.place
            grantor = honour.grantor.format(province=place.province, city=place.city, county=place.label)
            rows.append([firm.uscc, honour.title, grantor, honour.level, iso(_between(rng, low, high))])
        return rows
