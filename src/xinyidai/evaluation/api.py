"""Evaluation routes: an enterprise's evaluation (itself, an authorized institution, the operator and regulator), the
grade distribution, the model registry (list, approve, promote/retire, rule-table drafts), push subscriptions and
the evaluations pushed to an institution."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from xinyidai.evaluation import models, push, service
from xinyidai.evaluation.model import ModelRole
from xinyidai.evaluation.schemas import (
    DistributionRead,
    EvaluationRead,
    ModelApproveBody,
    ModelVersionList,
    ModelVersionRead,
    PushPageRead,
    PushRead,
    RoleBody,
    RulesDraftCreate,
    SubscriptionBody,
    SubscriptionRead,
)
from xinyidai.http.container import Container, get_container
from xinyidai.principal import Permission, Principal, require

router = APIRouter(tags=["evaluation"])
ContainerDep = Annotated[Container, Depends(get_container)]
Reader = Annotated[
    Principal, Depends(require(Permission.EVALUATION_READ_OWN, Permission.EVALUATION_PULL, Permission.EVALUATION_READ))
]
Overseer = Annotated[Principal, Depends(require(Permission.EVALUATION_READ))]
ModelReader = Annotated[Principal, Depends(require(Permission.EVALUATION_MODEL_MANAGE, Permission.EVALUATION_READ))]
ModelManager = Annotated[Principal, Depends(require(Permission.EVALUATION_MODEL_MANAGE))]
Approver = Annotated[Principal, Depends(require(Permission.EVALUATION_MODEL_APPROVE))]
Subscriber = Annotated[Principal, Depends(require(Permission.EVALUATION_SUBSCRIBE))]
PushReader = Annotated[Principal, Depends(require(Permission.EVALUATION_PUSH_READ, Permission.EVALUATION_SUBSCRIBE))]


@router.get("/evaluations/{uscc}", response_model=EvaluationRead, summary="查询企业信用评价")
def get_evaluation(
    uscc: str,
    container: ContainerDep,
    who: Reader,
    purpose: Annotated[str | None, Query(max_length=40, description="查询用途（金融机构必填，须与授权用途一致）")] = None,
    authorization_id: Annotated[uuid.UUID | None, Query(description="授权编号（不填时取本机构最新的有效授权）")] = None,
) -> EvaluationRead:
    """Grade, scores, PD, reasons with what to improve, indicators with definitions, run/model/snapshot ids."""
    view = service.get_evaluation(
        container.db,
        actor=who,
        clock=container.clock,
        uscc=uscc[:18],
        purpose=service.check_purpose(purpose),
        authorization_id=authorization_id,
    )
    return EvaluationRead.model_validate(view.to_json())


@router.get("/evaluation/distribution", response_model=DistributionRead, summary="信用评价等级分布")
def get_distribution(container: ContainerDep, who: Overseer) -> DistributionRead:
    """Grade counts overall, by region and by industry."""
    return DistributionRead.model_validate(service.distribution(container.db, actor=who, clock=container.clock).to_json())


@router.get("/evaluation/models", response_model=ModelVersionList, summary="评价模型版本列表")
def list_models(container: ContainerDep, who: ModelReader) -> ModelVersionList:
    """Every rule-table and scorecard version, newest first."""
    return ModelVersionList(items=[ModelVersionRead.of(v) for v in models.list_versions(container.db)])


@router.get("/evaluation/models/{version_id}", response_model=ModelVersionRead, summary="评价模型版本详情")
def get_model(version_id: uuid.UUID, container: ContainerDep, who: ModelReader) -> ModelVersionRead:
    """One version with its content and validation report."""
    return ModelVersionRead.of(models.get_version(container.db, version_id=version_id), full=True)


@router.post(
    "/evaluation/models/rules",
    response_model=ModelVersionRead,
    status_code=status.HTTP_201_CREATED,
    summary="提交规则评价表草稿",
)
def create_rules_draft(body: RulesDraftCreate, container: ContainerDep, who: ModelManager) -> ModelVersionRead:
    """Store an edited rule table as a draft version (it serves once another operator approves it)."""
    version = models.create_rules_draft(
        container.db,
        actor=who.ref,
        clock=container.clock,
        table=body.table,
        parent_id=body.parent_id,
        label=body.label,
        note=body.note,
    )
    return ModelVersionRead.of(version, full=True)


@router.post("/evaluation/models/{version_id}/approve", response_model=ModelVersionRead, summary="批准评价模型版本")
def approve_model(version_id: uuid.UUID, body: ModelApproveBody, container: ContainerDep, who: Approver) -> ModelVersionRead:
    """Approve a draft as champion or challenger (never by its creator)."""
    version = models.approve_version(
        container.db, actor=who.ref, clock=container.clock, version_id=version_id, role=ModelRole(body.role)
    )
    return ModelVersionRead.of(version)


@router.post("/evaluation/models/{version_id}/role", response_model=ModelVersionRead, summary="调整评价模型角色")
def set_model_role(version_id: uuid.UUID, body: RoleBody, container: ContainerDep, who: Approver) -> ModelVersionRead:
    """Promote an approved version to champion or challenger, or retire it (`role` null)."""
    role = ModelRole(body.role) if body.role else None
    return ModelVersionRead.of(
        models.set_role(container.db, actor=who.ref, clock=container.clock, version_id=version_id, role=role)
    )


@router.get("/evaluation/subscription", response_model=SubscriptionRead, summary="评价结果推送订阅状态")
def get_subscription(container: ContainerDep, who: PushReader) -> SubscriptionRead:
    """Whether the institution receives evaluation pushes, and where they go."""
    return SubscriptionRead.of(push.get_subscription(container.db, actor=who))


@router.put("/evaluation/subscription", response_model=SubscriptionRead, summary="订阅或退订评价结果推送")
def set_subscription(body: SubscriptionBody, container: ContainerDep, who: Subscriber) -> SubscriptionRead:
    """The institution admin turns pushes on or off."""
    return SubscriptionRead.of(push.set_subscription(container.db, actor=who, clock=container.clock, active=body.active))


@router.get("/evaluation/pushes", response_model=PushPageRead, summary="已推送给本机构的评价结果")
def list_pushes(
    container: ContainerDep,
    who: PushReader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> PushPageRead:
    """Evaluations pushed to the caller's institution, newest first."""
    page = push.list_pushes(container.db, actor=who, clock=container.clock, limit=limit, offset=offset)
    return PushPageRead(items=[PushRead.of(p) for p in page.items], total=page.total, limit=page.limit, offset=page.offset)
