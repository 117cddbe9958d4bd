"""Benchmark bulk delivery end to end (parse, validate, dedupe, store) against a raw bulk load; prints JSON.

Usage: python benchmarks/ingest.py --rows N [--db sqlite|postgresql|both] [--seed S] [--no-compare] [--stages]

A 行政处罚 CSV of N rows is generated (cached under the system temporary directory), then for each
database, each phase runs in a process of its own so that its peak RSS is its own:

- ``first``: the file into an empty record store (every row new);
- ``rerun``: the same file again (recognised by its SHA-256: nothing re-applied);
- ``compare``: the same rows in a file with other bytes (every row compared with the store, all unchanged);
- ``raw``: the same rows loaded raw — COPY on PostgreSQL, one-transaction ``executemany`` on SQLite — into
  a bare table with the same indexes as the record store (unique natural key, subject, batch, receipt time), from the same
  file.

- ``stages`` (with ``--stages``): the first run again into an empty store, single-threaded, with the CPU
  seconds of each stage per million rows (the client's; PostgreSQL's server process is not counted). The
  commit is a stage of its own (on SQLite: the WAL write of the page cache and the checkpoint that follows).

``ratio`` is first-run rows/s over raw rows/s: the raw load is the limit of the machine. ``cpu_seconds`` is
each phase's own process CPU (the figure that still means something on a shared machine). ``peak_mb`` is each
phase's own peak RSS (``VmHWM``, not ``ru_maxrss``, which a child inherits from its parent); on PostgreSQL,
``server_cpu_seconds`` is the CPU the phase's server backends used (local server only; the COPY's parsing,
JSONB, index and WAL work), which ``cpu_seconds`` (the client's) leaves out. PostgreSQL is
``XINYIDAI_BENCH_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/xinyidai_bench``), a
database of the benchmark's own: dropped and created afresh at every run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

PG_ENV = "XINYIDAI_BENCH_POSTGRES_URL"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/xinyidai_bench"
TARGETS = {"ratio": 0.6, "first_rows_per_s": 50_000, "rerun_rows_per_s": 150_000, "peak_mb": 1024}
_INGEST_TABLES = ("ingest_reject", "ingest_record_version", "ingest_record", "ingest_batch", "ingest_source")


def _peak_mb() -> float:
    """This process's own peak RSS since it started (MiB).

    On Linux ``ru_maxrss`` of a child also counts the parent's peak: ``fork`` copies the parent's memory
    high-water mark and ``exec`` keeps it, so every phase reported the generator's peak (the parent that
    wrote the CSV). ``VmHWM`` in ``/proc/self/status`` is the high-water mark of the memory image the phase
    executes in, which ``exec`` made afresh.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1 << 20) if sys.platform == "darwin" else peak / 1024, 1)


def _server_cpu(url: str) -> float | None:
    """CPU seconds used so far by the local PostgreSQL backends serving ``url``'s database (None: not
    PostgreSQL, or not on this machine). Read before the phase's engine is disposed, while its backends
    live: the database is the benchmark's own, so its backends are this phase's."""
    import sqlalchemy as sa

    parsed = sa.make_url(url)
    if not parsed.drivername.startswith("postgresql") or not Path("/proc/self/stat").exists():
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    found = False
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not cmdline.startswith("postgres: ") or f" {parsed.database} " not in cmdline:
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        found = True
    return round(total / ticks, 2) if found else None


# --- the file ---------------------------------------------------------------------------------------


def make_file(rows: int, seed: int, directory: Path) -> Path:
    """A 行政处罚 CSV of ``rows`` rows: generator penalties as templates, each row a new decision of a new
    subject (document number and USCC unique), written column-wise."""
    import polars as pl

    from xinyidai.demodata import generate
    from xinyidai.kernel.uscc import ALPHABET, make_uscc

    path = directory / f"admin_penalty-{rows}-{seed}.csv"
    if path.exists():
        return path
    templates_dir = directory / f"templates-{seed}"
    if not (templates_dir / "admin_penalty.csv").exists():
        generate(enterprises=30_000, seed=seed, out_dir=templates_dir)
    templates = pl.read_csv(templates_dir / "admin_penalty.csv", infer_schema=False)
    count = templates.height
    index = pl.int_range(0, rows, eager=True)
    frame = templates[(index % count).to_list()]
    regions = templates["CF_XDR_SHXYM"].str.slice(2, 6).to_list()

    def body(i: int) -> str:
        digits = []
        for _ in range(6):
            i, r = divmod(i, 31)
            digits.append(ALPHABET[r])
        return "MA" + "".join(reversed(digits))

    usccs = [make_uscc("9", "1", regions[i % count], body(i)) for i in range(rows)]
    frame = frame.with_columns(
        pl.Series("CF_XDR_SHXYM", usccs),
        pl.concat_str([pl.col("CF_WSH").str.extract(r"^(.*〔\d{4}〕)"), index.cast(pl.String), pl.lit("号")]).alias("CF_WSH"),
    )
    partial = path.with_suffix(".part")
    frame.write_csv(partial)
    partial.replace(path)
    return path


def twin_file(path: Path) -> Path:
    """The same rows with other bytes (CRLF line ends): not the same file, the same records."""
    twin = path.with_name(path.stem + "-crlf.csv")
    if not twin.exists():
        partial = twin.with_suffix(".part")
        with path.open(encoding="utf-8", newline="") as source, partial.open("w", encoding="utf-8", newline="") as out:
            for line in source:
                out.write(line.rstrip("\n") + "\r\n")
        partial.replace(twin)
    return twin


# --- databases ----------------------------------------------------------------------------------------


def database_url(kind: str, work: Path) -> str:
    """The benchmark database of a kind, created (PostgreSQL) or made fresh (SQLite), migrated and emptied."""
    import sqlalchemy as sa

    from xinyidai.db import create_database_engine
    from xinyidai.db import migrate as db_migrate

    if kind == "sqlite":
        db_file = work / "bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{db_file}"
    else:
        parsed = sa.make_url(os.environ.get(PG_ENV, PG_DEFAULT))
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        admin = create_database_engine(parsed.set(database="postgres").render_as_string(hide_password=False))
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # A database of the benchmark's own, made afresh: a first run into an empty store, at the migrations' head.
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
        url = parsed.render_as_string(hide_password=False)
    db_migrate.upgrade(url)
    engine = create_database_engine(url)
    with engine.begin() as conn:
        for table in _INGEST_TABLES:
            conn.execute(sa.text(f"DELETE FROM {table}"))
        conn.execute(sa.text("DROP TABLE IF EXISTS bench_raw"))
    if kind == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE ingest_record"))
            conn.execute(sa.text("CHECKPOINT"))
    engine.dispose()
    return url


# --- phases (each in its own process) ---------------------------------------------------------------


def phase_ingest(url: str, path: Path, var_dir: Path) -> dict[str, Any]:
    """One ``ingest_file`` as the CLI runs it."""
    from xinyidai import ingest
    from xinyidai.app import build_container
    from xinyidai.config import Settings
    from xinyidai.kernel.actor import ActorRef

    container = build_container(Settings(database_url=url, var_dir=var_dir, log_level="WARNING"))
    started = time.perf_counter()
    cpu = time.process_time()
    result = ingest.ingest_file(
        container.db,
        actor=ActorRef.system("benchmark"),
        clock=container.clock,
        cipher=container.cipher,
        var_dir=var_dir,
        path=path,
        channel=ingest.Channel.CLI,
        register_unknown=True,
    )
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu
    server_cpu = _server_cpu(url)
    container.db.dispose()
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "server_cpu_seconds": server_cpu,
        "rows": result.accepted + result.updated + result.unchanged + result.rejected,
        "rows_per_s": round((result.accepted + result.updated + result.unchanged + result.rejected) / seconds),
        "accepted": result.accepted,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "rejected": result.rejected,
        "replay": result.replay_of is not None,
        "peak_mb": _peak_mb(),
    }


class _StageClock:
    """Exclusive CPU seconds (``time.process_time``: every thread of the process, Polars' pool included) of
    nested stages: entering a stage charges the time so far to the enclosing one, so the figures add up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.stack: list[str] = ["other: setup, batch row, audit, commit"]
        self.mark = time.process_time()

    def start(self) -> None:
        """Forget what was charged so far (process start-up, imports): only the batch counts."""
        self.seconds.clear()
        self.mark = time.process_time()

    def _charge(self) -> None:
        now = time.process_time()
        label = self.stack[-1]
        self.seconds[label] = self.seconds.get(label, 0.0) + now - self.mark
        self.mark = now

    def enter(self, label: str) -> None:
        self._charge()
        self.stack.append(label)

    def leave(self) -> None:
        self._charge()
        self.stack.pop()

    def wrap(self, owner: Any, name: str, label: str) -> None:
        """Charge calls of ``owner.name`` to ``label``."""
        inner = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            self.enter(label)
            try:
                return inner(*args, **kwargs)
            finally:
                self.leave()

        setattr(owner, name, timed)

    def wrap_generator(self, owner: Any, name: str, label: str) -> None:
        """Charge each step of the generator ``owner.name`` returns to ``label``."""
        inner = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            steps = inner(*args, **kwargs)
            while True:
                self.enter(label)
                try:
                    item = next(steps)
                except StopIteration:
                    return
                finally:
                    self.leave()
                yield item

        setattr(owner, name, timed)


def phase_stages(url: str, path: Path, var_dir: Path) -> dict[str, Any]:
    """The first run once more, single-threaded, with the CPU seconds of every stage per million rows: a
    figure that means something on a shared machine, where wall-clock rates depend on the neighbours."""
    from xinyidai import ingest
    from xinyidai.ingest import frames, pipeline, readers, service, store

    clock = _StageClock()
    ingest_file = ingest.ingest_file

    def started(*args: Any, **kwargs: Any) -> Any:
        clock.start()
        return ingest_file(*args, **kwargs)

    ingest.ingest_file = started

    def sequential(
        source: Any, ctx: Any, *, consume: Any, chunk_rows: int = pipeline.CHUNK_ROWS, seal: Any = None, encode: Any = None
    ) -> None:
        for raw in readers.iter_chunks(source, chunk_rows=chunk_rows):
            prepared = frames.prepare(raw, ctx)
            if seal is not None:
                prepared.rows = pipeline._encrypted(prepared.rows, seal)
                prepared.sealed = True
                if encode is not None:
                    prepared.encoded = encode(prepared.rows)
            consume(prepared)

    pipeline.run_chunks = sequential
    clock.wrap(readers, "open_source", "open: digest, encoding, header")
    clock.wrap(pipeline, "first_pass", "dedupe: first pass (key columns, ids, in-file index)")
    clock.wrap_generator(readers, "iter_chunks", "read/parse (CSV blocks, Polars)")
    clock.wrap(frames, "prepare", "validate: normalise and check column-wise")
    for name in ("record_ids", "content_hashes"):
        clock.wrap(frames, name, "identity and content hashes")
    for name in ("json_objects", "mask_column"):
        clock.wrap(frames, name, "row building: data/pii JSON, masks")
    for name in ("_publication_columns", "_retention_column"):
        clock.wrap(frames, name, "publication and retention terms")
    clock.wrap(pipeline, "_encrypted", "encryption (AES-GCM)")
    for name in ("insert_new", "encode_new", "existing", "update_changed", "insert_rejects"):
        clock.wrap(store.BulkStore, name, "store: records, versions, rejects, indexes")
    clock.wrap(pipeline.RejectWriter, "write", "rejects file")
    clock.wrap(service, "_register_pending", "pending sources")
    # What "other" holds: the commit (on SQLite the WAL write of every dirty page, and a checkpoint when the
    # WAL passed its limit), the audit event, the store's set-up, and what is left (batch row, counts).
    from sqlalchemy.orm import SessionTransaction

    from xinyidai import audit

    clock.wrap(SessionTransaction, "commit", "commit (WAL write; SQLite: checkpoint)")
    clock.wrap(audit, "record", "audit event")
    for name in ("begin", "end"):
        clock.wrap(store.BulkStore, name, "store set-up (lock, page cache)")
    result = phase_ingest(url, path, var_dir)
    clock.leave()
    rows = max(result["rows"], 1)
    per_million = {k: round(v * 1_000_000 / rows, 2) for k, v in sorted(clock.seconds.items(), key=lambda kv: -kv[1])}
    return {
        "rows": result["rows"],
        "seconds_single_thread": result["seconds"],
        "cpu_seconds_per_1m_rows": per_million,
        "cpu_total_per_1m_rows": round(sum(clock.seconds.values()) * 1_000_000 / rows, 2),
        "peak_mb": result["peak_mb"],
    }


def phase_raw(url: str, path: Path) -> dict[str, Any]:
    """The same rows, raw, into a bare table with the record store's indexes: COPY or one-transaction executemany."""
    import sqlalchemy as sa

    from xinyidai.db import create_database_engine
    from xinyidai.ingest.store import SQLITE_BATCH_CACHE_KIB

    with path.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    # The record store's four indexes: identity (here the natural key itself, unique), subject, batch and time of
    # receipt — the last two columns the load does not send, the same on every row (their defaults), as a batch's
    # rows share one batch and one time.
    engine = create_database_engine(url)
    kind = engine.dialect.name
    received = "TEXT NOT NULL DEFAULT '2026-06-30 02:00:00.000000'" if kind == "sqlite" else "timestamptz NOT NULL DEFAULT now()"
    columns = ", ".join(
        [*(f'"{c}" TEXT' for c in header), f"batch_id TEXT NOT NULL DEFAULT '{uuid.uuid4().hex}'", f"received_at {received}"]
    )
    names = ", ".join(f'"{c}"' for c in header)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS bench_raw"))
        conn.execute(sa.text(f"CREATE TABLE bench_raw ({columns})"))
        conn.execute(sa.text('CREATE UNIQUE INDEX ix_bench_raw_key ON bench_raw ("CF_WSH", "CF_CFJGDM")'))
        conn.execute(sa.text('CREATE INDEX ix_bench_raw_subject ON bench_raw ("CF_XDR_SHXYM")'))
        conn.execute(sa.text("CREATE INDEX ix_bench_raw_batch ON bench_raw (batch_id)"))
        conn.execute(sa.text("CREATE INDEX ix_bench_raw_received ON bench_raw (received_at)"))
    rows = 0
    started = time.perf_counter()
    cpu = time.process_time()
    with engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        if kind == "sqlite":
            raw.execute(f"PRAGMA cache_size=-{SQLITE_BATCH_CACHE_KIB}")
            marks = ", ".join("?" for _ in header)
            with path.open(encoding="utf-8", newline="") as handle:
                reader = csv.reader(handle)
                next(reader)
                raw.execute("BEGIN IMMEDIATE")
                cursor = raw.executemany(f"INSERT INTO bench_raw ({names}) VALUES ({marks})", reader)
                rows = cursor.rowcount
                raw.execute("COMMIT")
        else:
            with raw.cursor() as cur, path.open("rb") as handle:
                with cur.copy(f"COPY bench_raw ({names}) FROM STDIN (FORMAT csv, HEADER true)") as copy:
                    while block := handle.read(1 << 20):
                        copy.write(block)
                rows = cur.rowcount
            raw.commit()
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu
    server_cpu = _server_cpu(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE bench_raw"))
    engine.dispose()
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "server_cpu_seconds": server_cpu,
        "rows": rows,
        "rows_per_s": round(rows / seconds),
        "peak_mb": _peak_mb(),
    }


def _child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_database(kind: str, path: Path, work: Path, *, compare: bool, stages: bool = False) -> dict[str, Any]:
    """Every phase on one database."""
    url = database_url(kind, work)
    var_dir = work / f"var-{kind}"
    out: dict[str, Any] = {}
    out["first"] = _child(["--phase", "ingest", "--url", url, "--file", str(path), "--var", str(var_dir)])
    out["rerun"] = _child(["--phase", "ingest", "--url", url, "--file", str(path), "--var", str(var_dir)])
    if compare:
        twin = twin_file(path)
        out["compare"] = _child(["--phase", "ingest", "--url", url, "--file", str(twin), "--var", str(var_dir)])
    out["raw"] = _child(["--phase", "raw", "--url", url, "--file", str(path)])
    if stages:
        url = database_url(kind, work)  # an empty store again: the first run, stage by stage
        stage_var = str(work / f"var-{kind}-stages")
        out["stages"] = _child(["--phase", "stages", "--url", url, "--file", str(path), "--var", stage_var])
    first, raw = out["first"].get("rows_per_s"), out["raw"].get("rows_per_s")
    out["ratio"] = round(first / raw, 2) if first and raw else None
    peaks = [p.get("peak_mb", 0) for p in out.values() if isinstance(p, dict)]
    out["peak_mb"] = max(peaks) if peaks else None
    out["meets"] = {
        "ratio": out["ratio"] is not None and out["ratio"] >= TARGETS["ratio"],
        "first_rows_per_s": (first or 0) >= TARGETS["first_rows_per_s"],
        "rerun_rows_per_s": out["rerun"].get("rows_per_s", 0) >= TARGETS["rerun_rows_per_s"],
        "peak_mb": (out["peak_mb"] or 0) <= TARGETS["peak_mb"],
    }
    return out


def main(argv: list[str] | None = None) -> int:
    """Generate the file, run every phase on the chosen databases, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-compare", action="store_true", help="skip the same-rows-other-bytes phase")
    parser.add_argument(
        "--stages", action="store_true", help="also run the first load single-threaded and report CPU seconds per stage"
    )
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "xinyidai-bench-ingest")
    parser.add_argument("--phase", choices=("ingest", "raw", "stages"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--var", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase == "ingest":
        print(json.dumps(phase_ingest(args.url, args.file, args.var)))
        return 0
    if args.phase == "stages":
        print(json.dumps(phase_stages(args.url, args.file, args.var), ensure_ascii=False))
        return 0
    if args.phase == "raw":
        print(json.dumps(phase_raw(args.url, args.file)))
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    path = make_file(args.rows, args.seed, args.work)
    generated = round(time.perf_counter() - started, 1)
    result: dict[str, Any] = {
        "benchmark": "ingest",
        "rows": args.rows,
        "file_mb": round(path.stat().st_size / (1 << 20), 1),
        "file_seconds": generated,
        "cpus": os.cpu_count(),
        # A shared machine: the load average says how much of it the benchmark had.
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "targets": TARGETS,
    }
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    for kind in kinds:
        result[kind] = run_database(kind, path, args.work, compare=not args.no_compare, stages=args.stages)
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
