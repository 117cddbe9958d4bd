"""Registry of market subjects (市场主体): USCC rules, regions, industries, size classes, subject records."""

from xinyidai.registry import industries, regions, size
from xinyidai.registry.model import STATUSES, Registration, may_read_subject, parse_registration
from xinyidai.registry.service import (
    LoadSummary,
    SubjectDetail,
    SubjectSummary,
    get_subject,
    load_registrations,
    reveal_legal_rep_id,
    search_subjects,
    subject_figures,
)

__all__ = [
    "STATUSES",
    "LoadSummary",
    "Registration",
    "SubjectDetail",
    "SubjectSummary",
    "get_subject",
    "industries",
    "load_registrations",
    "may_read_subject",
    "parse_registration",
    "regions",
    "reveal_legal_rep_id",
    "search_subjects",
    "size",
    "subject_figures",
]
