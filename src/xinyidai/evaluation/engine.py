"""One expression layer over both engines: the indicators as Ibis expressions over a snapshot's Parquet tables.

Each indicator is written once here, as an Ibis expression; the same expression runs on DuckDB (embedded
default) and on PySpark (``spark.py``), and both return the same values: windows are computed in Python
as literal dates and ``YYYY-MM`` strings, amounts are summed as exact decimals and only then turned into
floats, and ratios divide two such floats, so no engine-specific rounding enters.

The rows that count for an indicator are named by the filters in ``_FILTERS``: the aggregations use them,
and ``evidence`` uses them again to list the record ids behind an indicator for one subject (the trace
the single-enterprise explanation shows).
"""

from __future__ import annotations

import calendar
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from xinyidai.evaluation.indicators import INDICATORS, SEVERITY_RANK, SNAPSHOT_ITEMS, IndicatorKind
from xinyidai.evaluation.rules import indicator_schema

if TYPE_CHECKING:
    from xinyidai.evaluation.snapshot import Snapshot

EngineName = Literal["duckdb", "spark"]
#: Defendant, as ``court_judgment.party_role`` spells it.
DEFENDANT = "被告"
#: Fulfilment texts that mean a credit commitment was not kept.
BREACH_WORDS = ("未履行", "违诺", "失信")


@contextmanager
def quiet_ibis() -> Iterator[None]:
    """Silence the one deprecation DuckDB 2 raises inside Ibis 12 (``fetch_arrow_table``), and nothing else."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"fetch_arrow_table\(\) is deprecated", category=DeprecationWarning)
        yield


def _months_back(day: date, months: int) -> str:
    """``YYYY-MM`` of the month ``months`` before ``day``'s month."""
    index = day.year * 12 + day.month - 1 - months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _years_back(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (28 February for 29 February)."""
    year = day.year - years
    return day.replace(year=year, day=min(day.day, calendar.monthrange(year, day.month)[1]))


@dataclass(frozen=True, slots=True)
class Window:
    """The literal bounds every indicator's window is stated in, computed once per as-of date."""

    as_of: date
    #: First and last ``YYYY-MM`` of the last 12 months (as-of month included) and of the 12 before.
    recent_from: str
    recent_to: str
    previous_from: str
    previous_to: str
    #: The day 3 years before the as-of date (windows of 3 years start the day after it).
    three_years_ago: date

    @classmethod
    def of(cls, as_of: date) -> Window:
        """The windows of an as-of date."""
        return cls(
            as_of=as_of,
            recent_from=_months_back(as_of, 11),
            recent_to=_months_back(as_of, 0),
            previous_from=_months_back(as_of, 23),
            previous_to=_months_back(as_of, 12),
            three_years_ago=_years_back(as_of, 3),
        )

    @property
    def day(self) -> ir.DateScalar:
        """The as-of date as a literal."""
        return ibis.literal(self.as_of)


Pred = Callable[[ir.Table, Window], ir.BooleanValue]


def _all(t: ir.Table, w: Window) -> ir.BooleanValue:
    return ibis.literal(True)


def _recent(t: ir.Table, w: Window) -> ir.BooleanValue:
    return t.period.between(w.recent_from, w.recent_to)


def _previous(t: ir.Table, w: Window) -> ir.BooleanValue:
    return t.period.between(w.previous_from, w.previous_to)


def _two_years(t: ir.Table, w: Window) -> ir.BooleanValue:
    return t.period.between(w.previous_from, w.recent_to)


def _listed(t: ir.Table, w: Window) -> ir.BooleanValue:
    return (t.listed_on <= w.day) & (t.removed_on.isnull() | (t.removed_on > w.day))


def _defendant_3y(t: ir.Table, w: Window) -> ir.BooleanValue:
    return (t.party_role == DEFENDANT) & (t.judgment_date > ibis.literal(w.three_years_ago)) & (t.judgment_date <= w.day)


def _decided(t: ir.Table, w: Window) -> ir.BooleanValue:
    return t.event_date.isnull() | (t.event_date <= w.day)


def _breached(t: ir.Table, w: Window) -> ir.BooleanValue:
    text = t.fulfilment.fill_null("")
    hit = text.contains(BREACH_WORDS[0])
    for word in BREACH_WORDS[1:]:
        hit = hit | text.contains(word)
    return hit


def _honour_3y(t: ir.Table, w: Window) -> ir.BooleanValue:
    return (t.granted_on > ibis.literal(w.three_years_ago)) & (t.granted_on <= w.day)


def _granted(t: ir.Table, w: Window) -> ir.BooleanValue:
    return t.granted_on <= w.day


#: Indicator → (catalog item, the records that count for it). Registry-based indicators name the
#: registration record as their evidence.
_FILTERS: Mapping[str, tuple[str, Pred]] = {
    "years_in_business": ("registration", _all),
    "registered_capital_wan": ("registration", _all),
    "tax_credit_grade": ("tax_credit_grade", _all),
    "tax_paid_12m_wan": ("tax_payment", _recent),
    "tax_paid_trend": ("tax_payment", _two_years),
    "social_insured_headcount": ("social_insurance", _recent),
    "social_headcount_change": ("social_insurance", _two_years),
    "housing_fund_depositors": ("housing_fund", _recent),
    "housing_fund_arrears_months": ("housing_fund", _recent),
    "utility_on_time_rate": ("utility_payment", _recent),
    "court_defendant_cases_3y": ("court_judgment", _defendant_3y),
    "dishonest_debtor_listed": ("dishonest_debtor", _listed),
    "serious_dishonesty_listed": ("serious_dishonesty", _listed),
    "penalty_count": ("admin_penalty", _decided),
    "penalty_max_severity": ("admin_penalty", _decided),
    "penalty_days_since_latest": ("admin_penalty", _decided),
    "abnormal_operation_listed": ("abnormal_operation", _listed),
    "customs_credit_grade": ("customs_credit", _all),
    "commitment_count": ("credit_commitment", _all),
    "commitment_breaches": ("credit_commitment", _breached),
    "honour_count": ("honour", _honour_3y),
    "ip_count": ("intellectual_property", _granted),
}


def _float(value: ir.NumericValue) -> ir.FloatingValue:
    return value.cast("float64")


def _days(later: ir.DateValue, earlier: ir.DateValue) -> ir.IntegerValue:
    return later.epoch_days() - earlier.epoch_days()


def _aggregates(t: Mapping[str, ir.Table], w: Window) -> list[ir.Table]:
    """One aggregation per item, grouped by subject."""
    out: list[ir.Table] = []

    reg = t["registration"]
    out.append(
        reg.group_by("uscc").aggregate(
            _reg_established=reg.established_on.max(), _reg_capital=_float(reg.registered_capital.max())
        )
    )

    g = t["tax_credit_grade"]
    out.append(g.group_by("uscc").aggregate(tax_credit_grade=g.grade.argmax(g.year)))

    tax = t["tax_payment"]
    recent, previous = _recent(tax, w), _previous(tax, w)
    out.append(
        tax.group_by("uscc").aggregate(
            _tax_recent=_float(tax.amount_paid.sum(where=recent)), _tax_previous=_float(tax.amount_paid.sum(where=previous))
        )
    )

    si = t["social_insurance"]
    out.append(
        si.group_by("uscc").aggregate(
            social_insured_headcount=si.insured_headcount.argmax(si.period, where=_recent(si, w)),
            _si_previous=si.insured_headcount.argmax(si.period, where=_previous(si, w)),
        )
    )

    hf = t["housing_fund"]
    out.append(
        hf.group_by("uscc").aggregate(
            housing_fund_depositors=hf.depositor_count.argmax(hf.period, where=_recent(hf, w)),
            housing_fund_arrears_months=hf.arrears_months.max(where=_recent(hf, w)),
        )
    )

    up = t["utility_payment"]
    recent = _recent(up, w)
    out.append(
        up.group_by("uscc").aggregate(
            _ut_on_time=up.paid_on_time.cast("int64").sum(where=recent), _ut_bills=up.count(where=recent)
        )
    )

    cj = t["court_judgment"]
    out.append(cj.group_by("uscc").aggregate(court_defendant_cases_3y=cj.count(where=_defendant_3y(cj, w))))

    for item, code in (
        ("dishonest_debtor", "dishonest_debtor_listed"),
        ("serious_dishonesty", "serious_dishonesty_listed"),
        ("abnormal_operation", "abnormal_operation_listed"),
    ):
        lt = t[item]
        out.append(lt.group_by("uscc").aggregate(**{code: _listed(lt, w).cast("int64").max()}))

    pen = t["admin_penalty"]
    decided = _decided(pen, w)
    rank = pen.severity.cases(*SEVERITY_RANK.items(), else_=0)
    out.append(
        pen.group_by("uscc").aggregate(
            penalty_count=pen.count(where=decided),
            penalty_max_severity=rank.max(where=decided),
            _pen_latest=pen.event_date.max(where=decided),
        )
    )

    cc = t["customs_credit"]
    out.append(cc.group_by("uscc").aggregate(customs_credit_grade=cc.grade.argmax(cc.graded_on)))

    cm = t["credit_commitment"]
    out.append(cm.group_by("uscc").aggregate(commitment_count=cm.count(), commitment_breaches=cm.count(where=_breached(cm, w))))

    ho = t["honour"]
    out.append(ho.group_by("uscc").aggregate(honour_count=ho.count(where=_honour_3y(ho, w))))

    ip = t["intellectual_property"]
    out.append(ip.group_by("uscc").aggregate(ip_count=ip.count(where=_granted(ip, w))))
    return out


def indicator_expr(tables: Mapping[str, ir.Table], as_of: date) -> ir.Table:
    """The indicator table: one row per registry subject in the snapshot (``uscc`` first, then one column
    per indicator in ``INDICATORS`` order), sorted by ``uscc``."""
    w = Window.of(as_of)
    subjects = tables["subjects"]
    joined = subjects.select("uscc", "established_on", "registered_capital")
    for agg in _aggregates(tables, w):
        # A left join keeps the right side's copy of the key as ``uscc_right``.
        joined = joined.left_join(agg, "uscc").drop("uscc_right")
    j = joined
    established = j.established_on.fill_null(j._reg_established)
    capital = _float(j.registered_capital).fill_null(j._reg_capital)
    recent_tax, previous_tax = j._tax_recent.fill_null(0.0), j._tax_previous.fill_null(0.0)
    values: dict[str, ir.Value] = {
        "years_in_business": ibis.ifelse(established.isnull(), ibis.null("float64"), _float(_days(w.day, established)) / 365.25),
        "registered_capital_wan": capital,
        "tax_credit_grade": j.tax_credit_grade,
        "tax_paid_12m_wan": ibis.ifelse(j._tax_recent.isnull() & j._tax_previous.isnull(), ibis.null("float64"), recent_tax),
        "tax_paid_trend": ibis.ifelse(previous_tax > 0, (recent_tax - previous_tax) / previous_tax, ibis.null("float64")),
        "social_insured_headcount": j.social_insured_headcount,
        "social_headcount_change": j.social_insured_headcount - j._si_previous,
        "housing_fund_depositors": j.housing_fund_depositors,
        "housing_fund_arrears_months": j.housing_fund_arrears_months,
        "utility_on_time_rate": ibis.ifelse(
            j._ut_bills.fill_null(0) > 0, _float(j._ut_on_time) / _float(j._ut_bills), ibis.null("float64")
        ),
        "court_defendant_cases_3y": j.court_defendant_cases_3y,
        "dishonest_debtor_listed": j.dishonest_debtor_listed,
        "serious_dishonesty_listed": j.serious_dishonesty_listed,
        "penalty_count": j.penalty_count,
        "penalty_max_severity": j.penalty_max_severity,
        "penalty_days_since_latest": ibis.ifelse(j._pen_latest.isnull(), ibis.null("int64"), _days(w.day, j._pen_latest)),
        "abnormal_operation_listed": j.abnormal_operation_listed,
        "customs_credit_grade": j.customs_credit_grade,
        "commitment_count": j.commitment_count,
        "commitment_breaches": j.commitment_breaches,
        "honour_count": j.honour_count,
        "ip_count": j.ip_count,
    }
    types = {
        IndicatorKind.NUMBER: "float64",
        IndicatorKind.COUNT: "int64",
        IndicatorKind.FLAG: "int64",
        IndicatorKind.INTEGER: "int64",
        IndicatorKind.CODE: "string",
    }
    columns: dict[str, ir.Value] = {}
    for d in INDICATORS:
        value = values[d.code].cast(types[d.kind])
        if d.kind in (IndicatorKind.COUNT, IndicatorKind.FLAG):
            value = value.fill_null(0)
        columns[d.code] = value
    return j.select(uscc=j.uscc, **columns).order_by("uscc")


def open_tables(con: Any, snapshot: Snapshot) -> dict[str, ir.Table]:
    """The snapshot's Parquet files as tables of an Ibis connection (DuckDB or PySpark)."""
    tables = {"subjects": con.read_parquet(str(snapshot.table_path("subjects")), table_name=f"s_{snapshot.id.hex}_subjects")}
    for item in SNAPSHOT_ITEMS:
        tables[item] = con.read_parquet(str(snapshot.table_path(item)), table_name=f"s_{snapshot.id.hex}_{item}")
    return tables


def duckdb_connection(threads: int | None = None) -> Any:
    """An in-process DuckDB connection (all cores unless ``threads`` says otherwise)."""
    return ibis.duckdb.connect(threads=threads) if threads else ibis.duckdb.connect()


def compute_indicators(snapshot: Snapshot, *, con: Any | None = None) -> pa.Table:
    """The indicator table of a snapshot on DuckDB (or on ``con``, any Ibis connection), as Arrow."""
    with quiet_ibis():
        con = con if con is not None else duckdb_connection()
        result = con.to_pyarrow(indicator_expr(open_tables(con, snapshot), snapshot.as_of))
    return conform(result)


def conform(table: pa.Table) -> pa.Table:
    """Cast an engine's result to the canonical indicator schema (engines differ in nullability flags)."""
    codes = [d.code for d in INDICATORS]
    schema = pa.schema([pa.field("uscc", pa.string()), *indicator_schema(codes)])
    return pa.Table.from_arrays([table.column(n).cast(schema.field(n).type) for n in schema.names], schema=schema)


def evidence(snapshot: Snapshot, uscc: str, *, con: Any | None = None) -> dict[str, list[str]]:
    """Indicator code → ids of the records that count for it, for one subject (the trace behind each point)."""
    out: dict[str, list[str]] = {}
    with quiet_ibis():
        con = con if con is not None else duckdb_connection(threads=1)
        tables = open_tables(con, snapshot)
        w = Window.of(snapshot.as_of)
        for code, (item, pred) in _FILTERS.items():
            t = tables[item]
            rows = con.to_pyarrow(t.filter((t.uscc == uscc) & pred(t, w)).select("record_id").order_by("record_id"))
            out[code] = [str(v) for v in rows.column("record_id").to_pylist()]
    return out


def indicator_filters() -> Mapping[str, tuple[str, Pred]]:
    """Indicator code → (catalog item, record filter); every indicator has one (a test checks)."""
    return _FILTERS


__all__ = [
    "EngineName",
    "Window",
    "compute_indicators",
    "conform",
    "duckdb_connection",
    "evidence",
    "indicator_expr",
    "indicator_filters",
    "open_tables",
]
