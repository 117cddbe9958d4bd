"""The pure objection rules: terminal states stay terminal, the 20-day deadline never shortens, reminders
fall before the due date, queue colours, and what an attachment may be."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinyidai.objection.model import (
    PENDING,
    RESPONSE_DAYS,
    TERMINAL,
    Action,
    DeadlineTone,
    InvalidTransition,
    ObjectionStatus,
    Outcome,
    attachment_label,
    china_date,
    deadline_tone,
    extended_due,
    next_status,
    response_deadline,
    sniff_type,
    stored_name,
)

moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC))


@given(
    st.sampled_from(sorted(TERMINAL)),
    st.sampled_from([Action.REMIND, Action.ESCALATE, Action.RESOLVE]),
    st.sampled_from(list(Outcome)),
)
def test_terminal_states_are_terminal(status: ObjectionStatus, action: Action, outcome: Outcome) -> None:
    with pytest.raises(InvalidTransition):
        next_status(status, action, outcome)
    assert next_status(status, Action.STATEMENT) is status


@given(st.sampled_from(sorted(PENDING)), st.sampled_from(list(Outcome)))
def test_pending_objections_resolve_to_their_outcome(status: ObjectionStatus, outcome: Outcome) -> None:
    assert next_status(status, Action.RESOLVE, outcome) is outcome.status
    assert outcome.status.terminal
    assert next_status(status, Action.REMIND) is status


def test_escalation_happens_once_and_needs_an_outcome_to_resolve() -> None:
    assert next_status(ObjectionStatus.OPEN, Action.ESCALATE) is ObjectionStatus.ESCALATED
    with pytest.raises(InvalidTransition):
        next_status(ObjectionStatus.ESCALATED, Action.ESCALATE)
    with pytest.raises(InvalidTransition):
        next_status(ObjectionStatus.OPEN, Action.RESOLVE)


@given(moments)
def test_due_date_is_twenty_calendar_days_after_receipt_and_reminders_precede_it(filed_at: datetime) -> None:
    d = response_deadline(filed_at)
    assert d.received_on == china_date(filed_at)
    assert d.due_on == d.received_on + timedelta(days=RESPONSE_DAYS)
    assert d.escalate_at > filed_at
    assert china_date(d.escalate_at) == d.due_on + timedelta(days=1)
    for _n, at in d.reminders:
        assert filed_at < at < d.escalate_at
        assert china_date(at) < d.due_on


@given(moments, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)), st.integers(0, 30))
def test_deadline_never_shortens(filed_at: datetime, later: timedelta, extra: int) -> None:
    first, second = response_deadline(filed_at), response_deadline(filed_at + later)
    assert second.due_on >= first.due_on
    assert response_deadline(filed_at, days=RESPONSE_DAYS + extra).due_on >= first.due_on
    proposed = first.due_on - timedelta(days=extra)
    assert extended_due(first.due_on, proposed) == first.due_on
    with pytest.raises(ValueError, match="shorter"):
        response_deadline(filed_at, days=RESPONSE_DAYS - 1)


def test_reminders_five_and_one_day_before_at_nine_china_time() -> None:
    d = response_deadline(datetime(2026, 6, 30, 2, 0, tzinfo=UTC))
    assert d.due_on == date(2026, 7, 20)
    assert [(n, at.astimezone(UTC)) for n, at in d.reminders] == [
        (5, datetime(2026, 7, 15, 1, 0, tzinfo=UTC)),
        (1, datetime(2026, 7, 19, 1, 0, tzinfo=UTC)),
    ]
    assert d.escalate_at.astimezone(UTC) == datetime(2026, 7, 20, 16, 0, tzinfo=UTC)


def test_queue_colours() -> None:
    due = date(2026, 7, 20)
    assert deadline_tone(due, date(2026, 7, 1)) is DeadlineTone.GREEN
    assert deadline_tone(due, date(2026, 7, 15)) is DeadlineTone.AMBER
    assert deadline_tone(due, due) is DeadlineTone.AMBER
    assert deadline_tone(due, date(2026, 7, 21)) is DeadlineTone.RED


def test_attachments_are_typed_by_their_bytes_and_named_by_their_hash() -> None:
    assert sniff_type(b"%PDF-1.7\n") == "application/pdf"
    assert sniff_type(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert sniff_type(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert sniff_type(b"<html><script>") is None
    assert sniff_type(b"MZ\x90\x00") is None
    assert stored_name("a" * 64, "application/pdf") == "a" * 64 + ".pdf"
    with pytest.raises(ValueError, match="identity"):
        stored_name("../../etc/passwd", "application/pdf")


@given(st.text(max_size=300))
def test_labels_never_carry_a_path(name: str) -> None:
    label = attachment_label(name, position=2)
    assert label
    assert len(label) <= 120
    assert not any(c in label for c in "/\\\x00:")
    assert not label.startswith(".")


def test_label_keeps_the_readable_part() -> None:
    assert attachment_label("../../etc/缴款凭证.pdf", position=1) == "缴款凭证.pdf"
    assert attachment_label("C:\\Users\\x\\情况说明.png", position=1) == "情况说明.png"
    assert attachment_label(None, position=3) == "附件3"
