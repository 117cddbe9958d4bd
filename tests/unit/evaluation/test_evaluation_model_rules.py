"""Pure rules of the evaluation model registry: approval (four-eyes), role changes, PD bands, advice."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinyidai.evaluation.indicators import INDICATORS
from xinyidai.evaluation.model import (
    ADVICE,
    DEFAULT_ADVICE,
    PD_BANDS,
    ModelRole,
    ModelStatus,
    advice_for,
    decide_approval,
    decide_role_change,
    grade_label,
    pd_band,
)


def test_only_a_draft_is_approved_and_never_by_its_creator() -> None:
    ok = decide_approval(status=ModelStatus.DRAFT, created_by="alice", approver="bob")
    assert ok.allowed
    assert "双人复核" in "".join(ok.reasons)
    own = decide_approval(status=ModelStatus.DRAFT, created_by="alice", approver="alice")
    assert not own.allowed
    assert "创建人" in own.reasons[0]
    assert decide_approval(status=ModelStatus.DRAFT, created_by="alice", approver="alice", four_eyes=False).allowed
    for status in (ModelStatus.APPROVED, ModelStatus.RETIRED):
        assert not decide_approval(status=status, created_by="alice", approver="bob").allowed


@given(st.sampled_from(list(ModelStatus)), st.text(max_size=5), st.text(max_size=5))
def test_approval_is_denied_unless_draft_by_someone_else(status: ModelStatus, creator: str, approver: str) -> None:
    decision = decide_approval(status=status, created_by=creator, approver=approver)
    assert decision.allowed == (status is ModelStatus.DRAFT and creator != approver)
    assert decision.reasons


def test_role_changes_need_an_approved_version_and_a_change() -> None:
    assert decide_role_change(status=ModelStatus.APPROVED, role=ModelRole.CHALLENGER, target=ModelRole.CHAMPION).allowed
    assert decide_role_change(status=ModelStatus.APPROVED, role=ModelRole.CHAMPION, target=None).allowed
    assert not decide_role_change(status=ModelStatus.APPROVED, role=ModelRole.CHAMPION, target=ModelRole.CHAMPION).allowed
    assert not decide_role_change(status=ModelStatus.DRAFT, role=None, target=ModelRole.CHAMPION).allowed
    assert not decide_role_change(status=ModelStatus.RETIRED, role=None, target=None).allowed


@given(st.floats(min_value=0.0, max_value=1.0), st.floats(min_value=0.0, max_value=1.0))
def test_pd_bands_are_monotonic(a: float, b: float) -> None:
    labels = [label for _, label in PD_BANDS]
    low, high = sorted((a, b))
    assert labels.index(str(pd_band(low))) <= labels.index(str(pd_band(high)))


def test_pd_band_edges_and_errors() -> None:
    assert pd_band(None) is None
    assert pd_band(0.0) == "极低（<1%）"
    assert pd_band(0.01) == "低（1%–3%）"
    assert pd_band(1.0) == "高（≥20%）"
    with pytest.raises(ValueError, match="out of range"):
        pd_band(1.5)


def test_every_indicator_has_its_own_advice() -> None:
    assert {d.code for d in INDICATORS} <= set(ADVICE)
    assert advice_for("dishonest_debtor_listed") != DEFAULT_ADVICE
    assert advice_for(None) == DEFAULT_ADVICE
    assert advice_for("no_such_thing") == DEFAULT_ADVICE
    assert grade_label("A").startswith("A 级")
    assert grade_label(None) == "未评价"
