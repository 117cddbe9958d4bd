"""Chinese pages of credit evaluation: the enterprise's 我的信用评价 (grade, score, PD band, reasons with what to
improve and the record behind each, indicators with definitions); the operator's 评价模型 (versions, champion and
challenger side by side, approval, rule-table drafts) and each version's validation report; the 评价等级分布 by
region and industry; the institution's 评价结果推送 (what was pushed to it, the subscription toggle).
Thin routes: every rule is in `xinyidai.evaluation`."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from markupsafe import Markup

from xinyidai.evaluation import models, push, service
from xinyidai.evaluation.model import ModelFamily, ModelRole
from xinyidai.evaluation.models import HEADLINE_FIGURES
from xinyidai.evaluation.rules import default_rules
from xinyidai.http.container import Container, get_container
from xinyidai.kernel.errors import DomainError
from xinyidai.principal import Permission, Principal, require
from xinyidai.web.layout import allowed, error_page, redirect, render

router = APIRouter(include_in_schema=False)
ContainerDep = Annotated[Container, Depends(get_container)]
Own = Annotated[Principal, Depends(require(Permission.EVALUATION_READ_OWN))]
ModelReader = Annotated[Principal, Depends(require(Permission.EVALUATION_MODEL_MANAGE, Permission.EVALUATION_READ))]
ModelManager = Annotated[Principal, Depends(require(Permission.EVALUATION_MODEL_MANAGE))]
Approver = Annotated[Principal, Depends(require(Permission.EVALUATION_MODEL_APPROVE))]
Overseer = Annotated[Principal, Depends(require(Permission.EVALUATION_READ))]
PushReader = Annotated[Principal, Depends(require(Permission.EVALUATION_PUSH_READ, Permission.EVALUATION_SUBSCRIBE))]
Subscriber = Annotated[Principal, Depends(require(Permission.EVALUATION_SUBSCRIBE))]

_GRADE_TONES = {"A": "ok", "B": "info", "C": "warn", "D": "bad"}
_STATUS_TONES = {"draft": "warn", "approved": "ok", "retired": "muted"}


def _figure(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _score(value: Any) -> str:
    """Scores are shown whole (the stored value keeps its decimals)."""
    return "—" if value is None else f"{float(value):.0f}"


def _value(value: Any) -> str:
    """An indicator value: at most two decimals, no trailing zeros."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def _common() -> dict[str, Any]:
    return {
        "score": _score,
        "indicator_value": _value,
        "grade_tone": lambda g: _GRADE_TONES.get(g or "", "muted"),
        "model_status_tone": lambda s: _STATUS_TONES.get(s, "muted"),
        "figure": _figure,
        "headline_figures": HEADLINE_FIGURES,
    }


# --- enterprise ----------------------------------------------------------------------------------


@router.get("/evaluation")
def my_evaluation(request: Request, container: ContainerDep, who: Own) -> Response:
    """我的信用评价: grade, score, PD band, reasons with advice and links to the records, indicators."""
    if not who.enterprise_uscc:
        return error_page(request, container, who, status_code=403, title="无法查看", detail="您的账号尚未关联统一社会信用代码。")
    try:
        view = service.get_evaluation(container.db, actor=who, clock=container.clock, uscc=who.enterprise_uscc)
    except service.EvaluationNotFound:
        view = None
    return render(
        request,
        container,
        who,
        "evaluation/mine.html",
        {"page_title": "我的信用评价", "e": view, "uscc": who.enterprise_uscc, **_common()},
    )


# --- operator: models ----------------------------------------------------------------------------


def _models_page(
    request: Request,
    container: Container,
    who: Principal,
    *,
    error: str | None = None,
    draft: str | None = None,
    status: int = 200,
) -> Response:
    versions = models.list_versions(container.db)
    held = models.serving(container.db)
    champion_rules = held.get((ModelFamily.RULES, ModelRole.CHAMPION))
    table = champion_rules.content if champion_rules else default_rules().to_dict()
    side_by_side = [
        (family, held.get((family, ModelRole.CHAMPION)), held.get((family, ModelRole.CHALLENGER))) for family in ModelFamily
    ]
    return render(
        request,
        container,
        who,
        "evaluation/models.html",
        {
            "page_title": "评价模型",
            "versions": versions,
            "side_by_side": side_by_side,
            "draft_text": draft if draft is not None else json.dumps(table, ensure_ascii=False, indent=2),
            "draft_parent": champion_rules.id if champion_rules else "",
            "can_manage": allowed(who, Permission.EVALUATION_MODEL_MANAGE),
            "can_approve": allowed(who, Permission.EVALUATION_MODEL_APPROVE),
            "error": error,
            "done": request.query_params.get("done"),
            **_common(),
        },
        status_code=status,
    )


@router.get("/evaluation/models")
def models_page(request: Request, container: ContainerDep, who: ModelReader) -> Response:
    """Versions of both families, champion and challenger side by side, approval and rule-table drafts."""
    return _models_page(request, container, who)


@router.post("/evaluation/models/rules")
def rules_draft_form(
    request: Request,
    container: ContainerDep,
    who: ModelManager,
    table: Annotated[str, Form(max_length=200_000)] = "",
    parent_id: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Store the edited rule table (JSON) as a new draft."""
    try:
        data = json.loads(table)
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except ValueError:
        return _models_page(request, container, who, error="规则表须为 JSON 对象，请检查格式。", draft=table, status=422)
    try:
        parent = uuid.UUID(parent_id) if parent_id else None
    except ValueError:
        parent = None
    try:
        version = models.create_rules_draft(
            container.db, actor=who.ref, clock=container.clock, table=data, parent_id=parent, note=note.strip() or None
        )
    except DomainError as exc:
        return _models_page(request, container, who, error=exc.detail, draft=table, status=exc.status)
    return redirect(f"/evaluation/models/{version.id}?done=created")


@router.post("/evaluation/models/{version_id}/approve")
def approve_form(
    version_id: str,
    request: Request,
    container: ContainerDep,
    who: Approver,
    role: Annotated[str, Form(max_length=16)] = "champion",
) -> Response:
    """Approve a draft as champion or challenger."""
    try:
        key, chosen = uuid.UUID(version_id), ModelRole(role)
    except ValueError:
        return _models_page(request, container, who, error="版本或角色无效。", status=422)
    try:
        models.approve_version(container.db, actor=who.ref, clock=container.clock, version_id=key, role=chosen)
    except DomainError as exc:
        return _models_page(request, container, who, error=exc.detail, status=exc.status)
    return redirect("/evaluation/models?done=approved")


@router.post("/evaluation/models/{version_id}/role")
def role_form(
    version_id: str,
    request: Request,
    container: ContainerDep,
    who: Approver,
    role: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Promote an approved version, or retire it (empty role)."""
    try:
        key = uuid.UUID(version_id)
        chosen = ModelRole(role) if role else None
    except ValueError:
        return _models_page(request, container, who, error="版本或角色无效。", status=422)
    try:
        models.set_role(container.db, actor=who.ref, clock=container.clock, version_id=key, role=chosen)
    except DomainError as exc:
        return _models_page(request, container, who, error=exc.detail, status=exc.status)
    return redirect("/evaluation/models?done=role")


@router.get("/evaluation/models/{version_id}")
def model_detail(version_id: str, request: Request, container: ContainerDep, who: ModelReader) -> Response:
    """A version's validation report: the scorecard report (inline SVG charts) or the rule table's grade figures."""
    try:
        key = uuid.UUID(version_id)
        version = models.get_version(container.db, version_id=key)
    except (ValueError, models.ModelVersionNotFound):
        return error_page(request, container, who, status_code=404, title="未找到该模型版本", detail="该模型版本不存在。")
    html = models.validation_html(container.db, version_id=key)
    grades = version.validation.get("grades") if version.family is ModelFamily.RULES else None
    top = max((g.get("rows", 0) for g in grades or []), default=0) or 1
    return render(
        request,
        container,
        who,
        "evaluation/model_detail.html",
        {
            "page_title": f"模型版本 {version.label}",
            "v": version,
            # Made by scorecard.render_validation_html, which escapes every value it writes.
            "report_html": Markup(html) if html else None,  # noqa: S704 - trusted fragment, escaped at source
            "grades": grades,
            "grade_bars": [{**g, "w": round(g.get("rows", 0) * 100 / top, 1), "y": i * 30} for i, g in enumerate(grades or [])],
            "content_text": json.dumps(version.content, ensure_ascii=False, indent=2)[:100_000],
            "can_approve": allowed(who, Permission.EVALUATION_MODEL_APPROVE),
            "done": request.query_params.get("done"),
            **_common(),
        },
    )


# --- distribution --------------------------------------------------------------------------------


def _bars(groups: Any, limit: int = 15) -> list[dict[str, Any]]:
    rows = list(groups)[:limit]
    top = max((g.total for g in rows), default=0) or 1
    out = []
    for i, g in enumerate(rows):
        x = 0.0
        parts = []
        for grade in service.GRADES:
            w = g.counts.get(grade, 0) * 300 / top
            parts.append({"grade": grade, "x": round(x, 1), "w": round(w, 1), "n": g.counts.get(grade, 0)})
            x += w
        out.append({"name": g.name, "total": g.total, "y": i * 26, "parts": parts, "end": round(x, 1)})
    return out


@router.get("/evaluation/distribution")
def distribution_page(request: Request, container: ContainerDep, who: Overseer) -> Response:
    """Grade distribution overall, by region and by industry, as inline SVG stacked bars."""
    d = service.distribution(container.db, actor=who, clock=container.clock)
    return render(
        request,
        container,
        who,
        "evaluation/distribution.html",
        {
            "page_title": "评价等级分布",
            "d": d,
            "regions": _bars(d.by_region),
            "industries": _bars(d.by_industry),
            "grades": service.GRADES,
            **_common(),
        },
    )


# --- institution: pushes -------------------------------------------------------------------------


@router.get("/evaluation/pushed")
def pushed_page(request: Request, container: ContainerDep, who: PushReader) -> Response:
    """Evaluations pushed to the institution, and the subscription toggle for its admin."""
    if who.institution_id is None:
        return error_page(request, container, who, status_code=403, title="无法查看", detail="仅金融机构可以查看评价结果推送。")
    page = push.list_pushes(container.db, actor=who, clock=container.clock, limit=200)
    sub = push.get_subscription(container.db, actor=who)
    return render(
        request,
        container,
        who,
        "evaluation/pushed.html",
        {
            "page_title": "评价结果推送",
            "page": page,
            "sub": sub,
            "can_subscribe": allowed(who, Permission.EVALUATION_SUBSCRIBE),
            "done": request.query_params.get("done"),
            **_common(),
        },
    )


@router.post("/evaluation/subscription")
def subscription_form(
    request: Request, container: ContainerDep, who: Subscriber, active: Annotated[str, Form(max_length=4)] = ""
) -> Response:
    """Turn pushes on (active=1) or off."""
    try:
        push.set_subscription(container.db, actor=who, clock=container.clock, active=active == "1")
    except DomainError as exc:
        return error_page(request, container, who, status_code=exc.status, title=exc.title, detail=exc.detail)
    return redirect("/evaluation/pushed?done=1")
