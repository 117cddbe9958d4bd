"""Deny by default: only a held permission allows."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from xinyidai.kernel.actor import ActorKind
from xinyidai.principal.model import (
    CLIENT_GRANTABLE,
    ROLE_PERMISSIONS,
    AuthMethod,
    Permission,
    Principal,
    Role,
    decide,
    scopes_for_client,
)


def principal(perms: set[Permission]) -> Principal:
    return Principal(ActorKind.USER, uuid.uuid4(), "t", frozenset(perms), AuthMethod.SESSION, Role.OPERATOR)


def test_anonymous_is_denied_everything() -> None:
    for permission in Permission:
        decision = decide(None, permission)
        assert not decision.allowed
        assert decision.reasons


@given(st.sets(st.sampled_from(list(Permission))), st.sampled_from(list(Permission)))
def test_allowed_exactly_when_held(held: set[Permission], wanted: Permission) -> None:
    assert decide(principal(held), wanted).allowed == (wanted in held)


def test_every_role_has_a_home_and_a_chinese_label() -> None:
    for role in Role:
        assert Permission.HOME_READ in ROLE_PERMISSIONS[role]
        assert role.label
        assert not role.label.isascii()


def test_enterprise_reads_only_its_own_subject_and_cannot_manage() -> None:
    perms = ROLE_PERMISSIONS[Role.ENTERPRISE]
    assert Permission.SUBJECT_READ not in perms
    assert Permission.SUBJECT_READ_OWN in perms
    assert not {Permission.USER_MANAGE, Permission.AUDIT_READ, Permission.JOB_RUN} & perms


def test_only_auditors_verify_the_chain() -> None:
    assert [r for r in Role if Permission.AUDIT_VERIFY in ROLE_PERMISSIONS[r]] == [Role.AUDITOR]


def test_clients_cannot_be_granted_more_than_their_kind_allows() -> None:
    everything = {p.value for p in Permission}
    for kind, grantable in CLIENT_GRANTABLE.items():
        assert scopes_for_client(kind, everything) == grantable
    assert scopes_for_client("unknown", everything) == frozenset()
