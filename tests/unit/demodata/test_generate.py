"""The generated delivery: exact layouts, valid identifiers, consistent records, and a ground truth that matters."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from statistics import mean

import pytest

from xinyidai.catalog import FieldType, load_catalog
from xinyidai.demodata import generate
from xinyidai.demodata import generator as generator_module
from xinyidai.demodata.vocab import name_pools
from xinyidai.kernel import divisions
from xinyidai.kernel.money import format_wan, parse_wan
from xinyidai.kernel.uscc import validate
from xinyidai.registry import parse_registration
from xinyidai.registry.industries import section_of

ENTERPRISES = 2_000
SEED = 20_260_630
AS_OF = date(2026, 6, 30)

#: The layouts departments deliver, written out here so that a change to the generator cannot move them.
LAYOUTS: dict[str, list[str]] = {
    "registration.csv": [
        "uscc", "name", "entity_type", "legal_rep_name", "legal_rep_id_type", "legal_rep_id_no",
        "registered_capital", "established_on", "region_code", "industry_code", "address",
        "business_scope", "status", "registration_authority",
    ],
    "admin_license.csv": [
        "XK_XDR_MC", "XK_XDR_LB", "XK_XDR_SHXYM", "XK_XDR_GSZC", "XK_XDR_ZZJG", "XK_XDR_SWDJ",
        "XK_XDR_SYDW", "XK_XDR_SHZZ", "XK_FRDB", "XK_FR_ZJLX", "XK_FR_ZJHM", "XK_XDR_ZJLX",
        "XK_XDR_ZJHM", "XK_XKWS", "XK_WSH", "XK_XKLB", "XK_XKZS", "XK_XKBH", "XK_NR", "XK_JDRQ",
        "XK_YXQZ", "XK_YXQZI", "XK_XKJG", "XK_XKJGDM", "XK_ZT", "XK_LYDW", "XK_LYDWDM", "BZ",
    ],
    "admin_penalty.csv": [
        "CF_XDR_MC", "CF_XDR_LB", "CF_XDR_SHXYM", "CF_XDR_GSZC", "CF_XDR_ZZJG", "CF_XDR_SWDJ",
        "CF_XDR_SYDW", "CF_XDR_SHZZ", "CF_FRDB", "CF_FR_ZJLX", "CF_FR_ZJHM", "CF_XDR_ZJLX",
        "CF_XDR_ZJHM", "CF_WSH", "CF_WFXW", "CF_SY", "CF_YJ", "CF_CFLB", "CF_NR", "CF_NR_FK",
        "CF_NR_WFFF", "CF_NR_ZKDX", "CF_JDRQ", "CF_YXQ", "CF_GSJZQ", "CF_CFJG", "CF_CFJGDM",
        "CF_SJLY", "CF_SJLYDM", "BZ",
    ],
    "tax_payment.csv": ["uscc", "period", "tax_type", "amount_paid", "declared_on", "paid_on", "overdue_days"],
    "tax_credit_grade.csv": ["uscc", "year", "grade", "evaluated_on"],
    "social_insurance.csv": ["uscc", "period", "insured_headcount", "contribution_amount", "arrears_amount"],
    "housing_fund.csv": ["uscc", "period", "depositor_count", "deposit_amount", "arrears_months"],
    "utility_payment.csv": ["uscc", "utility", "period", "amount_due", "amount_paid", "paid_on_time", "days_late"],
    "court_judgment.csv": [
        "uscc", "case_no", "court_name", "case_type", "cause", "party_role", "amount", "judgment_date", "result",
    ],
    "dishonest_debtor.csv": [
        "uscc", "name", "case_no", "court_name", "obligation", "performance_status", "listed_on", "removed_on",
    ],
    "abnormal_operation.csv": [
        "uscc", "name", "reason", "listed_on", "listing_authority", "removed_on", "removal_reason",
    ],
    "customs_credit.csv": ["uscc", "customs_code", "grade", "graded_on"],
    "honour.csv": ["uscc", "title", "grantor", "level", "granted_on"],
    "outcomes.csv": ["uscc", "latent_quality", "loan_default"],
}  # fmt: skip

#: The column naming the enterprise in each department file.
SUBJECT = defaultdict(lambda: "uscc", {"admin_license.csv": "XK_XDR_SHXYM", "admin_penalty.csv": "CF_XDR_SHXYM"})
ENDED = ("注销", "吊销", "迁出", "停业")


@dataclass
class Delivery:
    """A generated directory with its files read once."""

    directory: Path
    _cache: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def rows(self, name: str) -> list[dict[str, str]]:
        if name not in self._cache:
            with (self.directory / name).open(encoding="utf-8", newline="") as handle:
                self._cache[name] = list(csv.DictReader(handle))
        return self._cache[name]

    def by_uscc(self, name: str) -> dict[str, list[dict[str, str]]]:
        grouped: dict[str, list[dict[str, str]]] = defaultdict(list)
        for row in self.rows(name):
            grouped[row[SUBJECT[name]]].append(row)
        return grouped

    @property
    def registration(self) -> dict[str, dict[str, str]]:
        return {row["uscc"]: row for row in self.rows("registration.csv")}

    @property
    def quality(self) -> dict[str, float]:
        return {row["uscc"]: float(row["latent_quality"]) for row in self.rows("outcomes.csv")}

    @property
    def default(self) -> dict[str, int]:
        return {row["uscc"]: int(row["loan_default"]) for row in self.rows("outcomes.csv")}


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> Delivery:
    directory = tmp_path_factory.mktemp("delivery")
    generate(enterprises=ENTERPRISES, seed=SEED, out_dir=directory)
    return Delivery(directory)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _auc(scores: list[float], labels: list[int]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
    ranked = sorted([(s, 1) for s in positives] + [(s, 0) for s in negatives])
    rank_sum = 0.0
    i = 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        average_rank = (i + 1 + j) / 2
        rank_sum += average_rank * sum(label for _, label in ranked[i:j])
        i = j
    n_pos, n_neg = len(positives), len(negatives)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _day(text: str) -> date:
    return date.fromisoformat(text)


# --- layout and manifest --------------------------------------------------------------------------


def test_headers_are_exactly_the_delivered_layouts(delivery: Delivery) -> None:
    written = sorted(p.name for p in delivery.directory.glob("*.csv"))
    assert written == sorted(LAYOUTS)
    for name, columns in LAYOUTS.items():
        with (delivery.directory / name).open(encoding="utf-8", newline="") as handle:
            assert next(csv.reader(handle)) == columns, name


def test_files_are_plain_utf8_with_unix_line_ends(delivery: Delivery) -> None:
    for name in LAYOUTS:
        raw = (delivery.directory / name).read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf"), f"{name} has a BOM"
        assert b"\r" not in raw
        raw.decode("utf-8")


def test_manifest_lists_every_file_with_its_item_rows_and_digest(delivery: Delivery) -> None:
    manifest = json.loads((delivery.directory / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["enterprises"] == ENTERPRISES
    assert manifest["seed"] == SEED
    assert manifest["as_of"] == AS_OF.isoformat()
    entries = {entry["file"]: entry for entry in manifest["files"]}
    assert sorted(entries) == sorted(LAYOUTS)
    for name, entry in entries.items():
        path = delivery.directory / name
        assert entry["sha256"] == _sha256(path)
        assert entry["rows"] == len(delivery.rows(name))
        assert entry["encoding"] == "UTF-8"
        assert entry["columns"] == LAYOUTS[name]
        if name == "outcomes.csv":
            assert entry["kind"] == "ground_truth"
            assert entry["item_code"] is None
        else:
            assert entry["kind"] == "department"
            assert entry["item_code"] == name.removesuffix(".csv")
    assert entries["registration.csv"]["rows"] == entries["outcomes.csv"]["rows"] == ENTERPRISES


# --- determinism ----------------------------------------------------------------------------------


def _digests(directory: Path) -> dict[str, str]:
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    return {entry["file"]: entry["sha256"] for entry in manifest["files"]}


def test_same_seed_and_size_give_byte_identical_files(tmp_path: Path) -> None:
    generate(enterprises=300, seed=5, out_dir=tmp_path / "a")
    generate(enterprises=300, seed=5, out_dir=tmp_path / "b")
    generate(enterprises=300, seed=5, out_dir=tmp_path / "parallel", workers=2)
    generate(enterprises=300, seed=6, out_dir=tmp_path / "other")
    first = _digests(tmp_path / "a")
    assert first == _digests(tmp_path / "b") == _digests(tmp_path / "parallel")
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (tmp_path / "b" / "manifest.json").read_bytes()
    for name in LAYOUTS:
        assert _sha256(tmp_path / "a" / name) == first[name]
    assert _digests(tmp_path / "other")["registration.csv"] != first["registration.csv"]


def test_an_enterprise_is_the_same_whatever_the_run_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generate(enterprises=120, seed=9, out_dir=tmp_path / "small")
    monkeypatch.setattr(generator_module, "CHUNK", 7)  # also: chunk boundaries must not matter
    generate(enterprises=250, seed=9, out_dir=tmp_path / "large")
    for name in LAYOUTS:
        small = (tmp_path / "small" / name).read_text(encoding="utf-8")
        large = (tmp_path / "large" / name).read_text(encoding="utf-8")
        assert large.startswith(small), name


def test_progress_reports_enterprises_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generator_module, "CHUNK", 40)
    seen: list[int] = []
    generate(enterprises=100, seed=1, out_dir=tmp_path, progress=seen.append)
    assert seen == [40, 80, 100]


def test_memory_does_not_grow_with_the_number_of_enterprises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generator_module, "CHUNK", 100)
    generate(enterprises=10, seed=2, out_dir=tmp_path / "warm")  # word lists and region table load once

    def peak(enterprises: int) -> int:
        tracemalloc.start()
        try:
            generate(enterprises=enterprises, seed=2, out_dir=tmp_path / str(enterprises))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(300), peak(1_500)
    # Five times the enterprises, (almost) the same peak: rows are written as they are drawn.
    assert large < small * 1.5 + 1_000_000, (small, large)


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="negative"):
        generate(enterprises=-1, seed=1, out_dir=tmp_path)
    with pytest.raises(ValueError, match="workers"):
        generate(enterprises=1, seed=1, out_dir=tmp_path, workers=0)


# --- identifiers ----------------------------------------------------------------------------------


def test_every_uscc_is_valid_and_every_enterprise_has_its_own(delivery: Delivery) -> None:
    registration = delivery.registration
    assert len(registration) == ENTERPRISES
    bodies = {code[8:16] for code in registration}
    assert len(bodies) == ENTERPRISES, "organisation-code bodies must be unique"
    kinds = Counter(code[:2] for code in registration)
    assert set(kinds) == {"91", "92", "93"}
    assert kinds["91"] > 0.7 * ENTERPRISES
    assert kinds["92"] > 0.08 * ENTERPRISES
    for code, row in registration.items():
        result = validate(code)
        assert result.valid, (code, result.errors)
        assert code[2:8] == row["region_code"]
    for name in LAYOUTS:
        if name == "registration.csv":
            continue
        subjects = {row[SUBJECT[name]] for row in delivery.rows(name)}
        assert subjects <= set(registration), name


def test_authorities_carry_valid_organ_codes_one_per_authority(delivery: Delivery) -> None:
    code_of: dict[str, set[str]] = defaultdict(set)
    for name, pairs in (
        ("admin_license.csv", (("XK_XKJG", "XK_XKJGDM"), ("XK_LYDW", "XK_LYDWDM"))),
        ("admin_penalty.csv", (("CF_CFJG", "CF_CFJGDM"), ("CF_SJLY", "CF_SJLYDM"))),
    ):
        for row in delivery.rows(name):
            for authority, code in pairs:
                code_of[row[authority]].add(row[code])
    assert code_of
    codes: set[str] = set()
    for authority, found in code_of.items():
        assert len(found) == 1, authority
        code = next(iter(found))
        assert validate(code).valid, code
        assert code.startswith("11"), code  # 机构编制 / 机关
        codes.add(code)
    assert len(codes) == len(code_of), "two authorities share a code"


def test_regions_and_industries_are_real_codes(delivery: Delivery) -> None:
    provinces: Counter[str] = Counter()
    for row in delivery.rows("registration.csv"):
        region = divisions.region(row["region_code"])
        assert region is not None, row["region_code"]
        assert region.level in (divisions.RegionLevel.COUNTY, divisions.RegionLevel.CITY)
        assert region.name not in divisions.PLACEHOLDER_NAMES
        assert row["address"].startswith(region.full_name)
        assert section_of(row["industry_code"]) == row["industry_code"][0]
        provinces[row["region_code"][:2]] += 1
    # Weighted toward a few provinces: 广东 leads, the top five hold over a third of the firms.
    assert provinces.most_common(1)[0][0] == "44"
    assert sum(n for _, n in provinces.most_common(5)) > ENTERPRISES / 3


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _id_check(number: str) -> str:
    return "10X98765432"[sum(int(c) * w for c, w in zip(number[:17], _ID_WEIGHTS, strict=True)) % 11]


def test_legal_representative_id_numbers_are_valid(delivery: Delivery) -> None:
    for row in delivery.rows("registration.csv"):
        number = row["legal_rep_id_no"]
        assert re.fullmatch(r"\d{17}[\dX]", number), number
        assert number[17] == _id_check(number), number
        assert divisions.province_of(number[:6]) is not None
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        established = _day(row["established_on"])
        assert birth.year >= 1940
        assert (established - birth).days >= 18 * 365, row["uscc"]
        assert row["legal_rep_id_type"] == "身份证"
    for name, column in (("admin_license.csv", "XK_FR_ZJHM"), ("admin_penalty.csv", "CF_FR_ZJHM")):
        for row in delivery.rows(name):
            assert row[column][17] == _id_check(row[column])


def test_the_registry_accepts_every_registration_row(delivery: Delivery) -> None:
    for row in delivery.rows("registration.csv"):
        record, errors = parse_registration(dict(row))
        assert errors == [], (row["uscc"], errors)
        assert record is not None
        assert record.registered_capital is not None
        assert format_wan(record.registered_capital) == row["registered_capital"]


def test_names_look_like_chinese_enterprises_and_people(delivery: Delivery) -> None:
    surnames = set(name_pools().surnames)
    endings = ("有限公司", "经营部", "合伙企业（普通合伙）", "专业合作社")
    for row in delivery.rows("registration.csv"):
        assert row["legal_rep_name"][0] in surnames
        assert 2 <= len(row["legal_rep_name"]) <= 4
        kind = row["uscc"][:2]
        if kind == "91":
            assert row["name"].endswith(endings[:3]), row["name"]
        elif kind == "93":
            assert row["name"].endswith("专业合作社")
            assert row["entity_type"] == "农民专业合作社"
        else:
            assert row["entity_type"] == "个体工商户"
        assert row["registration_authority"].endswith("市场监督管理局")


# --- formats and the catalog ----------------------------------------------------------------------

_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WAN = re.compile(r"(0|[1-9]\d*)(\.\d{0,5}[1-9])?")


def _check_value(kind: FieldType, value: str) -> None:
    if kind is FieldType.DATE:
        assert _DATE.fullmatch(value)
        date.fromisoformat(value)
    elif kind is FieldType.PERIOD:
        assert _PERIOD.fullmatch(value)
    elif kind is FieldType.DECIMAL_WAN:
        # Exact decimal text with at most 6 places and no float noise: it survives a round trip.
        assert _WAN.fullmatch(value)
        assert format_wan(parse_wan(value)) == value
    elif kind is FieldType.INTEGER:
        assert re.fullmatch(r"0|[1-9]\d*", value)
    elif kind is FieldType.BOOLEAN:
        assert value in ("true", "false")
    elif kind is FieldType.USCC:
        assert validate(value).valid
    elif kind is FieldType.ID_NUMBER:
        assert value[17] == _id_check(value)


def test_records_conform_to_the_catalog_item_schemas(delivery: Delivery) -> None:
    catalog = load_catalog()
    for name in LAYOUTS:
        if name == "outcomes.csv":
            continue
        item = catalog.item(name.removesuffix(".csv"))
        assert [f.name for f in item.record_schema] == LAYOUTS[name], name
        keys: set[tuple[str, ...]] = set()
        for row in delivery.rows(name):
            for spec in item.record_schema:
                value = row[spec.name]
                if not value:
                    assert not spec.required, (name, spec.name)
                    continue
                assert value == value.strip()
                if spec.max_length is not None:
                    assert len(value) <= spec.max_length, (name, spec.name, value)
                if spec.code_list:
                    assert value in spec.code_list, (name, spec.name, value)
                try:
                    _check_value(spec.type, value)
                except AssertionError:  # pragma: no cover - the message is the point
                    pytest.fail(f"{name}.{spec.name}: {value!r} is not a valid {spec.type}")
            for rule in item.rules:
                here, other = row[rule.field], row[rule.other]
                if rule.rule == "date_not_before" and here and other:
                    assert here >= other, (name, rule, row)
                elif (rule.rule == "required_with" and other) or (rule.rule == "required_if" and other in rule.values):
                    assert here, (name, rule, row)
            key = tuple(row[k] for k in item.natural_key)
            assert key not in keys, (name, key)
            keys.add(key)


# --- consistency across fields and files ----------------------------------------------------------


def _event_dates(delivery: Delivery) -> Iterable[tuple[str, str, str]]:
    for name, column in (
        ("admin_license.csv", "XK_JDRQ"),
        ("admin_penalty.csv", "CF_JDRQ"),
        ("court_judgment.csv", "judgment_date"),
        ("dishonest_debtor.csv", "listed_on"),
        ("abnormal_operation.csv", "listed_on"),
        ("customs_credit.csv", "graded_on"),
        ("honour.csv", "granted_on"),
        ("tax_credit_grade.csv", "evaluated_on"),
        ("tax_payment.csv", "declared_on"),
    ):
        for row in delivery.rows(name):
            yield name, row[SUBJECT[name]], row[column]


def test_events_fall_between_establishment_and_as_of(delivery: Delivery) -> None:
    registration = delivery.registration
    for name, uscc, day in _event_dates(delivery):
        established = registration[uscc]["established_on"]
        assert established < day <= AS_OF.isoformat(), (name, uscc, established, day)
    for name in ("tax_payment.csv", "social_insurance.csv", "housing_fund.csv", "utility_payment.csv"):
        for row in delivery.rows(name):
            assert registration[row["uscc"]]["established_on"][:7] < row["period"] < AS_OF.isoformat()[:7]


def test_monthly_records_are_12_to_24_consecutive_months(delivery: Delivery) -> None:
    registration = delivery.registration
    for name, extra in (("social_insurance.csv", None), ("housing_fund.csv", None), ("utility_payment.csv", "utility")):
        series: dict[tuple[str, str], list[str]] = defaultdict(list)
        for row in delivery.rows(name):
            series[(row["uscc"], row[extra] if extra else "")].append(row["period"])
        lengths = []
        for (uscc, _), periods in series.items():
            months = [int(p[:4]) * 12 + int(p[5:]) for p in periods]
            assert months == list(range(months[0], months[0] + len(months))), (name, uscc)
            assert len(months) <= 24
            young = registration[uscc]["established_on"] > "2024-05"
            ended = registration[uscc]["status"] in ENDED
            if not (young or ended):
                assert len(months) >= 12, (name, uscc, len(months))
            lengths.append(len(months))
        assert 15 <= mean(lengths) <= 21


def test_not_every_enterprise_appears_in_every_monthly_file(delivery: Delivery) -> None:
    covered = {name: len(delivery.by_uscc(name)) / ENTERPRISES for name in LAYOUTS}
    assert 0.8 < covered["tax_payment.csv"] < 0.98
    assert 0.5 < covered["social_insurance.csv"] < 0.9
    assert 0.15 < covered["housing_fund.csv"] < 0.5
    assert 0.4 < covered["utility_payment.csv"] < 0.8
    micro_like = [u for u, r in delivery.registration.items() if r["uscc"][:2] in ("92", "93")]
    with_fund = delivery.by_uscc("housing_fund.csv")
    assert sum(u in with_fund for u in micro_like) < 0.1 * len(micro_like)


def test_lists_and_validity_periods_are_ordered(delivery: Delivery) -> None:
    for row in delivery.rows("admin_license.csv"):
        assert row["XK_YXQZ"] == row["XK_JDRQ"] < row["XK_YXQZI"]
        assert row["XK_ZT"] in ("有效", "无效")
        if row["XK_YXQZI"] < AS_OF.isoformat():
            assert row["XK_ZT"] == "无效"
    for row in delivery.rows("admin_penalty.csv"):
        assert row["CF_JDRQ"] < row["CF_GSJZQ"]
        assert row["CF_JDRQ"] < row["CF_YXQ"]
        assert row["CF_WSH"].endswith("号")
        assert f"〔{row['CF_JDRQ'][:4]}〕" in row["CF_WSH"]
        categories = row["CF_CFLB"].split(";")
        assert bool(row["CF_NR_FK"]) == ("罚款" in categories)
        assert bool(row["CF_NR_WFFF"]) == ("没收违法所得" in categories)
        assert bool(row["CF_NR_ZKDX"]) == ("暂扣许可证件" in categories or "吊销许可证件" in categories)
    for name in ("dishonest_debtor.csv", "abnormal_operation.csv"):
        for row in delivery.rows(name):
            assert not row["removed_on"] or row["removed_on"] > row["listed_on"]
    for row in delivery.rows("abnormal_operation.csv"):
        assert bool(row["removed_on"]) == bool(row["removal_reason"])


def test_tax_payments_agree_with_their_deadlines(delivery: Delivery) -> None:
    overdue_rows = 0
    for row in delivery.rows("tax_payment.csv"):
        year, month = int(row["period"][:4]), int(row["period"][5:])
        deadline = date(year + month // 12, month % 12 + 1, 15)
        overdue = int(row["overdue_days"])
        assert row["declared_on"] > row["period"]
        if row["paid_on"]:
            paid = _day(row["paid_on"])
            assert row["paid_on"] >= row["declared_on"]
            assert overdue == max(0, (paid - deadline).days)
        else:
            assert row["amount_paid"] == "0"
            assert overdue == (AS_OF - deadline).days > 0
        overdue_rows += overdue > 0
    assert 0 < overdue_rows < 0.1 * len(delivery.rows("tax_payment.csv"))


def test_utility_bills_agree_with_their_flags(delivery: Delivery) -> None:
    late = 0
    for row in delivery.rows("utility_payment.csv"):
        due, paid = parse_wan(row["amount_due"]), parse_wan(row["amount_paid"])
        assert 0 <= paid <= due
        if row["paid_on_time"] == "true":
            assert row["days_late"] == "0"
            assert paid == due
        else:
            assert int(row["days_late"]) > 0
            late += 1
    assert 0 < late < 0.1 * len(delivery.rows("utility_payment.csv"))


def test_an_a_grade_year_has_no_overdue_tax(delivery: Delivery) -> None:
    overdue_years: set[tuple[str, int]] = set()
    for row in delivery.rows("tax_payment.csv"):
        if row["overdue_days"] != "0":
            year, month = int(row["period"][:4]), int(row["period"][5:])
            overdue_years.add((row["uscc"], year + month // 12))  # the year the tax fell due
    grades = delivery.rows("tax_credit_grade.csv")
    assert {row["grade"] for row in grades} == {"A", "B", "M", "C", "D"}
    for row in grades:
        assert row["evaluated_on"][:4] == str(int(row["year"]) + 1)
        if row["grade"] == "A":
            assert (row["uscc"], int(row["year"])) not in overdue_years


def test_dishonest_debtors_trace_back_to_a_lost_judgment(delivery: Delivery) -> None:
    judgments = delivery.by_uscc("court_judgment.csv")
    registration = delivery.registration
    rows = delivery.rows("dishonest_debtor.csv")
    assert rows
    for row in rows:
        assert row["name"] == registration[row["uscc"]]["name"]
        assert "执" in row["case_no"]
        assert any(
            j["court_name"] == row["court_name"] and j["party_role"] == "被告" and j["judgment_date"] < row["listed_on"]
            for j in judgments[row["uscc"]]
        ), row
        assert (row["performance_status"] == "全部履行") == bool(row["removed_on"])


def test_deregistered_and_revoked_enterprises_are_consistent(delivery: Delivery) -> None:
    registration = delivery.registration
    statuses = Counter(row["status"] for row in registration.values())
    assert statuses["存续"] + statuses["在业"] > 0.9 * ENTERPRISES
    assert statuses["注销"] > 0
    assert statuses["吊销"] > 0
    penalties = delivery.by_uscc("admin_penalty.csv")
    for uscc, row in registration.items():
        if row["status"] == "吊销":
            revocations = [p for p in penalties[uscc] if p["CF_NR"] == "吊销营业执照"]
            assert len(revocations) == 1
            assert revocations[0]["CF_NR_ZKDX"] == f"营业执照（{uscc}）"
    for row in delivery.rows("admin_license.csv"):
        if registration[row["XK_XDR_SHXYM"]]["status"] in ENDED:
            assert row["XK_ZT"] == "无效"


# --- the latent quality drives records and default ------------------------------------------------


def test_latent_quality_predicts_default(delivery: Delivery) -> None:
    quality, default = delivery.quality, delivery.default
    for row in delivery.rows("outcomes.csv"):
        assert re.fullmatch(r"0\.\d{4}|1\.0000", row["latent_quality"])
    rate = mean(default.values())
    assert 0.04 <= rate <= 0.11, rate
    codes = list(quality)
    auc = _auc([1 - quality[c] for c in codes], [default[c] for c in codes])
    assert auc > 0.75, auc


def test_negative_records_concentrate_in_weak_enterprises(delivery: Delivery) -> None:
    quality = delivery.quality
    overall = mean(quality.values())
    negative: set[str] = set()
    for name in ("admin_penalty.csv", "dishonest_debtor.csv", "abnormal_operation.csv"):
        subjects = set(delivery.by_uscc(name))
        assert mean(quality[u] for u in subjects) < overall - 0.08, name
        negative |= subjects
    for row in delivery.rows("tax_payment.csv"):
        if row["overdue_days"] != "0":
            negative.add(row["uscc"])
    for row in delivery.rows("social_insurance.csv"):
        if row["arrears_amount"] != "0":
            negative.add(row["uscc"])
    for row in delivery.rows("court_judgment.csv"):
        if row["party_role"] == "被告":
            negative.add(row["uscc"])
    codes = list(quality)
    auc = _auc([1 - quality[c] for c in codes], [int(c in negative) for c in codes])
    assert auc > 0.7, auc
    # …and so an evaluation model can learn default from the records alone.
    default = delivery.default
    assert mean(default[c] for c in negative) > 2 * mean(default[c] for c in codes if c not in negative)


def test_good_signals_concentrate_in_strong_enterprises(delivery: Delivery) -> None:
    quality = delivery.quality
    overall = mean(quality.values())
    assert mean(quality[u] for u in delivery.by_uscc("honour.csv")) > overall + 0.1
    licences = delivery.by_uscc("admin_license.csv")
    with_many = [quality[u] for u, rows in licences.items() if len(rows) >= 2]
    without = [q for u, q in quality.items() if u not in licences]
    assert mean(with_many) > mean(without) + 0.03
    by_grade: dict[str, list[float]] = defaultdict(list)
    for row in delivery.rows("tax_credit_grade.csv"):
        by_grade[row["grade"]].append(quality[row["uscc"]])
    assert mean(by_grade["A"]) > mean(by_grade["B"]) > mean(by_grade["C"]) > mean(by_grade["D"])
    by_customs: dict[str, list[float]] = defaultdict(list)
    for row in delivery.rows("customs_credit.csv"):
        by_customs[row["grade"]].append(quality[row["uscc"]])
    assert mean(by_customs["高级认证企业"]) > mean(by_customs["一般信用企业"]) > mean(by_customs["失信企业"])


def test_list_shares_are_in_the_documented_ranges(delivery: Delivery) -> None:
    share = {name: len(delivery.by_uscc(name)) / ENTERPRISES for name in LAYOUTS}
    assert 0.02 <= share["dishonest_debtor.csv"] <= 0.05
    assert 0.03 <= share["abnormal_operation.csv"] <= 0.08
    assert 0.05 <= share["admin_penalty.csv"] <= 0.2
    penalties = Counter(len(rows) for rows in delivery.by_uscc("admin_penalty.csv").values())
    assert penalties[1] > penalties[2] > 0
    licences = Counter(len(rows) for rows in delivery.by_uscc("admin_license.csv").values())
    assert max(licences) <= 3


def test_the_as_of_date_bounds_everything(tmp_path: Path) -> None:
    as_of = date(2024, 3, 10)
    generate(enterprises=200, seed=3, out_dir=tmp_path, as_of=as_of)
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["as_of"] == "2024-03-10"
    run = Delivery(tmp_path)
    for _, _, day in _event_dates(run):
        assert day <= as_of.isoformat()
    latest_period = (as_of.replace(day=1) - timedelta(days=1)).replace(day=1)  # a bill due on the 20th
    for row in run.rows("utility_payment.csv"):
        assert row["period"] < latest_period.isoformat()[:7]
