"""Pure quality rules: rates stay in [0, 1], merging periods equals measuring their union, deadlines, alerts, charts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from xinyidai.quality.chart import line_chart
from xinyidai.quality.model import (
    AlertKind,
    Call,
    DatedRecord,
    DeadlineRule,
    Figures,
    Thresholds,
    add_days,
    call_figures,
    delivery_figures,
    figures_from_dict,
    figures_to_dict,
    interface_finding,
    late_finding,
    merge_all,
    quantile,
    validity_finding,
)

NOW = datetime(2026, 6, 30, 2, 0, tzinfo=UTC)
DEADLINE = DeadlineRule(days=7, working_days=True)

codes = st.sampled_from(["required", "date", "uscc", "duplicate_in_file"])
records = st.lists(
    st.builds(
        DatedRecord,
        event=st.one_of(st.none(), st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 6, 30))),
        received=st.dates(min_value=date(2026, 6, 1), max_value=date(2026, 7, 30)),
    ),
    max_size=20,
)


@st.composite
def batches(draw: st.DrawFn) -> tuple[Figures, list[DatedRecord], list[Call]]:
    """A batch's figures made from rows, together with the rows and calls it was made of."""
    accepted, updated, unchanged, rejected = (draw(st.integers(0, 50)) for _ in range(4))
    duplicates = draw(st.integers(0, rejected))
    rejects = draw(st.dictionaries(codes, st.integers(1, 30), max_size=3))
    dated = draw(records)
    calls = draw(
        st.lists(
            st.builds(Call, st.sampled_from(["ok", "error", "timeout", "breaker_open"]), st.integers(0, 40_000)), max_size=15
        )
    )
    figures = delivery_figures(
        rows=accepted + updated + unchanged + rejected,
        accepted=accepted,
        updated=updated,
        unchanged=unchanged,
        duplicates=duplicates,
        rejects=rejects,
        required_fields=draw(st.integers(0, 5)),
        records=dated,
        deadline=DEADLINE,
        delivered_at=NOW - timedelta(days=draw(st.integers(0, 30))),
    ).merge(call_figures(calls))
    return figures, dated, calls


def _rates(f: Figures) -> list[float | None]:
    return [f.completeness, f.validity, f.uniqueness, f.on_time_share, f.success_rate, f.breaker_open_share]


@given(batches())
def test_every_rate_is_within_zero_and_one(batch: tuple[Figures, list[DatedRecord], list[Call]]) -> None:
    figures = batch[0]
    for rate in _rates(figures):
        assert rate is None or 0.0 <= rate <= 1.0
    assert all(r >= 0 for r in figures.reject_rates().values())


@given(batches(), batches())
def test_merging_two_periods_equals_measuring_their_union(
    a: tuple[Figures, list[DatedRecord], list[Call]], b: tuple[Figures, list[DatedRecord], list[Call]]
) -> None:
    merged = a[0].merge(b[0])
    assert merged == b[0].merge(a[0])
    union_calls = call_figures([*a[2], *b[2]])
    union_delays = delivery_figures(
        rows=0, accepted=0, updated=0, unchanged=0, duplicates=0, rejects={}, required_fields=0,
        records=[*a[1], *b[1]], deadline=DEADLINE, delivered_at=NOW,
    )  # fmt: skip
    assert merged.calls_ok == union_calls.calls_ok
    assert dict(merged.latency) == dict(union_calls.latency)
    assert (merged.latency_p50, merged.latency_p99) == (union_calls.latency_p50, union_calls.latency_p99)
    assert dict(merged.delays) == dict(union_delays.delays)
    assert (merged.delay_median, merged.delay_p90, merged.on_time_share) == (
        union_delays.delay_median,
        union_delays.delay_p90,
        union_delays.on_time_share,
    )
    assert merged.rows == a[0].rows + b[0].rows
    assert figures_from_dict(figures_to_dict(merged)) == merged


def test_merging_nothing_is_zero_and_measures_are_undefined() -> None:
    empty = merge_all([])
    assert empty == Figures()
    assert _rates(empty) == [None] * 6
    assert empty.delay_median is None
    assert empty.age_days(NOW) is None


def test_known_batch_figures() -> None:
    f = delivery_figures(
        rows=10, accepted=6, updated=1, unchanged=1, duplicates=1, rejects={"required": 2, "date": 1}, required_fields=4,
        records=[DatedRecord(date(2026, 6, 22), date(2026, 6, 30)), DatedRecord(date(2026, 6, 1), date(2026, 6, 30)),
                 DatedRecord(None, date(2026, 6, 30))],
        deadline=DEADLINE, delivered_at=NOW,
    )  # fmt: skip
    assert f.validity == 0.8
    assert f.completeness == 1 - 2 / 40
    assert f.uniqueness == 0.9
    assert f.on_time_share == 0.5  # 2026-06-22 (Mon) + 7 working days = 2026-07-01: on time; 29 days late: not
    assert (f.delay_median, f.delay_p90) == (8, 29)


def test_working_day_deadlines_skip_weekends() -> None:
    assert add_days(date(2026, 6, 26), 1, working_days=True) == date(2026, 6, 29)  # Friday → Monday
    assert add_days(date(2026, 6, 26), 1, working_days=False) == date(2026, 6, 27)
    assert DEADLINE.calendar_days == 10


def test_quantiles_are_nearest_rank() -> None:
    hist = {str(d): 1 for d in range(1, 11)}
    assert quantile(hist, 0.5) == 5
    assert quantile(hist, 0.9) == 9
    assert quantile({}, 0.5) is None


def test_alert_conditions() -> None:
    week = timedelta(days=7)
    assert late_finding(source="S", item="i", last_delivery=NOW - timedelta(days=6), since=NOW, now=NOW, cadence=week) is None
    late = late_finding(source="S", item="i", last_delivery=NOW - timedelta(days=9), since=NOW, now=NOW, cadence=week)
    assert late is not None
    assert late.kind is AlertKind.LATE
    assert "9.0 天" in late.message
    low = Figures(rows=10, valid=5)
    assert validity_finding(source="S", item="i", figures=low, limits=Thresholds()) is not None
    assert validity_finding(source="S", item="i", figures=low, limits=Thresholds(min_validity=0.5)) is None
    failing = call_figures([Call("error", 10)] * 4 + [Call("ok", 10)])
    assert interface_finding(source="tax", item="i", figures=failing, limits=Thresholds()) is not None
    assert interface_finding(source="tax", item="i", figures=failing, limits=Thresholds(min_calls=6)) is None
    assert Thresholds().cadence(None) == timedelta(days=30)
    assert Thresholds(cadence_days=2).cadence(DEADLINE) == timedelta(days=2)


def test_charts_are_geometry_with_gaps_for_days_without_figures() -> None:
    days = [date(2026, 6, d) for d in range(1, 6)]
    chart = line_chart(list(zip(days, [1.0, 0.5, None, 0.0, 1.0], strict=True)), threshold=0.9)
    assert len(chart.segments) == 2
    assert len(chart.points) == 4
    assert chart.points[0].y == chart.top
    assert chart.points[2].y == chart.baseline
    assert chart.points[1].title == "2026-06-02：50%"
    assert chart.threshold_y is not None
    assert chart.top < chart.threshold_y < chart.baseline
    assert line_chart([(d, None) for d in days]).empty
