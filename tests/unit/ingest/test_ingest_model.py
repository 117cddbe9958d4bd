"""Pure aggregation rules: value normalisation, record identity, layouts, penalty severity, visibility, tenancy."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinyidai.catalog import load_catalog
from xinyidai.ingest import model
from xinyidai.ingest.frames import plan_for
from xinyidai.ingest.model import (
    FileUnreadable,
    Layout,
    RejectCode,
    Severity,
    canonical_boolean,
    canonical_decimal,
    canonical_integer,
    match_header,
    normalise_code,
    normalise_text,
    parse_date_text,
    parse_period_text,
    penalty_sectors,
    penalty_severities,
    record_id,
)

SPECS = [plan_for(item).spec for item in load_catalog().items]
text_values = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@given(text_values)
def test_normalising_text_is_idempotent_and_leaves_no_stray_blanks(value: str) -> None:
    once = normalise_text(value)
    assert normalise_text(once) == once
    if once is not None:
        assert once == once.strip()
        assert "  " not in once
        assert not any(ch in once for ch in "\t\r\n\u3000\u00a0")


@given(text_values)
def test_normalising_codes_is_idempotent_and_removes_every_blank(value: str) -> None:
    once = normalise_code(value, upper=True)
    assert normalise_code(once, upper=True) == once
    if once is not None:
        assert not any(ch.isspace() for ch in once)
        assert not any(0xFF01 <= ord(ch) <= 0xFF5E for ch in once)


def test_text_keeps_chinese_punctuation_but_folds_full_width_digits_and_letters() -> None:
    assert normalise_text("  福州（鼓楼）　ＡＢＣ１２３\t有限公司 ") == "福州（鼓楼） ABC123 有限公司"
    assert normalise_text(" \u3000 ") is None
    assert normalise_code("９１３５ 0100\u3000M000100Y43") == "91350100M000100Y43"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-05", date(2024, 1, 5)),
        ("2024-1-5", date(2024, 1, 5)),
        ("2024/01/05", date(2024, 1, 5)),
        ("2024.1.5", date(2024, 1, 5)),
        ("20240105", date(2024, 1, 5)),
        ("2024年1月5日", date(2024, 1, 5)),
        ("２０２４－０１－０５", date(2024, 1, 5)),
        ("2024-01-05 00:00:00", date(2024, 1, 5)),
        ("2024-01-05T13:30", date(2024, 1, 5)),
        ("2024-02-30", None),
        ("1899-12-31", None),
        ("05/01/2024", None),
        ("", None),
    ],
)
def test_dates_in_the_forms_sources_use(text: str, expected: date | None) -> None:
    assert parse_date_text(text) == expected


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)),
    st.sampled_from(["{:%Y-%m-%d}", "{:%Y%m%d}", "{:%Y/%m/%d}", "{:%Y年%m月%d日}"]),
)
def test_every_date_round_trips_through_any_accepted_form(day: date, form: str) -> None:
    assert parse_date_text(form.format(day)) == day


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03", "2024-03"),
        ("2024-3", "2024-03"),
        ("202403", "2024-03"),
        ("2024/03", "2024-03"),
        ("2024年3月", "2024-03"),
        ("2024-13", None),
        ("24-03", None),
    ],
)
def test_periods(text: str, expected: str | None) -> None:
    assert parse_period_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.30", "10.3"),
        ("010", "10"),
        ("0", "0"),
        ("0.000", "0"),
        (".5", "0.5"),
        ("1,234.5", "1234.5"),
        ("１２.５", "12.5"),
        ("0.000001", "0.000001"),
        ("0.0000001", None),
        ("-1", None),
        ("1e3", None),
        ("", None),
        (".", None),
        ("123456789012345", None),
    ],
)
def test_amounts_in_wan_are_exact_canonical_text(text: str, expected: str | None) -> None:
    assert canonical_decimal(text) == expected


@given(st.decimals(min_value=0, max_value=10**13, places=6, allow_nan=False, allow_infinity=False))
def test_canonical_amounts_keep_the_exact_value(value: object) -> None:
    text = format(value, "f")
    canonical = canonical_decimal(text)
    assert canonical is not None
    from decimal import Decimal

    assert Decimal(canonical) == Decimal(text)
    assert canonical_decimal(canonical) == canonical


def test_integers_and_booleans() -> None:
    assert canonical_integer("007") == "7"
    assert canonical_integer("1,000") == "1000"
    assert canonical_integer("-1") is None
    assert canonical_integer("1.5") is None
    assert [canonical_boolean(v) for v in ("是", "TRUE", "1", "n", "否", "maybe")] == [
        "true",
        "true",
        "true",
        "false",
        "false",
        None,
    ]


def test_resident_id_check() -> None:
    assert model.resident_id_ok("11010519491231002X")
    assert not model.resident_id_ok("110105194912310021")
    assert model.resident_id_ok("E12345678")  # not a resident ID: not checked here


@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=3))
def test_record_ids_are_stable_uuid8_and_differ_by_key(values: list[str]) -> None:
    rid = record_id("admin_penalty", values)
    assert rid == record_id("admin_penalty", list(values))
    assert rid.version == 8
    assert rid.variant == uuid.RFC_4122
    assert rid != record_id("admin_license", values)


def test_penalty_severities_and_sectors() -> None:
    assert penalty_severities("警告") == (Severity.MINOR,)
    assert penalty_severities("罚款;没收违法所得") == (Severity.GENERAL,)
    assert penalty_severities("罚款；吊销许可证件") == (Severity.GENERAL, Severity.SERIOUS)
    assert penalty_severities("责令停产停业", ["food_safety"]) == (Severity.SERIOUS_SPECIFIC,)
    assert penalty_severities("罚款", ["food_safety"]) == (Severity.GENERAL,)
    assert penalty_severities("某种新处罚") == (Severity.GENERAL,)
    assert penalty_severities(None) == (Severity.GENERAL,)
    assert penalty_sectors("《中华人民共和国消防法》第六十条", "使用未经定期检验的特种设备") == (
        "special_equipment",
        "fire_safety",
    )
    assert model.gravest([Severity.MINOR, Severity.SERIOUS]) is Severity.SERIOUS


def test_every_penalty_type_of_the_law_has_a_severity_matching_the_catalog() -> None:
    catalog_severities = {s.value for s in __import__("xinyidai.catalog", fromlist=["Severity"]).Severity}
    assert {s.value for s in model.PENALTY_TYPE_SEVERITY.values()} <= catalog_severities
    assert {s.value for s in Severity} == catalog_severities


def test_headers_are_matched_to_items_current_and_legacy() -> None:
    penalty = load_catalog().item("admin_penalty")
    current = match_header(list(penalty.field_names), SPECS)
    assert (current.item_code, current.layout, current.missing, current.unknown) == ("admin_penalty", Layout.CURRENT, (), ())
    lowered = match_header([f.lower() for f in penalty.field_names] + ["EXTRA"], SPECS)
    assert (lowered.item_code, lowered.unknown) == ("admin_penalty", ("EXTRA",))
    legacy = match_header(["CF_WSH", "CF_CFMC", "CF_CFLB1", "CF_CFLB2", "CF_XDR_MC", "CF_JDRQ", "CF_XZJG", "DFBM", "SJC"], SPECS)
    assert (legacy.item_code, legacy.layout) == ("admin_penalty", Layout.LEGACY_2016)
    assert dict(legacy.columns)[2] == "CF_CFLB" == dict(legacy.columns)[3]
    assert legacy.dropped == ("DFBM", "SJC")
    license_ = match_header(list(load_catalog().item("admin_license").field_names), SPECS)
    assert license_.item_code == "admin_license"
    for item in load_catalog().items:
        assert match_header(list(item.field_names), SPECS).item_code == item.code


def test_headers_that_fit_no_item_or_lack_a_key_are_unreadable() -> None:
    with pytest.raises(FileUnreadable):
        match_header(["foo", "bar"], SPECS)
    with pytest.raises(FileUnreadable):
        match_header(["CF_WFXW", "CF_JDRQ"], SPECS)  # no natural key


def test_visibility_is_within_publication_and_retention() -> None:
    day = date(2026, 6, 30)
    assert model.visible(as_of=day, publication_end=None, retention_end=None)
    assert model.visible(as_of=day, publication_end=day, retention_end=day)
    assert not model.visible(as_of=day, publication_end=date(2026, 6, 29), retention_end=None)
    assert not model.visible(as_of=day, publication_end=None, retention_end=date(2026, 6, 29))


def test_delivery_is_denied_by_default() -> None:
    own = frozenset({"A"})
    assert model.may_deliver(source_code="A", known=True, own_codes=own, register_unknown=False).allowed
    refused = model.may_deliver(source_code="B", known=True, own_codes=own, register_unknown=True)
    assert (refused.allowed, refused.code) == (False, RejectCode.SOURCE_FORBIDDEN)
    assert model.may_deliver(source_code="B", known=False, own_codes=None, register_unknown=True).allowed
    assert (
        model.may_deliver(source_code="B", known=False, own_codes=None, register_unknown=False).code is RejectCode.SOURCE_UNKNOWN
    )
    assert not model.may_deliver(source_code=None, known=False, own_codes=None, register_unknown=True).allowed


def test_counts_balance() -> None:
    counts = model.Counts(rows=10, accepted=4, updated=1, unchanged=2, rejected=3, duplicates=1)
    assert counts.balanced()
    counts.rows = 11
    assert not counts.balanced()
