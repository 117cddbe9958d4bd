"""Evaluation pushes (评价结果推送): institutions subscribe; after each run, every subscribed institution is sent, as a
signed webhook through the outbox, the evaluation of each enterprise whose active authorization to it covers the
`credit_evaluation` catalog item. Each delivery is recorded (what the institution's page lists) and audited as a
disclosure in the enterprise's access trail (`evaluation.push.export`).

The authorizations are read through consent's public functions as the institution itself (a system principal
carrying its id), and each enterprise is decided with consent's one rule, `decide_access`, for the authorization's
own purpose. A push does not count against the authorization's fetch cap: the institution did not ask for it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

import sqlalchemy as sa

from xinyidai import audit, catalog, consent, job, principal
from xinyidai.db import Database
from xinyidai.evaluation.batch import row_reasons
from xinyidai.evaluation.model import advice_for, pd_band, stored_json
from xinyidai.evaluation.model_tables import EvaluationPush, EvaluationSubscription
from xinyidai.evaluation.runs_tables import EvaluationCurrent
from xinyidai.http.container import Container
from xinyidai.kernel.actor import ActorKind, ActorRef
from xinyidai.kernel.clock import Clock
from xinyidai.kernel.errors import Forbidden, InvalidInput
from xinyidai.kernel.ids import new_id
from xinyidai.principal import AuthMethod, Principal

log = logging.getLogger("xinyidai.evaluation")

#: Job kind B1's batch enqueues with `{"run_id": …}` after a run is swapped in.
PUSH_KIND = "evaluation.push"
#: Outbox topic of one pushed evaluation.
PUSH_TOPIC = "evaluation.result"
#: The catalog item an authorization must cover for its institution to receive the evaluation.
EVALUATION_ITEM = "credit_evaluation"
#: The actor pushes are recorded under.
PUSH_ACTOR = ActorRef.system("evaluation-push")
_PAGE = 500


class NotAnInstitution(Forbidden):
    """Only a financial institution subscribes to or reads evaluation pushes."""

    code: ClassVar[str] = "evaluation_institution_only"
    title: ClassVar[str] = "仅金融机构可以订阅或查看评价推送"


@dataclass(frozen=True, slots=True)
class Subscription:
    """An institution's push subscription."""

    institution_id: uuid.UUID
    active: bool
    updated_by: str | None
    updated_at: datetime | None
    endpoint_url: str | None


@dataclass(frozen=True, slots=True)
class PushedEvaluation:
    """One evaluation pushed to the institution."""

    id: uuid.UUID
    uscc: str
    run_id: uuid.UUID
    authorization_id: uuid.UUID
    grade: str | None
    rule_score: Decimal | None
    card_score: Decimal | None
    pd: Decimal | None
    pushed_at: datetime


@dataclass(frozen=True, slots=True)
class PushPage:
    """A page of pushed evaluations: `{items, total, limit, offset}`."""

    items: tuple[PushedEvaluation, ...]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class PushSummary:
    """What one push run did, per institution and in total."""

    run_id: uuid.UUID
    institutions: int
    pushed: int
    skipped_no_endpoint: int
    already_pushed: int
    by_institution: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "run_id": str(self.run_id),
            "institutions": self.institutions,
            "pushed": self.pushed,
            "skipped_no_endpoint": self.skipped_no_endpoint,
            "already_pushed": self.already_pushed,
            "by_institution": self.by_institution,
        }


def _institution_of(actor: Principal) -> uuid.UUID:
    if actor.institution_id is None:
        raise NotAnInstitution()
    return actor.institution_id


# --- subscriptions ------------------------------------------------------------------------------


def set_subscription(db: Database, *, actor: Principal, clock: Clock, active: bool) -> Subscription:
    """The institution admin turns evaluation pushes on or off for the institution (audited)."""
    institution_id = _institution_of(actor)
    now = clock.now()
    with db.transaction() as s:
        row = s.get(EvaluationSubscription, institution_id)
        before = bool(row.active) if row is not None else False
        if row is None:
            row = EvaluationSubscription(institution_id=institution_id)
            s.add(row)
        row.active = active
        row.updated_by = actor.label[:200]
        row.updated_at = now
        audit.record(
            s,
            actor=actor.ref,
            action="evaluation.subscription.set",
            target_type="institution",
            target_id=institution_id,
            data={"active": active, "before": before},
            clock=clock,
        )
        return Subscription(institution_id, active, row.updated_by, now, consent.endpoint_url(s, institution_id))


def get_subscription(db: Database, *, actor: Principal) -> Subscription:
    """The caller's institution's subscription (off when never set) and where pushes go."""
    institution_id = _institution_of(actor)
    with db.transaction() as s:
        row = s.get(EvaluationSubscription, institution_id)
        url = consent.endpoint_url(s, institution_id)
        if row is None:
            return Subscription(institution_id, False, None, None, url)
        return Subscription(institution_id, row.active, row.updated_by, row.updated_at, url)


# --- pushing ------------------------------------------------------------------------------------


def _as_institution(institution_id: uuid.UUID, name: str) -> Principal:
    """The push acting as the institution, to read its own authorizations through consent."""
    return Principal(
        kind=ActorKind.SYSTEM,
        id=institution_id,
        label=f"评价结果推送（{name}）"[:200],
        permissions=frozenset(),
        method=AuthMethod.TOKEN,
        institution_id=institution_id,
    )


def _item_ref() -> consent.ItemRef:
    item = catalog.load_catalog().item(EVALUATION_ITEM)
    return consent.ItemRef(item.code, item.category, str(item.disclosure))


def _authorization(view: consent.AuthorizationView) -> consent.Authorization:
    return consent.Authorization(
        id=view.id,
        enterprise_uscc=view.enterprise_uscc,
        institution_id=view.institution_id,
        status=view.status,
        terms=view.terms,
        valid_from=view.valid_from,
    )


def covered_enterprises(
    db: Database, *, institution_id: uuid.UUID, institution_name: str, clock: Clock
) -> dict[str, tuple[consent.AuthorizationView, consent.AccessDecision]]:
    """Enterprises whose active authorization to the institution covers `credit_evaluation`, with the newest such
    authorization and consent's decision for it (its purpose, no fetch counted)."""
    who = _as_institution(institution_id, institution_name)
    ref = _item_ref()
    at = clock.now()
    found: dict[str, tuple[consent.AuthorizationView, consent.AccessDecision]] = {}
    offset = 0
    while True:
        page = consent.list_authorizations(
            db, actor=who, clock=clock, status=consent.AuthorizationStatus.ACTIVE, limit=_PAGE, offset=offset
        )
        for view in page.items:  # newest first: the first covering one per enterprise wins
            if view.enterprise_uscc in found:
                continue
            decision = consent.decide_access(
                principal_kind=consent.AccessorKind.INSTITUTION,
                principal_institution=institution_id,
                action=consent.AccessAction.READ,
                subject_uscc=view.enterprise_uscc,
                item=ref,
                purpose=view.purpose,
                authorization=_authorization(view),
                at=at,
                fetch_count=0,
            )
            if decision.allowed:
                found[view.enterprise_uscc] = (view, decision)
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return found


def _number(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _reasons(value: Any) -> list[dict[str, Any]]:
    value = stored_json(value)
    items = value if isinstance(value, list) else []
    out = []
    for r in items:
        if isinstance(r, dict):
            out.append(
                {
                    **r,
                    "advice": r.get("advice_zh")
                    or r.get("advice")
                    or advice_for(str(r.get("indicator") or r.get("feature") or "")),
                }
            )
    return out


def evaluation_payload(row: EvaluationCurrent) -> dict[str, Any]:
    """The JSON an institution receives (and the API returns) for one stored evaluation, without the indicators."""
    pd = None if row.pd is None else float(row.pd)
    return {
        "uscc": row.uscc,
        "grade": row.grade,
        "rule_score": None if row.rule_score is None else str(row.rule_score),
        "card_score": None if row.card_score is None else str(row.card_score),
        "pd": pd,
        "pd_band": pd_band(pd),
        "reasons": _reasons(row_reasons(row)),
        "run_id": str(row.run_id),
        "snapshot_id": str(row.snapshot_id),
        "as_of": row.as_of.isoformat(),
        "rules_version_id": str(row.rules_version_id) if row.rules_version_id else None,
        "card_version_id": str(row.card_version_id) if row.card_version_id else None,
        "evaluated_at": row.evaluated_at.isoformat(),
    }


def _subscribers(db: Database) -> list[uuid.UUID]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(EvaluationSubscription.institution_id).where(EvaluationSubscription.active)))


def _chunks(values: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def push_run(db: Database, *, clock: Clock, run_id: uuid.UUID) -> PushSummary:
    """Push the run's evaluations to every subscribed institution (one transaction per institution; rerunnable:
    an evaluation already pushed to an institution is not sent again)."""
    pushed = skipped = already = 0
    by_institution: dict[str, int] = {}
    subscribers = _subscribers(db)
    for institution_id in subscribers:
        view = principal.get_institution(db, institution_id=institution_id)
        name = view.name if view else str(institution_id)
        covered = covered_enterprises(db, institution_id=institution_id, institution_name=name, clock=clock)
        sent = 0
        with db.transaction() as s:
            url = consent.endpoint_url(s, institution_id)
            if url is None:
                skipped += 1
                audit.record(
                    s,
                    actor=PUSH_ACTOR,
                    action="evaluation.push.skipped",
                    target_type="institution",
                    target_id=institution_id,
                    reasons=["机构未配置回调地址"],
                    data={"run_id": str(run_id), "covered": len(covered)},
                    clock=clock,
                )
                continue
            done = set(
                s.scalars(
                    sa.select(EvaluationPush.uscc).where(
                        EvaluationPush.institution_id == institution_id, EvaluationPush.run_id == run_id
                    )
                )
            )
            todo = sorted(u for u in covered if u not in done)
            already += len(covered) - len(todo)
            now = clock.now()
            for chunk in _chunks(todo, _PAGE):
                rows = s.scalars(
                    sa.select(EvaluationCurrent).where(EvaluationCurrent.run_id == run_id, EvaluationCurrent.uscc.in_(chunk))
                ).all()
                for row in sorted(rows, key=lambda r: r.uscc):
                    auth, decision = covered[row.uscc]
                    payload = {
                        **evaluation_payload(row),
                        "institution_id": str(institution_id),
                        "authorization_id": str(auth.id),
                        "purpose": auth.purpose.value,
                    }
                    outbox_id = job.enqueue_outbox(s, topic=PUSH_TOPIC, destination=url, payload=payload, clock=clock)
                    s.add(
                        EvaluationPush(
                            id=new_id(),
                            institution_id=institution_id,
                            uscc=row.uscc,
                            run_id=run_id,
                            authorization_id=auth.id,
                            grade=row.grade,
                            rule_score=_number(row.rule_score),
                            card_score=_number(row.card_score),
                            pd=_number(row.pd),
                            outbox_id=outbox_id,
                            pushed_at=now,
                        )
                    )
                    audit.record(
                        s,
                        actor=PUSH_ACTOR,
                        action="evaluation.push.export",
                        subject=row.uscc,
                        target_type="authorization",
                        target_id=auth.id,
                        reasons=[f"{EVALUATION_ITEM}: {r}" for r in decision.reasons],
                        data={
                            "institution_id": str(institution_id),
                            "institution_name": name,
                            "purpose": auth.purpose.value,
                            "purpose_label": auth.purpose.label_zh,
                            "authorization_id": str(auth.id),
                            "items": [EVALUATION_ITEM],
                            "run_id": str(run_id),
                            "grade": row.grade,
                            "outbox_id": str(outbox_id),
                        },
                        clock=clock,
                    )
                    sent += 1
        pushed += sent
        by_institution[str(institution_id)] = sent
    if pushed:
        log.info("evaluation pushes queued: %d to %d institutions", pushed, len(by_institution))
    return PushSummary(run_id, len(subscribers), pushed, skipped, already, by_institution)


# --- what an institution received ---------------------------------------------------------------


def list_pushes(db: Database, *, actor: Principal, clock: Clock, limit: int = 50, offset: int = 0) -> PushPage:
    """Evaluations pushed to the caller's institution, newest first (the read is audited)."""
    institution_id = _institution_of(actor)
    if not 1 <= limit <= 500 or offset < 0:
        raise InvalidInput("limit 须在 1–500 之间，offset 不能为负")
    query = sa.select(EvaluationPush).where(EvaluationPush.institution_id == institution_id)
    with db.transaction() as s:
        total = int(s.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0)
        rows = s.scalars(query.order_by(EvaluationPush.pushed_at.desc(), EvaluationPush.uscc).limit(limit).offset(offset)).all()
        audit.record(
            s,
            actor=actor.ref,
            action="evaluation.push.list",
            target_type="institution",
            target_id=institution_id,
            data={"count": len(rows), "total": total},
            clock=clock,
        )
        items = tuple(
            PushedEvaluation(r.id, r.uscc, r.run_id, r.authorization_id, r.grade, r.rule_score, r.card_score, r.pd, r.pushed_at)
            for r in rows
        )
        return PushPage(items, total, limit, offset)


def register_push_jobs(registry: job.JobRegistry, container: Container) -> None:
    """Register `evaluation.push` (enqueued by the batch with `{"run_id": …}`); B1's `register_jobs` calls this."""

    def handle(ctx: job.JobContext, payload: dict[str, Any]) -> None:
        try:
            run_id = uuid.UUID(str(payload["run_id"]))
        except (KeyError, ValueError) as exc:
            raise job.PermanentFailure(f"bad payload: {payload!r}") from exc
        push_run(ctx.db, clock=ctx.clock, run_id=run_id)

    registry.register(PUSH_KIND, handle, description="将评价结果推送给已订阅且获企业授权的金融机构")
