"""Pure rules of the department simulator: fault plans and what a request gets under one."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final


class FaultMode(StrEnum):
    """How the simulated department behaves."""

    #: Answer correctly.
    NORMAL = "normal"
    #: Answer correctly after ``delay_ms`` (a client with a shorter timeout sees a timeout).
    SLOW = "slow"
    #: Answer ``status`` (500 or 503 …) to every request.
    FAIL = "fail"
    #: Answer 200 with a broken body, see ``MalformedKind``.
    MALFORMED = "malformed"
    #: Fail with probability ``fail_rate``, answer correctly otherwise.
    FLAKY = "flaky"


class MalformedKind(StrEnum):
    """The ways a malformed answer is broken."""

    #: Not parseable JSON (a truncated body).
    BAD_JSON = "bad_json"
    #: Valid JSON whose records do not follow the item's schema (renamed fields).
    WRONG_SCHEMA = "wrong_schema"
    #: A well-formed answer about another enterprise.
    WRONG_SUBJECT = "wrong_subject"


#: A slow plan without its own delay waits this long.
DEFAULT_SLOW_MS: Final = 1_000
#: No simulated wait is longer: a test that forgets to reset cannot hang the server for minutes.
MAX_DELAY_MS: Final = 60_000


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """A department's behaviour: the mode, its parameters, and a number of forced failures to come first."""

    mode: FaultMode = FaultMode.NORMAL
    #: Wait before answering, in any mode (``slow`` without it waits ``DEFAULT_SLOW_MS``).
    delay_ms: int = 0
    #: Probability of failing in ``flaky`` mode.
    fail_rate: float = 0.5
    #: HTTP status of a failure.
    status: int = 503
    malformed: MalformedKind = MalformedKind.BAD_JSON
    #: The next this many requests fail with ``status`` whatever the mode (retry tests count on it).
    fail_next: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.delay_ms <= MAX_DELAY_MS:
            raise ValueError(f"delay_ms must be between 0 and {MAX_DELAY_MS}")
        if not (math.isfinite(self.fail_rate) and 0 <= self.fail_rate <= 1):
            raise ValueError("fail_rate must be between 0 and 1")
        if not 400 <= self.status <= 599:
            raise ValueError("status must be an HTTP error status (400–599)")
        if self.fail_next < 0:
            raise ValueError("fail_next must not be negative")

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> FaultPlan:
        """Build from a control request body; unknown keys and bad values raise ValueError."""
        known = {"mode", "delay_ms", "fail_rate", "status", "malformed", "fail_next"}
        unknown = set(body) - known - {"department"}
        if unknown:
            raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
        try:
            return cls(
                mode=FaultMode(body.get("mode", FaultMode.NORMAL)),
                delay_ms=_int(body.get("delay_ms", 0), "delay_ms"),
                fail_rate=float(body.get("fail_rate", 0.5)),
                status=_int(body.get("status", 503), "status"),
                malformed=MalformedKind(body.get("malformed", MalformedKind.BAD_JSON)),
                fail_next=_int(body.get("fail_next", 0), "fail_next"),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return {
            "mode": self.mode.value,
            "delay_ms": self.delay_ms,
            "fail_rate": self.fail_rate,
            "status": self.status,
            "malformed": self.malformed.value,
            "fail_next": self.fail_next,
        }


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{name} must be an integer")
    return int(value)


class Reply(StrEnum):
    """What kind of answer a request gets."""

    DATA = "data"
    FAILURE = "failure"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class Action:
    """The simulator's answer to one request: wait this long, then reply this way."""

    delay_s: float
    reply: Reply
    status: int = 200
    malformed: MalformedKind = MalformedKind.BAD_JSON


def next_action(plan: FaultPlan, *, u: float) -> tuple[Action, FaultPlan]:
    """The action for the next request under ``plan`` and the plan after it (one forced failure used up).

    ``u`` in [0, 1) is the random draw of ``flaky`` mode.
    """
    delay_ms = plan.delay_ms or (DEFAULT_SLOW_MS if plan.mode is FaultMode.SLOW else 0)
    delay = delay_ms / 1000
    if plan.fail_next > 0:
        return Action(delay, Reply.FAILURE, plan.status), replace(plan, fail_next=plan.fail_next - 1)
    if plan.mode is FaultMode.FAIL or (plan.mode is FaultMode.FLAKY and u < plan.fail_rate):
        return Action(delay, Reply.FAILURE, plan.status), plan
    if plan.mode is FaultMode.MALFORMED:
        return Action(delay, Reply.MALFORMED, 200, plan.malformed), plan
    return Action(delay, Reply.DATA), plan
