"""The model registry: versions of rule tables and scorecards, drafted, approved by an operator (four-eyes), serving
as champion or challenger, retired when replaced — every change audited — and `active_models`, what the batch scores with.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from xinyidai import audit
from xinyidai.db import Database
from xinyidai.evaluation.model import ModelFamily, ModelRole, ModelStatus, decide_approval, decide_role_change
from xinyidai.evaluation.model_tables import EvaluationModelVersion
from xinyidai.evaluation.rules import RuleTable, default_rules
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock
from xinyidai.kernel.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from xinyidai.kernel.ids import new_id
from xinyidai.scorecard import Scorecard

#: Longest label and note an operator may give a version.
MAX_LABEL = 80
MAX_NOTE = 500


class ModelVersionNotFound(NotFound):
    """No model version has that id."""

    code: ClassVar[str] = "model_version_not_found"
    title: ClassVar[str] = "未找到该模型版本"


class ModelApprovalRefused(Forbidden):
    """The approval rules refused (not a draft, or the creator approving their own version)."""

    code: ClassVar[str] = "model_approval_refused"
    title: ClassVar[str] = "不能批准该模型版本"


class ModelRoleConflict(Conflict):
    """The role change does not fit the version's state."""

    code: ClassVar[str] = "model_role_conflict"
    title: ClassVar[str] = "模型版本状态不允许该操作"


class InvalidModelContent(InvalidInput):
    """The rule table or scorecard content does not load."""

    code: ClassVar[str] = "invalid_model_content"
    title: ClassVar[str] = "模型内容不符合规则"


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """A model version as pages, the API and the CLI show it."""

    id: uuid.UUID
    family: ModelFamily
    label: str
    status: ModelStatus
    role: ModelRole | None
    content: dict[str, Any]
    content_sha256: str
    parent_id: uuid.UUID | None
    note: str | None
    training_snapshot_id: uuid.UUID | None
    training_as_of: date | None
    training_figures: dict[str, Any]
    validation: dict[str, Any]
    has_validation_html: bool
    created_by: str
    created_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    retired_at: datetime | None

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary without the content and the report (for lists and the CLI)."""
        return {
            "id": str(self.id),
            "family": self.family.value,
            "label": self.label,
            "status": self.status.value,
            "role": self.role.value if self.role else None,
            "content_sha256": self.content_sha256,
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "note": self.note,
            "training_snapshot_id": str(self.training_snapshot_id) if self.training_snapshot_id else None,
            "training_as_of": self.training_as_of.isoformat() if self.training_as_of else None,
            "training_figures": self.training_figures,
            "headline": headline(self.validation),
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "approved_by": self.approved_by,
            "approved_at": self.approved_at.isoformat() if self.approved_at else None,
            "retired_at": self.retired_at.isoformat() if self.retired_at else None,
        }


@dataclass(frozen=True, slots=True)
class ActiveModels:
    """What a batch scores with: the champion rule table (the default when none is approved) and the champion card
    (None when none is approved); the approved challenger card, when there is one, is scored beside it."""

    rules: RuleTable
    rules_version_id: uuid.UUID | None
    card: Scorecard | None
    card_version_id: uuid.UUID | None
    challenger_card: Scorecard | None = field(default=None)
    challenger_card_version_id: uuid.UUID | None = field(default=None)


#: Figures of a validation report shown side by side (key in the report's `test` or top level → Chinese name).
HEADLINE_FIGURES: tuple[tuple[str, str], ...] = (
    ("auc", "AUC"),
    ("ks", "KS"),
    ("gini", "Gini"),
    ("hosmer_lemeshow_p", "HL 检验 p 值"),
    ("psi", "PSI"),
    ("rows", "样本数"),
    ("bad_rate", "坏样本率"),
)


def _figure(section: Any, key: str) -> Any:
    if not isinstance(section, dict):
        return None
    value = section.get(key)
    if isinstance(value, dict):  # e.g. {"statistic": …, "p_value": …}
        return value.get("p_value", value.get("value"))
    return value


def headline(validation: dict[str, Any]) -> dict[str, Any]:
    """The few figures compared across versions, read from a stored validation report (test sample preferred)."""
    out: dict[str, Any] = {}
    for key, _label in HEADLINE_FIGURES:
        value = None
        for section in (validation.get("test"), validation.get("metrics"), validation):
            value = _figure(section, key)
            if value is not None:
                break
        if key == "hosmer_lemeshow_p" and value is None:
            hl = validation.get("test", {}).get("hosmer_lemeshow") if isinstance(validation.get("test"), dict) else None
            hl = hl or validation.get("hosmer_lemeshow")
            value = _figure({"x": hl}, "x") if isinstance(hl, dict) else None
        out[key] = value
    return out


def content_digest(content: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a version's content."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def version_view(row: EvaluationModelVersion) -> ModelVersion:
    return ModelVersion(
        id=row.id,
        family=ModelFamily(row.family),
        label=row.label,
        status=ModelStatus(row.status),
        role=ModelRole(row.role) if row.role else None,
        content=row.content,
        content_sha256=row.content_sha256,
        parent_id=row.parent_id,
        note=row.note,
        training_snapshot_id=row.training_snapshot_id,
        training_as_of=row.training_as_of,
        training_figures=row.training_figures,
        validation=row.validation,
        has_validation_html=bool(row.validation_html),
        created_by=row.created_by,
        created_at=row.created_at,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        retired_at=row.retired_at,
    )


def check_content(family: ModelFamily, content: dict[str, Any]) -> RuleTable | Scorecard:
    """Load the content as its family's model; anything that does not load is refused with the loader's message."""
    try:
        if family is ModelFamily.RULES:
            return RuleTable.from_dict(content)
        return Scorecard.from_dict(content)
    except (KeyError, TypeError, ValueError, DomainError) as exc:
        raise InvalidModelContent(f"{family.label_zh}内容无法载入：{exc}") from exc


def _next_label(session: Session, family: ModelFamily) -> str:
    count = int(session.scalar(sa.select(sa.func.count()).where(EvaluationModelVersion.family == family.value)) or 0)
    return f"{family.value}-v{count + 1}"


def add_version(
    session: Session,
    *,
    actor: ActorRef,
    clock: Clock,
    family: ModelFamily,
    content: dict[str, Any],
    label: str | None = None,
    parent_id: uuid.UUID | None = None,
    note: str | None = None,
    training_snapshot_id: uuid.UUID | None = None,
    training_as_of: date | None = None,
    training_figures: dict[str, Any] | None = None,
    validation: dict[str, Any] | None = None,
    validation_html: str | None = None,
) -> ModelVersion:
    """Store a draft version in the caller's transaction, audited as `evaluation.model.create`."""
    check_content(family, content)
    label = (label or "").strip() or _next_label(session, family)
    if len(label) > MAX_LABEL:
        raise InvalidInput(f"版本名称最多 {MAX_LABEL} 个字符")
    if note is not None and len(note) > MAX_NOTE:
        raise InvalidInput(f"说明最多 {MAX_NOTE} 个字符")
    taken = session.scalar(
        sa.select(EvaluationModelVersion.id).where(
            EvaluationModelVersion.family == family.value, EvaluationModelVersion.label == label
        )
    )
    if taken is not None:
        raise Conflict(f"版本名称 {label} 已被使用")
    if parent_id is not None:
        parent = session.get(EvaluationModelVersion, parent_id)
        if parent is None or parent.family != family.value:
            raise ModelVersionNotFound("作为修改基础的版本不存在")
    row = EvaluationModelVersion(
        id=new_id(),
        family=family.value,
        label=label,
        content=content,
        content_sha256=content_digest(content),
        status=ModelStatus.DRAFT.value,
        role=None,
        parent_id=parent_id,
        note=note,
        training_snapshot_id=training_snapshot_id,
        training_as_of=training_as_of,
        training_figures=training_figures or {},
        validation=validation or {},
        validation_html=validation_html,
        created_by_id=actor.id,
        created_by=actor.label[:200],
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="evaluation.model.create",
        target_type="evaluation_model_version",
        target_id=row.id,
        data={
            "family": family.value,
            "label": label,
            "content_sha256": row.content_sha256,
            "parent_id": str(parent_id) if parent_id else None,
            "training_snapshot_id": str(training_snapshot_id) if training_snapshot_id else None,
        },
        clock=clock,
    )
    return version_view(row)


def create_version(
    db: Database, *, actor: ActorRef, clock: Clock, family: ModelFamily, content: dict[str, Any], **details: Any
) -> ModelVersion:
    """Store a draft version (one transaction); see `add_version` for the details accepted."""
    with db.transaction() as s:
        return add_version(s, actor=actor, clock=clock, family=family, content=content, **details)


def create_rules_draft(
    db: Database,
    *,
    actor: ActorRef,
    clock: Clock,
    table: dict[str, Any],
    parent_id: uuid.UUID | None = None,
    label: str | None = None,
    note: str | None = None,
) -> ModelVersion:
    """An operator's edited rule table, stored as a new draft (it serves only once another operator approves it)."""
    with db.transaction() as s:
        return add_version(
            s, actor=actor, clock=clock, family=ModelFamily.RULES, content=table, parent_id=parent_id, label=label, note=note
        )


def _row(session: Session, version_id: uuid.UUID, *, lock: bool = False) -> EvaluationModelVersion:
    row = session.get(EvaluationModelVersion, version_id, with_for_update=lock, populate_existing=lock)
    if row is None:
        raise ModelVersionNotFound()
    return row


def _vacate(session: Session, *, family: str, role: ModelRole, at: datetime, keep: uuid.UUID) -> EvaluationModelVersion | None:
    """Retire the version now holding `role` in `family` (before another takes it: the unique index allows one)."""
    holder = session.scalar(
        sa.select(EvaluationModelVersion)
        .where(
            EvaluationModelVersion.family == family,
            EvaluationModelVersion.role == role.value,
            EvaluationModelVersion.id != keep,
        )
        .with_for_update()
    )
    if holder is None:
        return None
    holder.role = None
    holder.status = ModelStatus.RETIRED.value
    holder.retired_at = at
    session.flush()
    return holder


def approve_version(
    db: Database,
    *,
    actor: ActorRef,
    clock: Clock,
    version_id: uuid.UUID,
    role: ModelRole = ModelRole.CHAMPION,
    four_eyes: bool = True,
) -> ModelVersion:
    """Approve a draft as champion or challenger; the version holding that role is retired. A refusal is audited
    (committed) before it is raised."""
    now = clock.now()
    refusal: tuple[str, ...] | None = None
    with db.transaction() as s:
        row = _row(s, version_id, lock=True)
        decision = decide_approval(
            status=ModelStatus(row.status), created_by=row.created_by_id, approver=actor.id, four_eyes=four_eyes
        )
        if decision.allowed:
            replaced = _vacate(s, family=row.family, role=role, at=now, keep=row.id)
            row.status = ModelStatus.APPROVED.value
            row.role = role.value
            row.approved_by_id = actor.id
            row.approved_by = actor.label[:200]
            row.approved_at = now
            s.flush()
            audit.record(
                s,
                actor=actor,
                action="evaluation.model.approve",
                target_type="evaluation_model_version",
                target_id=row.id,
                reasons=decision.reasons,
                data={
                    "family": row.family,
                    "label": row.label,
                    "role": role.value,
                    "content_sha256": row.content_sha256,
                    "replaced": str(replaced.id) if replaced else None,
                },
                clock=clock,
            )
            return version_view(row)
        refusal = decision.reasons
        audit.record(
            s,
            actor=actor,
            action="evaluation.model.approve.refused",
            target_type="evaluation_model_version",
            target_id=row.id,
            reasons=refusal,
            data={"family": row.family, "label": row.label, "role": role.value},
            clock=clock,
        )
    raise ModelApprovalRefused("；".join(refusal))


def set_role(db: Database, *, actor: ActorRef, clock: Clock, version_id: uuid.UUID, role: ModelRole | None) -> ModelVersion:
    """Promote an approved version (a challenger to champion, say), or retire it (`role` None)."""
    now = clock.now()
    with db.transaction() as s:
        row = _row(s, version_id, lock=True)
        current = ModelRole(row.role) if row.role else None
        decision = decide_role_change(status=ModelStatus(row.status), role=current, target=role)
        if not decision.allowed:
            raise ModelRoleConflict("；".join(decision.reasons))
        replaced = None
        if role is None:
            row.role = None
            row.status = ModelStatus.RETIRED.value
            row.retired_at = now
        else:
            row.role = None
            s.flush()
            replaced = _vacate(s, family=row.family, role=role, at=now, keep=row.id)
            row.role = role.value
        s.flush()
        audit.record(
            s,
            actor=actor,
            action="evaluation.model.retire" if role is None else "evaluation.model.promote",
            target_type="evaluation_model_version",
            target_id=row.id,
            reasons=decision.reasons,
            data={
                "family": row.family,
                "label": row.label,
                "from": current.value if current else None,
                "to": role.value if role else None,
                "replaced": str(replaced.id) if replaced else None,
            },
            clock=clock,
        )
        return version_view(row)


def list_versions(db: Database, *, family: ModelFamily | None = None) -> list[ModelVersion]:
    """Every version, newest first (registry metadata: no subject's data, so reading it is not audited)."""
    query = sa.select(EvaluationModelVersion)
    if family is not None:
        query = query.where(EvaluationModelVersion.family == family.value)
    with db.transaction() as s:
        rows = s.scalars(query.order_by(EvaluationModelVersion.created_at.desc(), EvaluationModelVersion.id.desc())).all()
        return [version_view(r) for r in rows]


def get_version(db: Database, *, version_id: uuid.UUID) -> ModelVersion:
    """One version."""
    with db.transaction() as s:
        return version_view(_row(s, version_id))


def validation_html(db: Database, *, version_id: uuid.UUID) -> str | None:
    """The stored validation report fragment of a version (HTML made by `scorecard.render_validation_html`)."""
    with db.transaction() as s:
        return _row(s, version_id).validation_html


def serving(db: Database) -> dict[tuple[ModelFamily, ModelRole], ModelVersion]:
    """The versions holding a role, by (family, role): what the operator page puts side by side."""
    with db.transaction() as s:
        rows = s.scalars(sa.select(EvaluationModelVersion).where(EvaluationModelVersion.role.is_not(None))).all()
        return {(ModelFamily(r.family), ModelRole(str(r.role))): version_view(r) for r in rows}


def active_models(session: Session) -> ActiveModels:
    """The approved champion rule table (else the default) and scorecards, read in the caller's transaction."""
    rows = session.scalars(
        sa.select(EvaluationModelVersion).where(
            EvaluationModelVersion.status == ModelStatus.APPROVED.value, EvaluationModelVersion.role.is_not(None)
        )
    ).all()
    held = {(r.family, r.role): r for r in rows}
    rules_row = held.get((ModelFamily.RULES.value, ModelRole.CHAMPION.value))
    card_row = held.get((ModelFamily.SCORECARD.value, ModelRole.CHAMPION.value))
    challenger_row = held.get((ModelFamily.SCORECARD.value, ModelRole.CHALLENGER.value))
    return ActiveModels(
        rules=RuleTable.from_dict(rules_row.content) if rules_row else default_rules(),
        rules_version_id=rules_row.id if rules_row else None,
        card=Scorecard.from_dict(card_row.content) if card_row else None,
        card_version_id=card_row.id if card_row else None,
        challenger_card=Scorecard.from_dict(challenger_row.content) if challenger_row else None,
        challenger_card_version_id=challenger_row.id if challenger_row else None,
    )
