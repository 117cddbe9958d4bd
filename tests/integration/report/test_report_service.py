"""Report use cases on a real database: public items only in the public report; the authorized report by scope and
data range with its pull event; tenancy (404) and revocation (403); the special report's period, marks and daily
limit; verification codes, signatures and altered copies."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from tests.integration.consent.consent_support import SUBJECT, People
from tests.integration.report.report_support import ADMIN, ID_NUMBER, audit_events, authorize, pull
from xinyidai import consent, ingest, report
from xinyidai.consent import AccessDenied, AuthorizationNotFound, Keyring, Purpose, Transition
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.report.model import canonical_json
from xinyidai.report.tables import Report


def _items(doc: report.ReportDocument) -> list[str]:
    return [e["item_code"] for s in doc.content["sections"] for e in s["entries"]]


def _entries(doc: report.ReportDocument, item: str) -> list[dict[str, object]]:
    return [e for s in doc.content["sections"] for e in s["entries"] if e["item_code"] == item]


def _pulled(db: Database, clock: FrozenClock, people: People, keyring: Keyring) -> tuple[uuid.UUID, report.ReportDocument]:
    """A fresh authorization for 贷前/授信审批 and the authorized report officer A pulls under it."""
    auth_id = authorize(db, clock, people, keyring)
    return auth_id, pull(db, clock, keyring, people.officer_a, auth_id)


def test_public_report_has_public_items_only_in_the_standard_sections(db: Database, clock: FrozenClock, keyring: Keyring) -> None:
    doc = report.create_public_report(db, actor=None, clock=clock, keyring=keyring, uscc=SUBJECT.lower())
    titles = [s["title"] for s in doc.content["sections"]]
    assert titles == [
        "基本信息",
        "行政管理",
        "诚实守信",
        "严重失信主体名单",
        "经营异常",
        "信用承诺",
        "信用评价",
        "司法判决",
        "其他",
    ]
    assert set(_items(doc)) == {"admin_penalty", "admin_coercion"}
    assert len(_entries(doc, "admin_penalty")) == 1  # the 2021 penalty's publication has ended
    assert doc.content["advice"]
    assert doc.number.startswith("CITY-350100-20260630-")
    text = json.dumps(doc.envelope(), ensure_ascii=False)
    assert ID_NUMBER not in text
    assert "350102********0011" in text
    assert "张三丰" not in text
    claims = keyring.verify(doc.signature, expected_type=report.SIGNATURE_TYPE).payload
    assert claims["sha256"] == doc.sha256 == report.content_sha256(doc.content)
    assert audit_events(db, "report.public.issue")[-1].target_id == str(doc.id)


def test_numbers_follow_each_other_within_the_day(db: Database, clock: FrozenClock, keyring: Keyring) -> None:
    first = report.create_public_report(db, actor=None, clock=clock, keyring=keyring, uscc=SUBJECT)
    second = report.create_public_report(db, actor=None, clock=clock, keyring=keyring, uscc=SUBJECT)
    assert int(second.number.rsplit("-", 1)[1]) == int(first.number.rsplit("-", 1)[1]) + 1
    assert first.verification_code != second.verification_code


def test_authorized_report_respects_scope_and_data_range_and_is_pulled(
    db: Database, clock: FrozenClock, people: People, keyring: Keyring
) -> None:
    auth_id, doc = _pulled(db, clock, people, keyring)
    items = _items(doc)
    assert {"admin_penalty", "admin_coercion", "tax_payment", "utility_payment"} <= set(items)
    assert "tax_credit_grade" not in items
    # The 2021 bill lies outside the authorization's data range (the last two years).
    assert [e["event_date"] for e in _entries(doc, "utility_payment")] == ["2025-03-01"]
    assert doc.content["authorization"]["id"] == str(auth_id)
    pulls = audit_events(db, "consent.access.pull")
    assert pulls
    assert pulls[-1].subject == SUBJECT
    assert set(pulls[-1].data["items"]) >= {"tax_payment", "utility_payment"}
    assert pulls[-1].data["authorization_id"] == str(auth_id)
    # Bank B neither pulls under A's authorization nor reads A's report: 404 both times.
    with pytest.raises(AuthorizationNotFound):
        pull(db, clock, keyring, people.officer_b, auth_id)
    with pytest.raises(report.ReportNotFound):
        report.get_report(db, actor=people.officer_b, clock=clock, number=doc.number)
    assert audit_events(db, "report.report.read.denied")
    again = report.get_report(db, actor=people.admin_a, clock=clock, number=doc.number)
    assert again.sha256 == doc.sha256
    assert audit_events(db, "report.report.download")[-1].subject == SUBJECT


def test_revoked_or_foreign_purpose_authorization_is_refused(
    db: Database, clock: FrozenClock, people: People, keyring: Keyring
) -> None:
    auth_id = authorize(db, clock, people, keyring)
    with pytest.raises(AccessDenied):
        pull(db, clock, keyring, people.officer_a, auth_id, Purpose.GUARANTEE)
    consent.change_authorization(
        db,
        actor=people.enterprise,
        clock=clock,
        keyring=keyring,
        authorization_id=auth_id,
        transition=Transition.REVOKE,
        reason="不再合作",
    )
    with pytest.raises(AccessDenied):
        pull(db, clock, keyring, people.officer_a, auth_id)
    assert len(audit_events(db, "consent.access.denied")) >= 2
    assert not audit_events(db, "report.authorized.issue")
    with pytest.raises(AuthorizationNotFound):
        pull(db, clock, keyring, people.officer_a, uuid.uuid4())


def test_special_report_marks_repaired_and_disputed_and_limits_requests(
    db: Database, clock: FrozenClock, people: People, keyring: Keyring
) -> None:
    records = {r.item_code: r for r in ingest.visible_records(db, uscc=SUBJECT, as_of=date(2026, 6, 30))}
    with db.transaction() as s:
        ingest.mark_repaired(s, actor=ADMIN, clock=clock, record_id=records["admin_penalty"].id, reason="信用修复通过")
        ingest.mark_disputed(s, actor=ADMIN, record_id=records["admin_coercion"].id, reason="企业提出异议")
    public = report.create_public_report(db, actor=None, clock=clock, keyring=keyring, uscc=SUBJECT)
    assert "admin_penalty" not in _items(public)  # repaired: no longer published
    assert _entries(public, "admin_coercion")[0]["marks"] == [report.MARK_DISPUTED]
    doc = report.create_special_report(
        db,
        actor=people.enterprise,
        clock=clock,
        keyring=keyring,
        report_type="general",
        period_from=date(2022, 1, 1),
        period_to=date(2026, 6, 30),
    )
    assert [s["title"] for s in doc.content["sections"]] == ["行政处罚", "行政强制", "严重失信名单"]
    assert _entries(doc, "admin_penalty")[0]["marks"] == [report.MARK_REPAIRED]
    assert _entries(doc, "admin_coercion")[0]["marks"] == [report.MARK_DISPUTED]
    assert "tax_payment" not in _items(doc)
    with pytest.raises(report.DailyLimitReached):
        report.create_special_report(
            db,
            actor=people.enterprise,
            clock=clock,
            keyring=keyring,
            report_type="general",
            period_from=date(2025, 1, 1),
            period_to=date(2026, 6, 1),
        )
    assert audit_events(db, "report.special.refused")
    other_type = report.create_special_report(
        db,
        actor=people.enterprise,
        clock=clock,
        keyring=keyring,
        report_type="penalty",
        period_from=date(2025, 6, 1),
        period_to=date(2026, 6, 30),
    )
    assert [s["title"] for s in other_type.content["sections"]] == ["行政处罚"]
    clock.advance(timedelta(days=1))
    report.create_special_report(
        db,
        actor=people.enterprise,
        clock=clock,
        keyring=keyring,
        report_type="general",
        period_from=date(2025, 1, 1),
        period_to=date(2026, 6, 30),
    )


def test_special_report_period_rules(db: Database, clock: FrozenClock, people: People, keyring: Keyring) -> None:
    for start, end in (
        (date(2021, 6, 29), date(2026, 6, 30)),
        (date(2026, 1, 1), date(2025, 1, 1)),
        (date(2026, 1, 1), date(2026, 7, 1)),
    ):
        with pytest.raises(report.InvalidPeriod):
            report.create_special_report(
                db, actor=people.enterprise, clock=clock, keyring=keyring, report_type="general", period_from=start, period_to=end
            )
    with pytest.raises(report.UnknownReportType):
        report.create_special_report(
            db,
            actor=people.enterprise,
            clock=clock,
            keyring=keyring,
            report_type="nope",
            period_from=date(2026, 1, 1),
            period_to=date(2026, 6, 1),
        )
    # Only a period in the window counts: the 2025 penalty is outside this one.
    doc = report.create_special_report(
        db,
        actor=people.enterprise,
        clock=clock,
        keyring=keyring,
        report_type="general",
        period_from=date(2021, 6, 30),
        period_to=date(2024, 12, 31),
    )
    assert "admin_penalty" not in _items(doc)
    assert _items(doc) == ["admin_coercion"]


def test_verification_round_trip_and_alteration(db: Database, clock: FrozenClock, keyring: Keyring) -> None:
    doc = report.create_public_report(db, actor=None, clock=clock, keyring=keyring, uscc=SUBJECT)
    plain = report.verify_report(db, keyring=keyring, code=doc.verification_code.lower().replace("-", " "))
    assert plain.signature_valid
    assert plain.matches is None
    assert plain.number == doc.number
    assert plain.sha256 == doc.sha256
    assert report.verify_report(db, keyring=keyring, code=doc.verification_code, presented=doc.envelope()).matches is True
    assert report.verify_report(db, keyring=keyring, code=doc.verification_code, presented=doc.content).matches is True
    altered = json.loads(json.dumps(doc.envelope()))
    altered["report"]["sections"][1]["entries"] = []
    result = report.verify_report(db, keyring=keyring, code=doc.verification_code, presented=altered)
    assert result.matches is False
    assert result.presented_sha256 != doc.sha256
    assert report.verify_report(db, keyring=keyring, code=doc.verification_code, presented={"x": 1}).matches is False
    with pytest.raises(report.ReportNotFound):
        report.verify_report(db, keyring=keyring, code="0000-0000-0000-0000")
    # A signature by another key (or a rewritten stored hash) no longer verifies.
    other = Keyring(consent.generate_key(consent.SigningAlgorithm.EDDSA))
    assert report.verify_report(db, keyring=other, code=doc.verification_code).signature_valid is False


def test_stored_document_is_the_issued_one(db: Database, clock: FrozenClock, people: People, keyring: Keyring) -> None:
    """The document is stored from the canonical JSON that was hashed: it reads back equal, hashes to the stored
    hash, and the JSON delivered is that same canonical text inside the envelope."""
    _, doc = _pulled(db, clock, people, keyring)
    with db.transaction() as s:
        stored = s.execute(sa.select(Report.content, Report.content_sha256).where(Report.number == doc.number)).one()
    assert stored.content == doc.content
    assert stored.content_sha256 == doc.sha256 == report.content_sha256(stored.content)
    delivered = json.loads(doc.envelope_json())
    assert delivered == json.loads(json.dumps(doc.envelope()))
    assert canonical_json(delivered["report"]) == doc.canonical
    again = report.get_report(db, actor=people.officer_a, clock=clock, number=doc.number)
    assert again.content == doc.content
    assert report.verify_report(db, keyring=keyring, code=doc.verification_code).signature_valid
