"""Lending use cases on a real database: transitions, deadline jobs across National Day, webhooks, tenancy, loans."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.integration.lending.conftest import World, loan_terms
from xinyidai import lending
from xinyidai.audit.tables import AuditEvent
from xinyidai.config import Settings
from xinyidai.db import Database
from xinyidai.http.container import Container
from xinyidai.job import JobRegistry, run_due
from xinyidai.job.tables import Job, OutboxMessage
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.errors import Forbidden, InvalidInput
from xinyidai.kernel.pii import PiiCipher
from xinyidai.lending import (
    ApplicationStatus,
    Approval,
    LoanClass,
    LoanRepaymentMethod,
    LoanStatus,
    Rejection,
    RejectionReason,
)
from xinyidai.lending.jobs import register_jobs

# Friday 2025-09-26, 10:00 China time: acceptance just before National Day.
BEFORE_NATIONAL_DAY = datetime(2025, 9, 26, 2, 0, tzinfo=UTC)


def _submit(db: Database, clock: FrozenClock, w: World, *, product: lending.ProductRef | None = None) -> lending.ApplicationView:
    return lending.submit_application(
        db,
        actor=w.enterprise,
        clock=clock,
        hooks=w.hooks,
        product_id=(product or w.product_a).id,
        amount_wan=Decimal("200"),
        term_months=12,
        purpose="采购原材料",
    )


def _outbox(db: Database, topic: str) -> list[OutboxMessage]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(OutboxMessage).where(OutboxMessage.topic == topic)))


def _audit_actions(db: Database, target: uuid.UUID) -> list[str]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(AuditEvent.action).where(AuditEvent.target_id == str(target)).order_by(AuditEvent.seq)))


def test_submit_accept_approve_with_notifications_webhooks_and_audit(db: Database, clock: FrozenClock, world: World) -> None:
    world.authorizations[(world.enterprise.enterprise_uscc or "", world.bank_a)] = auth = uuid.uuid4()
    clock.set(BEFORE_NATIONAL_DAY)
    app = _submit(db, clock, world)
    assert app.status is ApplicationStatus.SUBMITTED
    assert app.institution_id == world.bank_a
    assert app.authorization_id == auth
    accepted = lending.accept_application(db, actor=world.officer_a, clock=clock, hooks=world.hooks, application_id=app.id)
    assert accepted.decision_due_on == date(2025, 10, 16)
    assert accepted.working_days_left == 10
    decided = lending.decide_application(
        db,
        actor=world.officer_a,
        clock=clock,
        hooks=world.hooks,
        application_id=app.id,
        approval=Approval(Decimal(150), Decimal("3.65"), 12),
    )
    assert decided.status is ApplicationStatus.APPROVED
    assert decided.approved_amount_wan == Decimal(150)
    kinds = [n.kind for n in lending.list_notifications(db, actor=world.enterprise)]
    assert kinds == ["application.approved", "application.accepted", "application.submitted"]
    assert [m.destination for m in _outbox(db, "lending.application.submitted")] == ["https://bank-a.example/hooks"]
    assert _outbox(db, "lending.application.approved")[0].payload["application_id"] == str(app.id)
    assert _audit_actions(db, app.id) == [
        "lending.application.submit",
        "lending.application.accept",
        "lending.application.approve",
    ]


def test_no_endpoint_no_webhook(db: Database, clock: FrozenClock, world: World) -> None:
    app = _submit(db, clock, world, product=world.product_b)
    assert app.institution_id == world.bank_b
    with db.transaction() as s:
        assert (
            s.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(OutboxMessage.payload.is_not(None))) is not None
        )
    assert all(m.payload["application_id"] != str(app.id) for m in _outbox(db, "lending.application.submitted"))


def test_unknown_product_and_wrong_roles(db: Database, clock: FrozenClock, world: World) -> None:
    with pytest.raises(lending.ProductNotFound):
        lending.submit_application(
            db,
            actor=world.enterprise,
            clock=clock,
            hooks=world.hooks,
            product_id=uuid.uuid4(),
            amount_wan=Decimal(1),
            term_months=1,
            purpose="x",
        )
    with pytest.raises(Forbidden):
        _submit(db, clock, World(**{**world.__dict__, "enterprise": world.officer_a}))
    app = _submit(db, clock, world)
    with pytest.raises(Forbidden):
        lending.accept_application(db, actor=world.enterprise, clock=clock, hooks=world.hooks, application_id=app.id)


def test_rejection_needs_a_coded_reason(db: Database, clock: FrozenClock, world: World) -> None:
    app = _submit(db, clock, world)
    lending.accept_application(db, actor=world.officer_a, clock=clock, hooks=world.hooks, application_id=app.id)
    with pytest.raises(lending.ReasonRequired):
        lending.decide_application(
            db, actor=world.officer_a, clock=clock, hooks=world.hooks, application_id=app.id, rejection=Rejection((), "不行")
        )
    rejected = lending.decide_application(
        db,
        actor=world.officer_a,
        clock=clock,
        hooks=world.hooks,
        application_id=app.id,
        rejection=Rejection((RejectionReason.INCOMPLETE, RejectionReason.OPERATIONS), "缺少财务报表"),
    )
    assert rejected.rejection_reasons == (RejectionReason.INCOMPLETE, RejectionReason.OPERATIONS)
    message = lending.list_notifications(db, actor=world.enterprise)[0].message
    assert "资料不全" in message
    assert "经营状况不佳" in message
    assert "缺少财务报表" in message


def test_withdraw_before_decision_only(db: Database, clock: FrozenClock, world: World) -> None:
    first = _submit(db, clock, world)
    assert lending.withdraw_application(
        db, actor=world.enterprise, clock=clock, hooks=world.hooks, application_id=first.id
    ).status is (ApplicationStatus.WITHDRAWN)
    second = _submit(db, clock, world)
    lending.accept_application(db, actor=world.officer_a, clock=clock, hooks=world.hooks, application_id=second.id)
    lending.withdraw_application(db, actor=world.enterprise, clock=clock, hooks=world.hooks, application_id=second.id)
    third = _submit(db, clock, world)
    lending.accept_application(db, actor=world.officer_a, clock=clock, hooks=world.hooks, application_id=third.id)
    lending.decide_application(
        db,
        actor=world.officer_a,
        clock=clock,
        hooks=world.hooks,
        application_id=third.id,
        approval=Approval(Decimal(100), Decimal(4), 12),
    )
    with pytest.raises(lending.InvalidTransition):
        lending.withdraw_application(db, actor=world.enterprise, clock=clock, hooks=world.hooks, application_id=third.id)
    with pytest.raises(lending.InvalidTransition):
        lending.accept_application(db, actor=world.officer_a, clock=clock, hooks=world.hooks, application_id=first.id)


def test_tenancy(db: Database, clock: FrozenClock, world: World) -> None:
    app = _submit(db, clock, world)
    with pytest.raises(lending.ApplicationNotFound):
        lending.get_application(db, actor=world.officer_b, clock=clock, application_id=app.id)
    with pytest.raises(lending.ApplicationNotFound):
        lending.accept_application(db, actor=world.officer_b, clock=clock, hooks=world.hooks, application_id=app.id)
    with pytest.raises(lending.ApplicationNotFound):
        lending.withdraw_application(db, actor=world.other, clock=clock, hooks=world.hooks, application_id=app.id)
    assert lending.list_applications(db, actor=world.officer_b, clock=clock).total == 0
    assert lending.list_applications(db, actor=world.regulator, clock=clock).total == 0
    assert [v.id for v in lending.list_applications(db, actor=world.officer_a, clock=clock).items] == [app.id]


def test_reminder_and_escalation_across_national_day(
    db: Database, clock: FrozenClock, world: World, settings: Settings, cipher: PiiCipher
) -> None:
    clock.set(BEFORE_NATIONAL_DAY)
    app = _submit(db, clock, world)
    lending.accept_application(db, actor=world.officer_a, clock=clock, hooks=world.hooks, application_id=app.id)
    with db.transaction() as s:
        jobs = {j.kind: j.run_at for j in s.scalars(sa.select(Job).where(Job.kind.like("lending.decision.%")))}
    assert jobs == {
        "lending.decision.remind": datetime(2025, 10, 14, 1, 0, tzinfo=UTC),
        "lending.decision.escalate": datetime(2025, 10, 16, 16, 0, tzinfo=UTC),
    }
    container = Container(settings=settings, db=db, clock=clock, cipher=cipher)
    container.services[lending.HOOKS_SERVICE] = world.hooks
    registry = JobRegistry()
    register_jobs(registry, container)

    clock.set(datetime(2025, 10, 8, 2, 0, tzinfo=UTC))  # still National Day: nothing due
    run_due(db, registry, clock=clock, worker_id="t")
    assert _outbox(db, "lending.application.reminder") == []

    clock.set(datetime(2025, 10, 14, 1, 0, tzinfo=UTC))
    run_due(db, registry, clock=clock, worker_id="t")
    reminders = _outbox(db, "lending.application.reminder")
    assert [m.payload["working_days_left"] for m in reminders] == [2]
    queue = lending.list_applications(db, actor=world.officer_a, clock=clock, due="soon")
    assert [v.id for v in queue.items] == [app.id]
    assert queue.items[0].tone is lending.DeadlineTone.AMBER

    clock.set(datetime(2025, 10, 16, 15, 59, tzinfo=UTC))  # 23:59 on the due date: not yet overdue
    run_due(db, registry, clock=clock, worker_id="t")
    assert not lending.get_application(db, actor=world.officer_a, clock=clock, application_id=app.id).overdue

    clock.set(datetime(2025, 10, 16, 16, 0, tzinfo=UTC))
    run_due(db, registry, clock=clock, worker_id="t")
    view = lending.get_application(db, actor=world.officer_a, clock=clock, application_id=app.id)
    assert view.overdue
    assert view.tone is lending.DeadlineTone.RED
    assert len(_outbox(db, "lending.application.overdue")) == 1
    assert lending.list_notifications(db, actor=world.enterprise)[0].kind == "application.overdue"
    assert "lending.application.escalate" in _audit_actions(db, app.id)
    overview = lending.lending_overview(db, actor=world.regulator, clock=clock)
    assert [(o.application_id, o.escalated) for o in overview.overdue_decisions if o.application_id == app.id] == [(app.id, True)]
    assert [v.id for v in lending.list_applications(db, actor=world.officer_a, clock=clock, due="overdue").items] == [app.id]


def test_decided_application_is_not_escalated(
    db: Database, clock: FrozenClock, world: World, settings: Settings, cipher: PiiCipher
) -> None:
    clock.set(BEFORE_NATIONAL_DAY)
    app = _submit(db, clock, world)
    lending.accept_application(db, actor=world.officer_a, clock=clock, hooks=world.hooks, application_id=app.id)
    lending.decide_application(
        db,
        actor=world.officer_a,
        clock=clock,
        hooks=world.hooks,
        application_id=app.id,
        rejection=Rejection((RejectionReason.POLICY_LIMIT,), "超出单户授信上限"),
    )
    container = Container(settings=settings, db=db, clock=clock, cipher=cipher)
    registry = JobRegistry()
    register_jobs(registry, container)
    clock.set(datetime(2025, 10, 20, 2, 0, tzinfo=UTC))
    run_due(db, registry, clock=clock, worker_id="t")
    assert not lending.get_application(db, actor=world.officer_a, clock=clock, application_id=app.id).overdue
    assert "lending.application.escalate" not in _audit_actions(db, app.id)


def _approved(db: Database, clock: FrozenClock, w: World) -> lending.ApplicationView:
    app = _submit(db, clock, w)
    lending.accept_application(db, actor=w.officer_a, clock=clock, hooks=w.hooks, application_id=app.id)
    return lending.decide_application(
        db,
        actor=w.officer_a,
        clock=clock,
        hooks=w.hooks,
        application_id=app.id,
        approval=Approval(Decimal(200), Decimal("3.65"), 12),
    )


def test_loan_schedule_repayments_and_renewal(db: Database, clock: FrozenClock, world: World) -> None:
    app = _approved(db, clock, world)
    with pytest.raises(InvalidInput):
        lending.register_loan(
            db,
            actor=world.officer_a,
            clock=clock,
            hooks=world.hooks,
            application_id=app.id,
            terms=loan_terms(amount_wan=Decimal(201)),
        )
    loan = lending.register_loan(
        db, actor=world.officer_a, clock=clock, hooks=world.hooks, application_id=app.id, terms=loan_terms()
    )
    assert len(loan.schedule) == 12
    assert sum(i.principal_wan for i in loan.schedule) == Decimal(200)
    assert loan.maturity_on == date(2026, 10, 20)
    assert loan.credit_loan
    assert not loan.renewal
    with pytest.raises(lending.InvalidTransition):
        lending.register_loan(
            db, actor=world.officer_a, clock=clock, hooks=world.hooks, application_id=app.id, terms=loan_terms()
        )
    paid = lending.report_repayment(
        db,
        actor=world.officer_a,
        clock=clock,
        hooks=world.hooks,
        loan_id=loan.id,
        paid_on=date(2025, 11, 20),
        principal_wan=Decimal("16.666667"),
        interest_wan=Decimal("0.608333"),
    )
    assert paid.outstanding_wan == Decimal("183.333333")
    with pytest.raises(lending.LoanNotFound):
        lending.get_loan(db, actor=world.officer_b, loan_id=loan.id)
    assert lending.get_loan(db, actor=world.enterprise, loan_id=loan.id).id == loan.id

    # 关注 blocks renewal; back to 正常 with no DPD allows it.
    lending.report_classification(
        db,
        actor=world.officer_a,
        clock=clock,
        hooks=world.hooks,
        loan_id=loan.id,
        classification=LoanClass.SPECIAL_MENTION,
        days_past_due=0,
        as_of=date(2025, 12, 31),
    )
    with pytest.raises(lending.RenewalRefused):
        lending.renew_loan(
            db, actor=world.officer_a, clock=clock, hooks=world.hooks, loan_id=loan.id, terms=loan_terms(amount_wan=Decimal(100))
        )
    lending.report_classification(
        db,
        actor=world.officer_a,
        clock=clock,
        hooks=world.hooks,
        loan_id=loan.id,
        classification=LoanClass.NORMAL,
        days_past_due=3,
        as_of=date(2026, 1, 31),
    )
    with pytest.raises(lending.RenewalRefused):
        lending.renew_loan(
            db, actor=world.officer_a, clock=clock, hooks=world.hooks, loan_id=loan.id, terms=loan_terms(amount_wan=Decimal(100))
        )
    lending.report_classification(
        db,
        actor=world.officer_a,
        clock=clock,
        hooks=world.hooks,
        loan_id=loan.id,
        classification=LoanClass.NORMAL,
        days_past_due=0,
        as_of=date(2026, 2, 28),
    )
    with pytest.raises(InvalidInput):  # more than the outstanding principal
        lending.renew_loan(
            db, actor=world.officer_a, clock=clock, hooks=world.hooks, loan_id=loan.id, terms=loan_terms(amount_wan=Decimal(190))
        )
    renewed = lending.renew_loan(
        db,
        actor=world.officer_a,
        clock=clock,
        hooks=world.hooks,
        loan_id=loan.id,
        terms=loan_terms(amount_wan=Decimal("183.333333"), start_on=date(2026, 3, 1)),
    )
    assert renewed.renewal
    assert renewed.renewed_from_id == loan.id
    assert lending.get_loan(db, actor=world.officer_a, loan_id=loan.id).status is LoanStatus.RENEWED
    with pytest.raises(lending.RenewalRefused):
        lending.renew_loan(
            db, actor=world.officer_a, clock=clock, hooks=world.hooks, loan_id=loan.id, terms=loan_terms(amount_wan=Decimal(1))
        )

    # A defaulted loan shows up in the outcomes; the renewed one is replaced by its successor.
    lending.report_classification(
        db,
        actor=world.officer_a,
        clock=clock,
        hooks=world.hooks,
        loan_id=renewed.id,
        classification=LoanClass.SUBSTANDARD,
        days_past_due=95,
        as_of=date(2026, 6, 30),
    )
    outcomes = [o for o in lending.loan_outcomes(db) if o.uscc == world.enterprise.enterprise_uscc]
    assert outcomes == [lending.LoanOutcome(world.enterprise.enterprise_uscc or "", True, date(2026, 6, 30))]


def test_settling_a_loan(db: Database, clock: FrozenClock, world: World) -> None:
    app = _approved(db, clock, world)
    loan = lending.register_loan(
        db,
        actor=world.officer_a,
        clock=clock,
        hooks=world.hooks,
        application_id=app.id,
        terms=loan_terms(method=LoanRepaymentMethod.BULLET, credit_loan=False, guarantee="房产抵押"),
    )
    with pytest.raises(InvalidInput):
        lending.report_repayment(
            db,
            actor=world.officer_a,
            clock=clock,
            hooks=world.hooks,
            loan_id=loan.id,
            paid_on=date(2026, 10, 20),
            principal_wan=Decimal("200.000001"),
            interest_wan=Decimal(0),
        )
    done = lending.report_repayment(
        db,
        actor=world.officer_a,
        clock=clock,
        hooks=world.hooks,
        loan_id=loan.id,
        paid_on=date(2026, 10, 20),
        principal_wan=Decimal(200),
        interest_wan=Decimal("7.3"),
    )
    assert done.status is LoanStatus.REPAID
    assert lending.list_notifications(db, actor=world.enterprise)[0].kind == "loan.repayment"
    assert lending.loan_outcomes(db)[-1:] != []
    assert not next(o for o in lending.loan_outcomes(db) if o.uscc == done.enterprise_uscc).defaulted


def test_overview_numbers(db: Database, clock: FrozenClock, world: World) -> None:
    base = lending.lending_overview(db, actor=world.regulator, clock=clock)
    a1 = _approved(db, clock, world)
    lending.register_loan(db, actor=world.officer_a, clock=clock, hooks=world.hooks, application_id=a1.id, terms=loan_terms())
    a2 = _approved(db, clock, world)
    lending.register_loan(
        db,
        actor=world.officer_a,
        clock=clock,
        hooks=world.hooks,
        application_id=a2.id,
        terms=loan_terms(amount_wan=Decimal(100), credit_loan=False, guarantee="保证"),
    )
    rejected = _submit(db, clock, world)
    lending.accept_application(db, actor=world.officer_a, clock=clock, hooks=world.hooks, application_id=rejected.id)
    lending.decide_application(
        db,
        actor=world.officer_a,
        clock=clock,
        hooks=world.hooks,
        application_id=rejected.id,
        rejection=Rejection((RejectionReason.CREDIT_RECORD,), "近两年有逾期"),
    )
    _submit(db, clock, world)
    o = lending.lending_overview(db, actor=world.regulator, clock=clock)
    assert o.applications_total - base.applications_total == 4
    assert o.applications_by_status["approved"] - base.applications_by_status["approved"] == 2
    assert o.loans_total - base.loans_total == 2
    assert o.loan_amount_wan - base.loan_amount_wan == Decimal(300)
    assert o.credit_loan_amount_wan - base.credit_loan_amount_wan == Decimal(200)
    if base.loans_total == 0 and base.applications_by_status["rejected"] == 0:
        assert o.approval_rate == Decimal("0.6667")
        assert o.credit_loan_share == Decimal("0.5000")
        assert o.credit_loan_amount_share == Decimal("0.6667")
