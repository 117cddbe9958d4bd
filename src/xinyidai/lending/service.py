"""Lending use cases: applications (submit, accept, decide, withdraw) with their decision deadline, reminders and
escalation; loans (register, repayments, classification, renewal); notifications; the regulator's overview;
loan outcomes for evaluation; idempotency keys for the API.

Each use case is one transaction: the change, its audit event, the enterprise's notification, the institution's
webhook (outbox) and any deadline jobs commit together or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from xinyidai import audit, job
from xinyidai.db import Database
from xinyidai.http.container import Container
from xinyidai.http.idempotency import (
    IdempotencyKeyReused,
    KeyStore,
    StoredResponse,
    purge,
    request_digest,
)
from xinyidai.http.idempotency import idempotent as shared_idempotent
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock
from xinyidai.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kernel.ids import new_id
from xinyidai.lending.model import (
    ApplicationAction,
    ApplicationStatus,
    Approval,
    DeadlineTone,
    InvalidTransition,
    LoanClass,
    LoanRepaymentMethod,
    LoanStatus,
    LoanTerms,
    ProductLimits,
    Rejection,
    RejectionReason,
    check_product_limits,
    china_date,
    deadline_tone,
    decision_deadline,
    is_default,
    next_status,
    renewal_refusal,
    repayment_schedule,
    validate_approval,
    validate_loan_terms,
    validate_rejection,
    validate_request,
    working_days_left,
)
from xinyidai.lending.tables import (
    LendingApplication,
    LendingIdempotencyKey,
    LendingInstalment,
    LendingLoan,
    LendingNotification,
    LendingRepayment,
)
from xinyidai.principal import Principal

#: Job kinds: remind the institution before the deadline; escalate after it.
REMIND_KIND = "lending.decision.remind"
ESCALATE_KIND = "lending.decision.escalate"
#: The actor deadline jobs record under.
DEADLINE_ACTOR = ActorRef.system("lending-deadline")
#: Key of the hooks in `Container.services` (tests and the composition root put theirs there).
HOOKS_SERVICE = "lending.hooks"
#: Webhook topics are TOPIC_PREFIX + submitted | accepted | approved | rejected | withdrawn | reminder | overdue …
TOPIC_PREFIX = "lending."

T = TypeVar("T")


# --- errors -------------------------------------------------------------------------------------


class ApplicationNotFound(NotFound):
    """No such application, or one the caller may not know exists (another institution's or enterprise's)."""

    code: ClassVar[str] = "application_not_found"
    title: ClassVar[str] = "未找到该融资申请"


class LoanNotFound(NotFound):
    """No such loan, or another tenant's."""

    code: ClassVar[str] = "loan_not_found"
    title: ClassVar[str] = "未找到该贷款"


class ProductNotFound(NotFound):
    """The product applied to is unknown or not open to applications."""

    code: ClassVar[str] = "product_not_found"
    title: ClassVar[str] = "未找到该产品或产品未上架"


class IdempotencyConflict(IdempotencyKeyReused):
    """The Idempotency-Key was used before with a different request (lending's code for it)."""

    code: ClassVar[str] = "idempotency_conflict"
    title: ClassVar[str] = "幂等键已用于另一请求"


class RenewalRefused(Conflict):
    """The loan is not in good standing, so it cannot be renewed without repaying first."""

    code: ClassVar[str] = "renewal_refused"
    title: ClassVar[str] = "不符合无还本续贷条件"


# --- hooks to other domains ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProductRef:
    """What lending needs to know of a product applied to."""

    id: uuid.UUID
    institution_id: uuid.UUID
    name: str
    credit_loan: bool = False
    #: The product's published ranges; None where unknown (nothing is checked against them then).
    limits: ProductLimits | None = None


def _no_products(product_id: uuid.UUID) -> ProductRef | None:
    return None


def _no_authorization(enterprise_uscc: str, institution_id: uuid.UUID, product_id: uuid.UUID) -> uuid.UUID | None:
    return None


def _no_endpoint(session: Session, institution_id: uuid.UUID) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class LendingHooks:
    """Where lending asks other domains, as ports, so that it stands without them and tests can fake them.

    - `product(product_id)`: the product applied to, if open to applications (the product domain's
      `get_product` adapter; until it is wired, every product is unknown).
    - `authorization(uscc, institution_id, product_id)`: the id of an authorization of the enterprise to
      the institution that covers the product's needs, or None (the consent domain will supply it; the
      application then stores it in `authorization_id`).
    - `endpoint_url(session, institution_id)`: the institution's webhook URL, read in the caller's
      transaction (consent keeps institutions' endpoints; the outbox's transport signs with their secret).
    """

    product: Callable[[uuid.UUID], ProductRef | None] = _no_products
    authorization: Callable[[str, uuid.UUID, uuid.UUID], uuid.UUID | None] = _no_authorization
    endpoint_url: Callable[[Session, uuid.UUID], str | None] = _no_endpoint


def hooks_for(container: Container) -> LendingHooks:
    """The hooks the composition root registered, else the ones wired to the product market and consent
    (`market.default_hooks`: published products, an active authorization covering the product's items and purpose)."""
    hooks = container.services.get(HOOKS_SERVICE)
    if isinstance(hooks, LendingHooks):
        return hooks
    from xinyidai.lending.market import default_hooks

    wired = default_hooks(container)
    container.services[HOOKS_SERVICE] = wired
    return wired


# --- views --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApplicationView:
    """An application as its enterprise and its institution see it, with its deadline seen today."""

    id: uuid.UUID
    enterprise_uscc: str
    institution_id: uuid.UUID
    product_id: uuid.UUID
    product_name: str
    authorization_id: uuid.UUID | None
    amount_wan: Decimal
    term_months: int
    purpose: str
    status: ApplicationStatus
    submitted_at: datetime
    accepted_at: datetime | None
    decision_due_on: date | None
    decided_at: datetime | None
    approved_amount_wan: Decimal | None
    approved_rate_pct: Decimal | None
    approved_term_months: int | None
    rejection_reasons: tuple[RejectionReason, ...]
    rejection_text: str | None
    withdrawn_at: datetime | None
    overdue: bool
    working_days_left: int | None
    tone: DeadlineTone | None
    loan_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class InstalmentView:
    """One row of a repayment schedule."""

    number: int
    due_on: date
    principal_wan: Decimal
    interest_wan: Decimal


@dataclass(frozen=True, slots=True)
class LoanView:
    """A loan and its performance."""

    id: uuid.UUID
    application_id: uuid.UUID | None
    renewed_from_id: uuid.UUID | None
    enterprise_uscc: str
    institution_id: uuid.UUID
    product_id: uuid.UUID
    amount_wan: Decimal
    annual_rate_pct: Decimal
    start_on: date
    maturity_on: date
    term_months: int
    repayment_method: LoanRepaymentMethod
    credit_loan: bool
    renewal: bool
    guarantee: str
    status: LoanStatus
    classification: LoanClass
    days_past_due: int
    principal_repaid_wan: Decimal
    interest_repaid_wan: Decimal
    outstanding_wan: Decimal
    performance_as_of: date
    defaulted: bool
    schedule: tuple[InstalmentView, ...] = ()


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """A page of results: `{items, total, limit, offset}`."""

    items: tuple[T, ...]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class NotificationView:
    """An in-app message to the enterprise."""

    id: uuid.UUID
    kind: str
    message: str
    application_id: uuid.UUID | None
    loan_id: uuid.UUID | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OverdueItem:
    """An accepted application whose decision is past due."""

    application_id: uuid.UUID
    enterprise_uscc: str
    institution_id: uuid.UUID
    product_name: str
    decision_due_on: date
    working_days_overdue: int
    escalated: bool


@dataclass(frozen=True, slots=True)
class Overview:
    """The regulator's 信易贷 figures for this node."""

    as_of: date
    applications_by_status: dict[str, int]
    applications_total: int
    approval_rate: Decimal | None
    decided_late: int
    loans_total: int
    loan_amount_wan: Decimal
    credit_loans: int
    credit_loan_amount_wan: Decimal
    credit_loan_share: Decimal | None
    credit_loan_amount_share: Decimal | None
    renewals: int
    defaulted_loans: int
    overdue_decisions: tuple[OverdueItem, ...] = field(default_factory=tuple)


class LoanOutcome(NamedTuple):
    """A loan's outcome for evaluation training: whose, defaulted or not, as of when."""

    uscc: str
    defaulted: bool
    as_of: date


# --- helpers ------------------------------------------------------------------------------------


def _today(clock: Clock) -> date:
    return china_date(clock.now())


def _institution_of(actor: Principal) -> uuid.UUID:
    if actor.institution_id is None:
        raise Forbidden("仅金融机构可执行此操作")
    return actor.institution_id


def _enterprise_of(actor: Principal) -> str:
    if actor.enterprise_uscc is None:
        raise Forbidden("仅企业用户可执行此操作")
    return actor.enterprise_uscc


def _tenancy(actor: Principal, model: type[LendingApplication] | type[LendingLoan]) -> sa.ColumnElement[bool]:
    """Institutions see their own, enterprises their own; anyone else nothing (deny by default)."""
    if actor.institution_id is not None:
        return model.institution_id == actor.institution_id
    if actor.enterprise_uscc is not None:
        return model.enterprise_uscc == actor.enterprise_uscc
    return sa.false()


def _application(session: Session, actor: Principal, application_id: uuid.UUID, *, lock: bool = False) -> LendingApplication:
    query = sa.select(LendingApplication).where(LendingApplication.id == application_id, _tenancy(actor, LendingApplication))
    row = session.scalars(query.with_for_update() if lock else query).first()
    if row is None:
        raise ApplicationNotFound()
    return row


def _loan(session: Session, actor: Principal, loan_id: uuid.UUID, *, lock: bool = False) -> LendingLoan:
    query = sa.select(LendingLoan).where(LendingLoan.id == loan_id, _tenancy(actor, LendingLoan))
    row = session.scalars(query.with_for_update() if lock else query).first()
    if row is None:
        raise LoanNotFound()
    return row


def _app_view(row: LendingApplication, *, today: date, loan_id: uuid.UUID | None = None) -> ApplicationView:
    status = ApplicationStatus(row.status)
    waiting = status is ApplicationStatus.ACCEPTED and row.decision_due_on is not None
    due = row.decision_due_on
    return ApplicationView(
        id=row.id,
        enterprise_uscc=row.enterprise_uscc,
        institution_id=row.institution_id,
        product_id=row.product_id,
        product_name=row.product_name,
        authorization_id=row.authorization_id,
        amount_wan=row.amount_wan,
        term_months=row.term_months,
        purpose=row.purpose,
        status=status,
        submitted_at=row.submitted_at,
        accepted_at=row.accepted_at,
        decision_due_on=due,
        decided_at=row.decided_at,
        approved_amount_wan=row.approved_amount_wan,
        approved_rate_pct=row.approved_rate_pct,
        approved_term_months=row.approved_term_months,
        rejection_reasons=tuple(RejectionReason(r) for r in row.rejection_reasons or ()),
        rejection_text=row.rejection_text,
        withdrawn_at=row.withdrawn_at,
        overdue=row.overdue_at is not None or (waiting and due is not None and today > due),
        working_days_left=working_days_left(due, today) if waiting and due is not None else None,
        tone=deadline_tone(due, today) if waiting and due is not None else None,
        loan_id=loan_id,
    )


def _loan_view(row: LendingLoan, schedule: tuple[InstalmentView, ...] = ()) -> LoanView:
    classification = LoanClass(row.classification)
    return LoanView(
        id=row.id,
        application_id=row.application_id,
        renewed_from_id=row.renewed_from_id,
        enterprise_uscc=row.enterprise_uscc,
        institution_id=row.institution_id,
        product_id=row.product_id,
        amount_wan=row.amount_wan,
        annual_rate_pct=row.annual_rate_pct,
        start_on=row.start_on,
        maturity_on=row.maturity_on,
        term_months=row.term_months,
        repayment_method=LoanRepaymentMethod(row.repayment_method),
        credit_loan=row.credit_loan,
        renewal=row.renewal,
        guarantee=row.guarantee,
        status=LoanStatus(row.status),
        classification=classification,
        days_past_due=row.days_past_due,
        principal_repaid_wan=row.principal_repaid_wan,
        interest_repaid_wan=row.interest_repaid_wan,
        outstanding_wan=row.amount_wan - row.principal_repaid_wan,
        performance_as_of=row.performance_as_of,
        defaulted=is_default(classification, row.days_past_due),
        schedule=schedule,
    )


def _schedule(session: Session, loan_id: uuid.UUID) -> tuple[InstalmentView, ...]:
    rows = session.scalars(
        sa.select(LendingInstalment).where(LendingInstalment.loan_id == loan_id).order_by(LendingInstalment.number)
    )
    return tuple(InstalmentView(r.number, r.due_on, r.principal_wan, r.interest_wan) for r in rows)


def _notify(
    session: Session,
    *,
    uscc: str,
    kind: str,
    message: str,
    at: datetime,
    application_id: uuid.UUID | None = None,
    loan_id: uuid.UUID | None = None,
) -> None:
    session.add(
        LendingNotification(
            id=new_id(),
            enterprise_uscc=uscc,
            application_id=application_id,
            loan_id=loan_id,
            kind=kind,
            message=message[:1000],
            created_at=at,
        )
    )


def _push(
    session: Session, hooks: LendingHooks, *, institution_id: uuid.UUID, topic: str, payload: dict[str, Any], clock: Clock
) -> uuid.UUID | None:
    """Queue a webhook to the institution's endpoint in the caller's transaction (none configured: None)."""
    url = hooks.endpoint_url(session, institution_id)
    if url is None:
        return None
    return job.enqueue_outbox(session, topic=TOPIC_PREFIX + topic, destination=url, payload=payload, clock=clock)


def _app_payload(row: LendingApplication) -> dict[str, Any]:
    return {
        "application_id": str(row.id),
        "enterprise_uscc": row.enterprise_uscc,
        "product_id": str(row.product_id),
        "status": row.status,
        "amount_wan": str(row.amount_wan),
        "term_months": row.term_months,
        "decision_due_on": row.decision_due_on.isoformat() if row.decision_due_on else None,
    }


def _transition(
    session: Session,
    row: LendingApplication,
    *,
    action: ApplicationAction,
    actor: ActorRef,
    hooks: LendingHooks,
    clock: Clock,
    message: str,
    reasons: list[str] | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Move the application through `action`; notify, push and audit, all in the caller's transaction."""
    previous = ApplicationStatus(row.status)
    target = next_status(previous, action)
    now = clock.now()
    row.status = target.value
    row.updated_at = now
    session.flush()
    _notify(session, uscc=row.enterprise_uscc, kind=f"application.{target.value}", message=message, at=now, application_id=row.id)
    outbox_id = _push(
        session,
        hooks,
        institution_id=row.institution_id,
        topic=f"application.{target.value}",
        payload={**_app_payload(row), "previous_status": previous.value, "at": now.isoformat(), **(data or {})},
        clock=clock,
    )
    audit.record(
        session,
        actor=actor,
        action=f"lending.application.{action.value}",
        subject=row.enterprise_uscc,
        target_type="lending_application",
        target_id=row.id,
        reasons=reasons or [],
        data={"from": previous.value, "to": target.value, "outbox_id": str(outbox_id) if outbox_id else None, **(data or {})},
        clock=clock,
    )


# --- applications -------------------------------------------------------------------------------


def submit_application(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    hooks: LendingHooks,
    product_id: uuid.UUID,
    amount_wan: Decimal,
    term_months: int,
    purpose: str,
) -> ApplicationView:
    """An enterprise applies to a product; the product's institution gets a webhook, the enterprise a notification."""
    uscc = _enterprise_of(actor)
    validate_request(amount_wan=amount_wan, term_months=term_months, purpose=purpose)
    product = hooks.product(product_id)
    if product is None:
        raise ProductNotFound()
    check_product_limits(product.limits, amount_wan=amount_wan, term_months=term_months)
    # Hook for the consent domain: attach the authorization the product needs, if the enterprise has given one.
    authorization_id = hooks.authorization(uscc, product.institution_id, product.id)
    now = clock.now()
    with db.transaction() as s:
        row = LendingApplication(
            id=new_id(),
            enterprise_uscc=uscc,
            product_id=product.id,
            product_name=product.name[:200],
            institution_id=product.institution_id,
            authorization_id=authorization_id,
            amount_wan=amount_wan,
            term_months=term_months,
            purpose=purpose.strip()[:500],
            status=ApplicationStatus.SUBMITTED.value,
            submitted_at=now,
            rejection_reasons=[],
            updated_at=now,
        )
        s.add(row)
        s.flush()
        _notify(
            s,
            uscc=uscc,
            kind="application.submitted",
            message=f"您向“{row.product_name}”提交的融资申请（{amount_wan} 万元）已提交，等待机构受理。",
            at=now,
            application_id=row.id,
        )
        outbox_id = _push(
            s,
            hooks,
            institution_id=row.institution_id,
            topic="application.submitted",
            payload={**_app_payload(row), "at": now.isoformat()},
            clock=clock,
        )
        audit.record(
            s,
            actor=actor.ref,
            action="lending.application.submit",
            subject=uscc,
            target_type="lending_application",
            target_id=row.id,
            data={
                "product_id": str(product.id),
                "institution_id": str(product.institution_id),
                "amount_wan": str(amount_wan),
                "authorization_id": str(authorization_id) if authorization_id else None,
                "outbox_id": str(outbox_id) if outbox_id else None,
            },
            clock=clock,
        )
        return _app_view(row, today=_today(clock))


def accept_application(
    db: Database, *, actor: Principal, clock: Clock, hooks: LendingHooks, application_id: uuid.UUID
) -> ApplicationView:
    """The institution accepts (受理): the decision falls due 10 working days later; reminder and escalation are scheduled."""
    _institution_of(actor)
    with db.transaction() as s:
        row = _application(s, actor, application_id, lock=True)
        now = clock.now()
        deadline = decision_deadline(china_date(now))
        row.accepted_at = now
        row.decision_due_on = deadline.due_on
        _transition(
            s,
            row,
            action=ApplicationAction.ACCEPT,
            actor=actor.ref,
            hooks=hooks,
            clock=clock,
            message=f"您的融资申请已被受理，机构应于 {deadline.due_on.isoformat()} 前作出审批决定。",
            data={"decision_due_on": deadline.due_on.isoformat(), "provisional": deadline.provisional},
        )
        payload = {"application_id": str(row.id)}
        job.enqueue(
            s, kind=REMIND_KIND, payload=payload, run_at=deadline.remind_at, dedupe_key=f"{REMIND_KIND}:{row.id}", clock=clock
        )
        job.enqueue(
            s,
            kind=ESCALATE_KIND,
            payload=payload,
            run_at=deadline.escalate_at,
            dedupe_key=f"{ESCALATE_KIND}:{row.id}",
            clock=clock,
        )
        return _app_view(row, today=_today(clock))


def _check_product(
    db: Database,
    actor: Principal,
    hooks: LendingHooks,
    application_id: uuid.UUID,
    *,
    amount_wan: Decimal | None = None,
    term_months: int | None = None,
    rate_pct: Decimal | None = None,
    method: LoanRepaymentMethod | None = None,
) -> None:
    """Refuse terms outside the ranges of the application's product, as published now (a product since withdrawn
    is not checked: what was applied for under it may still be decided and lent). Read before the decision's own
    transaction: the product hook reads in one of its own."""
    with db.transaction() as s:
        product_id = _application(s, actor, application_id).product_id
    product = hooks.product(product_id)
    if product is not None:
        check_product_limits(product.limits, amount_wan=amount_wan, term_months=term_months, rate_pct=rate_pct, method=method)


def decide_application(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    hooks: LendingHooks,
    application_id: uuid.UUID,
    approval: Approval | None = None,
    rejection: Rejection | None = None,
) -> ApplicationView:
    """The institution approves (amount, rate, term) or rejects (coded reasons and text) an accepted application."""
    _institution_of(actor)
    if (approval is None) == (rejection is None):
        raise InvalidInput("须且只能给出批准或拒绝之一")
    if approval is not None:
        validate_approval(approval)
    if rejection is not None:
        validate_rejection(rejection)
    if approval is not None:
        _check_product(
            db, actor, hooks, application_id, amount_wan=approval.amount_wan, term_months=approval.term_months,
            rate_pct=approval.annual_rate_pct,
        )  # fmt: skip
    with db.transaction() as s:
        row = _application(s, actor, application_id, lock=True)
        now = clock.now()
        late = row.decision_due_on is not None and china_date(now) > row.decision_due_on
        row.decided_at = now
        row.decided_by = actor.label[:200]
        if approval is not None:
            row.approved_amount_wan = approval.amount_wan
            row.approved_rate_pct = approval.annual_rate_pct
            row.approved_term_months = approval.term_months
            _transition(
                s,
                row,
                action=ApplicationAction.APPROVE,
                actor=actor.ref,
                hooks=hooks,
                clock=clock,
                message=(
                    f"您的融资申请已获批准：{approval.amount_wan} 万元，年利率 {approval.annual_rate_pct}%，"
                    f"期限 {approval.term_months} 个月。"
                ),
                data={
                    "approved_amount_wan": str(approval.amount_wan),
                    "approved_rate_pct": str(approval.annual_rate_pct),
                    "approved_term_months": approval.term_months,
                    "late": late,
                },
            )
        else:
            assert rejection is not None
            row.rejection_reasons = [r.value for r in rejection.reasons]
            row.rejection_text = rejection.text.strip()[:2000]
            labels = "、".join(r.label_zh for r in rejection.reasons)
            _transition(
                s,
                row,
                action=ApplicationAction.REJECT,
                actor=actor.ref,
                hooks=hooks,
                clock=clock,
                message=f"您的融资申请未获批准。原因：{labels}。说明：{row.rejection_text}",
                reasons=[r.label_zh for r in rejection.reasons],
                data={"rejection_reasons": row.rejection_reasons, "late": late},
            )
        return _app_view(row, today=_today(clock))


def withdraw_application(
    db: Database, *, actor: Principal, clock: Clock, hooks: LendingHooks, application_id: uuid.UUID
) -> ApplicationView:
    """The enterprise withdraws its application at any point before the decision."""
    _enterprise_of(actor)
    with db.transaction() as s:
        row = _application(s, actor, application_id, lock=True)
        row.withdrawn_at = clock.now()
        _transition(
            s, row, action=ApplicationAction.WITHDRAW, actor=actor.ref, hooks=hooks, clock=clock, message="您已撤回该融资申请。"
        )
        return _app_view(row, today=_today(clock))


def get_application(db: Database, *, actor: Principal, clock: Clock, application_id: uuid.UUID) -> ApplicationView:
    """One application within the caller's tenancy (another's answers 404)."""
    with db.transaction() as s:
        row = _application(s, actor, application_id)
        loan_id = s.scalar(sa.select(LendingLoan.id).where(LendingLoan.application_id == row.id))
        return _app_view(row, today=_today(clock), loan_id=loan_id)


def list_applications(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    status: ApplicationStatus | None = None,
    due: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[ApplicationView]:
    """The caller's applications, newest first; `due="overdue"` or `"soon"` (≤ 3 working days left) filters the queue.

    The deadline filters select accepted applications; "soon" is computed on the calendar, so it scans the
    accepted applications due within the next 10 calendar weeks at most (the 10 working days never reach further).
    """
    today = _today(clock)
    cond = [_tenancy(actor, LendingApplication)]
    if status is not None:
        cond.append(LendingApplication.status == status.value)
    if due is not None:
        cond.append(LendingApplication.status == ApplicationStatus.ACCEPTED.value)
        if due == "overdue":
            cond.append(LendingApplication.decision_due_on < today)
        elif due == "soon":
            cond.append(LendingApplication.decision_due_on >= today)
            cond.append(LendingApplication.decision_due_on <= today + timedelta(days=10))
        else:
            raise InvalidInput("due 只能为 soon 或 overdue")
    with db.transaction() as s:
        query = sa.select(LendingApplication).where(*cond)
        if due == "soon":
            # Which of these have ≤ 3 working days left depends on the calendar: decide in Python.
            rows = [
                r
                for r in s.scalars(query.order_by(LendingApplication.decision_due_on, LendingApplication.id))
                if r.decision_due_on is not None and deadline_tone(r.decision_due_on, today) is DeadlineTone.AMBER
            ]
            total, rows = len(rows), rows[offset : offset + limit]
        else:
            total = s.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
            order = (
                (LendingApplication.decision_due_on, LendingApplication.id)
                if due == "overdue"
                else (LendingApplication.submitted_at.desc(), LendingApplication.id.desc())
            )
            rows = list(s.scalars(query.order_by(*order).limit(limit).offset(offset)))
        return Page(tuple(_app_view(r, today=today) for r in rows), total, limit, offset)


def list_notifications(db: Database, *, actor: Principal, limit: int = 50) -> tuple[NotificationView, ...]:
    """The enterprise's in-app messages, newest first."""
    uscc = _enterprise_of(actor)
    with db.transaction() as s:
        rows = s.scalars(
            sa.select(LendingNotification)
            .where(LendingNotification.enterprise_uscc == uscc)
            .order_by(LendingNotification.created_at.desc(), LendingNotification.id.desc())
            .limit(limit)
        )
        return tuple(NotificationView(r.id, r.kind, r.message, r.application_id, r.loan_id, r.created_at) for r in rows)


# --- deadline jobs ------------------------------------------------------------------------------


def remind_decision(db: Database, *, clock: Clock, hooks: LendingHooks, application_id: uuid.UUID) -> bool:
    """Remind the institution that a decision falls due soon; nothing if it was decided or withdrawn meanwhile."""
    with db.transaction() as s:
        row = s.scalars(sa.select(LendingApplication).where(LendingApplication.id == application_id).with_for_update()).first()
        if row is None or row.status != ApplicationStatus.ACCEPTED.value or row.reminded_at is not None:
            return False
        now = clock.now()
        row.reminded_at = now
        assert row.decision_due_on is not None
        left = working_days_left(row.decision_due_on, china_date(now))
        outbox_id = _push(
            s,
            hooks,
            institution_id=row.institution_id,
            topic="application.reminder",
            payload={**_app_payload(row), "working_days_left": left, "at": now.isoformat()},
            clock=clock,
        )
        audit.record(
            s,
            actor=DEADLINE_ACTOR,
            action="lending.application.remind",
            subject=row.enterprise_uscc,
            target_type="lending_application",
            target_id=row.id,
            reasons=[f"距审批期限还剩 {left} 个工作日"],
            data={"decision_due_on": row.decision_due_on.isoformat(), "outbox_id": str(outbox_id) if outbox_id else None},
            clock=clock,
        )
        return True


def escalate_overdue(db: Database, *, clock: Clock, hooks: LendingHooks, application_id: uuid.UUID) -> bool:
    """Flag an application still undecided after its due date: audited, on the regulator's list, both sides told."""
    with db.transaction() as s:
        row = s.scalars(sa.select(LendingApplication).where(LendingApplication.id == application_id).with_for_update()).first()
        if row is None or row.status != ApplicationStatus.ACCEPTED.value or row.overdue_at is not None:
            return False
        now = clock.now()
        assert row.decision_due_on is not None
        if china_date(now) <= row.decision_due_on:
            return False
        row.overdue_at = now
        row.updated_at = now
        _notify(
            s,
            uscc=row.enterprise_uscc,
            kind="application.overdue",
            message=f"机构未在 {row.decision_due_on.isoformat()} 前对您的融资申请作出决定，已报送监管部门督办。",
            at=now,
            application_id=row.id,
        )
        outbox_id = _push(
            s,
            hooks,
            institution_id=row.institution_id,
            topic="application.overdue",
            payload={**_app_payload(row), "at": now.isoformat()},
            clock=clock,
        )
        audit.record(
            s,
            actor=DEADLINE_ACTOR,
            action="lending.application.escalate",
            subject=row.enterprise_uscc,
            target_type="lending_application",
            target_id=row.id,
            reasons=[f"超过审批期限 {row.decision_due_on.isoformat()} 未作决定"],
            data={"institution_id": str(row.institution_id), "outbox_id": str(outbox_id) if outbox_id else None},
            clock=clock,
        )
        return True


# --- loans --------------------------------------------------------------------------------------


def _create_loan(
    session: Session,
    *,
    terms: LoanTerms,
    uscc: str,
    institution_id: uuid.UUID,
    product_id: uuid.UUID,
    application_id: uuid.UUID | None,
    renewed_from_id: uuid.UUID | None,
    now: datetime,
) -> LendingLoan:
    loan = LendingLoan(
        id=new_id(),
        application_id=application_id,
        renewed_from_id=renewed_from_id,
        enterprise_uscc=uscc,
        institution_id=institution_id,
        product_id=product_id,
        amount_wan=terms.amount_wan,
        annual_rate_pct=terms.annual_rate_pct,
        start_on=terms.start_on,
        maturity_on=terms.maturity_on,
        term_months=terms.term_months,
        repayment_method=terms.method.value,
        credit_loan=terms.credit_loan,
        renewal=renewed_from_id is not None,
        guarantee=terms.guarantee.strip()[:500] or "无（信用）",
        status=LoanStatus.ACTIVE.value,
        classification=LoanClass.NORMAL.value,
        days_past_due=0,
        principal_repaid_wan=Decimal(0),
        interest_repaid_wan=Decimal(0),
        performance_as_of=terms.start_on,
        created_at=now,
        updated_at=now,
    )
    session.add(loan)
    session.flush()
    for inst in repayment_schedule(
        amount_wan=terms.amount_wan,
        annual_rate_pct=terms.annual_rate_pct,
        start_on=terms.start_on,
        term_months=terms.term_months,
        method=terms.method,
    ):
        session.add(
            LendingInstalment(
                loan_id=loan.id, number=inst.number, due_on=inst.due_on, principal_wan=inst.principal, interest_wan=inst.interest
            )
        )
    session.flush()
    return loan


def register_loan(
    db: Database, *, actor: Principal, clock: Clock, hooks: LendingHooks, application_id: uuid.UUID, terms: LoanTerms
) -> LoanView:
    """The institution registers the loan an approval became (授信反馈), with its repayment schedule."""
    _institution_of(actor)
    validate_loan_terms(terms)
    _check_product(
        db, actor, hooks, application_id, term_months=terms.term_months, rate_pct=terms.annual_rate_pct, method=terms.method
    )
    with db.transaction() as s:
        app = _application(s, actor, application_id, lock=True)
        if app.status != ApplicationStatus.APPROVED.value:
            raise InvalidTransition(f"申请状态为“{ApplicationStatus(app.status).label_zh}”，仅已批准的申请可登记贷款")
        if s.scalar(sa.select(LendingLoan.id).where(LendingLoan.application_id == app.id)) is not None:
            raise InvalidTransition("该申请已登记贷款")
        if app.approved_amount_wan is not None and terms.amount_wan > app.approved_amount_wan:
            raise InvalidInput(f"放款金额不得超过批准金额 {app.approved_amount_wan} 万元")
        now = clock.now()
        loan = _create_loan(
            s,
            terms=terms,
            uscc=app.enterprise_uscc,
            institution_id=app.institution_id,
            product_id=app.product_id,
            application_id=app.id,
            renewed_from_id=None,
            now=now,
        )
        _loan_events(
            s,
            loan,
            actor=actor.ref,
            hooks=hooks,
            clock=clock,
            action="register",
            message=(
                f"您的贷款已发放：{terms.amount_wan} 万元，年利率 {terms.annual_rate_pct}%，{terms.start_on.isoformat()} 至 "
                f"{terms.maturity_on.isoformat()}，{terms.method.label_zh}。"
            ),
        )
        return _loan_view(loan, _schedule(s, loan.id))


def _loan_events(
    session: Session,
    loan: LendingLoan,
    *,
    actor: ActorRef,
    hooks: LendingHooks,
    clock: Clock,
    action: str,
    message: str | None,
    data: dict[str, Any] | None = None,
) -> None:
    now = clock.now()
    if message:
        _notify(session, uscc=loan.enterprise_uscc, kind=f"loan.{action}", message=message, at=now, loan_id=loan.id)
    payload = {
        "loan_id": str(loan.id),
        "enterprise_uscc": loan.enterprise_uscc,
        "status": loan.status,
        "classification": loan.classification,
        "days_past_due": loan.days_past_due,
        "at": now.isoformat(),
        **(data or {}),
    }
    outbox_id = _push(session, hooks, institution_id=loan.institution_id, topic=f"loan.{action}", payload=payload, clock=clock)
    audit.record(
        session,
        actor=actor,
        action=f"lending.loan.{action}",
        subject=loan.enterprise_uscc,
        target_type="lending_loan",
        target_id=loan.id,
        data={**payload, "outbox_id": str(outbox_id) if outbox_id else None},
        clock=clock,
    )


def report_repayment(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    hooks: LendingHooks,
    loan_id: uuid.UUID,
    paid_on: date,
    principal_wan: Decimal,
    interest_wan: Decimal,
) -> LoanView:
    """The institution reports a repayment; the loan is repaid when no principal is left."""
    _institution_of(actor)
    if principal_wan < 0 or interest_wan < 0 or principal_wan + interest_wan <= 0:
        raise InvalidInput("还款金额须大于 0，本金和利息均不得为负")
    with db.transaction() as s:
        loan = _loan(s, actor, loan_id, lock=True)
        if loan.status != LoanStatus.ACTIVE.value:
            raise InvalidTransition(f"贷款状态为“{LoanStatus(loan.status).label_zh}”，不能再报告还款")
        outstanding = loan.amount_wan - loan.principal_repaid_wan
        if principal_wan > outstanding:
            raise InvalidInput(f"还款本金超过未还本金 {outstanding} 万元")
        now = clock.now()
        s.add(
            LendingRepayment(
                id=new_id(),
                loan_id=loan.id,
                paid_on=paid_on,
                principal_wan=principal_wan,
                interest_wan=interest_wan,
                recorded_at=now,
                recorded_by=actor.label[:200],
            )
        )
        loan.principal_repaid_wan += principal_wan
        loan.interest_repaid_wan += interest_wan
        loan.performance_as_of = max(loan.performance_as_of, paid_on)
        loan.updated_at = now
        settled = loan.principal_repaid_wan == loan.amount_wan
        if settled:
            loan.status = LoanStatus.REPAID.value
            loan.days_past_due = 0
        s.flush()
        _loan_events(
            s,
            loan,
            actor=actor.ref,
            hooks=hooks,
            clock=clock,
            action="repayment",
            message="您的贷款已全部结清。" if settled else None,
            data={"paid_on": paid_on.isoformat(), "principal_wan": str(principal_wan), "interest_wan": str(interest_wan)},
        )
        return _loan_view(loan)


def report_classification(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    hooks: LendingHooks,
    loan_id: uuid.UUID,
    classification: LoanClass,
    days_past_due: int,
    as_of: date,
) -> LoanView:
    """The institution reports the five-category classification and days past due as of a date."""
    _institution_of(actor)
    if days_past_due < 0:
        raise InvalidInput("逾期天数不得为负")
    with db.transaction() as s:
        loan = _loan(s, actor, loan_id, lock=True)
        if loan.status == LoanStatus.RENEWED.value:
            raise InvalidTransition("已续贷的贷款请在新贷款上报告")
        previous = loan.classification
        loan.classification = classification.value
        loan.days_past_due = days_past_due
        loan.performance_as_of = max(loan.performance_as_of, as_of)
        loan.updated_at = clock.now()
        s.flush()
        _loan_events(
            s,
            loan,
            actor=actor.ref,
            hooks=hooks,
            clock=clock,
            action="classification",
            message=None,
            data={"previous_classification": previous, "as_of": as_of.isoformat()},
        )
        return _loan_view(loan)


def renew_loan(
    db: Database, *, actor: Principal, clock: Clock, hooks: LendingHooks, loan_id: uuid.UUID, terms: LoanTerms
) -> LoanView:
    """续贷: a loan in good standing (正常, nothing past due) is replaced by a new loan without repaying first.

    The old loan is closed as renewed; the new one lends at most its outstanding principal and links back.
    """
    _institution_of(actor)
    validate_loan_terms(terms)
    with db.transaction() as s:
        old = _loan(s, actor, loan_id, lock=True)
        refusal = renewal_refusal(LoanStatus(old.status), LoanClass(old.classification), old.days_past_due)
        if refusal is not None:
            raise RenewalRefused(refusal)
        outstanding = old.amount_wan - old.principal_repaid_wan
        if terms.amount_wan > outstanding:
            raise InvalidInput(f"续贷金额不得超过原贷款未还本金 {outstanding} 万元")
        now = clock.now()
        old.status = LoanStatus.RENEWED.value
        old.updated_at = now
        new = _create_loan(
            s,
            terms=terms,
            uscc=old.enterprise_uscc,
            institution_id=old.institution_id,
            product_id=old.product_id,
            application_id=None,
            renewed_from_id=old.id,
            now=now,
        )
        _loan_events(
            s,
            new,
            actor=actor.ref,
            hooks=hooks,
            clock=clock,
            action="renew",
            message=f"您的贷款已无还本续贷：{terms.amount_wan} 万元，至 {terms.maturity_on.isoformat()}。",
            data={"renewed_from_id": str(old.id)},
        )
        return _loan_view(new, _schedule(s, new.id))


def get_loan(db: Database, *, actor: Principal, loan_id: uuid.UUID) -> LoanView:
    """One loan with its schedule, within the caller's tenancy."""
    with db.transaction() as s:
        loan = _loan(s, actor, loan_id)
        return _loan_view(loan, _schedule(s, loan.id))


def list_loans(
    db: Database, *, actor: Principal, status: LoanStatus | None = None, limit: int = 50, offset: int = 0
) -> Page[LoanView]:
    """The caller's loans, newest first."""
    cond = [_tenancy(actor, LendingLoan)]
    if status is not None:
        cond.append(LendingLoan.status == status.value)
    with db.transaction() as s:
        query = sa.select(LendingLoan).where(*cond)
        total = s.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
        rows = s.scalars(query.order_by(LendingLoan.created_at.desc(), LendingLoan.id.desc()).limit(limit).offset(offset))
        return Page(tuple(_loan_view(r) for r in rows), total, limit, offset)


# --- regulator and evaluation -------------------------------------------------------------------


def _share(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"))


def lending_overview(db: Database, *, actor: Principal, clock: Clock, overdue_limit: int = 100) -> Overview:
    """Counts, approval rate, credit-loan share, renewals, defaults and overdue decisions across this node (audited)."""
    today = _today(clock)
    with db.transaction() as s:
        by_status = {status.value: 0 for status in ApplicationStatus}
        for status, n in s.execute(sa.select(LendingApplication.status, sa.func.count()).group_by(LendingApplication.status)):
            by_status[status] = n
        decided = by_status["approved"] + by_status["rejected"]
        late = (
            s.scalar(
                sa.select(sa.func.count()).where(
                    LendingApplication.decided_at.is_not(None), LendingApplication.overdue_at.is_not(None)
                )
            )
            or 0
        )
        loans = s.execute(
            sa.select(
                LendingLoan.credit_loan,
                LendingLoan.renewal,
                LendingLoan.amount_wan,
                LendingLoan.classification,
                LendingLoan.days_past_due,
                LendingLoan.status,
            )
        ).all()
        total_amount = sum((r.amount_wan for r in loans), Decimal(0))
        credit = [r for r in loans if r.credit_loan]
        credit_amount = sum((r.amount_wan for r in credit), Decimal(0))
        defaulted = sum(
            1 for r in loans if r.status != LoanStatus.RENEWED.value and is_default(LoanClass(r.classification), r.days_past_due)
        )
        overdue_rows = s.scalars(
            sa.select(LendingApplication)
            .where(LendingApplication.status == ApplicationStatus.ACCEPTED.value, LendingApplication.decision_due_on < today)
            .order_by(LendingApplication.decision_due_on, LendingApplication.id)
            .limit(overdue_limit)
        ).all()
        overdue = tuple(
            OverdueItem(
                r.id,
                r.enterprise_uscc,
                r.institution_id,
                r.product_name,
                r.decision_due_on,
                -working_days_left(r.decision_due_on, today),
                r.overdue_at is not None,
            )
            for r in overdue_rows
            if r.decision_due_on is not None
        )
        audit.record(s, actor=actor.ref, action="lending.overview.read", target_type="lending_overview", clock=clock)
        return Overview(
            as_of=today,
            applications_by_status=by_status,
            applications_total=sum(by_status.values()),
            approval_rate=_share(by_status["approved"], decided),
            decided_late=late,
            loans_total=len(loans),
            loan_amount_wan=total_amount,
            credit_loans=len(credit),
            credit_loan_amount_wan=credit_amount,
            credit_loan_share=_share(len(credit), len(loans)),
            credit_loan_amount_share=_share(credit_amount, total_amount),
            renewals=sum(1 for r in loans if r.renewal),
            defaulted_loans=defaulted,
            overdue_decisions=overdue,
        )


def loan_outcomes(db: Database) -> list[LoanOutcome]:
    """Every loan's outcome for evaluation training: defaulted (次级 or worse, or ≥ 90 days past due) as of its latest report.

    A loan closed by renewal is left out: its story continues in the new loan that replaced it.
    """
    with db.transaction() as s:
        rows = s.execute(
            sa.select(
                LendingLoan.enterprise_uscc, LendingLoan.classification, LendingLoan.days_past_due, LendingLoan.performance_as_of
            )
            .where(LendingLoan.status != LoanStatus.RENEWED.value)
            .order_by(LendingLoan.enterprise_uscc, LendingLoan.id)
        ).all()
    return [LoanOutcome(r[0], is_default(LoanClass(r[1]), r[2]), r[3]) for r in rows]


# --- idempotency --------------------------------------------------------------------------------

#: The lending table `lending_idempotency_key`, run by the shared code path `xinyidai.http.idempotency`: keys per
#: caller (the route is part of the fingerprint, so a key reused on another route is 409), a null status while
#: the first request runs, and no take-over of a reservation left by a crash (the caller sees 409 in progress and
#: checks the resource itself; `purge_idempotency_keys` clears it after a day).
IDEMPOTENCY_STORE = KeyStore(
    model=LendingIdempotencyKey,
    owner="caller",
    digest="fingerprint",
    response_status="status_code",
    response_body="response",
    reused=IdempotencyConflict,
)


def request_fingerprint(method: str, path: str, body: Any) -> str:
    """SHA-256 of the method, path and canonical JSON body: what "the same request" means."""
    return request_digest(f"{method.upper()} {path}", body)


def idempotent(
    db: Database,
    *,
    actor: Principal,
    clock: Clock,
    key: str | None,
    method: str,
    path: str,
    body: Any,
    run: Callable[[], tuple[int, dict[str, Any]]],
) -> StoredResponse:
    """Run a POST at most once per (caller, Idempotency-Key): a repeat gets the stored answer, a different request
    409 `idempotency_conflict`, a repeat while the first runs 409 `idempotency_in_progress`; a failure releases the
    key (see `xinyidai.http.idempotency`)."""
    return shared_idempotent(
        db,
        store=IDEMPOTENCY_STORE,
        clock=clock,
        owner=f"{actor.kind.value}:{actor.id}",
        key=key,
        scope=f"{method.upper()} {path}",
        body=body,
        run=run,
    )


def purge_idempotency_keys(db: Database, *, clock: Clock, older_than: timedelta = timedelta(days=1)) -> int:
    """Delete keys older than `older_than` (callers retry within minutes; a day is generous)."""
    return purge(db, IDEMPOTENCY_STORE, clock=clock, older_than=older_than)
