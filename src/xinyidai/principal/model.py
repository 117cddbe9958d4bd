"""Pure rules of principals: roles, the one permission enum, and the deny-by-default decision."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from xinyidai.kernel.actor import ActorKind, ActorRef


class Permission(StrEnum):
    """Every permission of the platform, named scope:resource:action."""

    HOME_READ = "home:dashboard:read"
    SELF_READ = "principal:self:read"
    USER_MANAGE = "principal:user:manage"
    CLIENT_MANAGE = "principal:client:manage"
    ORG_MANAGE = "principal:organization:manage"
    SUBJECT_READ = "registry:subject:read"
    SUBJECT_READ_OWN = "registry:subject:read_own"
    SUBJECT_WRITE = "registry:subject:write"
    CATALOG_MANAGE = "catalog:catalog:manage"
    AUDIT_READ = "audit:event:read"
    AUDIT_VERIFY = "audit:chain:verify"
    JOB_READ = "job:job:read"
    JOB_RUN = "job:job:run"
    METRICS_READ = "system:metrics:read"
    # Aggregation (归集共享): sources, bulk deliveries, records, objections, data quality.
    SOURCE_MANAGE = "ingest:source:manage"
    SOURCE_READ = "ingest:source:read"
    BATCH_CREATE = "ingest:batch:create"
    BATCH_READ = "ingest:batch:read"
    RECORD_READ = "record:record:read"
    RECORD_READ_OWN = "record:record:read_own"
    OBJECTION_CREATE = "objection:objection:create"
    OBJECTION_RESOLVE = "objection:objection:resolve"
    OBJECTION_READ = "objection:objection:read"
    QUALITY_READ = "quality:report:read"
    EXCHANGE_QUERY = "exchange:query:run"
    VERIFICATION_ASK = "verification:query:ask"
    # Authorization (授权), reports and the access trail.
    AUTHORIZATION_REQUEST = "consent:authorization:request"
    AUTHORIZATION_GRANT = "consent:authorization:grant"
    AUTHORIZATION_READ = "consent:authorization:read"
    CONSENT_POLICY_MANAGE = "consent:policy:manage"
    REPORT_PULL = "report:authorized:pull"
    REPORT_REQUEST_OWN = "report:special:request"
    REPORT_READ = "report:report:read"
    TRAIL_READ_OWN = "audit:trail:read_own"
    # Financing service: products, needs, matching, applications, loans.
    PRODUCT_MANAGE = "product:product:manage"
    PRODUCT_READ = "product:product:read"
    NEED_CREATE = "product:need:create"
    NEED_READ = "product:need:read"
    MATCH_READ_OWN = "product:match:read_own"
    APPLICATION_CREATE = "lending:application:create"
    APPLICATION_DECIDE = "lending:application:decide"
    APPLICATION_READ = "lending:application:read"
    LOAN_MANAGE = "lending:loan:manage"
    LOAN_READ_OWN = "lending:loan:read_own"
    LENDING_OVERVIEW = "lending:overview:read"
    # Credit evaluation (信用评价): results, the model registry, pushes to institutions.
    EVALUATION_READ_OWN = "evaluation:evaluation:read_own"
    EVALUATION_PULL = "evaluation:evaluation:pull"
    EVALUATION_READ = "evaluation:evaluation:read"
    EVALUATION_MODEL_MANAGE = "evaluation:model:manage"
    EVALUATION_MODEL_APPROVE = "evaluation:model:approve"
    EVALUATION_SUBSCRIBE = "evaluation:push:subscribe"
    EVALUATION_PUSH_READ = "evaluation:push:read"


class Role(StrEnum):
    """Roles of human users."""

    ENTERPRISE = "enterprise"
    INSTITUTION_OFFICER = "institution_officer"
    INSTITUTION_ADMIN = "institution_admin"
    DEPARTMENT_CLERK = "department_clerk"
    OPERATOR = "operator"
    REGULATOR = "regulator"
    AUDITOR = "auditor"

    @property
    def label(self) -> str:
        """Chinese name of the role."""
        return ROLE_LABELS[self]


ROLE_LABELS: dict[Role, str] = {
    Role.ENTERPRISE: "企业用户",
    Role.INSTITUTION_OFFICER: "金融机构客户经理",
    Role.INSTITUTION_ADMIN: "金融机构管理员",
    Role.DEPARTMENT_CLERK: "数据源部门经办人",
    Role.OPERATOR: "平台运营人员",
    Role.REGULATOR: "监管部门",
    Role.AUDITOR: "审计人员",
}

P = Permission
_COMMON = {P.HOME_READ, P.SELF_READ, P.PRODUCT_READ}

_ENTERPRISE = {
    P.SUBJECT_READ_OWN,
    P.RECORD_READ_OWN,
    P.OBJECTION_CREATE,
    P.AUTHORIZATION_GRANT,
    P.AUTHORIZATION_READ,
    P.REPORT_REQUEST_OWN,
    P.TRAIL_READ_OWN,
    P.NEED_CREATE,
    P.MATCH_READ_OWN,
    P.APPLICATION_CREATE,
    P.APPLICATION_READ,
    P.LOAN_READ_OWN,
    P.EVALUATION_READ_OWN,
}
_INSTITUTION = {
    P.SUBJECT_READ,
    P.AUTHORIZATION_REQUEST,
    P.AUTHORIZATION_READ,
    P.REPORT_PULL,
    P.VERIFICATION_ASK,
    P.PRODUCT_MANAGE,
    P.NEED_READ,
    P.APPLICATION_DECIDE,
    P.APPLICATION_READ,
    P.LOAN_MANAGE,
    P.EVALUATION_PULL,
    P.EVALUATION_PUSH_READ,
}
_DEPARTMENT = {P.SUBJECT_READ, P.SOURCE_READ, P.BATCH_CREATE, P.BATCH_READ, P.RECORD_READ, P.OBJECTION_READ, P.OBJECTION_RESOLVE}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ENTERPRISE: frozenset(_COMMON | _ENTERPRISE),
    Role.INSTITUTION_OFFICER: frozenset(_COMMON | _INSTITUTION),
    Role.INSTITUTION_ADMIN: frozenset(_COMMON | _INSTITUTION | {P.CLIENT_MANAGE, P.USER_MANAGE, P.EVALUATION_SUBSCRIBE}),
    Role.DEPARTMENT_CLERK: frozenset(_COMMON | _DEPARTMENT),
    Role.OPERATOR: frozenset(
        _COMMON
        | {
            P.USER_MANAGE,
            P.CLIENT_MANAGE,
            P.ORG_MANAGE,
            P.SUBJECT_READ,
            P.SUBJECT_WRITE,
            P.CATALOG_MANAGE,
            P.AUDIT_READ,
            P.JOB_READ,
            P.JOB_RUN,
            P.METRICS_READ,
            P.SOURCE_MANAGE,
            P.SOURCE_READ,
            P.BATCH_CREATE,
            P.BATCH_READ,
            P.RECORD_READ,
            P.OBJECTION_READ,
            P.QUALITY_READ,
            P.EXCHANGE_QUERY,
            P.CONSENT_POLICY_MANAGE,
            P.REPORT_READ,
            P.LENDING_OVERVIEW,
            P.EVALUATION_READ,
            P.EVALUATION_MODEL_MANAGE,
            P.EVALUATION_MODEL_APPROVE,
        }
    ),
    Role.REGULATOR: frozenset(
        _COMMON | {P.SUBJECT_READ, P.METRICS_READ, P.QUALITY_READ, P.OBJECTION_READ, P.LENDING_OVERVIEW, P.EVALUATION_READ}
    ),
    Role.AUDITOR: frozenset(_COMMON | {P.AUDIT_READ, P.AUDIT_VERIFY, P.SUBJECT_READ}),
}

#: What an API client may be granted, by the kind of organisation it belongs to.
CLIENT_GRANTABLE: dict[str, frozenset[Permission]] = {
    "institution": frozenset(
        {
            P.SUBJECT_READ,
            P.AUTHORIZATION_REQUEST,
            P.AUTHORIZATION_READ,
            P.REPORT_PULL,
            P.VERIFICATION_ASK,
            P.PRODUCT_MANAGE,
            P.PRODUCT_READ,
            P.NEED_READ,
            P.APPLICATION_DECIDE,
            P.APPLICATION_READ,
            P.LOAN_MANAGE,
            P.EVALUATION_PULL,
            P.EVALUATION_PUSH_READ,
        }
    ),
    "department": frozenset({P.SUBJECT_READ, P.SOURCE_READ, P.BATCH_CREATE, P.BATCH_READ, P.OBJECTION_READ, P.OBJECTION_RESOLVE}),
    "platform": frozenset({P.METRICS_READ, P.JOB_READ, P.AUDIT_VERIFY}),
}


class AuthMethod(StrEnum):
    """How the principal proved who it is."""

    SESSION = "session"
    TOKEN = "token"  # noqa: S105 - an enum member name


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user or API client, with everything access decisions need."""

    kind: ActorKind
    id: uuid.UUID
    label: str
    permissions: frozenset[Permission]
    method: AuthMethod
    role: Role | None = None
    institution_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    enterprise_uscc: str | None = None
    session_id: uuid.UUID | None = None
    csrf_token: str | None = field(default=None, repr=False)

    @property
    def ref(self) -> ActorRef:
        """This principal as the audit log records it."""
        return ActorRef.of(self.kind, self.id, self.label)


@dataclass(frozen=True, slots=True)
class Decision:
    """An access decision with the reasons that produced it (they go into the audit log)."""

    allowed: bool
    reasons: tuple[str, ...]


def decide(principal: Principal | None, permission: Permission) -> Decision:
    """Deny unless a rule allows: the principal must be authenticated and hold the permission."""
    if principal is None:
        return Decision(False, ("未认证",))
    if permission in principal.permissions:
        return Decision(True, (f"{principal.method.value} 持有权限 {permission.value}",))
    return Decision(False, (f"缺少权限 {permission.value}",))


def scopes_for_client(org_kind: str, requested: set[str]) -> frozenset[Permission]:
    """The permissions a client of `org_kind` may hold among `requested`; unknown scopes are dropped."""
    grantable = CLIENT_GRANTABLE.get(org_kind, frozenset())
    return frozenset(p for p in grantable if p.value in requested)
