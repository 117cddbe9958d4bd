"""The access decision: one pure function, deny by default, every rule table-driven and under Hypothesis."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from xinyidai.catalog import Disclosure, load_catalog
from xinyidai.consent.model import (
    AccessAction,
    AccessorKind,
    Authorization,
    AuthorizationStatus,
    AuthorizationTerms,
    DateRange,
    FetchType,
    Frequency,
    FrequencyUnit,
    ItemRef,
    Purpose,
    Scope,
    decide_access,
    fetch_cap,
    fetch_window_start,
)

NOW = datetime(2026, 6, 30, 2, 0, tzinfo=UTC)
SUBJECT = "91350100M000100Y43"
OTHER_SUBJECT = "914403001922038216"
BANK = uuid.UUID("00000000-0000-7000-8000-00000000000a")
OTHER_BANK = uuid.UUID("00000000-0000-7000-8000-00000000000b")

TAX = ItemRef("tax_payment", "administrative", "authorized")
PENALTY = ItemRef("admin_penalty", "administrative", "public")
UTILITY = ItemRef("utility_payment", "contract_performance", "authorized")
SELF = ItemRef("self_reported", "voluntary", "consent")
GRADE = ItemRef("tax_credit_grade", "credit_evaluation", "authorized")
ITEMS = (TAX, PENALTY, UTILITY, SELF, GRADE)


def _auth(**changes: object) -> Authorization:
    terms = AuthorizationTerms(
        purpose=Purpose.CREDIT_APPROVAL,
        scope=Scope(frozenset({"administrative"}), frozenset({"self_reported"})),
        data_range=DateRange(date(2024, 1, 1), date(2026, 6, 30)),
        fetch_type=FetchType.PERIODIC,
        frequency=Frequency(3, FrequencyUnit.DAY),
        data_life_days=30,
        starts_at=None,
        expires_at=NOW + timedelta(days=30),
    )
    term_changes = {k: v for k, v in changes.items() if k in AuthorizationTerms.__dataclass_fields__}
    own = {k: v for k, v in changes.items() if k not in term_changes}
    base = Authorization(
        id=uuid.UUID("00000000-0000-7000-8000-0000000000aa"),
        enterprise_uscc=SUBJECT,
        institution_id=BANK,
        status=AuthorizationStatus.ACTIVE,
        terms=replace(terms, **term_changes),  # type: ignore[arg-type]
        valid_from=NOW - timedelta(days=1),
    )
    return replace(base, **own)  # type: ignore[arg-type]


def _bank(item: ItemRef, auth: Authorization | None, **kw: object) -> tuple[bool, tuple[str, ...]]:
    args: dict[str, object] = {
        "principal_kind": AccessorKind.INSTITUTION,
        "principal_institution": BANK,
        "action": AccessAction.REPORT,
        "subject_uscc": SUBJECT,
        "item": item,
        "purpose": Purpose.CREDIT_APPROVAL,
        "authorization": auth,
        "at": NOW,
    }
    args.update(kw)
    decision = decide_access(**args)  # type: ignore[arg-type]
    return decision.allowed, decision.reasons


# --- table-driven ---------------------------------------------------------------------------------

CASES: list[tuple[str, ItemRef, dict[str, object], Authorization | None, bool, str]] = [
    ("public item, no authorization", PENALTY, {}, None, True, "公开信息"),
    (
        "public item, anonymous",
        PENALTY,
        {"principal_kind": AccessorKind.ANONYMOUS, "principal_institution": None},
        None,
        True,
        "",
    ),
    ("authorized item, no authorization", TAX, {}, None, False, "未提供授权"),
    ("covered by category", TAX, {}, _auth(), True, "依据授权"),
    ("covered by item", SELF, {}, _auth(), True, "依据授权"),
    ("not covered", UTILITY, {}, _auth(), False, "未覆盖"),
    ("category of another item", GRADE, {}, _auth(), False, "未覆盖"),
    ("paused", TAX, {}, _auth(status=AuthorizationStatus.PAUSED), False, "已暂停"),
    ("revoked", TAX, {}, _auth(status=AuthorizationStatus.REVOKED), False, "已撤销"),
    ("rejected", TAX, {}, _auth(status=AuthorizationStatus.REJECTED), False, "已拒绝"),
    ("requested only", TAX, {}, _auth(status=AuthorizationStatus.REQUESTED), False, "待企业确认"),
    ("expired by status", TAX, {}, _auth(status=AuthorizationStatus.EXPIRED), False, "已到期"),
    ("expired by time", TAX, {}, _auth(expires_at=NOW), False, "已到期"),
    ("not yet in effect", TAX, {}, _auth(starts_at=NOW + timedelta(hours=1)), False, "尚未生效"),
    ("another institution's", TAX, {"principal_institution": OTHER_BANK}, _auth(), False, "不属于本机构"),
    ("another subject", TAX, {"subject_uscc": OTHER_SUBJECT}, _auth(), False, "主体与查询主体不符"),
    ("other purpose", TAX, {"purpose": Purpose.PRE_LOAN_REVIEW}, _auth(), False, "用途"),
    ("no purpose", TAX, {"purpose": None}, _auth(), False, "未说明查询用途"),
    ("cap used up", TAX, {"fetch_count": 3}, _auth(), False, "频次上限"),
    ("cap not yet used up", TAX, {"fetch_count": 2}, _auth(), True, "本期已查询 2 次"),
    ("one-time used", TAX, {"fetch_count": 1}, _auth(fetch_type=FetchType.ONE_TIME, frequency=None), False, "一次性"),
    ("one-time first", TAX, {"fetch_count": 0}, _auth(fetch_type=FetchType.ONE_TIME, frequency=None), True, ""),
    ("range inside", TAX, {"data_range": DateRange(date(2025, 1, 1), date(2025, 12, 31))}, _auth(), True, ""),
    ("range outside", TAX, {"data_range": DateRange(date(2023, 1, 1), date(2025, 12, 31))}, _auth(), False, "超出授权数据范围"),
    ("department", TAX, {"principal_kind": AccessorKind.DEPARTMENT, "principal_institution": None}, _auth(), False, "金融机构"),
    ("platform", TAX, {"principal_kind": AccessorKind.PLATFORM, "principal_institution": None}, _auth(), False, "金融机构"),
    ("anonymous", TAX, {"principal_kind": AccessorKind.ANONYMOUS, "principal_institution": None}, _auth(), False, "金融机构"),
    (
        "enterprise, own data",
        TAX,
        {"principal_kind": AccessorKind.ENTERPRISE, "principal_institution": None, "principal_enterprise": SUBJECT},
        None,
        True,
        "本企业",
    ),
    (
        "enterprise, another's data",
        TAX,
        {"principal_kind": AccessorKind.ENTERPRISE, "principal_institution": None, "principal_enterprise": OTHER_SUBJECT},
        _auth(),
        False,
        "只能查询本企业",
    ),
    ("unknown disclosure class", ItemRef("x", "administrative", "secret"), {}, _auth(), False, "未知"),
]


@pytest.mark.parametrize(("name", "item", "kw", "auth", "allowed", "reason"), CASES, ids=[c[0] for c in CASES])
def test_decision_table(
    name: str, item: ItemRef, kw: dict[str, object], auth: Authorization | None, allowed: bool, reason: str
) -> None:
    got, reasons = _bank(item, auth, **kw)
    assert got is allowed, reasons
    assert reasons, "every decision carries its reasons"
    assert any(reason in r for r in reasons), reasons


def test_every_failing_condition_is_named() -> None:
    decision = decide_access(
        principal_kind=AccessorKind.INSTITUTION,
        principal_institution=BANK,
        action=AccessAction.READ,
        subject_uscc=OTHER_SUBJECT,
        item=UTILITY,
        purpose=Purpose.GUARANTEE,
        authorization=_auth(status=AuthorizationStatus.PAUSED),
        at=NOW,
        fetch_count=9,
    )
    assert not decision.allowed
    joined = " ".join(decision.reasons)
    for part in ("主体与查询主体不符", "已暂停", "用途", "未覆盖", "频次上限"):
        assert part in joined


def test_allowed_decision_names_the_authorization_and_the_range_to_return() -> None:
    auth = _auth()
    decision = decide_access(
        principal_kind=AccessorKind.INSTITUTION,
        principal_institution=BANK,
        action=AccessAction.VERIFY,
        subject_uscc=SUBJECT,
        item=TAX,
        purpose=Purpose.CREDIT_APPROVAL,
        authorization=auth,
        at=NOW,
    )
    assert decision.allowed
    assert decision.counted
    assert decision.authorization_id == auth.id
    assert decision.data_range == auth.terms.data_range
    assert decision.item == "tax_payment"


def test_codes_are_taken_by_value_and_unknown_ones_denied() -> None:
    assert _bank(TAX, _auth(), purpose="credit_approval", action="report", principal_kind="institution")[0]
    for bad in ({"purpose": "marketing"}, {"action": "delete"}, {"principal_kind": "robot"}):
        allowed, reasons = _bank(TAX, _auth(), **bad)
        assert not allowed
        assert "未知" in reasons[0]


def test_another_institutions_authorization_is_marked_foreign() -> None:
    decision = decide_access(
        principal_kind=AccessorKind.INSTITUTION,
        principal_institution=OTHER_BANK,
        action=AccessAction.READ,
        subject_uscc=SUBJECT,
        item=TAX,
        purpose=Purpose.CREDIT_APPROVAL,
        authorization=_auth(),
        at=NOW,
    )
    assert decision.foreign
    assert not decision.allowed
    # Nothing about the authorization's terms leaks into the reasons.
    assert decision.reasons == ("该授权不属于本机构",)


def test_catalog_disclosure_enum_plugs_in() -> None:
    item = load_catalog().item("tax_payment")
    ref = ItemRef(item.code, item.category, item.disclosure)
    assert ref.disclosure == Disclosure.AUTHORIZED
    assert _bank(ref, _auth())[0]
    assert not _bank(ref, None)[0]


# --- frequency windows ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "at", "start"),
    [
        # 2026-06-30 02:00 UTC is 10:00 on Tuesday 30 June in China.
        (FrequencyUnit.DAY, NOW, datetime(2026, 6, 29, 16, 0, tzinfo=UTC)),
        (FrequencyUnit.WEEK, NOW, datetime(2026, 6, 28, 16, 0, tzinfo=UTC)),
        (FrequencyUnit.MONTH, NOW, datetime(2026, 5, 31, 16, 0, tzinfo=UTC)),
        (FrequencyUnit.YEAR, NOW, datetime(2025, 12, 31, 16, 0, tzinfo=UTC)),
        # 17:00 UTC on 30 June is already 1 July in China.
        (FrequencyUnit.DAY, datetime(2026, 6, 30, 17, 0, tzinfo=UTC), datetime(2026, 6, 30, 16, 0, tzinfo=UTC)),
    ],
)
def test_windows_are_calendar_periods_in_china_time(unit: FrequencyUnit, at: datetime, start: datetime) -> None:
    assert fetch_window_start(_auth(frequency=Frequency(2, unit)), at=at) == start


def test_one_time_counts_every_fetch_ever() -> None:
    one = _auth(fetch_type=FetchType.ONE_TIME, frequency=None)
    assert fetch_window_start(one, at=NOW) is None
    assert fetch_cap(one) == 1
    assert fetch_cap(_auth()) == 3


# --- properties -----------------------------------------------------------------------------------

statuses = st.sampled_from(list(AuthorizationStatus))
kinds = st.sampled_from(list(AccessorKind))
purposes = st.sampled_from(list(Purpose))
items = st.sampled_from(ITEMS)
offsets = st.integers(min_value=-60 * 24 * 60, max_value=60 * 24 * 60)


@st.composite
def authorizations(draw: st.DrawFn) -> Authorization:
    unit = draw(st.sampled_from(list(FrequencyUnit)))
    one_time = draw(st.booleans())
    start = date(2020, 1, 1) + timedelta(days=draw(st.integers(0, 2500)))
    return _auth(
        status=draw(statuses),
        institution_id=draw(st.sampled_from([BANK, OTHER_BANK])),
        enterprise_uscc=draw(st.sampled_from([SUBJECT, OTHER_SUBJECT])),
        purpose=draw(purposes),
        scope=Scope(
            frozenset(draw(st.sets(st.sampled_from(["administrative", "voluntary", "credit_evaluation"])))),
            frozenset(draw(st.sets(st.sampled_from([i.code for i in ITEMS])))),
        ),
        data_range=DateRange(start, start + timedelta(days=draw(st.integers(0, 2000)))),
        fetch_type=FetchType.ONE_TIME if one_time else FetchType.PERIODIC,
        frequency=None if one_time else Frequency(draw(st.integers(1, 20)), unit),
        expires_at=NOW + timedelta(minutes=draw(offsets)),
        starts_at=draw(st.none() | st.builds(lambda m: NOW + timedelta(minutes=m), offsets)),
    )


@given(kind=kinds, item=items, purpose=st.none() | purposes, auth=st.none() | authorizations(), count=st.integers(0, 50))
def test_without_an_authorization_only_public_items_and_own_data(
    kind: AccessorKind, item: ItemRef, purpose: Purpose | None, auth: Authorization | None, count: int
) -> None:
    decision = decide_access(
        principal_kind=kind,
        principal_institution=BANK if kind is AccessorKind.INSTITUTION else None,
        principal_enterprise=OTHER_SUBJECT if kind is AccessorKind.ENTERPRISE else None,
        action=AccessAction.READ,
        subject_uscc=SUBJECT,
        item=item,
        purpose=purpose,
        authorization=None,
        at=NOW,
        fetch_count=count,
    )
    assert decision.allowed is (item.disclosure == "public")


@given(auth=authorizations(), item=items, purpose=purposes, count=st.integers(0, 50))
def test_revoked_paused_rejected_requested_or_expired_never_allow_non_public(
    auth: Authorization, item: ItemRef, purpose: Purpose, count: int
) -> None:
    assume(auth.status is not AuthorizationStatus.ACTIVE or auth.terms.expires_at <= NOW)
    allowed, _ = _bank(item, auth, purpose=purpose, fetch_count=count)
    assert allowed is (item.disclosure == "public")


@given(auth=authorizations(), item=items, purpose=purposes, count=st.integers(0, 50))
def test_another_institutions_authorization_never_allows_non_public(
    auth: Authorization, item: ItemRef, purpose: Purpose, count: int
) -> None:
    foreign = replace(auth, institution_id=OTHER_BANK, status=AuthorizationStatus.ACTIVE)
    allowed, _ = _bank(item, foreign, purpose=purpose, fetch_count=count)
    assert allowed is (item.disclosure == "public")


@given(auth=authorizations(), item=items, purpose=purposes, count=st.integers(0, 50), at=offsets)
def test_an_allowed_non_public_read_satisfies_every_rule(
    auth: Authorization, item: ItemRef, purpose: Purpose, count: int, at: int
) -> None:
    moment = NOW + timedelta(minutes=at)
    decision = decide_access(
        principal_kind=AccessorKind.INSTITUTION,
        principal_institution=BANK,
        action=AccessAction.REPORT,
        subject_uscc=SUBJECT,
        item=item,
        purpose=purpose,
        authorization=auth,
        at=moment,
        fetch_count=count,
    )
    if decision.allowed and item.disclosure != "public":
        assert auth.institution_id == BANK
        assert auth.enterprise_uscc == SUBJECT
        assert auth.status_at(moment) is AuthorizationStatus.ACTIVE
        assert purpose is auth.terms.purpose
        assert auth.terms.scope.covers(item)
        assert count < fetch_cap(auth)
        assert moment < auth.terms.expires_at
        assert auth.terms.starts_at is None or moment >= auth.terms.starts_at
        assert decision.counted
        assert decision.authorization_id == auth.id


@given(auth=authorizations(), item=items, count=st.integers(0, 50))
def test_the_enterprise_always_reads_its_own_data(auth: Authorization, item: ItemRef, count: int) -> None:
    decision = decide_access(
        principal_kind=AccessorKind.ENTERPRISE,
        principal_institution=None,
        principal_enterprise=SUBJECT,
        action=AccessAction.READ,
        subject_uscc=SUBJECT,
        item=item,
        purpose=None,
        authorization=auth,
        at=NOW,
        fetch_count=count,
    )
    assert decision.allowed
    assert not decision.counted


@given(auth=authorizations(), item=items, purpose=purposes, count=st.integers(0, 50))
def test_more_fetches_never_turn_a_denial_into_an_allowance(
    auth: Authorization, item: ItemRef, purpose: Purpose, count: int
) -> None:
    before, _ = _bank(item, auth, purpose=purpose, fetch_count=count)
    after, _ = _bank(item, auth, purpose=purpose, fetch_count=count + 1)
    assert after <= before
