"""Imports every domain's tables so that Base.metadata is complete (for migrations and tests only)."""

from xinyidai.audit import tables as audit_tables
from xinyidai.job import tables as job_tables
from xinyidai.principal import tables as principal_tables
from xinyidai.registry import tables as registry_tables

__all__ = ["audit_tables", "job_tables", "principal_tables", "registry_tables"]
