"""Principal use cases: organisations, users, logins and sessions, API clients and their tokens."""

from __future__ import annotations

import functools
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from xinyidai import audit
from xinyidai.db import Database
from xinyidai.kernel.actor import ActorKind, ActorRef
from xinyidai.kernel.clock import Clock
from xinyidai.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound, Throttled, Unauthenticated
from xinyidai.kernel.ids import new_id
from xinyidai.kernel.pii import PiiCipher, mask_phone
from xinyidai.principal.model import (
    ROLE_PERMISSIONS,
    AuthMethod,
    Permission,
    Principal,
    Role,
    scopes_for_client,
)
from xinyidai.principal.tables import ApiClient, Department, Institution, LoginFailure, User, WebSession

_hasher = PasswordHasher()
# Verifying against this when the account does not exist keeps response time the same,
# so timing does not reveal which usernames exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

MIN_PASSWORD_LENGTH = 10


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"密码至少 {MIN_PASSWORD_LENGTH} 位")
    if password.isdigit() or password.isalpha():
        raise InvalidInput("密码须同时包含字母和数字或符号")


# --- organisations ------------------------------------------------------------------------


def create_institution(
    db: Database, *, actor: ActorRef, clock: Clock, code: str, name: str, kind: str, region_code: str, uscc: str | None = None
) -> uuid.UUID:
    """Register a financial institution."""
    with db.transaction() as s:
        if s.scalar(sa.select(Institution.id).where(Institution.code == code)):
            raise Conflict(f"机构代码 {code} 已存在")
        row = Institution(
            id=new_id(), code=code, name=name, kind=kind, region_code=region_code, uscc=uscc, created_at=clock.now()
        )
        s.add(row)
        audit.record(
            s,
            actor=actor,
            action="principal.institution.create",
            target_type="institution",
            target_id=row.id,
            data={"code": code, "name": name},
        )
        return row.id


def create_department(db: Database, *, actor: ActorRef, clock: Clock, code: str, name: str, region_code: str) -> uuid.UUID:
    """Register a data-source department."""
    with db.transaction() as s:
        if s.scalar(sa.select(Department.id).where(Department.code == code)):
            raise Conflict(f"部门代码 {code} 已存在")
        row = Department(id=new_id(), code=code, name=name, region_code=region_code, created_at=clock.now())
        s.add(row)
        audit.record(
            s,
            actor=actor,
            action="principal.department.create",
            target_type="department",
            target_id=row.id,
            data={"code": code, "name": name},
        )
        return row.id


def find_institution(db: Database, *, code: str) -> uuid.UUID | None:
    """The id of the institution with this code, if any."""
    with db.transaction() as s:
        return s.scalar(sa.select(Institution.id).where(Institution.code == code))


@dataclass(frozen=True, slots=True)
class InstitutionView:
    """An institution as other domains show it."""

    id: uuid.UUID
    code: str
    name: str
    kind: str
    region_code: str
    uscc: str | None


def get_institution(db: Database, *, institution_id: uuid.UUID) -> InstitutionView | None:
    """An institution by id, or None."""
    with db.transaction() as s:
        row = s.get(Institution, institution_id)
        if row is None:
            return None
        return InstitutionView(row.id, row.code, row.name, row.kind, row.region_code, row.uscc)


def find_department(db: Database, *, code: str) -> uuid.UUID | None:
    """The id of the department with this code, if any."""
    with db.transaction() as s:
        return s.scalar(sa.select(Department.id).where(Department.code == code))


# --- users ----------------------------------------------------------------------------------


def create_user(
    db: Database,
    *,
    actor: ActorRef,
    clock: Clock,
    cipher: PiiCipher,
    username: str,
    password: str,
    role: Role,
    display_name: str,
    institution_id: uuid.UUID | None = None,
    department_id: uuid.UUID | None = None,
    enterprise_uscc: str | None = None,
    phone: str | None = None,
) -> uuid.UUID:
    """Create a user; the organisation a role needs must be given."""
    _check_password_policy(password)
    if role in (Role.INSTITUTION_OFFICER, Role.INSTITUTION_ADMIN) and institution_id is None:
        raise InvalidInput("金融机构用户必须隶属于一个机构")
    if role is Role.DEPARTMENT_CLERK and department_id is None:
        raise InvalidInput("部门经办人必须隶属于一个部门")
    if role is Role.ENTERPRISE and not enterprise_uscc:
        raise InvalidInput("企业用户必须关联统一社会信用代码")
    with db.transaction() as s:
        if s.scalar(sa.select(User.id).where(User.username == username)):
            raise Conflict(f"用户名 {username} 已存在")
        row = User(
            id=new_id(),
            username=username,
            display_name=display_name,
            password_hash=_hasher.hash(password),
            role=role.value,
            institution_id=institution_id,
            department_id=department_id,
            enterprise_uscc=enterprise_uscc,
            phone_enc=cipher.encrypt(phone, context="app_user.phone") if phone else None,
            phone_mask=mask_phone(phone) if phone else None,
            is_active=True,
            created_at=clock.now(),
        )
        s.add(row)
        audit.record(
            s,
            actor=actor,
            action="principal.user.create",
            subject=enterprise_uscc,
            target_type="user",
            target_id=row.id,
            data={"username": username, "role": role.value},
        )
        return row.id


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A new session: the cookie token (shown once) and its CSRF token."""

    session_token: str
    csrf_token: str
    principal: Principal


def _user_principal(user: User, session: WebSession | None) -> Principal:
    role = Role(user.role)
    return Principal(
        kind=ActorKind.USER,
        id=user.id,
        label=f"{user.display_name}({user.username})",
        permissions=ROLE_PERMISSIONS[role],
        method=AuthMethod.SESSION,
        role=role,
        institution_id=user.institution_id,
        department_id=user.department_id,
        enterprise_uscc=user.enterprise_uscc,
        session_id=session.id if session else None,
        csrf_token=session.csrf_token if session else None,
    )


def login(
    db: Database,
    *,
    clock: Clock,
    username: str,
    password: str,
    ip: str | None,
    user_agent: str | None,
    session_hours: int,
    max_failures: int,
    window_minutes: int,
) -> LoginResult:
    """Check a password and open a session; throttled after too many recent failures."""
    now = clock.now()
    username = username.strip()
    with db.transaction() as s:
        since = now - timedelta(minutes=window_minutes)
        failures = (
            s.scalar(
                sa.select(sa.func.count())
                .select_from(LoginFailure)
                .where(LoginFailure.username == username, LoginFailure.at >= since)
            )
            or 0
        )
        throttled = failures >= max_failures
        if throttled:
            # Recorded and committed before the refusal is raised: a refusal must leave its trace.
            audit.record(s, actor=ActorRef.anonymous(), action="principal.login.throttled", data={"username": username, "ip": ip})
        user = None if throttled else s.scalar(sa.select(User).where(User.username == username))
        ok = False
        if not throttled:
            try:
                ok = _hasher.verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                ok = False
    if throttled:
        raise Throttled(f"该账号在 {window_minutes} 分钟内登录失败次数过多，请稍后再试")
    if not ok or user is None or not user.is_active:
        # The failure is recorded in its own transaction: the refusal must not roll it back.
        with db.transaction() as s:
            s.add(LoginFailure(id=new_id(), username=username, ip=ip, at=now))
            audit.record(
                s,
                actor=ActorRef.anonymous(),
                action="principal.login.failed",
                reasons=["用户名或密码错误"],
                data={"username": username, "ip": ip},
            )
        raise Unauthenticated("用户名或密码错误")
    token = secrets.token_urlsafe(32)
    with db.transaction() as s:
        db_user = s.get(User, user.id)
        assert db_user is not None
        if _hasher.check_needs_rehash(db_user.password_hash):
            db_user.password_hash = _hasher.hash(password)
        db_user.last_login_at = now
        web = WebSession(
            id=new_id(),
            token_hash=_sha256(token),
            user_id=db_user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + timedelta(hours=session_hours),
            ip=ip,
            user_agent=(user_agent or "")[:300],
        )
        s.add(web)
        s.execute(sa.delete(LoginFailure).where(LoginFailure.username == username))
        principal = _user_principal(db_user, web)
        audit.record(
            s,
            actor=principal.ref,
            action="principal.login",
            subject=db_user.enterprise_uscc,
            target_type="session",
            target_id=web.id,
            data={"ip": ip},
        )
        return LoginResult(session_token=token, csrf_token=web.csrf_token, principal=principal)


def reauthenticate(
    db: Database,
    *,
    clock: Clock,
    principal: Principal,
    password: str,
    purpose: str,
    max_failures: int = 5,
    window_minutes: int = 15,
) -> None:
    """Step-up check before a weighty act (approving an authorization): the user re-enters the password.

    A wrong password is recorded (audited, and counted by the login throttle) and refused with 401;
    once the throttle's limit is reached, further attempts are refused with 429 without checking,
    so a stolen session cannot be used to guess the password.
    """
    if principal.kind is not ActorKind.USER:
        raise Forbidden("该操作须由本人登录后确认")
    now = clock.now()
    throttled = False
    with db.transaction() as s:
        user = s.get(User, principal.id)
        username = user.username if user else "-"
        failures = s.scalar(
            sa.select(sa.func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.username == username, LoginFailure.at >= now - timedelta(minutes=window_minutes))
        )
        throttled = (failures or 0) >= max_failures
        ok = False
        if not throttled:
            try:
                ok = user is not None and user.is_active and _hasher.verify(user.password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                ok = False
        if not ok and not throttled:
            s.add(LoginFailure(id=new_id(), username=username, ip=None, at=now))
        audit.record(
            s,
            actor=principal.ref,
            action="principal.reauth" if ok else "principal.reauth.throttled" if throttled else "principal.reauth.failed",
            subject=principal.enterprise_uscc,
            reasons=[purpose],
        )
    if throttled:
        raise Throttled(f"密码确认失败次数过多，请 {window_minutes} 分钟后再试")
    if not ok:
        raise Unauthenticated("密码错误，操作未执行")


def principal_from_session(db: Database, *, clock: Clock, token: str) -> Principal | None:
    """The principal behind a session cookie, or None if unknown, expired, revoked or inactive."""
    with db.transaction() as s:
        row = s.execute(
            sa.select(WebSession, User).join(User, User.id == WebSession.user_id).where(WebSession.token_hash == _sha256(token))
        ).first()
        if row is None:
            return None
        web, user = row
        if web.revoked_at is not None or web.expires_at <= clock.now() or not user.is_active:
            return None
        return _user_principal(user, web)


def logout(db: Database, *, clock: Clock, principal: Principal) -> None:
    """Revoke the principal's session."""
    if principal.session_id is None:
        return
    with db.transaction() as s:
        web = s.get(WebSession, principal.session_id)
        if web is not None and web.revoked_at is None:
            web.revoked_at = clock.now()
            audit.record(s, actor=principal.ref, action="principal.logout", target_type="session", target_id=web.id)


# --- API clients and tokens ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """A new client's id and secret; the secret is shown once and stored only hashed."""

    client_id: str
    client_secret: str
    scopes: tuple[str, ...]


def create_client(
    db: Database,
    *,
    actor: ActorRef,
    clock: Clock,
    name: str,
    scopes: set[str],
    institution_id: uuid.UUID | None = None,
    department_id: uuid.UUID | None = None,
    platform: bool = False,
) -> ClientCredentials:
    """Register an API client of an institution, a department or the platform itself."""
    if [institution_id is not None, department_id is not None, platform].count(True) != 1:
        raise InvalidInput("客户端必须且只能隶属于一个机构、部门或平台")
    org_kind = "institution" if institution_id else "department" if department_id else "platform"
    granted = scopes_for_client(org_kind, scopes)
    refused = scopes - {p.value for p in granted}
    if refused:
        raise Forbidden(f"该类客户端不能被授予权限: {', '.join(sorted(refused))}")
    client_id = "xyd_" + secrets.token_hex(12)
    secret = secrets.token_urlsafe(32)
    with db.transaction() as s:
        row = ApiClient(
            id=new_id(),
            client_id=client_id,
            name=name,
            secret_hash=_hasher.hash(secret),
            org_kind=org_kind,
            institution_id=institution_id,
            department_id=department_id,
            scopes=sorted(p.value for p in granted),
            is_active=True,
            created_at=clock.now(),
        )
        s.add(row)
        audit.record(
            s,
            actor=actor,
            action="principal.client.create",
            target_type="api_client",
            target_id=row.id,
            data={"client_id": client_id, "scopes": row.scopes},
        )
    return ClientCredentials(client_id, secret, tuple(sorted(p.value for p in granted)))


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """An access token for the OAuth2 token response."""

    access_token: str
    expires_in: int
    scope: str


def issue_token(
    db: Database,
    *,
    clock: Clock,
    client_id: str,
    client_secret: str,
    requested_scope: str | None,
    secret_key: str,
    issuer: str,
    audience: str,
    minutes: int,
) -> IssuedToken:
    """OAuth2 client-credentials grant: a short-lived HS256 token carrying the granted scopes."""
    with db.transaction() as s:
        client = s.scalar(sa.select(ApiClient).where(ApiClient.client_id == client_id))
        try:
            ok = _hasher.verify(client.secret_hash if client else _DUMMY_HASH, client_secret) and client is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        refusal: Unauthenticated | Forbidden | None = None
        claims: dict[str, Any] = {}
        if not ok or client is None or not client.is_active:
            audit.record(
                s,
                actor=ActorRef.anonymous(),
                action="principal.token.refused",
                reasons=["客户端凭证无效"],
                data={"client_id": client_id},
            )
            refusal = _InvalidClient()
        else:
            actor = ActorRef.of(ActorKind.CLIENT, client.id, client.name)
            allowed = set(client.scopes)
            wanted = set(requested_scope.split()) if requested_scope else allowed
            if not wanted <= allowed:
                audit.record(
                    s,
                    actor=actor,
                    action="principal.token.refused",
                    reasons=["申请的权限超出授予范围"],
                    data={"requested": sorted(wanted)},
                )
                refusal = _InvalidScope()
            else:
                now = clock.now()
                claims = {
                    "iss": issuer,
                    "sub": str(client.id),
                    "aud": audience,
                    "iat": int(now.timestamp()),
                    "nbf": int(now.timestamp()),
                    "exp": int((now + timedelta(minutes=minutes)).timestamp()),
                    "jti": secrets.token_hex(16),
                    "scope": " ".join(sorted(wanted)),
                    "name": client.name,
                    "inst": str(client.institution_id) if client.institution_id else None,
                    "dept": str(client.department_id) if client.department_id else None,
                }
                audit.record(
                    s, actor=actor, action="principal.token.issue", data={"scope": claims["scope"], "jti": claims["jti"]}
                )
    # Raised only after the transaction committed, so the refusal's audit event is kept.
    if refusal is not None:
        raise refusal
    return IssuedToken(jwt.encode(claims, secret_key, algorithm="HS256"), minutes * 60, str(claims["scope"]))


class _InvalidClient(Unauthenticated):
    code = "invalid_client"
    title = "客户端凭证无效"


class _InvalidScope(Forbidden):
    code = "invalid_scope"
    title = "申请的权限超出授予范围"


@functools.lru_cache(maxsize=4096)
def _verified_token(token: str, secret_key: str, issuer: str, audience: str) -> tuple[int, int, Principal]:
    """A token whose signature, issuer, audience and required claims verify: (exp, nbf, principal).

    Pure in its arguments (HMAC verification of the same bytes under the same key always gives the same
    answer), so a client's repeated token is verified once; a failure raises and is never cached. The
    times are not checked here: `principal_from_token` checks them on every call against the injected clock.
    """
    try:
        claims = jwt.decode(
            token,
            secret_key,
            algorithms=["HS256"],
            audience=audience,
            issuer=issuer,
            # Times are checked by the caller against the injected clock, not the library's wall clock.
            options={
                "require": ["exp", "iat", "sub", "aud", "iss", "scope"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("访问令牌已过期") from exc
    except jwt.InvalidAudienceError as exc:
        raise Unauthenticated("访问令牌的受众不符") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated("访问令牌无效") from exc
    if not isinstance(claims["exp"], int):
        raise Unauthenticated("访问令牌已过期")
    perms = frozenset(Permission(p) for p in str(claims["scope"]).split() if p in Permission._value2member_map_)
    principal = Principal(
        kind=ActorKind.CLIENT,
        id=uuid.UUID(claims["sub"]),
        label=str(claims.get("name") or claims["sub"]),
        permissions=perms,
        method=AuthMethod.TOKEN,
        institution_id=uuid.UUID(claims["inst"]) if claims.get("inst") else None,
        department_id=uuid.UUID(claims["dept"]) if claims.get("dept") else None,
    )
    return claims["exp"], int(claims.get("nbf", claims["iat"])), principal


def principal_from_token(*, clock: Clock, token: str, secret_key: str, issuer: str, audience: str) -> Principal:
    """Verify a bearer token (signature, issuer, audience, expiry) and return its principal.

    The signature check is done once per distinct token (`_verified_token`, bounded LRU); the expiry and
    not-before are checked on every call against the injected clock.
    """
    exp, nbf, principal = _verified_token(token, secret_key, issuer, audience)
    now = clock.now().timestamp()
    if exp <= now:
        raise Unauthenticated("访问令牌已过期")
    if nbf > now + 30:
        raise Unauthenticated("访问令牌尚未生效")
    return principal


# --- figures for pages -----------------------------------------------------------------------


def counts(db: Database) -> dict[str, int]:
    """How many users, institutions, departments and API clients there are."""
    with db.transaction() as s:

        def n(model: type[User] | type[Institution] | type[Department] | type[ApiClient]) -> int:
            return int(s.scalar(sa.select(sa.func.count()).select_from(model)) or 0)

        return {"users": n(User), "institutions": n(Institution), "departments": n(Department), "clients": n(ApiClient)}


def get_user_summary(db: Database, *, user_id: uuid.UUID) -> dict[str, str | None]:
    """A user's displayable profile (phone masked)."""
    with db.transaction() as s:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound("用户不存在")
        inst = s.get(Institution, user.institution_id) if user.institution_id else None
        dept = s.get(Department, user.department_id) if user.department_id else None
        return {
            "username": user.username,
            "display_name": user.display_name,
            "role": user.role,
            "role_label": Role(user.role).label,
            "institution": inst.name if inst else None,
            "department": dept.name if dept else None,
            "enterprise_uscc": user.enterprise_uscc,
            "phone": user.phone_mask,
        }
