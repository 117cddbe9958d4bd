"""Pure rules of objections (异议): states and transitions, the 20-day answer deadline, reminders,
queue colours, and the limits on attachments. Standard library and `xinyidai.kernel` only."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum

from xinyidai.kernel.deadline import DeadlineTone as DeadlineTone
from xinyidai.kernel.errors import Conflict, InvalidInput

#: Calendar days within which an objection must be checked and answered in writing.
#:
#: Legal basis: 征信业管理条例 (国务院令第631号, 2013) 第二十五条 — the body receiving an objection flags the
#: disputed information at once and checks and answers it in writing within 20 days of receiving it (自收到
#: 异议之日起20日内进行核查和处理，并将结果书面答复异议人); 征信业务管理办法 (2021) repeats the rule. The
#: period is counted in calendar days (DOMAIN.md), and, like every statutory period, from the day after
#: receipt (期间开始的日不计算在内): an objection received on 1 June is due on 21 June.
RESPONSE_DAYS = 20

#: The department is reminded this many calendar days before the due date (at 09:00 China time).
REMINDER_DAYS_BEFORE: tuple[int, ...] = (5, 1)

#: Queue colour: amber when this many calendar days or fewer are left.
AMBER_DAYS = 5

#: At most this many files per objection, each at most ``MAX_ATTACHMENT_BYTES``.
MAX_ATTACHMENTS = 5
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024

#: Length limits of the texts an objection carries.
MAX_REASONS_CHARS = 2000
MAX_ANSWER_CHARS = 2000
MAX_LABEL_CHARS = 120

_CHINA = timezone(timedelta(hours=8))
_REMIND_AT = time(9, 0)


class ObjectionStatus(StrEnum):
    """Where an objection stands. Corrected, upheld and unresolved are terminal."""

    OPEN = "open"
    ESCALATED = "escalated"
    CORRECTED = "corrected"
    UPHELD = "upheld"
    UNRESOLVED = "unresolved"

    @property
    def label_zh(self) -> str:
        """Chinese name."""
        return _STATUS_LABELS[self]

    @property
    def terminal(self) -> bool:
        """No further change: the objection has been answered."""
        return self in TERMINAL


_STATUS_LABELS = {
    ObjectionStatus.OPEN: "核查中",
    ObjectionStatus.ESCALATED: "已超期督办",
    ObjectionStatus.CORRECTED: "已更正",
    ObjectionStatus.UPHELD: "维持原记录",
    ObjectionStatus.UNRESOLVED: "无法核实（保留异议标注）",
}

#: States in which the department still owes an answer.
PENDING: frozenset[ObjectionStatus] = frozenset({ObjectionStatus.OPEN, ObjectionStatus.ESCALATED})
TERMINAL: frozenset[ObjectionStatus] = frozenset({ObjectionStatus.CORRECTED, ObjectionStatus.UPHELD, ObjectionStatus.UNRESOLVED})


class Outcome(StrEnum):
    """How the department answers: corrected (new version, flag cleared), upheld (record stands, flag
    cleared), or unresolved (the dispute stays noted on the record)."""

    CORRECTED = "corrected"
    UPHELD = "upheld"
    UNRESOLVED = "unresolved"

    @property
    def label_zh(self) -> str:
        """Chinese name."""
        return {"corrected": "异议成立，更正记录", "upheld": "异议不成立，维持原记录", "unresolved": "无法核实，保留异议标注"}[
            self.value
        ]

    @property
    def status(self) -> ObjectionStatus:
        """The terminal state this outcome leads to."""
        return ObjectionStatus(self.value)

    @property
    def clears_flag(self) -> bool:
        """Whether the 有异议 mark is removed from the record."""
        return self is not Outcome.UNRESOLVED


class Action(StrEnum):
    """What can happen to an objection after filing."""

    REMIND = "remind"
    ESCALATE = "escalate"
    RESOLVE = "resolve"
    STATEMENT = "statement"


class InvalidTransition(Conflict):
    """The objection is not in a state that allows the action."""

    code = "objection_invalid_transition"
    title = "异议当前状态不允许该操作"


def next_status(current: ObjectionStatus, action: Action, outcome: Outcome | None = None) -> ObjectionStatus:
    """The state after ``action``; raises InvalidTransition when the action is not allowed.

    Reminders and escalation apply only while an answer is owed; escalation happens once; a resolution
    needs an outcome and ends the objection; a statement is allowed at any time and changes nothing.
    """
    if action is Action.STATEMENT:
        return current
    if current not in PENDING:
        raise InvalidTransition(f"异议已办结（{current.label_zh}），不能再{_ACTION_LABELS[action]}")
    if action is Action.REMIND:
        return current
    if action is Action.ESCALATE:
        if current is ObjectionStatus.ESCALATED:
            raise InvalidTransition("异议已经超期督办")
        return ObjectionStatus.ESCALATED
    if outcome is None:
        raise InvalidTransition("办结异议需要处理结果")
    return outcome.status


_ACTION_LABELS = {Action.REMIND: "提醒", Action.ESCALATE: "督办", Action.RESOLVE: "办结", Action.STATEMENT: "附说明"}


# --- deadline -------------------------------------------------------------------------------------


def china_date(moment: datetime) -> date:
    """The calendar date of ``moment`` in China (UTC+8)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(_CHINA).date()


def china_instant(day: date, at: time) -> datetime:
    """``day`` at ``at`` China time, as an aware datetime."""
    return datetime.combine(day, at, tzinfo=_CHINA)


@dataclass(frozen=True, slots=True)
class Deadline:
    """When an objection filed at ``filed_at`` must be answered, when the department is reminded, and
    when it is escalated (the first instant after the due date)."""

    received_on: date
    due_on: date
    reminders: tuple[tuple[int, datetime], ...]
    escalate_at: datetime


def response_deadline(filed_at: datetime, *, days: int = RESPONSE_DAYS) -> Deadline:
    """The answer deadline of an objection received at ``filed_at`` (see ``RESPONSE_DAYS``).

    Reminders ``REMINDER_DAYS_BEFORE`` days before the due date at 09:00 China time (a reminder whose
    time has already passed is dropped); escalation at 00:00 China time the day after the due date.
    """
    if days < RESPONSE_DAYS:
        raise ValueError(f"the answer period cannot be shorter than {RESPONSE_DAYS} days")
    received = china_date(filed_at)
    due = received + timedelta(days=days)
    reminders = tuple(
        (n, china_instant(due - timedelta(days=n), _REMIND_AT))
        for n in REMINDER_DAYS_BEFORE
        if china_instant(due - timedelta(days=n), _REMIND_AT) > filed_at
    )
    return Deadline(
        received_on=received,
        due_on=due,
        reminders=reminders,
        escalate_at=china_instant(due + timedelta(days=1), time(0, 0)),
    )


def extended_due(current: date, proposed: date) -> date:
    """A due date may move later, never earlier: the enterprise's right to an answer in time is never cut."""
    return max(current, proposed)


def days_left(due_on: date, today: date) -> int:
    """Calendar days left until the due date (0 on the due date; negative once overdue)."""
    return (due_on - today).days


def is_overdue(due_on: date, today: date) -> bool:
    """Past the due date without an answer."""
    return today > due_on


def deadline_tone(due_on: date, today: date) -> DeadlineTone:
    """The queue colour of an objection due on ``due_on``, seen on ``today``."""
    left = days_left(due_on, today)
    if left < 0:
        return DeadlineTone.RED
    return DeadlineTone.AMBER if left <= AMBER_DAYS else DeadlineTone.GREEN


# --- texts ----------------------------------------------------------------------------------------


def clean_text(text: str, *, what: str, limit: int) -> str:
    """Trimmed text of 1 to ``limit`` characters, or InvalidInput."""
    value = text.strip()
    if not value or len(value) > limit:
        raise InvalidInput(f"{what}应为1至{limit}个字符")
    return value


# --- attachments ----------------------------------------------------------------------------------

#: Accepted attachment types, recognised by their first bytes (never by the client's name or header).
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
)
ALLOWED_TYPES: dict[str, str] = {media: ext for _, media, ext in _SIGNATURES}
SNIFF_BYTES = 16


class AttachmentRefused(InvalidInput):
    """An attachment breaks the limits (count, size, type)."""

    code = "objection_attachment_refused"
    title = "附件不符合要求"


class AttachmentTooLarge(AttachmentRefused):
    """An attachment is larger than ``MAX_ATTACHMENT_BYTES``."""

    code = "objection_attachment_too_large"
    status = 413
    title = "附件过大"


def sniff_type(head: bytes) -> str | None:
    """The media type of a file from its first bytes, if it is one of ``ALLOWED_TYPES``."""
    for magic, media, _ext in _SIGNATURES:
        if head.startswith(magic):
            return media
    return None


def check_attachment_count(count: int) -> None:
    """At most ``MAX_ATTACHMENTS`` files."""
    if count > MAX_ATTACHMENTS:
        raise AttachmentRefused(f"最多上传 {MAX_ATTACHMENTS} 个附件")


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def attachment_label(client_name: str | None, *, position: int) -> str:
    """A display label from the name the client sent: the last path part, control and path characters
    removed, normalised, shortened. It is shown, never used as a path."""
    raw = unicodedata.normalize("NFKC", client_name or "")
    base = re.split(r"[/\\]", raw)[-1]
    cleaned = _UNSAFE.sub("_", base).strip(" ._")[:MAX_LABEL_CHARS]
    return cleaned or f"附件{position}"


def stored_name(sha256_hex: str, media_type: str) -> str:
    """The file name an attachment is stored (and downloaded) under: its SHA-256 and the sniffed extension."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256_hex) or media_type not in ALLOWED_TYPES:
        raise ValueError("bad attachment identity")
    return f"{sha256_hex}.{ALLOWED_TYPES[media_type]}"
