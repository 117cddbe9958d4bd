"""Where matching gets an enterprise's facts: the `SubjectFactsProvider` port and the default registry-backed provider.

The evaluation domain plugs real grades, scores, list and tax facts in by putting its own provider into
``container.services[FACTS_SERVICE]``; until then grade, score, serious-dishonesty and tax grade are None (unknown).
"""

from __future__ import annotations

from typing import Protocol

from xinyidai import registry
from xinyidai.db import Database
from xinyidai.http.container import Container
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.errors import NotFound
from xinyidai.product.model import SubjectFacts

#: Key of the provider in `Container.services`.
FACTS_SERVICE = "product.facts"


class SubjectFactsProvider(Protocol):
    """Gives matching what is known about one enterprise; unknown facts are None, never guessed."""

    def facts_for(self, uscc: str, *, actor: ActorRef) -> SubjectFacts:
        """The enterprise's facts; reading them is audited under `actor` by whoever holds the data."""
        ...


class RegistryFacts:
    """Default provider: registration facts from the registry (region, industry, size, established, capital)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def facts_for(self, uscc: str, *, actor: ActorRef) -> SubjectFacts:
        """Read the registration record as the enterprise itself (an audited `registry.subject.read`)."""
        try:
            detail = registry.get_subject(self.db, actor=actor, uscc=uscc, can_read_all=False, can_read_own=True, own_uscc=uscc)
        except NotFound:
            return SubjectFacts(uscc=uscc)
        industry = registry.industries.normalize_code(detail.industry_code) if detail.industry_code else None
        return SubjectFacts(
            uscc=uscc,
            name=detail.name,
            region_code=detail.region_code,
            industry_code=industry if industry and industry.isdigit() else None,
            industry_section=registry.industries.section_of(detail.industry_code) if detail.industry_code else None,
            size_class=detail.size_class if detail.size_class not in (None, "unknown") else None,
            established_on=detail.established_on,
            registered_capital=detail.registered_capital_wan,
        )


def provider_for(container: Container) -> SubjectFactsProvider:
    """The provider the composition root registered, else the registry-backed default."""
    found = container.services.get(FACTS_SERVICE)
    return found if found is not None else RegistryFacts(container.db)
