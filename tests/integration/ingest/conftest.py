"""Fixtures of the ingest tests: generated department files, valid 双公示 rows, files in every format."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.factories import ADMIN, uscc_for
from xinyidai import ingest
from xinyidai.catalog import load_catalog
from xinyidai.db import Database
from xinyidai.demodata import generate
from xinyidai.demodata.formats import resident_id
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.kernel.uscc import make_uscc

PENALTY_FIELDS = load_catalog().item("admin_penalty").field_names
#: The deciding authority (and source unit) of the rows ``penalty_row`` makes.
AUTHORITY = make_uscc("1", "1", "350100", "00000011")
OTHER_AUTHORITY = make_uscc("1", "1", "350100", "00000022")


def penalty_row(n: int, **overrides: str | None) -> dict[str, str | None]:
    """A valid current-layout 行政处罚 row for enterprise ``n`` (every value as a source writes it)."""
    row: dict[str, str | None] = dict.fromkeys(PENALTY_FIELDS)
    row.update(
        CF_XDR_MC=f"福州市测试{n}号贸易有限公司",
        CF_XDR_LB="法人及非法人组织",
        CF_XDR_SHXYM=uscc_for(20_000_000 + n),
        CF_FRDB="张三",
        CF_FR_ZJLX="身份证",
        CF_FR_ZJHM=resident_id("350102", date(1980, 1, 1), 1 + n % 900),
        CF_WSH=f"榕市监罚〔2025〕{n}号",
        CF_WFXW="不明码标价",
        CF_SY="销售商品未按规定明码标价",
        CF_YJ="《中华人民共和国价格法》第四十二条",
        CF_CFLB="罚款",
        CF_NR="罚款人民币2000元",
        CF_NR_FK="0.2",
        CF_JDRQ="2025-05-20",
        CF_CFJG="福州市市场监督管理局",
        CF_CFJGDM=AUTHORITY,
        CF_SJLY="福州市市场监督管理局",
        CF_SJLYDM=AUTHORITY,
    )
    row.update(overrides)
    return row


def write_csv(
    path: Path, rows: Iterable[Mapping[str, Any]], *, fields: Iterable[str] = PENALTY_FIELDS, encoding: str = "utf-8"
) -> Path:
    """Rows as a CSV file with a header (empty string for None)."""
    names = list(fields)
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(names)
        for row in rows:
            writer.writerow(["" if row.get(n) is None else row.get(n) for n in names])
    return path


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Rows as JSON Lines."""
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(dict(row), ensure_ascii=False) + "\n")
    return path


def write_xlsx(path: Path, rows: Iterable[Mapping[str, Any]], *, fields: Iterable[str] = PENALTY_FIELDS) -> Path:
    """Rows as the first sheet of an XLSX workbook (text cells)."""
    import xlsxwriter

    names = list(fields)
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("行政处罚")
    sheet.write_row(0, 0, names)
    for r, row in enumerate(rows, start=1):
        for c, name in enumerate(names):
            value = row.get(name)
            if value is not None:
                sheet.write_string(r, c, str(value))
    book.close()
    return path


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generator delivery (150 enterprises), made once for the session."""
    out = tmp_path_factory.mktemp("demo-data")
    generate(enterprises=150, seed=11, out_dir=out)
    return out


IngestRun = Callable[..., ingest.BatchResult]


@pytest.fixture
def run(db: Database, clock: FrozenClock, cipher: PiiCipher, tmp_var: Path) -> IngestRun:
    """Ingest a file as the operator's CLI would (unknown source units registered as pending)."""

    def _run(path: Path, **kwargs: Any) -> ingest.BatchResult:
        options: dict[str, Any] = {"channel": ingest.Channel.CLI, "register_unknown": True, "chunk_rows": 40}
        options.update(kwargs)
        return ingest.ingest_file(db, actor=ADMIN, clock=clock, cipher=cipher, var_dir=tmp_var, path=path, **options)

    return _run
