"""Verified bearer tokens are remembered, but only the signature check is: a remembered token still expires by
the injected clock, a token for another audience or key is still refused, and a forged one never enters the cache."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.errors import Unauthenticated
from xinyidai.principal import service

SECRET = "s" * 48
ISSUER = "city-350100"
AUDIENCE = "xinyidai-api"
NOW = datetime(2026, 6, 30, 2, 0, tzinfo=UTC)


def _token(*, secret: str = SECRET, minutes: int = 10, nbf: int | None = None) -> str:
    claims: dict[str, object] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(uuid.uuid4()),
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(minutes=minutes)).timestamp()),
        "scope": "report:authorized:pull",
        "inst": str(uuid.uuid4()),
    }
    if nbf is not None:
        claims["nbf"] = nbf
    return jwt.encode(claims, secret, algorithm="HS256")


def _check(token: str, clock: FrozenClock, *, secret: str = SECRET, audience: str = AUDIENCE) -> object:
    return service.principal_from_token(clock=clock, token=token, secret_key=secret, issuer=ISSUER, audience=audience)


def test_remembered_token_still_expires_by_the_clock() -> None:
    clock = FrozenClock(NOW)
    token = _token(minutes=10)
    first = _check(token, clock)
    assert _check(token, clock) is first  # verified once, remembered
    clock.advance(timedelta(minutes=11))
    with pytest.raises(Unauthenticated, match="过期"):
        _check(token, clock)


def test_remembered_token_is_checked_against_its_audience_and_key() -> None:
    clock = FrozenClock(NOW)
    token = _token()
    _check(token, clock)
    with pytest.raises(Unauthenticated, match="受众"):
        _check(token, clock, audience="another-api")
    with pytest.raises(Unauthenticated, match="无效"):
        _check(token, clock, secret="t" * 48)


def test_forged_token_is_refused_every_time_and_not_remembered() -> None:
    clock = FrozenClock(NOW)
    forged = _token(secret="x" * 48)
    before = service._verified_token.cache_info().currsize
    for _ in range(2):
        with pytest.raises(Unauthenticated, match="无效"):
            _check(forged, clock)
    assert service._verified_token.cache_info().currsize == before


def test_not_yet_valid_token_is_refused_until_its_time() -> None:
    clock = FrozenClock(NOW)
    token = _token(minutes=30, nbf=int((NOW + timedelta(minutes=5)).timestamp()))
    with pytest.raises(Unauthenticated, match="尚未生效"):
        _check(token, clock)
    clock.advance(timedelta(minutes=5))
    assert _check(token, clock) is not None
