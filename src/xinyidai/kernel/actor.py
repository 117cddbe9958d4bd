"""Who acts: a reference to a principal, carried into every audit event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class ActorKind(StrEnum):
    """Kinds of actors."""

    USER = "user"
    CLIENT = "client"
    SYSTEM = "system"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class ActorRef:
    """The acting principal as the audit log records it."""

    kind: ActorKind
    id: str
    label: str

    @classmethod
    def system(cls, component: str) -> ActorRef:
        """A platform component acting on its own (scheduler, CLI, migrations)."""
        return cls(ActorKind.SYSTEM, component, component)

    @classmethod
    def anonymous(cls) -> ActorRef:
        """An unauthenticated caller (failed logins are audited as this)."""
        return cls(ActorKind.ANONYMOUS, "-", "匿名")

    @classmethod
    def of(cls, kind: ActorKind, id_: uuid.UUID | str, label: str) -> ActorRef:
        """Build from a principal's kind, id and display label."""
        return cls(kind, str(id_), label)
