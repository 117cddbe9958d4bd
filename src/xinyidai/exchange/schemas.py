"""Pydantic I/O models of the interface-call API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class FetchResultRead(BaseModel):
    """The answer to one interface query; a degraded one is still 200, with ``status`` stale or unavailable."""

    status: Literal["fresh", "cached", "stale", "unavailable"] = Field(
        description="fresh 实时 · cached 缓存（有效期内） · stale 过期缓存（数据源不可用） · unavailable 暂不可用"
    )
    source: str = Field(description="数据来源部门代码")
    item: str = Field(description="目录信息项代码")
    uscc: str
    records: list[dict[str, Any]] = Field(description="记录（证件号码已脱敏）")
    as_of: datetime | None = Field(description="数据源声明的数据时点")
    fetched_at: datetime | None = Field(description="平台取得该答复的时间")
    age_seconds: int | None = Field(description="答复距今秒数")
    reason: str | None = Field(
        description="降级原因：timeout · error · malformed · breaker_open · not_configured（对应调用日志的 outcome）"
    )
    detail: str | None = None
