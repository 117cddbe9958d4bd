"""Pydantic I/O models of the data-quality API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from xinyidai.quality.model import Figures


class MeasuresRead(BaseModel):
    """The five measures of a set of figures (None: nothing to measure)."""

    batches: int
    rows: int
    completeness: float | None
    validity: float | None
    reject_rates: dict[str, float]
    uniqueness: float | None
    on_time_share: float | None
    delay_median_days: int | None
    delay_p90_days: int | None
    last_delivery: datetime | None
    calls: int
    success_rate: float | None
    breaker_open_share: float | None
    latency_p50_ms: int | None
    latency_p99_ms: int | None

    @classmethod
    def of(cls, f: Figures) -> MeasuresRead:
        """The measures of figures."""
        return cls(
            batches=f.batches,
            rows=f.rows,
            completeness=f.completeness,
            validity=f.validity,
            reject_rates=f.reject_rates(),
            uniqueness=f.uniqueness,
            on_time_share=f.on_time_share,
            delay_median_days=f.delay_median,
            delay_p90_days=f.delay_p90,
            last_delivery=f.last_delivery,
            calls=f.calls,
            success_rate=f.success_rate,
            breaker_open_share=f.breaker_open_share,
            latency_p50_ms=f.latency_p50,
            latency_p99_ms=f.latency_p99,
        )


class SourceQualityRead(BaseModel):
    """One source and item on one channel: latest batch, the period, and the freshness."""

    channel: str
    source: str
    source_name: str
    item: str
    item_name: str
    latest: MeasuresRead | None
    period: MeasuresRead
    age_days: float | None


class SourceQualityPage(BaseModel):
    """Every measured source and item."""

    items: list[SourceQualityRead]
    days: int


class AlertRead(BaseModel):
    """A quality alert."""

    id: uuid.UUID
    kind: str
    channel: str
    source: str
    item: str
    item_name: str
    status: str
    message: str
    value: float | None
    opened_at: datetime
    seen_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None


class AlertPage(BaseModel):
    """Alerts, newest first."""

    items: list[AlertRead]
