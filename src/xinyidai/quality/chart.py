"""Trend charts as plain geometry for server-rendered SVG: no script, no style, only presentation attributes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

WIDTH = 320
HEIGHT = 96
PAD_LEFT = 34
PAD_RIGHT = 8
PAD_TOP = 8
PAD_BOTTOM = 18


@dataclass(frozen=True, slots=True)
class Point:
    """One plotted value with its hover title."""

    x: float
    y: float
    title: str


@dataclass(frozen=True, slots=True)
class Chart:
    """A line chart: polyline segments (gaps where a day has no value), points, and axis labels."""

    width: int
    height: int
    segments: tuple[str, ...]
    points: tuple[Point, ...]
    y_top: str
    y_bottom: str
    x_first: str
    x_last: str
    baseline: float
    top: float
    left: float
    right: float
    threshold_y: float | None
    empty: bool


def _fmt(value: float, *, percent: bool) -> str:
    return f"{value:.0%}" if percent else f"{value:g}"


def line_chart(
    series: Sequence[tuple[date, float | None]],
    *,
    percent: bool = True,
    threshold: float | None = None,
    unit: str = "",
) -> Chart:
    """A chart of daily values (rates in [0, 1] when ``percent``, else a non-negative quantity)."""
    values = [v for _, v in series if v is not None]
    low = 0.0
    high = 1.0 if percent else max([1.0, *values, *([threshold] if threshold is not None else [])])
    left, right = float(PAD_LEFT), float(WIDTH - PAD_RIGHT)
    top, bottom = float(PAD_TOP), float(HEIGHT - PAD_BOTTOM)
    step = (right - left) / max(1, len(series) - 1)

    def y_of(value: float) -> float:
        return round(bottom - (min(high, max(low, value)) - low) / (high - low) * (bottom - top), 1)

    segments: list[str] = []
    current: list[str] = []
    points: list[Point] = []
    for index, (day, value) in enumerate(series):
        x = round(left + index * step if len(series) > 1 else (left + right) / 2, 1)
        if value is None:
            if current:
                segments.append(" ".join(current))
            current = []
            continue
        y = y_of(value)
        current.append(f"{x},{y}")
        label = _fmt(value, percent=percent) if percent else f"{value:g}{unit}"
        points.append(Point(x, y, f"{day.isoformat()}：{label}"))
    if current:
        segments.append(" ".join(current))
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        segments=tuple(s for s in segments if " " in s),
        points=tuple(points),
        y_top=_fmt(high, percent=percent) + ("" if percent else unit),
        y_bottom=_fmt(low, percent=percent) + ("" if percent else unit),
        x_first=series[0][0].strftime("%m-%d") if series else "",
        x_last=series[-1][0].strftime("%m-%d") if series else "",
        baseline=bottom,
        top=top,
        left=left,
        right=right,
        threshold_y=y_of(threshold) if threshold is not None else None,
        empty=not values,
    )
