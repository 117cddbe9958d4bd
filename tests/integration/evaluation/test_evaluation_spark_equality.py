"""The batch on the embedded engine (DuckDB) and on Spark over the same snapshot gives identical evaluations.

Needs Java 17 for PySpark; where ``java`` is missing the test is skipped with a message that says so.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.evaluation.evaluation_data import add_record, add_subject, penalty
from xinyidai.db import Database
from xinyidai.evaluation.engine import compute_indicators
from xinyidai.evaluation.kernel import score_batch
from xinyidai.evaluation.rules import default_rules
from xinyidai.evaluation.snapshot import write_snapshot
from xinyidai.evaluation.spark import evaluate_on_spark, java_available, spark_session

AS_OF = date(2026, 6, 30)
RECEIVED = datetime(2026, 1, 10, tzinfo=UTC)

pytestmark = [
    pytest.mark.skipif(not java_available(), reason="Java (17) is not installed: the Spark equality test needs it"),
    # py4j leaves its gateway sockets to the garbage collector; that is PySpark's, not ours.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local[2] Spark session for the module, on this interpreter, UI off."""
    assert sys.executable
    session = spark_session("local[2]", shuffle_partitions=1)
    yield session
    session.stop()


def _populate(db: Database, n: int) -> None:
    rng = random.Random(5)
    grades = ["A", "B", "M", "C", "D"]
    with db.transaction() as s:
        for i in range(n):
            uscc = add_subject(s, 1000 + i, established_on=date(2000 + rng.randrange(26), 1 + rng.randrange(12), 1),
                               capital=str(rng.choice([50, 500, 1234.5])) if rng.random() > 0.2 else None)  # fmt: skip
            if rng.random() < 0.7:
                add_record(s, "tax_credit_grade", uscc, {"year": 2025, "grade": rng.choice(grades), "evaluated_on": "2026-04-01"},
                           received_at=RECEIVED)  # fmt: skip
            for m in range(rng.randrange(0, 24)):
                period = f"{2024 + (m + 6) // 12}-{(m + 6) % 12 + 1:02d}"
                add_record(s, "tax_payment", uscc, {"period": period, "tax_type": "增值税",
                           "amount_paid": f"{rng.randrange(1, 10**6) / 1000:.3f}", "declared_on": f"{period}-15"},
                           received_at=RECEIVED)  # fmt: skip
                add_record(s, "utility_payment", uscc, {"utility": "electricity", "period": period, "amount_due": "1",
                           "amount_paid": "1", "paid_on_time": rng.choice(["true", "false"])}, received_at=RECEIVED)  # fmt: skip
                add_record(s, "social_insurance", uscc, {"period": period, "insured_headcount": rng.randrange(0, 50),
                           "contribution_amount": "1"}, received_at=RECEIVED)  # fmt: skip
            for _ in range(rng.randrange(0, 3)):
                decided = AS_OF - timedelta(days=rng.randrange(1, 900))
                penalty(s, uscc, decided=decided, received_at=RECEIVED, severity=rng.choice(["minor", "general", "serious"]))
            if rng.random() < 0.1:
                add_record(s, "dishonest_debtor", uscc, {"case_no": f"x{i}", "listed_on": "2026-01-01"}, received_at=RECEIVED)
            if rng.random() < 0.2:
                add_record(s, "abnormal_operation", uscc, {"reason": "未报年报", "listed_on": "2025-07-01",
                           "removed_on": rng.choice(["", "2026-01-01"])}, received_at=RECEIVED)  # fmt: skip
            if rng.random() < 0.3:
                grade = {"customs_code": "3501", "grade": "高级认证企业", "graded_on": "2024-01-01"}
                add_record(s, "customs_credit", uscc, grade, received_at=RECEIVED)
            if rng.random() < 0.3:
                add_record(s, "honour", uscc, {"title": "守合同重信用", "grantor": "市监局", "granted_on": "2025-01-01"},
                           received_at=RECEIVED)  # fmt: skip
            if rng.random() < 0.3:
                add_record(s, "court_judgment", uscc, {"case_no": f"c{i}", "party_role": rng.choice(["被告", "原告"]),
                           "judgment_date": "2025-02-02"}, received_at=RECEIVED)  # fmt: skip


def test_duckdb_and_spark_give_identical_evaluations(db: Database, tmp_path: Path, spark: Any) -> None:
    _populate(db, 60)
    snapshot = write_snapshot(db, as_of=AS_OF, directory=tmp_path)
    rules = default_rules()
    local_indicators = compute_indicators(snapshot)
    local = score_batch(local_indicators, rules=rules)
    spark_indicators, remote, _ = evaluate_on_spark(snapshot, rules=rules, session=spark)
    assert local_indicators.num_rows == 60
    assert spark_indicators.to_pylist() == local_indicators.to_pylist()
    assert remote.to_pylist() == local.to_pylist()
    assert len(set(local.column("grade").to_pylist())) >= 2  # the data exercises more than one grade
