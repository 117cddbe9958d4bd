"""The simulator's data: a generated delivery directory, indexed by subject without loading the records.

``DataIndex.load`` reads ``manifest.json`` and scans each department file once, keeping for every
USCC only the byte offsets and lengths of its rows; a query seeks to them and parses just those
rows. Memory grows with the number of rows (two integers each), not with their text.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from xinyidai.catalog import Catalog, FieldType, Item, load_catalog

MANIFEST = "manifest.json"


class DataDirectoryError(ValueError):
    """The directory is not a delivery written by ``xinyidai.demodata.generate``."""


@dataclass
class _ItemFile:
    item: Item
    path: Path
    columns: tuple[str, ...]
    encoding: str
    #: USCC → flat array of (offset, length) pairs of its rows.
    rows: dict[str, array[int]] = field(default_factory=dict)

    @property
    def row_count(self) -> int:
        return sum(len(a) for a in self.rows.values()) // 2


@dataclass
class DataIndex:
    """Every department file of one delivery, indexed by subject."""

    directory: Path
    snapshot_date: date
    enterprises: int
    _files: dict[str, _ItemFile]

    @classmethod
    def load(cls, directory: Path, *, catalog: Catalog | None = None) -> DataIndex:
        """Index the delivery in ``directory`` (its manifest names the files and their items)."""
        catalog = catalog or load_catalog()
        manifest_path = directory / MANIFEST
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            snapshot = date.fromisoformat(manifest["as_of"])
            listed = manifest["files"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataDirectoryError(f"{manifest_path}: not a generated delivery ({exc})") from None
        files: dict[str, _ItemFile] = {}
        for entry in listed:
            code = entry.get("item_code")
            if entry.get("kind") != "department" or not code:
                continue
            item = catalog.item(code)
            spec = _ItemFile(
                item=item,
                path=directory / entry["file"],
                columns=tuple(entry["columns"]),
                encoding=str(entry.get("encoding", "UTF-8")),
            )
            if item.subject_field not in spec.columns:
                raise DataDirectoryError(f"{spec.path.name}: no subject column {item.subject_field!r}")
            _scan(spec)
            files[code] = spec
        return cls(directory=directory, snapshot_date=snapshot, enterprises=int(manifest.get("enterprises", 0)), _files=files)

    @property
    def items(self) -> tuple[Item, ...]:
        """The catalog items the delivery holds."""
        return tuple(f.item for f in self._files.values())

    def item(self, code: str) -> Item | None:
        """The catalog item of that code, if the delivery holds it."""
        found = self._files.get(code)
        return found.item if found else None

    def departments(self) -> dict[str, list[str]]:
        """Department code → the item codes it answers for (a group's members answer for their share)."""
        served: dict[str, list[str]] = {}
        for code, spec in self._files.items():
            for department in departments_of(spec.item):
                served.setdefault(department, []).append(code)
        return served

    def subjects(self, item_code: str) -> Iterator[str]:
        """The USCCs that have rows of an item."""
        yield from self._files[item_code].rows

    def row_count(self, item_code: str) -> int:
        """Rows of an item in the delivery."""
        return self._files[item_code].row_count

    def records(self, item_code: str, uscc: str, *, department: str | None = None) -> list[dict[str, Any]]:
        """The subject's rows of an item as JSON values; for a group's member, only the rows that member produced."""
        spec = self._files[item_code]
        pairs = spec.rows.get(uscc)
        if not pairs:
            return []
        out: list[dict[str, Any]] = []
        with spec.path.open("rb") as handle:
            for i in range(0, len(pairs), 2):
                handle.seek(pairs[i])
                text = handle.read(pairs[i + 1]).decode(spec.encoding)
                values = next(csv.reader(io.StringIO(text)))
                row = dict(zip(spec.columns, values, strict=False))
                if department and not _produced_by(spec.item, row, department):
                    continue
                out.append(_json_values(spec.item, row))
        return out


def departments_of(item: Item) -> tuple[str, ...]:
    """The department codes that answer for an item: its own, and the members named per record."""
    extra = tuple(d.code for _, d in item.department_by_value if d.code != item.department.code)
    return (item.department.code, *dict.fromkeys(extra))


def _produced_by(item: Item, row: dict[str, str], department: str) -> bool:
    if department == item.department.code or item.department_field is None:
        return True
    return item.department_for(row.get(item.department_field, "")).code == department


def _json_values(item: Item, row: dict[str, str]) -> dict[str, Any]:
    """CSV text → the JSON a department's interface would send: integers and booleans typed, blanks null."""
    out: dict[str, Any] = {}
    for spec in item.record_schema:
        text = row.get(spec.name, "")
        if text == "":
            out[spec.name] = None
        elif spec.type is FieldType.INTEGER and text.lstrip("-").isdigit():
            out[spec.name] = int(text)
        elif spec.type is FieldType.BOOLEAN and text in ("true", "false"):
            out[spec.name] = text == "true"
        else:
            out[spec.name] = text
    return out


def _scan(spec: _ItemFile) -> None:
    """Record each row's (offset, length) under its subject; rows may span lines inside quotes."""
    position = spec.columns.index(spec.item.subject_field)
    with spec.path.open("rb") as handle:
        header = handle.readline()
        offset = len(header)
        pending = b""
        start = offset
        for line in handle:
            if not pending:
                start = offset
            pending += line
            offset += len(line)
            if pending.count(b'"') % 2:  # an open quoted field: the row goes on on the next line
                continue
            text = pending.decode(spec.encoding).rstrip("\r\n")
            pending = b""
            if not text:
                continue
            uscc = _field(text, position)
            if uscc:
                spec.rows.setdefault(sys.intern(uscc), array("q")).extend((start, offset - start))


def _field(text: str, position: int) -> str:
    if position == 0 and not text.startswith('"'):
        return text.split(",", 1)[0]
    values = next(csv.reader(io.StringIO(text)))
    return values[position] if position < len(values) else ""
