"""Audit log: every change and every read of non-public data, hash-chained (审计日志)."""

from xinyidai.audit.model import ChainProblem, ChainReport
from xinyidai.audit.service import EventView, count_since, recent, record, verify

__all__ = ["ChainProblem", "ChainReport", "EventView", "count_since", "recent", "record", "verify"]
