"""The evaluation snapshot's SQLite reader, run as a child process: queries a SQLite file through the ADBC SQLite
driver and writes the results to stdout as Arrow IPC streams, optionally decoded per catalog item by DuckDB.

Why a process of its own: the ADBC driver carries its own copy of SQLite, and two copies of SQLite in one process
must not open the same database — SQLite keeps POSIX advisory locks per process and works around their flaws
inside one copy only, so one copy closing its file would silently drop the other's locks (SQLite's "How To
Corrupt" page, section 2.2.1). The platform's own connections use Python's ``sqlite3``; this process has no other.
Being a process, it also reads and decodes on a core of its own.

Run as a script (``python adbc_reader.py DATABASE BATCH_ROWS CHUNK_ROWS``), never imported by the platform, so it
starts without the platform's imports. Protocol: each line on stdin is a JSON object ``{"sql", "params", "names"}``
with, optionally, ``"items"``: catalog item code → the DuckDB query that decodes that item's rows of a table named
``chunk`` (the snapshot module writes them). The answer on stdout is a sequence of parts, each a label line and
one Arrow IPC stream, then an empty line: without ``items`` one part labelled ``*`` (the rows, columns renamed to
``names``); with ``items``, per chunk of ``CHUNK_ROWS`` rows, one part per item present, labelled with its code.
Every query reads in the one read transaction the driver opens when it connects (deferred: WAL gives it one
consistent snapshot from its first read, without the writer lock). End of stdin ends the transaction and the
process. An error is written to stderr and the process exits with status 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO


def _write(sink: BinaryIO, label: str, table: Any) -> None:
    import pyarrow as pa

    sink.write(label.encode() + b"\n")
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)


def _chunks(batches: Iterator[Any], names: list[str], chunk_rows: int) -> Iterator[Any]:
    import pyarrow as pa

    pending: list[Any] = []
    rows = 0
    for batch in batches:
        pending.append(batch)
        rows += batch.num_rows
        if rows >= chunk_rows:
            yield pa.Table.from_batches(pending).rename_columns(names)
            pending, rows = [], 0
    if rows:
        yield pa.Table.from_batches(pending).rename_columns(names)


def main(argv: list[str]) -> int:
    """Serve queries from stdin until it ends."""
    import adbc_driver_sqlite.dbapi as adbc

    database, batch_rows, chunk_rows = argv[1], argv[2], int(argv[3])
    sink = sys.stdout.buffer
    duck: Any = None
    conn = adbc.connect(database)  # autocommit off: the driver begins a deferred transaction
    try:
        for line in sys.stdin:
            query = json.loads(line)
            with conn.cursor() as cur:
                cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": batch_rows})
                cur.execute(query["sql"], parameters=tuple(query["params"]))
                items: dict[str, str] | None = query.get("items")
                for chunk in _chunks(cur.fetch_record_batch(), query["names"], chunk_rows):
                    if items is None:
                        _write(sink, "*", chunk)
                        continue
                    if duck is None:
                        import duckdb

                        duck = duckdb.connect(config={"threads": 1})
                    duck.register("chunk", chunk)
                    present = [row[0] for row in duck.sql("SELECT DISTINCT item_code FROM chunk").fetchall()]
                    for code in present:
                        if code in items:
                            _write(sink, code, duck.sql(items[code]).to_arrow_table())
                    duck.unregister("chunk")
            sink.write(b"\n")
            sink.flush()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.rollback()  # nothing was written: ending the read is all there is to do
        conn.close()
        if duck is not None:
            duck.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
