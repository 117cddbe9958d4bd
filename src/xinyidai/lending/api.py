"""Lending routes for core-banking integration and enterprise clients: applications, decisions, loans and their
performance, the regulator's overview. Every POST honours an `Idempotency-Key` header."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from xinyidai.http.container import Container, get_container
from xinyidai.lending import service
from xinyidai.lending.model import ApplicationStatus, LoanStatus
from xinyidai.lending.schemas import (
    ApplicationCreate,
    ApplicationPage,
    ApplicationRead,
    ClassificationBody,
    DecisionBody,
    LoanCreate,
    LoanPage,
    LoanRead,
    LoanTermsBody,
    OverviewRead,
    RepaymentBody,
)
from xinyidai.principal import Permission, Principal, require

router = APIRouter(tags=["lending"])
ContainerDep = Annotated[Container, Depends(get_container)]
Applicant = Annotated[Principal, Depends(require(Permission.APPLICATION_CREATE))]
Decider = Annotated[Principal, Depends(require(Permission.APPLICATION_DECIDE))]
AppReader = Annotated[Principal, Depends(require(Permission.APPLICATION_READ))]
LoanManager = Annotated[Principal, Depends(require(Permission.LOAN_MANAGE))]
LoanReader = Annotated[Principal, Depends(require(Permission.LOAN_MANAGE, Permission.LOAN_READ_OWN))]
Regulator = Annotated[Principal, Depends(require(Permission.LENDING_OVERVIEW))]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=200, description="重复提交同一键和同一请求体时返回首次的结果"),
]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


def _once(
    request: Request,
    container: Container,
    who: Principal,
    key: str | None,
    body: BaseModel | None,
    code: int,
    run: Callable[[], BaseModel],
) -> JSONResponse:
    """Run `run` at most once per (caller, key); repeats get the stored answer (header `Idempotent-Replayed: true`)."""

    def work() -> tuple[int, dict[str, Any]]:
        return code, run().model_dump(mode="json")

    return service.idempotent(
        container.db,
        actor=who,
        clock=container.clock,
        key=key,
        method=request.method,
        path=request.url.path,
        body=body.model_dump(mode="json") if body else None,
        run=work,
    ).response()


def _hooks(container: Container) -> service.LendingHooks:
    return service.hooks_for(container)


# --- applications -------------------------------------------------------------------------------


@router.post("/applications", response_model=ApplicationRead, status_code=status.HTTP_201_CREATED, summary="提交融资申请")
def submit(
    body: ApplicationCreate, request: Request, container: ContainerDep, who: Applicant, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """The enterprise applies to a product; the product's institution is told by webhook."""
    return _once(
        request,
        container,
        who,
        idempotency_key,
        body,
        201,
        lambda: ApplicationRead.of(
            service.submit_application(
                container.db,
                actor=who,
                clock=container.clock,
                hooks=_hooks(container),
                product_id=body.product_id,
                amount_wan=body.amount_wan,
                term_months=body.term_months,
                purpose=body.purpose,
            )
        ),
    )


@router.get("/applications", response_model=ApplicationPage, summary="融资申请列表（企业：本企业；机构：工作队列）")
def list_applications(
    container: ContainerDep,
    who: AppReader,
    status_: Annotated[ApplicationStatus | None, Query(alias="status")] = None,
    due: Annotated[Literal["soon", "overdue"] | None, Query(description="soon：剩余 ≤3 个工作日；overdue：已超期")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ApplicationPage:
    """The caller's own applications only: an institution sees those to its products, an enterprise its own."""
    page = service.list_applications(
        container.db, actor=who, clock=container.clock, status=status_, due=due, limit=limit, offset=offset
    )
    return ApplicationPage(items=[ApplicationRead.of(v) for v in page.items], total=page.total, limit=limit, offset=offset)


@router.get("/applications/{application_id}", response_model=ApplicationRead, summary="查看融资申请")
def get_application(application_id: uuid.UUID, container: ContainerDep, who: AppReader) -> ApplicationRead:
    """One application; another tenant's answers 404."""
    return ApplicationRead.of(
        service.get_application(container.db, actor=who, clock=container.clock, application_id=application_id)
    )


@router.post("/applications/{application_id}/withdraw", response_model=ApplicationRead, summary="撤回融资申请")
def withdraw_application(
    application_id: uuid.UUID, request: Request, container: ContainerDep, who: Applicant, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """The enterprise withdraws before the decision; afterwards 409 `invalid_transition`."""
    return _once(
        request,
        container,
        who,
        idempotency_key,
        None,
        200,
        lambda: ApplicationRead.of(
            service.withdraw_application(
                container.db, actor=who, clock=container.clock, hooks=_hooks(container), application_id=application_id
            )
        ),
    )


@router.post("/applications/{application_id}/accept", response_model=ApplicationRead, summary="受理融资申请")
def accept(
    application_id: uuid.UUID, request: Request, container: ContainerDep, who: Decider, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """The institution accepts; the decision falls due 10 working days later (Chinese working-day calendar)."""
    return _once(
        request,
        container,
        who,
        idempotency_key,
        None,
        200,
        lambda: ApplicationRead.of(
            service.accept_application(
                container.db, actor=who, clock=container.clock, hooks=_hooks(container), application_id=application_id
            )
        ),
    )


@router.post("/applications/{application_id}/decide", response_model=ApplicationRead, summary="审批决定（批准或拒绝）")
def decide(
    application_id: uuid.UUID,
    body: DecisionBody,
    request: Request,
    container: ContainerDep,
    who: Decider,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Approve with amount, rate and term, or reject with at least one coded reason and text."""
    return _once(
        request,
        container,
        who,
        idempotency_key,
        body,
        200,
        lambda: ApplicationRead.of(
            service.decide_application(
                container.db,
                actor=who,
                clock=container.clock,
                hooks=_hooks(container),
                application_id=application_id,
                approval=body.approval(),
                rejection=body.rejection(),
            )
        ),
    )


# --- loans --------------------------------------------------------------------------------------


@router.post("/loans", response_model=LoanRead, status_code=status.HTTP_201_CREATED, summary="登记贷款（来自已批准的申请）")
def register_loan(
    body: LoanCreate, request: Request, container: ContainerDep, who: LoanManager, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """The loan an approval became, with its repayment schedule."""
    return _once(
        request,
        container,
        who,
        idempotency_key,
        body,
        201,
        lambda: LoanRead.of(
            service.register_loan(
                container.db,
                actor=who,
                clock=container.clock,
                hooks=_hooks(container),
                application_id=body.application_id,
                terms=body.terms(),
            )
        ),
    )


@router.get("/loans", response_model=LoanPage, summary="贷款列表")
def list_loans(
    container: ContainerDep,
    who: LoanReader,
    status_: Annotated[LoanStatus | None, Query(alias="status")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> LoanPage:
    """The institution's loans, or the enterprise's own."""
    page = service.list_loans(container.db, actor=who, status=status_, limit=limit, offset=offset)
    return LoanPage(items=[LoanRead.of(v) for v in page.items], total=page.total, limit=limit, offset=offset)


@router.get("/loans/{loan_id}", response_model=LoanRead, summary="查看贷款及还款计划")
def get_loan(loan_id: uuid.UUID, container: ContainerDep, who: LoanReader) -> LoanRead:
    """One loan with its schedule; another tenant's answers 404."""
    return LoanRead.of(service.get_loan(container.db, actor=who, loan_id=loan_id))


@router.post("/loans/{loan_id}/repayments", response_model=LoanRead, status_code=status.HTTP_201_CREATED, summary="报告还款")
def report_repayment(
    loan_id: uuid.UUID,
    body: RepaymentBody,
    request: Request,
    container: ContainerDep,
    who: LoanManager,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A repayment received; the loan is settled when no principal is left."""
    return _once(
        request,
        container,
        who,
        idempotency_key,
        body,
        201,
        lambda: LoanRead.of(
            service.report_repayment(
                container.db,
                actor=who,
                clock=container.clock,
                hooks=_hooks(container),
                loan_id=loan_id,
                paid_on=body.paid_on,
                principal_wan=body.principal_wan,
                interest_wan=body.interest_wan,
            )
        ),
    )


@router.post("/loans/{loan_id}/classification", response_model=LoanRead, summary="报告五级分类与逾期天数")
def report_classification(
    loan_id: uuid.UUID,
    body: ClassificationBody,
    request: Request,
    container: ContainerDep,
    who: LoanManager,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """正常, 关注, 次级, 可疑, 损失, with days past due, as of a date."""
    return _once(
        request,
        container,
        who,
        idempotency_key,
        body,
        200,
        lambda: LoanRead.of(
            service.report_classification(
                container.db,
                actor=who,
                clock=container.clock,
                hooks=_hooks(container),
                loan_id=loan_id,
                classification=body.classification,
                days_past_due=body.days_past_due,
                as_of=body.as_of,
            )
        ),
    )


@router.post("/loans/{loan_id}/renew", response_model=LoanRead, status_code=status.HTTP_201_CREATED, summary="无还本续贷")
def renew(
    loan_id: uuid.UUID,
    body: LoanTermsBody,
    request: Request,
    container: ContainerDep,
    who: LoanManager,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A loan in good standing (正常, no days past due) is renewed without repaying first: a new loan, linked."""
    return _once(
        request,
        container,
        who,
        idempotency_key,
        body,
        201,
        lambda: LoanRead.of(
            service.renew_loan(
                container.db, actor=who, clock=container.clock, hooks=_hooks(container), loan_id=loan_id, terms=body.terms()
            )
        ),
    )


# --- regulator ----------------------------------------------------------------------------------


@router.get("/lending/overview", response_model=OverviewRead, summary="信易贷概览（监管）")
def overview(container: ContainerDep, who: Regulator) -> OverviewRead:
    """Applications, approval rate, credit-loan share, renewals, defaults and overdue decisions across this node."""
    return OverviewRead.of(service.lending_overview(container.db, actor=who, clock=container.clock))
