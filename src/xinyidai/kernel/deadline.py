"""The colour a queue shows for a deadline, shared by every domain with a deadline (applications, objections).

Each domain decides when amber starts (its own notice period); the three colours and the page badge they map to
are one vocabulary, so the API publishes one ``DeadlineTone`` schema.
"""

from __future__ import annotations

from enum import StrEnum


class DeadlineTone(StrEnum):
    """Queue colour: green with time to spare, amber inside the domain's notice period, red once overdue."""

    GREEN = "green"
    AMBER = "amber"
    RED = "red"

    @property
    def badge(self) -> str:
        """The page badge class for this colour."""
        return {"green": "ok", "amber": "warn", "red": "bad"}[self.value]
