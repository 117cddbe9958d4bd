"""Chinese pages of lending: the enterprise's 我的申请 and 我的贷款, the institution's 工作台队列 with deadline colours,
decision and loan-registration forms, and the regulator's 信易贷概览 with a server-rendered chart.
Thin routes: every rule is in `xinyidai.lending`."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from xinyidai import lending
from xinyidai.http.container import Container, get_container
from xinyidai.kernel.errors import DomainError
from xinyidai.principal import Permission, Principal, require
from xinyidai.web.layout import allowed, error_page, redirect, render, today_in_china

router = APIRouter(include_in_schema=False)
ContainerDep = Annotated[Container, Depends(get_container)]
Reader = Annotated[Principal, Depends(require(Permission.APPLICATION_READ))]
Applicant = Annotated[Principal, Depends(require(Permission.APPLICATION_CREATE))]
Decider = Annotated[Principal, Depends(require(Permission.APPLICATION_DECIDE))]
LoanManager = Annotated[Principal, Depends(require(Permission.LOAN_MANAGE))]
LoanReader = Annotated[Principal, Depends(require(Permission.LOAN_MANAGE, Permission.LOAN_READ_OWN))]
Regulator = Annotated[Principal, Depends(require(Permission.LENDING_OVERVIEW))]

_TONES = {
    lending.ApplicationStatus.SUBMITTED: "info",
    lending.ApplicationStatus.ACCEPTED: "warn",
    lending.ApplicationStatus.APPROVED: "ok",
    lending.ApplicationStatus.REJECTED: "bad",
    lending.ApplicationStatus.WITHDRAWN: "muted",
}
_DEADLINE = {
    lending.DeadlineTone.GREEN: ("ok", "充裕"),
    lending.DeadlineTone.AMBER: ("warn", "临近"),
    lending.DeadlineTone.RED: ("bad", "已超期"),
}
_LIMIT = 200


def _common() -> dict[str, Any]:
    return {
        "status_tone": lambda s: _TONES.get(s, "muted"),
        "deadline": lambda t: _DEADLINE.get(t, ("muted", "")),
        "reasons": list(lending.RejectionReason),
        "methods": list(lending.LoanRepaymentMethod),
        "classes": list(lending.LoanClass),
        "statuses": list(lending.ApplicationStatus),
    }


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _dec(text: str) -> Decimal:
    try:
        value = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite():
        raise ValueError(text)
    return value


def _not_found(request: Request, container: Container, who: Principal) -> Response:
    return error_page(
        request, container, who, status_code=404, title="未找到该融资申请", detail="该申请不存在，或不属于本机构/本企业。"
    )


# --- applications --------------------------------------------------------------------------------


@router.get("/lending/applications")
def applications(request: Request, container: ContainerDep, who: Reader) -> Response:
    """我的申请 for an enterprise; 工作台队列 for an institution."""
    return _list(request, container, who)


def _list(
    request: Request,
    container: Container,
    who: Principal,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    status_q = request.query_params.get("status")
    due = request.query_params.get("due")
    try:
        status = lending.ApplicationStatus(status_q) if status_q else None
        page = lending.list_applications(
            container.db,
            actor=who,
            clock=container.clock,
            status=status,
            due=due if due in ("soon", "overdue") else None,
            limit=_LIMIT,
        )
    except ValueError:
        page = lending.list_applications(container.db, actor=who, clock=container.clock, limit=_LIMIT)
    is_enterprise = allowed(who, Permission.APPLICATION_CREATE)
    notices = lending.list_notifications(container.db, actor=who, limit=20) if is_enterprise else ()
    return render(
        request,
        container,
        who,
        "lending/applications.html",
        {
            "page_title": "我的申请" if is_enterprise else "工作台队列",
            "is_enterprise": is_enterprise,
            "items": page.items,
            "total": page.total,
            "notifications": notices,
            "error": error,
            "form": form or {"product_id": "", "amount_wan": "", "term_months": "12", "purpose": ""},
            "filter_status": status_q or "",
            "filter_due": due or "",
            "done": request.query_params.get("done"),
            **_common(),
        },
        status_code=status_code,
    )


@router.post("/lending/applications")
def apply_form(
    request: Request,
    container: ContainerDep,
    who: Applicant,
    product_id: Annotated[str, Form(max_length=64)] = "",
    amount_wan: Annotated[str, Form(max_length=30)] = "",
    term_months: Annotated[str, Form(max_length=4)] = "",
    purpose: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """The enterprise applies to a product by its id."""
    form = {"product_id": product_id, "amount_wan": amount_wan, "term_months": term_months, "purpose": purpose}
    pid = _uuid(product_id.strip())
    try:
        if pid is None:
            raise ValueError(product_id)
        amount, term = _dec(amount_wan), int(term_months)
    except ValueError:
        return _list(
            request, container, who, error="请填写正确的产品编号、金额（万元）和期限（月）。", form=form, status_code=422
        )
    try:
        view = lending.submit_application(
            container.db,
            actor=who,
            clock=container.clock,
            hooks=lending.hooks_for(container),
            product_id=pid,
            amount_wan=amount,
            term_months=term,
            purpose=purpose,
        )
    except DomainError as exc:
        return _list(request, container, who, error=exc.detail, form=form, status_code=exc.status)
    return redirect(f"/lending/applications/{view.id}?done=1")


def _detail(
    request: Request,
    container: Container,
    who: Principal,
    view: lending.ApplicationView,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        container,
        who,
        "lending/detail.html",
        {
            "page_title": "融资申请详情",
            "a": view,
            "error": error,
            "done": request.query_params.get("done"),
            "can_decide": allowed(who, Permission.APPLICATION_DECIDE),
            "can_withdraw": allowed(who, Permission.APPLICATION_CREATE) and not view.status.final,
            "can_register": allowed(who, Permission.LOAN_MANAGE)
            and view.status is lending.ApplicationStatus.APPROVED
            and view.loan_id is None,
            "today": today_in_china(container).isoformat(),
            **_common(),
        },
        status_code=status_code,
    )


@router.get("/lending/applications/{application_id}")
def application_detail(application_id: str, request: Request, container: ContainerDep, who: Reader) -> Response:
    """One application: status, deadline, decision; the institution's forms."""
    key = _uuid(application_id)
    try:
        if key is None:
            raise lending.ApplicationNotFound()
        view = lending.get_application(container.db, actor=who, clock=container.clock, application_id=key)
    except lending.ApplicationNotFound:
        return _not_found(request, container, who)
    return _detail(request, container, who, view)


def _act(request: Request, container: Container, who: Principal, key: uuid.UUID | None, run: Any) -> Response:
    if key is None:
        return _not_found(request, container, who)
    try:
        run(key)
    except lending.ApplicationNotFound:
        return _not_found(request, container, who)
    except DomainError as exc:
        view = lending.get_application(container.db, actor=who, clock=container.clock, application_id=key)
        return _detail(request, container, who, view, error=exc.detail, status_code=exc.status)
    return redirect(f"/lending/applications/{key}?done=1")


def _form_error(request: Request, container: Container, who: Principal, key: uuid.UUID | None, message: str) -> Response:
    if key is None:
        return _not_found(request, container, who)
    try:
        view = lending.get_application(container.db, actor=who, clock=container.clock, application_id=key)
    except lending.ApplicationNotFound:
        return _not_found(request, container, who)
    return _detail(request, container, who, view, error=message, status_code=422)


@router.post("/lending/applications/{application_id}/withdraw")
def withdraw_form(application_id: str, request: Request, container: ContainerDep, who: Applicant) -> Response:
    """The enterprise withdraws before the decision."""
    return _act(
        request,
        container,
        who,
        _uuid(application_id),
        lambda key: lending.withdraw_application(
            container.db, actor=who, clock=container.clock, hooks=lending.hooks_for(container), application_id=key
        ),
    )


@router.post("/lending/applications/{application_id}/accept")
def accept_form(application_id: str, request: Request, container: ContainerDep, who: Decider) -> Response:
    """The institution accepts (受理)."""
    return _act(
        request,
        container,
        who,
        _uuid(application_id),
        lambda key: lending.accept_application(
            container.db, actor=who, clock=container.clock, hooks=lending.hooks_for(container), application_id=key
        ),
    )


@router.post("/lending/applications/{application_id}/decide")
def decide_form(
    application_id: str,
    request: Request,
    container: ContainerDep,
    who: Decider,
    outcome: Annotated[str, Form(max_length=16)] = "",
    amount_wan: Annotated[str, Form(max_length=30)] = "",
    annual_rate_pct: Annotated[str, Form(max_length=12)] = "",
    term_months: Annotated[str, Form(max_length=4)] = "",
    reasons: Annotated[list[str] | None, Form(max_length=10)] = None,
    text: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Approve with amount, rate and term, or reject with coded reasons and text."""
    key = _uuid(application_id)
    approval: lending.Approval | None = None
    rejection: lending.Rejection | None = None
    try:
        if outcome == "approved":
            approval = lending.Approval(_dec(amount_wan), _dec(annual_rate_pct), int(term_months))
        else:
            rejection = lending.Rejection(tuple(lending.RejectionReason(r) for r in dict.fromkeys(reasons or [])), text)
    except ValueError:
        return _form_error(request, container, who, key, "请填写正确的金额、利率和期限，拒绝原因须从列表中选择。")
    return _act(
        request,
        container,
        who,
        key,
        lambda k: lending.decide_application(
            container.db,
            actor=who,
            clock=container.clock,
            hooks=lending.hooks_for(container),
            application_id=k,
            approval=approval,
            rejection=rejection,
        ),
    )


@router.post("/lending/applications/{application_id}/loan")
def register_form(
    application_id: str,
    request: Request,
    container: ContainerDep,
    who: LoanManager,
    amount_wan: Annotated[str, Form(max_length=30)] = "",
    annual_rate_pct: Annotated[str, Form(max_length=12)] = "",
    start_on: Annotated[str, Form(max_length=10)] = "",
    term_months: Annotated[str, Form(max_length=4)] = "",
    repayment_method: Annotated[str, Form(max_length=24)] = "",
    credit_loan: Annotated[str, Form(max_length=4)] = "",
    guarantee: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Register the loan of an approved application."""
    key = _uuid(application_id)
    try:
        terms = lending.LoanTerms(
            amount_wan=_dec(amount_wan),
            annual_rate_pct=_dec(annual_rate_pct),
            start_on=date.fromisoformat(start_on),
            term_months=int(term_months),
            method=lending.LoanRepaymentMethod(repayment_method),
            credit_loan=credit_loan == "yes",
            guarantee=guarantee,
        )
    except ValueError:
        return _form_error(request, container, who, key, "请完整填写贷款要素：金额、利率、起始日（YYYY-MM-DD）、期限和还款方式。")
    return _act(
        request,
        container,
        who,
        key,
        lambda k: lending.register_loan(
            container.db, actor=who, clock=container.clock, hooks=lending.hooks_for(container), application_id=k, terms=terms
        ),
    )


# --- loans and overview --------------------------------------------------------------------------


@router.get("/lending/loans")
def loans(request: Request, container: ContainerDep, who: LoanReader) -> Response:
    """我的贷款 for an enterprise; the institution's registered loans."""
    page = lending.list_loans(container.db, actor=who, limit=_LIMIT)
    return render(
        request,
        container,
        who,
        "lending/loans.html",
        {
            "page_title": "我的贷款" if who.enterprise_uscc else "贷款登记簿",
            "items": page.items,
            "total": page.total,
            **_common(),
        },
    )


def _chart(rows: list[tuple[str, int]]) -> dict[str, Any]:
    """Bars for the SVG chart: label, value, width in 0–100."""
    top = max((n for _, n in rows), default=0) or 1
    return {"bars": [{"label": label, "n": n, "w": round(n * 100 / top, 1), "y": i * 28} for i, (label, n) in enumerate(rows)]}


@router.get("/lending/overview")
def overview(request: Request, container: ContainerDep, who: Regulator) -> Response:
    """信易贷概览: counts, approval rate, credit-loan share, overdue decisions, with a bar chart."""
    o = lending.lending_overview(container.db, actor=who, clock=container.clock)
    rows = [(s.label_zh, o.applications_by_status.get(s.value, 0)) for s in lending.ApplicationStatus]
    return render(
        request,
        container,
        who,
        "lending/overview.html",
        {"page_title": "信易贷概览", "o": o, "chart": _chart(rows), "pct": lambda d: "—" if d is None else f"{d * 100:.1f}%"},
    )
