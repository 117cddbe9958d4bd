"""Batch re-evaluation: snapshot → indicators → score → load a new ``evaluation_current`` and swap it in.

The swap is one transaction: a new table with the same definition is loaded in bulk (multi-row ``INSERT``
statements on SQLite, ``COPY`` on PostgreSQL), the old table is dropped, the new one renamed
and its indexes recreated under the naming-convention names (so ``alembic check`` stays clean). The run
record, its audit event and the ``evaluation.push`` job are written in the same transaction: a crash at
any point leaves the previous evaluations in place, and a push is enqueued exactly when results exist.
"""

from __future__ import annotations

import io
import re
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.orm import Session

from xinyidai import audit, job
from xinyidai.db import Database
from xinyidai.evaluation.engine import EngineName, compute_indicators
from xinyidai.evaluation.indicators import INDICATOR_SET_VERSION
from xinyidai.evaluation.kernel import expand_reasons, pack_indicators, score_batch, unpack_indicators
from xinyidai.evaluation.rules import GRADES, RuleTable, default_rules
from xinyidai.evaluation.runs_tables import CURRENT_INDEXES, EvaluationRun
from xinyidai.evaluation.snapshot import Snapshot, write_snapshot
from xinyidai.http.container import Container
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock, today
from xinyidai.kernel.errors import InvalidInput
from xinyidai.kernel.ids import new_id

if TYPE_CHECKING:
    from xinyidai.scorecard import Scorecard

#: Job kind B2's push handler registers; enqueued with ``{"run_id": …}`` when a batch completes.
PUSH_JOB: Final = "evaluation.push"
#: Bound parameters per multi-row ``INSERT`` on SQLite (its historical limit; recent builds allow 32766).
SQLITE_PARAMETERS: Final = 999
#: Rows converted to Python values at a time during the SQLite load (while the previous slice is inserted).
LOAD_SLICE: Final = 50_000
#: SQLite page cache during the load (KiB), as the ingest pipeline sizes it for a bulk write.
SQLITE_CACHE_KIB: Final = 524_288
#: Progress callback: (stage name, fraction of the run done).
Progress = Callable[[str, float], None]


class EngineUnknown(InvalidInput):
    """An evaluation engine other than ``duckdb`` or ``spark`` was asked for."""

    code = "evaluation_engine_unknown"
    title = "未知的评价计算引擎"


@dataclass(frozen=True, slots=True)
class Models:
    """The models a run scores with, and their registry version ids (None: the shipped default)."""

    rules: RuleTable
    rules_version_id: uuid.UUID | None = None
    card: Scorecard | None = None
    card_version_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a run did: ids, date, counts, grade distribution and seconds per stage."""

    run_id: uuid.UUID
    snapshot_id: uuid.UUID
    as_of: date
    engine: str
    enterprises: int
    records: int
    grades: dict[str, int]
    stage_seconds: dict[str, float]
    rules_version: str
    rules_version_id: uuid.UUID | None = None
    card_version_id: uuid.UUID | None = None
    push_job_id: uuid.UUID | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (the CLI's output)."""
        return {
            "run_id": str(self.run_id),
            "snapshot_id": str(self.snapshot_id),
            "as_of": self.as_of.isoformat(),
            "engine": self.engine,
            "enterprises": self.enterprises,
            "records": self.records,
            "grades": self.grades,
            "stage_seconds": self.stage_seconds,
            "rules_version": self.rules_version,
            "rules_version_id": str(self.rules_version_id) if self.rules_version_id else None,
            "card_version_id": str(self.card_version_id) if self.card_version_id else None,
        }


def load_models(session: Session) -> Models:
    """The approved champion models from the registry (``evaluation.models``), else the default rule table.

    Imported lazily: the registry is another module of this domain that may be absent in a cut-down build.
    """
    try:
        from xinyidai.evaluation.models import active_models
    except ImportError:
        return Models(rules=default_rules())
    active = active_models(session)
    return Models(active.rules, active.rules_version_id, active.card, active.card_version_id)


def grade_counts(evaluations: pa.Table) -> dict[str, int]:
    """Enterprises per grade (every grade present, zeros included)."""
    counts = dict.fromkeys(GRADES, 0)
    for row in pc.value_counts(evaluations.column("grade")).to_pylist():
        counts[str(row["values"])] = int(row["counts"])
    return counts


def _sqlite_time(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _hex(value: uuid.UUID | None) -> str:
    return f"'{value.hex}'" if value is not None else "NULL"


_VARYING: Final = ("uscc", "rule_score", "grade", "card_score", "pd", "reasons", "indicators")


def result_frame(evaluations: pa.Table, indicators: pa.Table) -> pl.DataFrame:
    """The varying columns of ``evaluation_current`` rows (the rest are the run's constants)."""
    if not evaluations.column("uscc").equals(pc.cast(indicators.column("uscc"), pa.string())):
        raise ValueError("evaluations and indicators must be in the same row order")
    table = evaluations.select(["uscc", "rule_score", "grade", "card_score", "pd", "reasons"]).append_column(
        "indicators", pack_indicators(indicators)
    )
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


@dataclass(frozen=True, slots=True)
class _Constants:
    run_id: uuid.UUID
    snapshot_id: uuid.UUID
    as_of: date
    rules_version_id: uuid.UUID | None
    card_version_id: uuid.UUID | None
    evaluated_at: datetime


def _sqlite_insert(table: str, c: _Constants, *, upsert: bool, nulls: Collection[str] = (), rows: int = 1) -> str:
    """The INSERT of ``rows`` rows: the varying columns as parameters (those in ``nulls`` as literal NULLs) and the
    run's constants as literals."""
    constants = {
        "run_id": _hex(c.run_id),
        "snapshot_id": _hex(c.snapshot_id),
        "as_of": f"'{c.as_of.isoformat()}'",
        "rules_version_id": _hex(c.rules_version_id),
        "card_version_id": _hex(c.card_version_id),
        "evaluated_at": f"'{_sqlite_time(c.evaluated_at)}'",
    }
    columns = (*_VARYING, *constants)
    values = ", ".join(["NULL" if col in nulls else "?" for col in _VARYING] + list(constants.values()))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([f"({values})"] * rows)
    if upsert:
        sql += " ON CONFLICT (uscc) DO UPDATE SET " + ", ".join(f"{col} = excluded.{col}" for col in columns if col != "uscc")
    return sql


def _pg_frame(frame: pl.DataFrame, c: _Constants) -> pl.DataFrame:
    return frame.with_columns(
        pl.lit(str(c.run_id)).alias("run_id"),
        pl.lit(str(c.snapshot_id)).alias("snapshot_id"),
        pl.lit(c.as_of.isoformat()).alias("as_of"),
        pl.lit(str(c.rules_version_id) if c.rules_version_id else None, pl.String).alias("rules_version_id"),
        pl.lit(str(c.card_version_id) if c.card_version_id else None, pl.String).alias("card_version_id"),
        pl.lit(c.evaluated_at.astimezone(UTC).isoformat()).alias("evaluated_at"),
    )


def _tuples(frame: pl.DataFrame) -> Iterator[tuple[Any, ...]]:
    """Rows as plain tuples, column by column (cheaper than ``iter_rows``)."""
    return zip(*(frame.get_column(c).to_list() for c in frame.columns), strict=True)


def _flat(frame: pl.DataFrame) -> list[Any]:
    """Every value of the frame in one list, row after row (each column converted at once, then interleaved)."""
    width = frame.width
    values: list[Any] = [None] * (frame.height * width)
    for j, name in enumerate(frame.columns):
        values[j::width] = frame.get_column(name).to_list()
    return values


def _sqlite_load(raw: Any, frame: pl.DataFrame, c: _Constants, table: str, nulls: Collection[str]) -> None:
    """Insert the rows of ``frame`` with multi-row ``INSERT`` statements of as many rows as
    ``SQLITE_PARAMETERS`` allows: one statement step per batch of rows rather than one per row (an
    ``executemany`` of 5-column tuples costs about twice as much CPU per row).

    The next slice of rows is converted to Python values on a second thread while SQLite inserts the
    current one (SQLite runs a statement without the GIL).
    """
    width = frame.width
    per = max(1, SQLITE_PARAMETERS // width)
    full = _sqlite_insert(table, c, upsert=False, nulls=nulls, rows=per)
    step = max(per, LOAD_SLICE // per * per)
    with ThreadPoolExecutor(1, thread_name_prefix="load") as pool:
        pending = pool.submit(_flat, frame.slice(0, step))
        for start in range(0, frame.height, step):
            values = pending.result()
            if start + step < frame.height:
                pending = pool.submit(_flat, frame.slice(start + step, step))
            rows = len(values) // width
            whole = rows // per * per
            for at in range(0, whole * width, per * width):
                raw.execute(full, values[at : at + per * width])
            if whole < rows:
                raw.execute(_sqlite_insert(table, c, upsert=False, nulls=nulls, rows=rows - whole), values[whole * width :])


def _pg_copy(raw: Any, table: str, frame: pl.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False)
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(buffer.getbuffer())


def swap_current(session: Session, frame: pl.DataFrame, c: _Constants) -> None:
    """Replace ``evaluation_current`` by a new table holding ``frame`` (in the session's transaction)."""
    raw: Any = session.connection().connection.driver_connection
    new = "evaluation_current_new"
    if session.get_bind().dialect.name == "sqlite":
        ddl = raw.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'evaluation_current'").fetchone()[0]
        create = re.sub(r'^CREATE TABLE\s+"?evaluation_current"?', f"CREATE TABLE {new}", ddl, count=1)
        raw.execute(f"DROP TABLE IF EXISTS {new}")
        raw.execute(create)
        # Columns null in every row (card score and PD without a card) are written as literals, not bound per row.
        nulls = [col for col in ("card_score", "pd") if frame.get_column(col).null_count() == frame.height]
        ordered = frame.sort("uscc").drop(nulls)
        # The load is one transaction: pages that do not fit the cache spill to the WAL and are read back.
        cache_before = int(raw.execute("PRAGMA cache_size").fetchone()[0])
        # Dropping the old table frees its pages. SQLite built with SECURE_DELETE (Debian's is) would overwrite
        # every one with zeros, write them all to the WAL and checkpoint them: "fast" overwrites deleted content
        # only where that costs no extra I/O (ADR 0015).
        secure_before = int(raw.execute("PRAGMA secure_delete").fetchone()[0])
        raw.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        raw.execute("PRAGMA secure_delete=FAST")
        try:
            _sqlite_load(raw, ordered, c, new, nulls)
            raw.execute("DROP TABLE evaluation_current")
            raw.execute(f"ALTER TABLE {new} RENAME TO evaluation_current")
            for name, columns in CURRENT_INDEXES:
                raw.execute(f"CREATE INDEX {name} ON evaluation_current ({', '.join(columns)})")
        finally:
            raw.execute(f"PRAGMA cache_size={cache_before}")
            raw.execute(f"PRAGMA secure_delete={secure_before}")
        return
    with raw.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {new}")
        cur.execute(f"CREATE TABLE {new} (LIKE evaluation_current INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    _pg_copy(raw, new, _pg_frame(frame, c))
    with raw.cursor() as cur:
        cur.execute("DROP TABLE evaluation_current")
        cur.execute(f"ALTER TABLE {new} RENAME TO evaluation_current")
        cur.execute("ALTER TABLE evaluation_current ADD CONSTRAINT pk_evaluation_current PRIMARY KEY (uscc)")
        for name, columns in CURRENT_INDEXES:
            cur.execute(f"CREATE INDEX {name} ON evaluation_current ({', '.join(columns)})")


def upsert_current(session: Session, frame: pl.DataFrame, c: _Constants) -> None:
    """Insert or replace the rows of ``frame`` in ``evaluation_current`` (the incremental path)."""
    raw: Any = session.connection().connection.driver_connection
    if session.get_bind().dialect.name == "sqlite":
        raw.executemany(_sqlite_insert("evaluation_current", c, upsert=True), _tuples(frame))
        return
    staged = _pg_frame(frame, c)
    columns = staged.columns
    with raw.cursor() as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS evaluation_stage (LIKE evaluation_current) ON COMMIT DROP")
        cur.execute("TRUNCATE evaluation_stage")
    _pg_copy(raw, "evaluation_stage", staged)
    assignments = ", ".join(f"{col} = excluded.{col}" for col in columns if col != "uscc")
    with raw.cursor() as cur:
        cur.execute(
            f"INSERT INTO evaluation_current ({', '.join(columns)}) SELECT {', '.join(columns)} FROM evaluation_stage "
            f"ON CONFLICT (uscc) DO UPDATE SET {assignments}"
        )


def _start_run(db: Database, *, mode: str, as_of: date, engine: str, actor: ActorRef, clock: Clock) -> uuid.UUID:
    run_id = new_id()
    with db.transaction() as s:
        s.add(
            EvaluationRun(
                id=run_id,
                mode=mode,
                as_of=as_of,
                snapshot_id=uuid.UUID(int=0),
                engine=engine,
                status="running",
                rules_version="",
                indicator_set_version=INDICATOR_SET_VERSION,
                enterprises=0,
                records=0,
                grades={},
                stage_seconds={},
                started_at=clock.now(),
                actor=actor.label[:200],
            )
        )
    return run_id


def _fail_run(db: Database, run_id: uuid.UUID, clock: Clock) -> None:
    with db.transaction() as s:
        s.execute(sa.update(EvaluationRun).where(EvaluationRun.id == run_id).values(status="failed", finished_at=clock.now()))


def _finish_run(
    session: Session,
    run_id: uuid.UUID,
    *,
    snapshot: Snapshot,
    models: Models,
    enterprises: int,
    grades: dict[str, int],
    seconds: dict[str, float],
    clock: Clock,
) -> None:
    session.execute(
        sa.update(EvaluationRun)
        .where(EvaluationRun.id == run_id)
        .values(
            status="complete",
            snapshot_id=snapshot.id,
            rules_version_id=models.rules_version_id,
            card_version_id=models.card_version_id,
            rules_version=models.rules.version[:64],
            enterprises=enterprises,
            records=snapshot.records,
            grades=grades,
            stage_seconds=seconds,
            finished_at=clock.now(),
        )
    )


def snapshot_directory(var_dir: Path) -> Path:
    """Where snapshots are written under the node's var directory."""
    return var_dir / "evaluation" / "snapshots"


def run_evaluation(
    container_or_db: Container | Database,
    *,
    actor: ActorRef,
    as_of: date | None = None,
    engine: EngineName = "duckdb",
    clock: Clock | None = None,
    directory: Path | None = None,
    progress: Progress | None = None,
    fail_after: str | None = None,
) -> RunSummary:
    """Re-evaluate every enterprise as of ``as_of`` (default: today in China Standard Time) and swap the results in.

    With a ``Container`` the database, clock and snapshot directory come from it; with a ``Database``,
    ``clock`` and ``directory`` must be given. ``fail_after`` names a stage after which to fail (for tests
    of crash safety only).
    """
    if engine not in ("duckdb", "spark"):
        raise EngineUnknown(f"未知的评价计算引擎：{engine}")
    if isinstance(container_or_db, Container):
        db, clock = container_or_db.db, clock or container_or_db.clock
        directory = directory or snapshot_directory(container_or_db.settings.var_dir)
    else:
        db = container_or_db
        if clock is None or directory is None:
            raise ValueError("run_evaluation on a Database needs clock and directory")
    as_of = as_of or today(clock)
    step = progress or (lambda _stage, _done: None)
    run_id = _start_run(db, mode="batch", as_of=as_of, engine=engine, actor=actor, clock=clock)
    seconds: dict[str, float] = {}
    try:
        with db.transaction() as s:
            models = load_models(s)
        step("snapshot", 0.0)
        t0 = time.perf_counter()
        snapshot = write_snapshot(db, as_of=as_of, directory=directory, clock=clock)
        seconds["snapshot"] = time.perf_counter() - t0
        step("indicators", 0.4)
        t0 = time.perf_counter()
        if engine == "spark":
            from xinyidai.evaluation.spark import evaluate_on_spark

            indicators, evaluations, spark_seconds = evaluate_on_spark(snapshot, rules=models.rules, card=models.card)
            seconds["indicators"] = spark_seconds["indicators"]
            seconds["scoring"] = spark_seconds["scoring"]
        else:
            indicators = compute_indicators(snapshot)
            seconds["indicators"] = time.perf_counter() - t0
            step("scoring", 0.6)
            t0 = time.perf_counter()
            evaluations = score_batch(indicators, rules=models.rules, card=models.card)
            seconds["scoring"] = time.perf_counter() - t0
        if fail_after == "scoring":
            raise RuntimeError("failure injected after scoring")
        step("write_back", 0.7)
        t0 = time.perf_counter()
        frame = result_frame(evaluations, indicators)
        grades = grade_counts(evaluations)
        constants = _Constants(run_id, snapshot.id, as_of, models.rules_version_id, models.card_version_id, clock.now())
        with db.transaction() as s:
            swap_current(s, frame, constants)
            if fail_after == "swap":
                raise RuntimeError("failure injected after the swap, before commit")
            seconds["write_back"] = time.perf_counter() - t0
            seconds = {k: round(v, 4) for k, v in seconds.items()}
            _finish_run(
                s, run_id, snapshot=snapshot, models=models, enterprises=frame.height, grades=grades, seconds=seconds, clock=clock
            )
            summary = RunSummary(
                run_id=run_id,
                snapshot_id=snapshot.id,
                as_of=as_of,
                engine=engine,
                enterprises=frame.height,
                records=snapshot.records,
                grades=grades,
                stage_seconds=seconds,
                rules_version=models.rules.version,
                rules_version_id=models.rules_version_id,
                card_version_id=models.card_version_id,
            )
            audit.record(
                s,
                actor=actor,
                action="evaluation.run.complete",
                target_type="evaluation_run",
                target_id=run_id,
                data=summary.to_dict(),
                clock=clock,
            )
            push_id = job.enqueue(
                s, kind=PUSH_JOB, payload={"run_id": str(run_id)}, dedupe_key=f"{PUSH_JOB}:{run_id}", clock=clock
            )
        step("done", 1.0)
    except BaseException:
        _fail_run(db, run_id, clock)
        raise
    return RunSummary(**{**_fields(summary), "push_job_id": push_id})


def _fields(summary: RunSummary) -> dict[str, Any]:
    return {name: getattr(summary, name) for name in RunSummary.__slots__}


def current_count(db: Database) -> int:
    """How many enterprises have a current evaluation."""
    with db.transaction() as s:
        return int(s.execute(sa.text("SELECT count(*) FROM evaluation_current")).scalar_one())


def read_current(db: Database, uscc: str) -> dict[str, Any] | None:
    """The current evaluation of one enterprise as plain data (reasons expanded, indicators unpacked), or None."""
    with db.transaction() as s:
        row = s.execute(sa.text("SELECT * FROM evaluation_current WHERE uscc = :u"), {"u": uscc}).mappings().first()
        if row is None:
            return None
        out = dict(row)
        out["reasons"] = stored_reasons(
            s, out["reasons"], rules_version_id=out["rules_version_id"], card_version_id=out["card_version_id"]
        )
    out["indicators"] = unpack_indicators(out["indicators"])
    return out


_MODEL_CACHE: dict[tuple[str, str], Any] = {}


def _model_version(session: Session, version_id: Any) -> Any:
    """The rule table or scorecard of a registry version (parsed once per version and content digest)."""
    from xinyidai.evaluation.model_tables import EvaluationModelVersion
    from xinyidai.scorecard import Scorecard

    vid = version_id if isinstance(version_id, uuid.UUID) else uuid.UUID(str(version_id))
    found = session.execute(
        sa.select(EvaluationModelVersion.family, EvaluationModelVersion.content_sha256).where(EvaluationModelVersion.id == vid)
    ).first()
    if found is None:
        return None
    key = (vid.hex, str(found[1]))
    if key not in _MODEL_CACHE:
        content: dict[str, Any] = session.execute(
            sa.select(EvaluationModelVersion.content).where(EvaluationModelVersion.id == vid)
        ).scalar_one()
        _MODEL_CACHE[key] = RuleTable.from_dict(content) if found[0] == "rules" else Scorecard.from_dict(content)
    return _MODEL_CACHE[key]


def stored_reasons(session: Session, stored: str | None, *, rules_version_id: Any, card_version_id: Any) -> list[dict[str, Any]]:
    """The full reasons of an ``evaluation_current`` row, expanded from its compact codes with the rule table and
    card versions the row names (the shipped default table when it names none)."""
    rules = _model_version(session, rules_version_id) if rules_version_id else None
    card = _model_version(session, card_version_id) if card_version_id else None
    return expand_reasons(
        stored,
        rules if isinstance(rules, RuleTable) else default_rules(),
        None if card is None or isinstance(card, RuleTable) else card,
    )


def row_reasons(row: Any) -> list[dict[str, Any]]:
    """``stored_reasons`` of an ``EvaluationCurrent`` object, read in the session it belongs to."""
    session = sa.orm.object_session(row)
    if session is None:
        raise ValueError("row_reasons needs a row attached to a session")
    return stored_reasons(session, row.reasons, rules_version_id=row.rules_version_id, card_version_id=row.card_version_id)
