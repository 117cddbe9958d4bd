"""Write a synthetic delivery: one CSV per catalog item plus manifest.json, streaming enterprise by enterprise."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

from xinyidai.demodata.files import FILES, FileKind
from xinyidai.demodata.model import EnterpriseModel, ModelParameters
from xinyidai.demodata.world import load_world

DEFAULT_AS_OF: Final = date(2026, 6, 30)
MANIFEST_NAME: Final = "manifest.json"
ENCODING: Final = "UTF-8"
#: Enterprises rendered (and reported to ``progress``) together.
CHUNK: Final = 1_000
LINE_TERMINATOR: Final = "\n"
_WRITE_BUFFER = 1 << 20


@dataclass(frozen=True, slots=True)
class FileSummary:
    """One written file as the manifest lists it."""

    name: str
    item_code: str | None
    title: str
    kind: FileKind
    rows: int
    encoding: str
    sha256: str
    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GenerationSummary:
    """What a run wrote: the inputs that determine it and every file with its row count and digest."""

    enterprises: int
    seed: int
    as_of: date
    out_dir: Path
    manifest: Path
    files: tuple[FileSummary, ...]

    @property
    def rows(self) -> int:
        """Data rows over all files (headers not counted)."""
        return sum(f.rows for f in self.files)


def generate(
    *,
    enterprises: int,
    seed: int,
    out_dir: Path,
    progress: Callable[[int], None] | None = None,
    as_of: date = DEFAULT_AS_OF,
    parameters: ModelParameters | None = None,
    workers: int = 1,
) -> GenerationSummary:
    """Write the synthetic source files for ``enterprises`` enterprises into ``out_dir``.

    The same ``seed``, ``enterprises``, ``as_of`` and ``parameters`` always give
    byte-identical files, whatever ``workers`` is: each enterprise draws from its
    own random stream seeded by (seed, index). Rows are rendered and written in
    chunks of ``CHUNK`` enterprises, at most two chunks per worker in flight, so
    memory does not grow with ``enterprises``. ``progress`` is called with the
    number of enterprises done after each chunk.
    """
    if enterprises < 0:
        raise ValueError("enterprises must not be negative")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = [0] * len(FILES)
    chunks = [(start, min(start + CHUNK, enterprises)) for start in range(0, enterprises, CHUNK)]
    with ExitStack() as stack:
        handles = []
        for spec in FILES:
            handle = stack.enter_context((out_dir / spec.name).open("w", encoding="utf-8", newline="", buffering=_WRITE_BUFFER))
            csv.writer(handle, lineterminator=LINE_TERMINATOR).writerow(spec.columns)
            handles.append(handle)

        def write(rendered: _Rendered, done: int) -> None:
            texts, chunk_counts = rendered
            for position, handle in enumerate(handles):
                handle.write(texts[position])
                counts[position] += chunk_counts[position]
            if progress is not None:
                progress(done)

        if workers == 1 or len(chunks) <= 1:
            model = EnterpriseModel(world=load_world(), seed=seed, as_of=as_of, parameters=parameters)
            for start, stop in chunks:
                write(_render(model, start, stop), stop)
        else:
            pool = stack.enter_context(
                ProcessPoolExecutor(max_workers=workers, initializer=_start_worker, initargs=(seed, as_of, parameters))
            )
            pending: deque[tuple[Future[_Rendered], int]] = deque()
            for start, stop in chunks:
                pending.append((pool.submit(_render_in_worker, start, stop), stop))
                if len(pending) >= 2 * workers:
                    future, done = pending.popleft()
                    write(future.result(), done)
            while pending:
                future, done = pending.popleft()
                write(future.result(), done)

    summaries = tuple(
        FileSummary(
            name=spec.name,
            item_code=spec.item_code,
            title=spec.title,
            kind=spec.kind,
            rows=count,
            encoding=ENCODING,
            sha256=_sha256(out_dir / spec.name),
            columns=spec.columns,
        )
        for spec, count in zip(FILES, counts, strict=True)
    )
    manifest = out_dir / MANIFEST_NAME
    manifest.write_text(_manifest_text(enterprises, seed, as_of, summaries), encoding="utf-8")
    return GenerationSummary(enterprises, seed, as_of, out_dir, manifest, summaries)


#: CSV text per file and row count per file of one chunk of enterprises.
_Rendered = tuple[list[str], list[int]]


def _render(model: EnterpriseModel, start: int, stop: int) -> _Rendered:
    """Render enterprises ``start`` … ``stop - 1`` as CSV text, one string per file."""
    buffers = [io.StringIO() for _ in FILES]
    writers = [csv.writer(buffer, lineterminator=LINE_TERMINATOR) for buffer in buffers]
    counts = [0] * len(FILES)
    positions = range(len(FILES))
    for index in range(start, stop):
        batches = model.enterprise(index)
        for position in positions:
            rows = batches[position]
            if rows:
                writers[position].writerows(rows)
                counts[position] += len(rows)
    return [buffer.getvalue() for buffer in buffers], counts


_worker_model: EnterpriseModel | None = None


def _start_worker(seed: int, as_of: date, parameters: ModelParameters | None) -> None:
    global _worker_model
    _worker_model = EnterpriseModel(world=load_world(), seed=seed, as_of=as_of, parameters=parameters)


def _render_in_worker(start: int, stop: int) -> _Rendered:
    if _worker_model is None:  # pragma: no cover - the pool initializer always runs first
        raise RuntimeError("worker not initialised")
    return _render(_worker_model, start, stop)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_WRITE_BUFFER):
            digest.update(chunk)
    return digest.hexdigest()


def _manifest_text(enterprises: int, seed: int, as_of: date, files: tuple[FileSummary, ...]) -> str:
    """The manifest: generation inputs and, per file, its item code, rows, encoding and sha256 (no timestamps)."""
    body = {
        "generator": "xinyidai.demodata",
        "format_version": 1,
        "enterprises": enterprises,
        "seed": seed,
        "as_of": as_of.isoformat(),
        "files": [
            {
                "file": f.name,
                "item_code": f.item_code,
                "title": f.title,
                "kind": f.kind,
                "rows": f.rows,
                "encoding": f.encoding,
                "sha256": f.sha256,
                "columns": list(f.columns),
            }
            for f in files
        ],
    }
    return json.dumps(body, ensure_ascii=False, indent=2) + "\n"
