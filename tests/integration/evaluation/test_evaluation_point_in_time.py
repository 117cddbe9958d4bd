"""Point in time: an evaluation as of D sees only records received by the end of D (CST), still published on D,
not repaired; and the version of a record current at D."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.evaluation.evaluation_data import add_history, add_record, add_subject, penalty
from xinyidai.db import Database
from xinyidai.evaluation.engine import compute_indicators
from xinyidai.evaluation.kernel import score_batch
from xinyidai.evaluation.rules import default_rules
from xinyidai.evaluation.snapshot import cut_instant, write_snapshot

AS_OF = date(2026, 6, 30)
CUT = cut_instant(AS_OF)
_numbers = itertools.count(50_000)
DB_SETTINGS = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _evaluate(db: Database, tmp: Path, uscc: str) -> tuple[dict[str, object], dict[str, object]]:
    snap = write_snapshot(db, as_of=AS_OF, directory=tmp, subjects=[uscc])
    indicators = compute_indicators(snap)
    result = score_batch(indicators, rules=default_rules())
    return indicators.to_pylist()[0], result.to_pylist()[0]


def test_the_cut_is_the_end_of_the_day_in_china_standard_time() -> None:
    assert datetime(2026, 6, 30, 16, tzinfo=UTC) == CUT


late_records = st.sampled_from(["penalty", "tax", "dishonest", "grade"])


@DB_SETTINGS
@given(
    kind=late_records,
    after=st.integers(min_value=0, max_value=400 * 86_400),
    base_penalties=st.integers(0, 3),
)
def test_a_record_received_after_the_day_never_changes_that_days_evaluation(
    db: Database, tmp_path: Path, kind: str, after: int, base_penalties: int
) -> None:
    with db.transaction() as s:
        uscc = add_subject(s, next(_numbers))
        for k in range(base_penalties):
            penalty(s, uscc, decided=AS_OF - timedelta(days=30 * (k + 1)), received_at=CUT - timedelta(days=10))
    before = _evaluate(db, tmp_path, uscc)
    late = CUT + timedelta(seconds=after)
    with db.transaction() as s:
        if kind == "penalty":
            penalty(s, uscc, decided=AS_OF - timedelta(days=3), received_at=late, severity="serious")
        elif kind == "tax":
            add_record(s, "tax_payment", uscc, {"period": "2026-06", "tax_type": "增值税", "amount_paid": "9",
                                                "declared_on": "2026-06-15"}, received_at=late)  # fmt: skip
        elif kind == "dishonest":
            add_record(s, "dishonest_debtor", uscc, {"case_no": "x", "listed_on": "2026-06-01"}, received_at=late)
        else:
            add_record(s, "tax_credit_grade", uscc, {"year": 2025, "grade": "D", "evaluated_on": "2026-04-01"}, received_at=late)
    assert _evaluate(db, tmp_path, uscc) == before


@DB_SETTINGS
@given(
    repaired=st.booleans(),
    ended_days_before=st.integers(1, 2000),
    severity=st.sampled_from(["minor", "general", "serious", "serious_specific"]),
)
def test_a_repaired_or_expired_penalty_never_counts(
    db: Database, tmp_path: Path, repaired: bool, ended_days_before: int, severity: str
) -> None:
    with db.transaction() as s:
        uscc = add_subject(s, next(_numbers))
        decided = AS_OF - timedelta(days=ended_days_before + 30)
        if repaired:
            penalty(s, uscc, decided=decided, received_at=CUT - timedelta(days=40), severity=severity, repaired=True,
                    publication_end=AS_OF + timedelta(days=ended_days_before))  # fmt: skip
        else:
            penalty(s, uscc, decided=decided, received_at=CUT - timedelta(days=40), severity=severity,
                    publication_end=AS_OF - timedelta(days=ended_days_before))  # fmt: skip
    indicators, evaluation = _evaluate(db, tmp_path, uscc)
    assert indicators["penalty_count"] == 0
    assert indicators["penalty_max_severity"] == 0
    assert indicators["penalty_days_since_latest"] is None
    assert "admin_penalty" not in str(evaluation["reasons"])


def test_a_penalty_still_published_on_the_day_counts(db: Database, tmp_path: Path) -> None:
    with db.transaction() as s:
        uscc = add_subject(s, next(_numbers))
        penalty(s, uscc, decided=AS_OF - timedelta(days=5), received_at=CUT - timedelta(microseconds=1), publication_end=AS_OF)
    indicators, _ = _evaluate(db, tmp_path, uscc)
    assert indicators["penalty_count"] == 1


def test_the_version_current_at_the_day_is_the_one_read(db: Database, tmp_path: Path) -> None:
    with db.transaction() as s:
        uscc = add_subject(s, next(_numbers))
        # Grade C delivered before D, corrected to A after D: as of D the grade is C.
        rid = add_record(s, "tax_credit_grade", uscc, {"year": 2025, "grade": "A", "evaluated_on": "2026-04-01"},
                         received_at=CUT + timedelta(days=2), version=2)  # fmt: skip
        add_history(s, rid, "tax_credit_grade", uscc, {"year": 2025, "grade": "C", "evaluated_on": "2026-04-01"}, version=1,
                    received_at=CUT - timedelta(days=20), superseded_at=CUT + timedelta(days=2))  # fmt: skip
    indicators, _ = _evaluate(db, tmp_path, uscc)
    assert indicators["tax_credit_grade"] == "C"
    later = write_snapshot(db, as_of=AS_OF + timedelta(days=5), directory=tmp_path, subjects=[uscc])
    assert compute_indicators(later).to_pylist()[0]["tax_credit_grade"] == "A"
