"""The same batch on Apache Spark: the Ibis indicator expressions compiled for PySpark, the same kernel via ``mapInArrow``.

Nothing here restates an indicator or a rule: ``engine.indicator_expr`` builds the expression and
``kernel.score_batch`` scores each Arrow batch of the indicator DataFrame, so an evaluation on Spark is
the evaluation on DuckDB, computed elsewhere. Spark is optional (``pip install .[spark]`` and Java 17).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa

from xinyidai.evaluation.engine import conform, indicator_expr, open_tables, quiet_ibis
from xinyidai.evaluation.kernel import EVALUATION_SCHEMA, score_batch
from xinyidai.evaluation.rules import RuleTable

if TYPE_CHECKING:
    from xinyidai.evaluation.snapshot import Snapshot
    from xinyidai.scorecard import Scorecard


def java_available() -> bool:
    """Whether a ``java`` executable is on PATH (Spark needs Java 17)."""
    return shutil.which("java") is not None or bool(os.environ.get("JAVA_HOME"))


def spark_session(master: str = "local[2]", *, shuffle_partitions: int = 4) -> Any:
    """A Spark session for evaluation: UI off, workers on this interpreter, few shuffle partitions."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master(master)
        .appName("xinyidai-evaluation")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def _scorer(rules: RuleTable, card: Scorecard | None) -> Any:
    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            table = score_batch(pa.Table.from_batches([batch]), rules=rules, card=card)
            yield from table.to_batches()

    return score


def evaluate_on_spark(
    snapshot: Snapshot, *, rules: RuleTable, card: Scorecard | None = None, session: Any | None = None
) -> tuple[pa.Table, pa.Table, dict[str, float]]:
    """Indicators and evaluations of a snapshot computed on Spark (both sorted by ``uscc``), and stage seconds."""
    session = session if session is not None else spark_session()
    with quiet_ibis():
        con = ibis.pyspark.connect(session)
        t0 = time.perf_counter()
        expr = indicator_expr(open_tables(con, snapshot), snapshot.as_of)
        frame = session.sql(con.compile(expr)).cache()
        indicators = conform(frame.toArrow()).sort_by("uscc")
        t1 = time.perf_counter()
        spark_schema = _spark_schema()
        scored = frame.mapInArrow(_scorer(rules, card), spark_schema)
        evaluations = pa.Table.from_batches(scored.toArrow().to_batches(), schema=None)
        t2 = time.perf_counter()
        frame.unpersist()
    evaluations = evaluations.cast(EVALUATION_SCHEMA).sort_by("uscc")
    return indicators, evaluations, {"indicators": t1 - t0, "scoring": t2 - t1}


def _spark_schema() -> Any:
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    types = {pa.string(): StringType(), pa.float64(): DoubleType()}
    return StructType([StructField(f.name, types[f.type], True) for f in EVALUATION_SCHEMA])
