"""Users, logins with throttling, sessions, API clients and their tokens, on a real database."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
import sqlalchemy as sa

from tests.factories import ADMIN, PASSWORD, make_org, make_user
from xinyidai import principal
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.errors import Conflict, Forbidden, InvalidInput, Throttled, Unauthenticated
from xinyidai.kernel.pii import PiiCipher
from xinyidai.principal import Permission, Role

SECRET = "k" * 40
LOGIN = {"session_hours": 8, "max_failures": 3, "window_minutes": 15, "ip": "127.0.0.1", "user_agent": "pytest"}


def test_password_is_hashed_with_argon2_and_phone_encrypted(db: Database, clock: FrozenClock, cipher: PiiCipher) -> None:
    principal.create_user(
        db,
        actor=ADMIN,
        clock=clock,
        cipher=cipher,
        username="op1",
        password=PASSWORD,
        role=Role.OPERATOR,
        display_name="运营",
        phone="13912345678",
    )
    with db.transaction() as s:
        pw, phone_enc, phone_mask = s.execute(
            sa.text("SELECT password_hash, phone_enc, phone_mask FROM app_user WHERE username='op1'")
        ).one()
    assert pw.startswith("$argon2id$")
    assert "13912345678" not in phone_enc
    assert cipher.decrypt(phone_enc, context="app_user.phone") == "13912345678"
    assert phone_mask == "139****5678"


def test_weak_password_duplicate_and_missing_org_are_refused(db: Database, clock: FrozenClock, cipher: PiiCipher) -> None:
    with pytest.raises(InvalidInput):
        principal.create_user(
            db, actor=ADMIN, clock=clock, cipher=cipher, username="a", password="short", role=Role.OPERATOR, display_name="x"
        )
    with pytest.raises(InvalidInput, match="机构"):
        principal.create_user(
            db,
            actor=ADMIN,
            clock=clock,
            cipher=cipher,
            username="b",
            password=PASSWORD,
            role=Role.INSTITUTION_OFFICER,
            display_name="x",
        )
    make_user(db, clock, cipher, role=Role.OPERATOR, username="dup")
    with pytest.raises(Conflict):
        make_user(db, clock, cipher, role=Role.OPERATOR, username="dup")


def test_login_session_and_logout(db: Database, clock: FrozenClock, cipher: PiiCipher) -> None:
    org = make_org(db, clock, "L1")
    make_user(db, clock, cipher, role=Role.INSTITUTION_OFFICER, username="officer", org=org)
    result = principal.login(db, clock=clock, username="officer", password=PASSWORD, **LOGIN)
    assert result.principal.role is Role.INSTITUTION_OFFICER
    assert result.principal.institution_id == org.institution_id
    again = principal.principal_from_session(db, clock=clock, token=result.session_token)
    assert again is not None
    assert again.csrf_token == result.csrf_token
    with db.transaction() as s:
        stored = s.scalar(sa.text("SELECT token_hash FROM web_session"))
    assert stored != result.session_token  # only a hash of the cookie is kept
    principal.logout(db, clock=clock, principal=again)
    assert principal.principal_from_session(db, clock=clock, token=result.session_token) is None


def test_session_expires(db: Database, clock: FrozenClock, cipher: PiiCipher) -> None:
    make_user(db, clock, cipher, role=Role.AUDITOR, username="aud")
    result = principal.login(db, clock=clock, username="aud", password=PASSWORD, **LOGIN)
    clock.advance(timedelta(hours=8, seconds=1))
    assert principal.principal_from_session(db, clock=clock, token=result.session_token) is None


def test_failed_logins_are_audited_and_throttled(db: Database, clock: FrozenClock, cipher: PiiCipher) -> None:
    make_user(db, clock, cipher, role=Role.REGULATOR, username="reg")
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            principal.login(db, clock=clock, username="reg", password="wrong-password-1", **LOGIN)
    with pytest.raises(Throttled):
        principal.login(db, clock=clock, username="reg", password=PASSWORD, **LOGIN)
    with db.transaction() as s:
        actions = s.scalars(sa.text("SELECT action FROM audit_event ORDER BY seq")).all()
    assert actions.count("principal.login.failed") == 3
    assert "principal.login.throttled" in actions
    clock.advance(timedelta(minutes=16))
    assert principal.login(db, clock=clock, username="reg", password=PASSWORD, **LOGIN).principal.role is Role.REGULATOR


def test_unknown_user_fails_like_a_wrong_password(db: Database, clock: FrozenClock) -> None:
    with pytest.raises(Unauthenticated, match="用户名或密码错误"):
        principal.login(db, clock=clock, username="nobody", password=PASSWORD, **LOGIN)


def _token(db: Database, clock: FrozenClock, client_id: str, secret: str, scope: str | None = None) -> str:
    return principal.issue_token(
        db,
        clock=clock,
        client_id=client_id,
        client_secret=secret,
        requested_scope=scope,
        secret_key=SECRET,
        issuer="city-350100",
        audience="xinyidai-api",
        minutes=15,
    ).access_token


def test_client_credentials_token_round_trip(db: Database, clock: FrozenClock) -> None:
    org = make_org(db, clock, "T1")
    creds = principal.create_client(
        db, actor=ADMIN, clock=clock, name="核心系统", scopes={"registry:subject:read"}, institution_id=org.institution_id
    )
    token = _token(db, clock, creds.client_id, creds.client_secret)
    p = principal.principal_from_token(clock=clock, token=token, secret_key=SECRET, issuer="city-350100", audience="xinyidai-api")
    assert p.permissions == frozenset({Permission.SUBJECT_READ})
    assert p.institution_id == org.institution_id
    with pytest.raises(Unauthenticated, match="受众"):
        principal.principal_from_token(clock=clock, token=token, secret_key=SECRET, issuer="city-350100", audience="other")
    with pytest.raises(Unauthenticated, match="无效"):
        principal.principal_from_token(
            clock=clock, token=token, secret_key="x" * 40, issuer="city-350100", audience="xinyidai-api"
        )
    clock.advance(timedelta(minutes=16))
    with pytest.raises(Unauthenticated, match="过期"):
        principal.principal_from_token(clock=clock, token=token, secret_key=SECRET, issuer="city-350100", audience="xinyidai-api")


def test_token_refusals(db: Database, clock: FrozenClock) -> None:
    org = make_org(db, clock, "T2")
    creds = principal.create_client(
        db, actor=ADMIN, clock=clock, name="c", scopes={"registry:subject:read"}, institution_id=org.institution_id
    )
    with pytest.raises(Unauthenticated):
        _token(db, clock, creds.client_id, "wrong")
    with pytest.raises(Forbidden):
        _token(db, clock, creds.client_id, creds.client_secret, scope="audit:chain:verify")
    with pytest.raises(Forbidden):
        principal.create_client(
            db, actor=ADMIN, clock=clock, name="c2", scopes={"principal:user:manage"}, institution_id=org.institution_id
        )
    forged = jwt.encode({"sub": "x", "scope": "registry:subject:read"}, "attacker-" * 5, algorithm="HS256")
    with pytest.raises(Unauthenticated):
        principal.principal_from_token(
            clock=clock, token=forged, secret_key=SECRET, issuer="city-350100", audience="xinyidai-api"
        )
    none_alg = jwt.encode({"sub": "x"}, key=None, algorithm="none")  # type: ignore[arg-type]
    with pytest.raises(Unauthenticated):
        principal.principal_from_token(
            clock=clock, token=none_alg, secret_key=SECRET, issuer="city-350100", audience="xinyidai-api"
        )


def test_reauthenticate_requires_the_password_and_audits_both_outcomes(
    db: Database, clock: FrozenClock, cipher: PiiCipher
) -> None:
    make_user(db, clock, cipher, role=Role.ENTERPRISE, username="ent-reauth")
    who = principal.login(db, clock=clock, username="ent-reauth", password=PASSWORD, **LOGIN).principal
    principal.reauthenticate(db, clock=clock, principal=who, password=PASSWORD, purpose="批准授权")
    with pytest.raises(Unauthenticated):
        principal.reauthenticate(db, clock=clock, principal=who, password="wrong-password-9", purpose="批准授权")
    with db.transaction() as s:
        actions = s.scalars(sa.text("SELECT action FROM audit_event WHERE action LIKE 'principal.reauth%' ORDER BY seq")).all()
    assert actions == ["principal.reauth", "principal.reauth.failed"]


def test_reauthenticate_is_throttled_like_login(db: Database, clock: FrozenClock, cipher: PiiCipher) -> None:
    make_user(db, clock, cipher, role=Role.ENTERPRISE, username="ent-guess")
    who = principal.login(db, clock=clock, username="ent-guess", password=PASSWORD, **LOGIN).principal
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            principal.reauthenticate(db, clock=clock, principal=who, password="guess-12345", purpose="批准授权", max_failures=3)
    with pytest.raises(Throttled):
        principal.reauthenticate(db, clock=clock, principal=who, password=PASSWORD, purpose="批准授权", max_failures=3)


def test_get_institution(db: Database, clock: FrozenClock) -> None:
    org = make_org(db, clock, "GI")
    view = principal.get_institution(db, institution_id=org.institution_id)
    assert view is not None
    assert view.code == "BGI"
    assert principal.get_institution(db, institution_id=org.department_id) is None
