"""Reading delivered files: format and encoding sniffing, headers, chunks with line numbers."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xinyidai.ingest import readers
from xinyidai.ingest.model import FileUnreadable

HEADER = "CF_WSH,CF_XDR_MC,CF_NR_FK\n"
ROWS = '罚〔2025〕1号,福州市测试有限公司,1.5\n罚〔2025〕2号,"福州,引号""公司",2\n'


def _all(source: readers.SourceFile, chunk_rows: int = 1) -> pl.DataFrame:
    return pl.concat(list(readers.iter_chunks(source, chunk_rows=chunk_rows)))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_in_utf8_with_or_without_bom_and_gb18030(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes((HEADER + ROWS).encode(encoding))
    source = readers.open_source(path, tmp_dir=tmp_path / "tmp")
    try:
        assert source.format == "csv"
        assert source.encoding == encoding
        assert source.header == ["CF_WSH", "CF_XDR_MC", "CF_NR_FK"]
        frame = _all(source)
        assert frame[readers.LINE].to_list() == [2, 3]
        assert frame["c1"].to_list() == ["福州市测试有限公司", '福州,引号"公司']
        assert not source.lossy
    finally:
        source.cleanup()
    assert list((tmp_path / "tmp").glob("*")) == [] if (tmp_path / "tmp").exists() else True


def test_invalid_bytes_are_read_lossily_and_flagged(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(HEADER.encode() + b"\xff\xfe\xfa,x,1\n" + "罚,福州,2\n".encode())
    source = readers.open_source(path, tmp_dir=tmp_path)
    assert source.lossy
    assert "\ufffd" in _all(source)["c0"][0]


@pytest.mark.parametrize(("separator", "name"), [(";", "semi"), ("\t", "tab"), ("|", "pipe")])
def test_separators_are_sniffed_from_the_header(tmp_path: Path, separator: str, name: str) -> None:
    path = tmp_path / f"{name}.txt"
    path.write_text(f"a{separator}b{separator}c\n1{separator}2{separator}3\n", encoding="utf-8")
    source = readers.open_source(path, tmp_dir=tmp_path)
    assert (source.separator, source.header) == (separator, ["a", "b", "c"])
    assert _all(source).row(0) == (2, "1", "2", "3")


def test_formats_by_extension_and_by_content(tmp_path: Path) -> None:
    jsonl = tmp_path / "x.data"
    jsonl.write_text('{"CF_WSH": "1", "CF_NR_FK": 1.50}\n', encoding="utf-8")
    source = readers.open_source(jsonl, tmp_dir=tmp_path)
    assert (source.format, source.header) == ("jsonl", ["CF_WSH", "CF_NR_FK"])
    frame = _all(source)
    assert frame["c1"].to_list() == ["1.50"]  # the literal text of the number, not a float
    assert readers.sniff_format(Path("a.xlsx"), b"") == "xlsx"
    assert readers.sniff_format(Path("a.bin"), b"PK\x03\x04....") == "xlsx"
    assert readers.sniff_format(Path("a.bin"), b"a,b\n") == "csv"


def test_jsonl_lines_that_are_not_objects_become_malformed_rows(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": "1", "b": null}\n[1, 2]\n\n{"a": {"nested": 1}}\n{"a": true}\n', encoding="utf-8")
    frame = _all(readers.open_source(path, tmp_dir=tmp_path), chunk_rows=10)
    assert frame[readers.LINE].to_list() == [1, 2, 4, 5]
    assert frame["__malformed"].to_list() == [False, True, True, False]
    assert frame["c0"].to_list() == ["1", None, None, "true"]


def test_xlsx_first_sheet_with_dates_and_numbers(tmp_path: Path) -> None:
    import datetime

    import xlsxwriter

    path = tmp_path / "p.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    dates = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, ["CF_WSH", "CF_JDRQ", "CF_NR_FK"])
    sheet.write_row(1, 0, ["罚1"])
    sheet.write_datetime(1, 1, datetime.datetime(2025, 5, 20), dates)
    sheet.write_number(1, 2, 10.3)
    book.close()
    source = readers.open_source(path, tmp_dir=tmp_path)
    assert (source.format, source.header) == ("xlsx", ["CF_WSH", "CF_JDRQ", "CF_NR_FK"])
    assert _all(source).row(0) == (2, "罚1", "2025-05-20 00:00:00", "10.3")


@pytest.mark.parametrize("content", [b"", b"\n\n", b"PK\x03\x04garbage"])
def test_files_that_cannot_be_read(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / ("x.xlsx" if content.startswith(b"PK") else "x.csv")
    path.write_bytes(content)
    with pytest.raises(FileUnreadable):
        readers.open_source(path, tmp_dir=tmp_path)
    with pytest.raises(FileUnreadable):
        readers.open_source(tmp_path / "missing.csv", tmp_dir=tmp_path)


def test_the_digest_is_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "p.csv"
    path.write_bytes((HEADER + ROWS).encode())
    source = readers.open_source(path, tmp_dir=tmp_path)
    assert source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert source.size == path.stat().st_size


@pytest.mark.parametrize("block", [1, 7, 16, 64])
def test_csv_blocks_end_at_record_boundaries_even_inside_quoted_line_breaks(tmp_path: Path, block: int) -> None:
    records = ['1,"多\n行",x\n', '2,"say ""hi""\n",y\n', "3,plain,z\n", '4,"a,b",w\r\n']
    path = tmp_path / "q.csv"
    path.write_bytes(("id,text,tag\n" + "".join(records)).encode())
    blocks = list(readers._csv_blocks(path, block))
    assert b"".join(blocks) == "".join(records).encode()
    for piece in blocks:
        assert piece.count(b'"') % 2 == 0
    source = readers.open_source(path, tmp_dir=tmp_path)
    frame = _all(source)
    assert frame["c1"].to_list() == ["多\n行", 'say "hi"\n', "plain", "a,b"]
    assert frame[readers.LINE].to_list() == [2, 3, 4, 5]


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# Valid text (multi-byte characters that blocks may cut), with a few raw bytes spliced in now and then.
_TEXT_OR_BYTES = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12).map(lambda t: t.encode()),
        st.binary(max_size=4),
    ),
    max_size=12,
).map(b"".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_TEXT_OR_BYTES, block=st.integers(min_value=1, max_value=9))
def test_the_one_pass_scan_gives_the_digest_the_size_and_utf8_validity_whatever_the_block(
    tmp_path: Path, data: bytes, block: int
) -> None:
    import hashlib

    path = tmp_path / "s.bin"
    path.write_bytes(data)
    assert readers.scan_file(path, block_bytes=block) == (hashlib.sha256(data).hexdigest(), len(data), _is_utf8(data))


@pytest.mark.parametrize(
    "data",
    [
        "多".encode() * 3,  # every cut falls inside a character for small blocks
        "多".encode()[:2],  # a file that ends inside a character
        b"\xed\xa0\x80",  # an encoded surrogate
        b"\xc0\xaf",  # an overlong encoding
        b"\xf4\x90\x80\x80",  # beyond U+10FFFF
        b"a\x80\x80\x80\x80",  # a run of continuation bytes
    ],
)
def test_the_scan_agrees_with_the_strict_decoder_on_edge_cases(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "e.bin"
    path.write_bytes(data)
    for block in (1, 2, 3, 4, 1 << 20):
        assert readers.scan_file(path, block_bytes=block)[2] == _is_utf8(data)
