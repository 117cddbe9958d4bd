"""Reading delivered files: format and encoding sniffing, the file digest, the header, and rows in chunks.

CSV (UTF-8, with or without BOM, or GB18030 — transcoded once to a temporary UTF-8 file), XLSX (first
sheet, through fastexcel) and JSON Lines. Rows come out as Polars frames of text columns named by
position (``c0``, ``c1`` …) plus ``__line``, the line a person opening the file would look at.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from xinyidai.ingest.model import FileUnreadable

LINE = "__line"
FORMATS = ("csv", "xlsx", "jsonl")
_BLOCK = 1 << 20
_SNIFF = 64 * 1024
_XLSX_MAGIC = b"PK\x03\x04"
_SEPARATORS = (",", "\t", ";", "|")


@dataclass
class SourceFile:
    """A delivered file, read once for its digest, format, encoding and header."""

    path: Path
    name: str
    format: str
    sha256: str
    size: int
    encoding: str | None = None
    header: list[str] = field(default_factory=list)
    separator: str = ","
    #: The UTF-8 text actually scanned (the file itself, or a transcoded temporary copy).
    text_path: Path | None = None
    #: Invalid UTF-8 bytes were replaced: values holding U+FFFD are rejected.
    lossy: bool = False
    _temporary: list[Path] = field(default_factory=list)

    def cleanup(self) -> None:
        """Remove temporary files made for reading."""
        for path in self._temporary:
            with suppress(FileNotFoundError):
                path.unlink()
        self._temporary.clear()


def _utf8_cut(block: bytes) -> int:
    """The length of ``block`` without a multi-byte UTF-8 sequence its last bytes start but do not finish
    (at most 3 bytes are held back for the next block)."""
    end = len(block)
    start = end - 1
    while start >= 0 and end - start <= 3 and block[start] & 0xC0 == 0x80:
        start -= 1
    if start < 0:
        return end
    lead = block[start]
    need = 2 if lead >> 5 == 0b110 else 3 if lead >> 4 == 0b1110 else 4 if lead >> 3 == 0b11110 else 1
    return start if end - start < need else end


def _utf8_ok(block: bytes) -> bool:
    """Whether ``block`` is valid UTF-8 (Polars' strict validator: no Python string is built)."""
    try:
        pl.Series([block], dtype=pl.Binary).cast(pl.String)
    except pl.exceptions.ComputeError:
        return False
    return True


def scan_file(path: Path, *, block_bytes: int = _BLOCK) -> tuple[str, int, bool]:
    """SHA-256 (hex), size, and whether the whole file is valid UTF-8, in one pass (1 MiB blocks)."""
    digest = hashlib.sha256()
    size = 0
    utf8 = True
    carry = b""
    with path.open("rb") as handle:
        while block := handle.read(block_bytes):
            digest.update(block)
            size += len(block)
            if utf8:
                data = carry + block if carry else block
                cut = _utf8_cut(data)
                utf8 = _utf8_ok(data[:cut] if cut < len(data) else data)
                carry = data[cut:]
    return digest.hexdigest(), size, utf8 and not carry


def sniff_format(path: Path, head: bytes) -> str:
    """csv, xlsx or jsonl, from the extension first, then the first bytes."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".txt", ".tsv"):
        return "csv"
    if head.startswith(_XLSX_MAGIC):
        return "xlsx"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return "jsonl"
    return "csv"


def _valid(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        with path.open("rb") as handle:
            while block := handle.read(_BLOCK):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _transcode(path: Path, encoding: str, tmp_dir: Path) -> Path:
    tmp_dir.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="ingest-", suffix=".utf8", dir=tmp_dir)
    os.close(handle)
    target = Path(name)
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    with path.open("rb") as source, target.open("w", encoding="utf-8", newline="") as out:
        while block := source.read(_BLOCK):
            out.write(decoder.decode(block))
        out.write(decoder.decode(b"", final=True))
    return target


def open_source(path: Path, *, fmt: str = "auto", tmp_dir: Path, name: str | None = None) -> SourceFile:
    """Digest, sniff and open a delivered file; raises ``FileUnreadable`` if it cannot be read at all."""
    if not path.is_file():
        raise FileUnreadable(f"文件不存在或不可读：{path}")
    try:
        sha256, size, utf8 = scan_file(path)
        with path.open("rb") as handle:
            head = handle.read(_SNIFF)
    except OSError as exc:
        raise FileUnreadable(f"文件无法读取：{exc}") from exc
    if size == 0:
        raise FileUnreadable("文件为空")
    chosen = sniff_format(path, head) if fmt == "auto" else fmt
    if chosen not in FORMATS:
        raise FileUnreadable(f"不支持的文件格式：{fmt}")
    source = SourceFile(path=path, name=name or path.name, format=chosen, sha256=sha256, size=size)
    try:
        if chosen == "xlsx":
            _open_xlsx(source)
        else:
            _open_text(source, head, tmp_dir, utf8=utf8)
    except FileUnreadable:
        source.cleanup()
        raise
    except Exception as exc:
        source.cleanup()
        raise FileUnreadable(f"文件无法解析：{type(exc).__name__}: {str(exc)[:200]}") from exc
    return source


def _open_text(source: SourceFile, head: bytes, tmp_dir: Path, *, utf8: bool) -> None:
    path = source.path
    if utf8:
        source.encoding = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
        source.text_path = path
    elif _valid(path, "gb18030"):
        source.encoding = "gb18030"
        source.text_path = _transcode(path, "gb18030", tmp_dir)
        source._temporary.append(source.text_path)
    else:
        source.encoding = "utf-8"
        source.text_path = path
        source.lossy = True
    with source.text_path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        first = handle.readline()
    if not first.strip():
        raise FileUnreadable("文件第一行没有表头")
    if source.format == "jsonl":
        try:
            obj = json.loads(first)
        except json.JSONDecodeError as exc:
            raise FileUnreadable("JSON Lines 文件的第一行不是 JSON 对象") from exc
        if not isinstance(obj, dict):
            raise FileUnreadable("JSON Lines 文件的每一行应为 JSON 对象")
        source.header = [str(k) for k in obj]
        return
    source.separator = max(_SEPARATORS, key=first.count)
    source.header = next(csv.reader(io.StringIO(first), delimiter=source.separator))


def _open_xlsx(source: SourceFile) -> None:
    import fastexcel

    try:
        reader = fastexcel.read_excel(str(source.path))
        sheet = reader.load_sheet(0, header_row=None, n_rows=1, dtypes="string")
        first = sheet.to_polars()
    except Exception as exc:
        raise FileUnreadable(f"XLSX 文件无法读取：{type(exc).__name__}") from exc
    if first.is_empty():
        raise FileUnreadable("XLSX 文件第一个工作表为空")
    source.header = ["" if v is None else str(v) for v in first.row(0)]


# --- chunks -------------------------------------------------------------------------------------


def iter_chunks(source: SourceFile, *, chunk_rows: int, columns: Sequence[int] | None = None) -> Iterator[pl.DataFrame]:
    """The file's rows in chunks: text columns ``c<position>`` (only ``columns`` if given) and ``__line``."""
    if source.format == "csv":
        yield from _csv_chunks(source, chunk_rows, columns)
    elif source.format == "jsonl":
        yield from _jsonl_chunks(source, chunk_rows, columns)
    else:
        yield from _xlsx_chunks(source, chunk_rows, columns)


def _names(source: SourceFile) -> list[str]:
    return [f"c{i}" for i in range(len(source.header))]


#: Bytes read per CSV chunk for each row asked for (a 行政处罚 row is about 600 bytes).
_BYTES_PER_ROW = 600
_MAX_CUT_TRIES = 64


def _record_boundary(buffer: bytes) -> int:
    """The end of the last complete record in ``buffer`` (just after a line break outside quotes), or 0.

    ``buffer`` starts at a record boundary, so a line break ends a record exactly when the quotes before it
    are balanced (RFC 4180: a quote inside a quoted field is written twice, which keeps the count even).
    """
    end = len(buffer)
    for _ in range(_MAX_CUT_TRIES):
        newline = buffer.rfind(b"\n", 0, end)
        if newline < 0:
            return 0
        if buffer.count(b'"', 0, newline) % 2 == 0:
            return newline + 1
        end = newline
    return 0


def _csv_blocks(path: Path, block_bytes: int) -> Iterator[bytes]:
    """The data lines of a CSV file in blocks of whole records (the header line skipped)."""
    with path.open("rb") as handle:
        handle.readline()
        carry = b""
        while True:
            data = handle.read(block_bytes)
            if not data:
                if carry.strip():
                    yield carry
                return
            buffer = carry + data
            cut = _record_boundary(buffer)
            if cut == 0:
                carry = buffer  # no complete record yet (a very long quoted field): read on
                continue
            yield buffer[:cut]
            carry = buffer[cut:]


def _csv_chunks(source: SourceFile, chunk_rows: int, columns: Sequence[int] | None) -> Iterator[pl.DataFrame]:
    """Blocks of whole records read with plain file I/O and parsed by Polars: memory stays at a few blocks
    whatever the file size (a memory-mapped scan would count the whole file in the resident set)."""
    assert source.text_path is not None
    names = _names(source)
    wanted = list(columns) if columns is not None else list(range(len(names)))
    schema = dict.fromkeys(names, pl.String)
    line = 2
    for block in _csv_blocks(source.text_path, max(1024, chunk_rows * _BYTES_PER_ROW)):
        frame = pl.read_csv(
            io.BytesIO(block),
            has_header=False,
            schema=schema,
            separator=source.separator,
            columns=wanted,
            truncate_ragged_lines=True,
            encoding="utf8-lossy" if source.lossy else "utf8",
            row_index_name=LINE,
            row_index_offset=line,
        )
        line += frame.height
        yield frame.with_columns(pl.col(LINE).cast(pl.Int64))


def _jsonl_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        raise ValueError("字段值不能是对象或数组")
    return str(value)


def _jsonl_chunks(source: SourceFile, chunk_rows: int, columns: Sequence[int] | None) -> Iterator[pl.DataFrame]:
    """JSON Lines, one object a line; numbers keep their literal text (exact decimals). A line that is
    not a JSON object becomes a row of nulls marked in ``__malformed``, so that it is rejected, not lost."""
    assert source.text_path is not None
    names = _names(source)
    keep = list(columns) if columns is not None else list(range(len(names)))
    lines: list[int] = []
    values: list[list[str | None]] = [[] for _ in keep]
    malformed: list[bool] = []

    def flush() -> pl.DataFrame:
        data: dict[str, Any] = {LINE: pl.Series(lines, dtype=pl.Int64)}
        for slot, position in enumerate(keep):
            data[names[position]] = pl.Series(values[slot], dtype=pl.String)
        data["__malformed"] = pl.Series(malformed, dtype=pl.Boolean)
        frame = pl.DataFrame(data)
        lines.clear()
        malformed.clear()
        for column in values:
            column.clear()
        return frame

    with source.text_path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            row: dict[str, str | None] = {}
            bad = False
            try:
                obj = json.loads(text, parse_float=str, parse_int=str)
                if not isinstance(obj, dict):
                    raise ValueError("not an object")
                row = {str(k): _jsonl_value(v) for k, v in obj.items()}
            except (ValueError, json.JSONDecodeError):
                bad = True
            lines.append(number)
            malformed.append(bad)
            for slot, position in enumerate(keep):
                values[slot].append(row.get(source.header[position]) if not bad else None)
            if len(lines) >= chunk_rows:
                yield flush()
    if lines:
        yield flush()


def _xlsx_chunks(source: SourceFile, chunk_rows: int, columns: Sequence[int] | None) -> Iterator[pl.DataFrame]:
    import fastexcel

    names = _names(source)
    reader = fastexcel.read_excel(str(source.path))
    sheet = reader.load_sheet(0, header_row=None, skip_rows=1, dtypes="string")
    loaded = sheet.to_polars()
    # Columns by position: a sheet may have more columns than its header (ignored) or fewer (null).
    present = loaded.columns
    frame = pl.DataFrame(
        [
            pl.Series(LINE, range(2, loaded.height + 2), dtype=pl.Int64),
            *(
                loaded[present[i]].cast(pl.String).alias(name)
                if i < len(present)
                else pl.Series(name, [None] * loaded.height, dtype=pl.String)
                for i, name in enumerate(names)
            ),
        ]
    )
    frame = frame.select([LINE, *(names[i] for i in (columns if columns is not None else range(len(names))))])
    for start in range(0, frame.height, chunk_rows):
        yield frame.slice(start, chunk_rows)
