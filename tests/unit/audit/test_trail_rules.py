"""Access-trail rules: which actions are accesses, and who may read a subject's trail (deny by default)."""

from __future__ import annotations

import pytest

from xinyidai.audit.model import is_access_action, may_read_trail

MINE = "91350100M000100Y43"


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("registry.subject.read", True),
        ("report.authorized.pull", True),
        ("report.report.verify", True),
        ("exchange.item.query", True),
        ("registry.subject.reveal_id", True),
        ("access.report.download", True),
        ("registry.subject.read.denied", False),
        ("registry.subject.load", False),
        ("audit.trail.list", False),
        ("consent.authorization.grant", False),
        ("reader.update", False),
    ],
)
def test_access_actions(action: str, expected: bool) -> None:
    assert is_access_action(action) is expected


def test_the_default_is_deny() -> None:
    decision = may_read_trail(can_read_all=False, can_read_own=False, own_uscc=MINE, subject=MINE)
    assert not decision.allowed
    assert decision.reasons == ("缺少访问记录查阅权限",)


def test_an_enterprise_reads_only_its_own_trail() -> None:
    assert may_read_trail(can_read_all=False, can_read_own=True, own_uscc=MINE, subject=MINE).allowed
    for subject in ("91350102MA2YA1B23X", None):
        assert not may_read_trail(can_read_all=False, can_read_own=True, own_uscc=MINE, subject=subject).allowed
    assert not may_read_trail(can_read_all=False, can_read_own=True, own_uscc=None, subject=None).allowed


def test_auditors_read_every_trail() -> None:
    assert may_read_trail(can_read_all=True, can_read_own=False, own_uscc=None, subject=None).allowed
