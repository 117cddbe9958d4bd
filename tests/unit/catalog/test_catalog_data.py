"""The shipped catalog data: versions, categories, items and the exact record layouts sources deliver."""

from __future__ import annotations

from datetime import date

import pytest

from xinyidai.catalog.loader import load_catalog
from xinyidai.catalog.model import Catalog, Disclosure, FieldType, NotInCatalog

#: The headers the synthetic-data generator writes, in order: these must never drift.
REQUIRED_LAYOUTS: dict[str, list[str]] = {
    "registration": [
        "uscc", "name", "entity_type", "legal_rep_name", "legal_rep_id_type", "legal_rep_id_no",
        "registered_capital", "established_on", "region_code", "industry_code", "address",
        "business_scope", "status", "registration_authority",
    ],
    "admin_license": [
        "XK_XDR_MC", "XK_XDR_LB", "XK_XDR_SHXYM", "XK_XDR_GSZC", "XK_XDR_ZZJG", "XK_XDR_SWDJ",
        "XK_XDR_SYDW", "XK_XDR_SHZZ", "XK_FRDB", "XK_FR_ZJLX", "XK_FR_ZJHM", "XK_XDR_ZJLX",
        "XK_XDR_ZJHM", "XK_XKWS", "XK_WSH", "XK_XKLB", "XK_XKZS", "XK_XKBH", "XK_NR", "XK_JDRQ",
        "XK_YXQZ", "XK_YXQZI", "XK_XKJG", "XK_XKJGDM", "XK_ZT", "XK_LYDW", "XK_LYDWDM", "BZ",
    ],
    "admin_penalty": [
        "CF_XDR_MC", "CF_XDR_LB", "CF_XDR_SHXYM", "CF_XDR_GSZC", "CF_XDR_ZZJG", "CF_XDR_SWDJ",
        "CF_XDR_SYDW", "CF_XDR_SHZZ", "CF_FRDB", "CF_FR_ZJLX", "CF_FR_ZJHM", "CF_XDR_ZJLX",
        "CF_XDR_ZJHM", "CF_WSH", "CF_WFXW", "CF_SY", "CF_YJ", "CF_CFLB", "CF_NR", "CF_NR_FK",
        "CF_NR_WFFF", "CF_NR_ZKDX", "CF_JDRQ", "CF_YXQ", "CF_GSJZQ", "CF_CFJG", "CF_CFJGDM",
        "CF_SJLY", "CF_SJLYDM", "BZ",
    ],
    "tax_payment": ["uscc", "period", "tax_type", "amount_paid", "declared_on", "paid_on", "overdue_days"],
    "tax_credit_grade": ["uscc", "year", "grade", "evaluated_on"],
    "social_insurance": ["uscc", "period", "insured_headcount", "contribution_amount", "arrears_amount"],
    "housing_fund": ["uscc", "period", "depositor_count", "deposit_amount", "arrears_months"],
    "utility_payment": ["uscc", "utility", "period", "amount_due", "amount_paid", "paid_on_time", "days_late"],
    "court_judgment": [
        "uscc", "case_no", "court_name", "case_type", "cause", "party_role", "amount", "judgment_date", "result",
    ],
    "dishonest_debtor": [
        "uscc", "name", "case_no", "court_name", "obligation", "performance_status", "listed_on", "removed_on",
    ],
    "abnormal_operation": [
        "uscc", "name", "reason", "listed_on", "listing_authority", "removed_on", "removal_reason",
    ],
    "customs_credit": ["uscc", "customs_code", "grade", "graded_on"],
    "honour": ["uscc", "title", "grantor", "level", "granted_on"],
}  # fmt: skip

REQUIRED_CLASSES: dict[str, tuple[Disclosure, bool]] = {
    "registration": (Disclosure.PUBLIC, False),
    "admin_license": (Disclosure.PUBLIC, False),
    "admin_penalty": (Disclosure.PUBLIC, True),
    "tax_payment": (Disclosure.AUTHORIZED, False),
    "tax_credit_grade": (Disclosure.AUTHORIZED, False),
    "social_insurance": (Disclosure.AUTHORIZED, False),
    "housing_fund": (Disclosure.AUTHORIZED, False),
    "utility_payment": (Disclosure.AUTHORIZED, False),
    "court_judgment": (Disclosure.PUBLIC, True),
    "dishonest_debtor": (Disclosure.PUBLIC, True),
    "abnormal_operation": (Disclosure.PUBLIC, True),
    "customs_credit": (Disclosure.AUTHORIZED, False),
    "honour": (Disclosure.PUBLIC, False),
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_load_catalog_is_read_once(catalog: Catalog) -> None:
    assert load_catalog() is catalog


@pytest.mark.parametrize(("year", "count"), [(2021, 11), (2022, 12), (2024, 13)])
def test_version_category_counts(catalog: Catalog, year: int, count: int) -> None:
    assert len(catalog.version(year).categories) == count


def test_versions_are_ordered_and_each_adds_one_category(catalog: Catalog) -> None:
    years = [v.year for v in catalog.versions]
    assert years == [2021, 2022, 2024]
    codes = [{c.code for c in v.categories} for v in catalog.versions]
    assert codes[1] - codes[0] == {"law_compliance"}
    assert codes[2] - codes[1] == {"intellectual_property"}
    assert codes[0] <= codes[1] <= codes[2]


def test_2024_categories_in_official_order(catalog: Catalog) -> None:
    names = [c.name_zh for c in catalog.version("2024").categories]
    assert names == [
        "登记注册基本信息", "司法裁判及执行信息", "行政管理信息", "职称和职业信息",
        "经营（活动）异常名录（状态）信息", "严重失信主体名单信息", "合同履行信息",
        "信用承诺及其履行情况信息", "信用评价结果信息", "遵守法律法规情况信息",
        "诚实守信相关荣誉信息", "知识产权信息", "市场主体自愿提供的信用信息",
    ]  # fmt: skip


def test_version_lookup_by_int_or_text(catalog: Catalog) -> None:
    assert catalog.version("2024") is catalog.version(2024)
    assert catalog.version(2021).document_no == "发改财金规〔2021〕1827号"
    with pytest.raises(NotInCatalog):
        catalog.version(2023)


@pytest.mark.parametrize(
    ("on", "year"),
    [
        (date(2021, 12, 25), 2021),
        (date(2022, 12, 25), 2021),
        (date(2022, 12, 26), 2022),
        (date(2024, 1, 31), 2022),
        (date(2024, 2, 1), 2024),
        (date(2030, 1, 1), 2024),
    ],
)
def test_in_force_by_date(catalog: Catalog, on: date, year: int) -> None:
    assert catalog.in_force(on).year == year


def test_nothing_in_force_before_the_first_catalog(catalog: Catalog) -> None:
    with pytest.raises(NotInCatalog):
        catalog.in_force(date(2021, 12, 24))


def test_effective_dates_match_in_force(catalog: Catalog) -> None:
    for version in catalog.versions:
        assert catalog.in_force(version.effective_on) is version


@pytest.mark.parametrize("code", sorted(REQUIRED_LAYOUTS))
def test_required_item_has_exact_field_list(catalog: Catalog, code: str) -> None:
    assert list(catalog.item(code).field_names) == REQUIRED_LAYOUTS[code]


@pytest.mark.parametrize("code", sorted(REQUIRED_CLASSES))
def test_required_item_disclosure_and_negative(catalog: Catalog, code: str) -> None:
    item = catalog.item(code)
    assert (item.disclosure, item.negative) == REQUIRED_CLASSES[code]


def test_required_items_exist_in_every_version(catalog: Catalog) -> None:
    for version in catalog.versions:
        held = {item.code for item in version.items}
        assert set(REQUIRED_LAYOUTS) <= held


def test_items_follow_their_versions(catalog: Catalog) -> None:
    assert catalog.item("intellectual_property").since == 2024
    assert "intellectual_property" not in {i.code for i in catalog.version(2022).items}
    assert catalog.version(2024).item("intellectual_property").category == "intellectual_property"
    assert "law_compliance" not in {i.code for i in catalog.version(2021).items}
    assert catalog.version(2022).item("law_compliance").code == "law_compliance"


def test_every_item_category_exists_in_its_versions(catalog: Catalog) -> None:
    for version in catalog.versions:
        for item in version.items:
            assert version.category(item.category).code == item.category


def test_version_items_follow_category_order(catalog: Catalog) -> None:
    for version in catalog.versions:
        order = [c.code for c in version.categories]
        positions = [order.index(item.category) for item in version.items]
        assert positions == sorted(positions)


def test_the_three_disclosure_classes_are_used(catalog: Catalog) -> None:
    assert {item.disclosure for item in catalog.items} == set(Disclosure)
    assert [d.label_zh for d in Disclosure] == ["公开", "授权查询", "主体同意"]
    assert catalog.item("self_reported").disclosure is Disclosure.CONSENT


def test_keys_and_subjects_name_fields(catalog: Catalog) -> None:
    for item in catalog.items:
        assert item.field(item.subject_field).type is FieldType.USCC
        assert all(item.field(name) for name in item.natural_key)
        assert item.field(item.event_date_field).type in {FieldType.DATE, FieldType.PERIOD}


def test_natural_keys_of_dual_publicity(catalog: Catalog) -> None:
    assert catalog.item("admin_penalty").natural_key == ("CF_WSH", "CF_CFJGDM")
    assert catalog.item("admin_license").natural_key == ("XK_WSH", "XK_XKJGDM")


def test_personal_id_numbers_are_marked_personal(catalog: Catalog) -> None:
    for item in catalog.items:
        for field in item.record_schema:
            if field.type is FieldType.ID_NUMBER:
                assert field.personal, (item.code, field.name)
    assert set(catalog.item("admin_penalty").personal_fields) >= {"CF_FR_ZJHM", "CF_XDR_ZJHM"}
    assert catalog.item("registration").field("legal_rep_id_no").type is FieldType.ID_NUMBER


def test_code_lists(catalog: Catalog) -> None:
    assert catalog.item("tax_credit_grade").field("grade").code_list == ("A", "B", "M", "C", "D")
    assert catalog.item("customs_credit").field("grade").code_list == ("高级认证企业", "一般信用企业", "失信企业")
    assert catalog.item("utility_payment").field("utility").code_list == ("water", "electricity", "gas")
    for item in catalog.items:
        for field in item.record_schema:
            assert (field.type is FieldType.CODE) == bool(field.code_list), (item.code, field.name)


def test_amounts_are_wan_decimals(catalog: Catalog) -> None:
    assert catalog.item("registration").field("registered_capital").type is FieldType.DECIMAL_WAN
    assert catalog.item("admin_penalty").field("CF_NR_FK").type is FieldType.DECIMAL_WAN
    assert catalog.item("utility_payment").field("paid_on_time").type is FieldType.BOOLEAN
    assert catalog.item("social_insurance").field("period").type is FieldType.PERIOD


def test_utility_department_is_chosen_per_record(catalog: Catalog) -> None:
    item = catalog.item("utility_payment")
    assert item.department.code == "utilities"
    assert item.department_field == "utility"
    assert {value: item.department_for(value).code for value in ("water", "electricity", "gas")} == {
        "water": "water",
        "electricity": "power",
        "gas": "gas",
    }


def test_departments(catalog: Catalog) -> None:
    expected = {
        "registration": "samr",
        "tax_payment": "tax",
        "court_judgment": "court",
        "customs_credit": "customs",
        "social_insurance": "hrss",
        "housing_fund": "hpf",
        "intellectual_property": "cnipa",
        "abnormal_operation": "samr",
    }
    assert {code: catalog.item(code).department.code for code in expected} == expected
    assert catalog.department("tax").name_zh == "税务部门"


def test_cross_field_rules_are_data(catalog: Catalog) -> None:
    rules = {(r.rule.value, r.field, r.other) for r in catalog.item("admin_license").rules}
    assert ("date_not_before", "XK_YXQZI", "XK_YXQZ") in rules


def test_dual_publicity_delivery_deadline(catalog: Catalog) -> None:
    for code in ("admin_license", "admin_penalty"):
        deadline = catalog.item(code).delivery_deadline
        assert deadline is not None
        assert str(deadline.period) == "P7D"
        assert deadline.working_days


def test_freshness_is_a_fixed_length(catalog: Catalog) -> None:
    for item in catalog.items:
        assert item.freshness.as_timedelta().total_seconds() > 0


def test_legacy_penalty_layout_maps_onto_current_fields(catalog: Catalog) -> None:
    item = catalog.item("admin_penalty")
    aliases = item.legacy_aliases
    assert aliases["CF_CFMC"] == "CF_WFXW"
    assert aliases["CF_JG"] == "CF_NR"
    assert aliases["CF_XZJG"] == "CF_CFJG"
    assert aliases["CF_FR"] == "CF_FRDB"
    assert item.legacy is not None
    assert item.legacy.sources("CF_CFLB") == ("CF_CFLB1", "CF_CFLB2")
    for legacy in ("CF_ZT", "DFBM", "SJC"):
        assert legacy in item.legacy.columns
        assert item.legacy.current_name(legacy) is None
    assert all(current in item.field_names for current in aliases.values())


def test_legacy_license_layout_maps_onto_current_fields(catalog: Catalog) -> None:
    item = catalog.item("admin_license")
    assert item.legacy_aliases["XK_XMMC"] == "XK_XKWS"
    assert item.legacy_aliases["XK_JZQ"] == "XK_YXQZI"
    assert all(current in item.field_names for current in item.legacy_aliases.values())
    assert catalog.item("tax_payment").legacy_aliases == {}


def test_unknown_lookups_raise_not_in_catalog(catalog: Catalog) -> None:
    with pytest.raises(NotInCatalog):
        catalog.item("no_such_item")
    with pytest.raises(NotInCatalog):
        catalog.item("registration").field("no_such_field")
    with pytest.raises(NotInCatalog):
        catalog.version(2021).item("intellectual_property")
    with pytest.raises(LookupError):
        catalog.department("nowhere")


def test_unconfirmed_facts_are_marked(catalog: Catalog) -> None:
    assert "effective_on" in catalog.version(2024).unconfirmed
    assert "disclosure" in catalog.item("tax_payment").unconfirmed
