"""What quality reads from other domains, through their public names only: ingest batches and sources, the
exchange call log, catalog deadlines.

Two reads are adapters over what those APIs offer today:

- ``record_dates``: the event dates and receipt times of the records a batch delivered. ``ingest`` has no public
  function for it yet; when it offers ``batch_record_dates(db, *, batch_id)`` (rows of ``(event_date,
  received_at, source_id)``) this adapter uses it, otherwise timeliness is "not measured" for the batch.
  Callers (and tests) may pass their own reader.
- ``calls_between``: ``exchange.recent_calls`` has no time filter, so the newest ``CALL_SCAN_LIMIT`` calls are
  read and filtered here (a ``since`` argument there would make this exact on busy nodes).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from xinyidai import exchange, ingest
from xinyidai.catalog import NotInCatalog, load_catalog
from xinyidai.db import Database
from xinyidai.quality.model import DeadlineRule

#: Newest calls scanned per read of the exchange call log.
CALL_SCAN_LIMIT = 20_000
_PAGE = 200


@dataclass(frozen=True, slots=True)
class RecordDate:
    """One delivered record: its event date, when it was received, and the source that delivered it."""

    event_date: date | None
    received_at: datetime
    source_id: uuid.UUID | None


#: Reads the dated records of a batch; None when they cannot be read (timeliness then not measured).
RecordDates = Callable[[Database, ingest.BatchView], Sequence[RecordDate] | None]


def ingest_record_dates(db: Database, batch: ingest.BatchView) -> Sequence[RecordDate] | None:
    """The records a batch delivered, through ``ingest.batch_record_dates`` when ingest offers it."""
    reader: Any = getattr(ingest, "batch_record_dates", None)
    if reader is None:
        return None
    return [RecordDate(event, received, source) for event, received, source in reader(db, batch_id=batch.id)]


def all_batches(db: Database) -> Iterator[ingest.BatchView]:
    """Every batch, newest first, page by page."""
    offset = 0
    while True:
        page, total = ingest.list_batches(db, restricted=False, tenant=None, limit=_PAGE, offset=offset)
        yield from page
        offset += len(page)
        if not page or offset >= total:
            return


def get_batch(db: Database, batch_id: uuid.UUID) -> ingest.BatchView:
    """One batch (NotFound when it does not exist)."""
    return ingest.get_batch(db, batch_id=batch_id, restricted=False, tenant=None)


def all_sources(db: Database, *, status: str | None = None) -> list[ingest.SourceView]:
    """Every registered source (optionally of one status)."""
    found: list[ingest.SourceView] = []
    while True:
        page, total = ingest.list_sources(db, status=status, limit=_PAGE, offset=len(found))
        found.extend(page)
        if not page or len(found) >= total:
            return found


def calls_between(db: Database, start: datetime, end: datetime) -> list[exchange.CallView]:
    """Logged interface calls started in ``[start, end)``."""
    return [c for c in exchange.recent_calls(db, limit=CALL_SCAN_LIMIT) if start <= c.started_at < end]


def deadline_of(item_code: str) -> DeadlineRule | None:
    """The item's delivery deadline in days, if the catalog sets one (and it is a whole number of days)."""
    try:
        deadline = load_catalog().item(item_code).delivery_deadline
    except NotInCatalog:
        return None
    if deadline is None or deadline.period.months or deadline.period.seconds:
        return None
    return DeadlineRule(days=deadline.period.days, working_days=deadline.working_days)


def required_field_count(item_code: str) -> int:
    """How many fields of the item's record schema are required."""
    try:
        return sum(1 for f in load_catalog().item(item_code).record_schema if f.required)
    except NotInCatalog:
        return 0


def item_name(item_code: str) -> str:
    """The item's Chinese name (its code when the catalog does not know it)."""
    try:
        return load_catalog().item(item_code).name_zh
    except NotInCatalog:
        return item_code
