"""Bulk delivery end to end on a migrated database: formats, layouts, rejects, versions, re-runs, crashes."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.factories import ADMIN, uscc_for
from tests.integration.ingest.conftest import (
    AUTHORITY,
    OTHER_AUTHORITY,
    IngestRun,
    penalty_row,
    write_csv,
    write_jsonl,
    write_xlsx,
)
from xinyidai import audit, ingest, registry
from xinyidai.catalog import load_catalog
from xinyidai.db import Database
from xinyidai.ingest import pipeline
from xinyidai.ingest.tables import Batch, Record, RecordVersion, Reject, Source
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher

AS_OF = date(2026, 6, 30)


def _records(db: Database, item: str = "admin_penalty") -> list[Record]:
    with db.transaction() as s:
        rows = s.scalars(sa.select(Record).where(Record.item_code == item).order_by(Record.id)).all()
        for row in rows:
            s.expunge(row)
        return list(rows)


def _count(db: Database, model: type[object], *where: sa.ColumnElement[bool]) -> int:
    with db.transaction() as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


def _store_state(db: Database) -> set[tuple[str, str, int]]:
    return {(r.id.hex, r.content_hash, r.version) for r in _records(db)}


# --- formats and encodings -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv-utf8", "csv-bom", "csv-gb18030", "xlsx", "jsonl"])
def test_every_format_and_encoding_stores_the_same_records(run: IngestRun, db: Database, tmp_path: Path, kind: str) -> None:
    rows = [penalty_row(n) for n in range(1, 6)]
    if kind == "csv-utf8":
        path = write_csv(tmp_path / "p.csv", rows)
    elif kind == "csv-bom":
        path = write_csv(tmp_path / "p.csv", rows, encoding="utf-8-sig")
    elif kind == "csv-gb18030":
        path = write_csv(tmp_path / "p.csv", rows, encoding="gb18030")
    elif kind == "xlsx":
        path = write_xlsx(tmp_path / "p.xlsx", rows)
    else:
        path = write_jsonl(tmp_path / "p.jsonl", [{k: v for k, v in r.items() if v is not None} for r in rows])
    result = run(path)
    assert (result.accepted, result.updated, result.unchanged, result.rejected) == (5, 0, 0, 0), result
    stored = _records(db)
    assert {r.data["CF_WSH"] for r in stored} == {f"榕市监罚〔2025〕{n}号" for n in range(1, 6)}
    assert all(r.data["CF_XDR_MC"].startswith("福州市测试") for r in stored)
    # The same rows in UTF-8 CSV give byte-identical content hashes: nothing changes.
    again = run(write_csv(tmp_path / "again.csv", rows))
    assert (again.accepted, again.updated, again.unchanged) == (0, 0, 5)
    with db.transaction() as s:
        batch = s.get(Batch, result.batch_id)
        assert batch is not None
        assert batch.format == kind.split("-")[0]
        if kind == "csv-gb18030":
            assert batch.encoding == "gb18030"


def test_jsonl_numbers_keep_their_exact_text_and_malformed_lines_are_rejected(
    run: IngestRun, db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "p.jsonl"
    good = {k: v for k, v in penalty_row(1).items() if v is not None}
    line = json.dumps(good, ensure_ascii=False).replace('"CF_NR_FK": "0.2"', '"CF_NR_FK": 0.10')
    path.write_text(line + "\n{not json\n" + json.dumps({**good, "CF_WSH": "榕市监罚〔2025〕2号"}, ensure_ascii=False) + "\n")
    result = run(path)
    assert (result.accepted, result.rejected) == (2, 1)
    fines = sorted(r.data["CF_NR_FK"] for r in _records(db))
    assert fines == ["0.1", "0.2"]
    with db.transaction() as s:
        reject = s.scalars(sa.select(Reject).where(Reject.batch_id == result.batch_id)).one()
    assert (reject.line, reject.code) == (2, "malformed")


def test_generator_layouts_of_every_item_are_recognised_and_stored(
    db: Database, clock: FrozenClock, cipher: PiiCipher, tmp_var: Path, generated: Path
) -> None:
    ingest.seed_sources(db, ADMIN, clock)
    entries = ingest.ingest_directory(db, actor=ADMIN, clock=clock, cipher=cipher, var_dir=tmp_var, directory=generated)
    assert next(e.file for e in entries) == "registration.csv"
    assert "outcomes.csv" not in [e.file for e in entries]
    manifest = json.loads((generated / "manifest.json").read_text())
    rows = {f["file"]: f["rows"] for f in manifest["files"]}
    for entry in entries:
        assert entry.error is None, entry
        assert entry.result is not None
        r = entry.result
        assert r.accepted + r.updated + r.unchanged + r.rejected == rows[entry.file]
        # Only rows past their retention end are refused in the generator's clean data.
        if r.rejected:
            with db.transaction() as s:
                codes = set(s.scalars(sa.select(Reject.code).where(Reject.batch_id == r.batch_id)))
            assert codes == {"retention_expired"}, (entry.file, codes)
    # Registration fed the registry: subjects exist for the records' USCCs.
    subjects, total = registry.search_subjects(db, limit=1)
    assert total == rows["registration.csv"]
    assert ingest.visible_records(db, uscc=subjects[0].uscc, as_of=AS_OF, include_unpublished=True)


# --- the 2016 layout -------------------------------------------------------------------------------

LEGACY_COLUMNS = [
    "CF_WSH",
    "CF_CFMC",
    "CF_CFLB1",
    "CF_CFLB2",
    "CF_SY",
    "CF_YJ",
    "CF_XDR_MC",
    "CF_XDR_SHXYM",
    "CF_FR",
    "CF_JG",
    "CF_JDRQ",
    "CF_XZJG",
    "CF_ZT",
    "DFBM",
    "SJC",
    "BZ",
]


def test_legacy_2016_layout_is_mapped_and_filled_from_the_source(
    run: IngestRun, db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    ingest.create_source(
        db,
        actor=ADMIN,
        clock=clock,
        code=AUTHORITY,
        name="福州市市场监督管理局",
        department_code="admin_bodies",
        items=["admin_penalty"],
    )
    rows = []
    for n in (1, 2):
        current = penalty_row(n)
        rows.append(
            {
                "CF_WSH": current["CF_WSH"],
                "CF_CFMC": current["CF_WFXW"],
                "CF_CFLB1": "罚款",
                "CF_CFLB2": "没收违法所得" if n == 2 else "",
                "CF_SY": current["CF_SY"],
                "CF_YJ": current["CF_YJ"],
                "CF_XDR_MC": current["CF_XDR_MC"],
                "CF_XDR_SHXYM": current["CF_XDR_SHXYM"],
                "CF_FR": "李四",
                "CF_JG": current["CF_NR"],
                "CF_JDRQ": "2025/5/20",
                "CF_XZJG": "福州市市场监督管理局",
                "CF_ZT": "正常",
                "DFBM": "350100",
                "SJC": "2025-05-21 10:00:00",
                "BZ": "",
            }
        )
    path = write_csv(tmp_path / "legacy.csv", rows, fields=LEGACY_COLUMNS)
    with pytest.raises(ingest.SourceRequired):
        run(path)
    result = run(path, source=AUTHORITY)
    assert (result.accepted, result.rejected) == (2, 0), result
    stored = {r.data["CF_WSH"]: r for r in _records(db)}
    second = stored["榕市监罚〔2025〕2号"]
    assert second.data["CF_CFLB"] == "罚款;没收违法所得"
    assert second.data["CF_CFJGDM"] == AUTHORITY
    assert second.data["CF_XDR_LB"] == "法人及非法人组织"
    assert second.data["CF_JDRQ"] == "2025-05-20"
    assert second.data["CF_FRDB"] == "李*"
    with db.transaction() as s:
        assert s.get(Batch, result.batch_id).layout == "legacy-2016"  # type: ignore[union-attr]


# --- rejects -------------------------------------------------------------------------------------------


def test_bad_rows_are_rejected_with_line_field_value_and_reason_while_good_rows_land(
    run: IngestRun, db: Database, tmp_path: Path, tmp_var: Path
) -> None:
    rows = [
        penalty_row(1),
        penalty_row(2, CF_XDR_SHXYM="91350100M000100Y44"),  # wrong check character
        penalty_row(3, CF_JDRQ="2025-02-30"),  # no such day
        penalty_row(4, CF_WSH=None),  # required (and natural key) missing
        penalty_row(5, CF_XDR_LB="公司"),  # not in the code list
        penalty_row(6, CF_NR_FK="12.3456789"),  # finer than a fen
        penalty_row(7, CF_YXQ="2025-01-01"),  # validity ends before the decision
        penalty_row(8, CF_FR_ZJHM="350102198001010012"),  # resident ID with a wrong check digit
        penalty_row(9, CF_XDR_MC="长" * 201),  # too long
        penalty_row(10, CF_XDR_SHXYM=None),  # required for a 法人 (cross-field rule)
        penalty_row(
            11, CF_XDR_MC="  福州市　测试１１号贸易有限公司 ", CF_NR_FK="１,000.50", CF_JDRQ="2025年5月20日"
        ),  # dirty but valid
    ]
    result = run(write_csv(tmp_path / "mixed.csv", rows))
    assert (result.accepted, result.rejected) == (2, 9), result
    with db.transaction() as s:
        rejects = {(r.line, r.field, r.code): r for r in s.scalars(sa.select(Reject).where(Reject.batch_id == result.batch_id))}
    assert set(rejects) == {
        (3, "CF_XDR_SHXYM", "uscc"),
        (4, "CF_JDRQ", "date"),
        (5, "CF_WSH", "required"),
        (6, "CF_XDR_LB", "code_list"),
        (7, "CF_NR_FK", "decimal"),
        (8, "CF_YXQ", "cross_field"),
        (9, "CF_FR_ZJHM", "id_number"),
        (10, "CF_XDR_MC", "max_length"),
        (11, "CF_XDR_SHXYM", "cross_field"),
    }
    uscc = rejects[(3, "CF_XDR_SHXYM", "uscc")]
    assert uscc.value == "91350100M000100Y44"
    assert "第18位校验码" in uscc.reason
    assert rejects[(4, "CF_JDRQ", "date")].value == "2025-02-30"
    # A personal value is never repeated in clear, even in a reject.
    assert rejects[(9, "CF_FR_ZJHM", "id_number")].value == "350102********0012"
    # The dirty row was normalised: half-width, blanks folded, 万元 canonical, ISO date.
    clean = next(r for r in _records(db) if r.data["CF_WSH"] == "榕市监罚〔2025〕11号")
    assert clean.data["CF_XDR_MC"] == "福州市 测试11号贸易有限公司"
    assert clean.data["CF_NR_FK"] == "1000.5"
    assert clean.data["CF_JDRQ"] == "2025-05-20"
    # The same rejects are in the CSV under var/rejects, and queryable.
    assert result.rejects_file is not None
    path = Path(result.rejects_file)
    assert path.parent == (tmp_var / "rejects").resolve()
    with path.open(encoding="utf-8-sig") as handle:
        lines = list(csv.DictReader(handle))
    assert {(int(r["line"]), r["field"], r["code"]) for r in lines} == set(rejects)
    page, total = ingest.batch_rejects(db, actor=ADMIN, batch_id=result.batch_id, restricted=False, tenant=None)
    assert total == 9
    assert [r.line for r in page] == sorted(r.line for r in page)


def test_duplicates_in_a_file_last_wins_and_earlier_lines_are_reported(run: IngestRun, db: Database, tmp_path: Path) -> None:
    rows = [penalty_row(1, CF_NR_FK="0.1"), penalty_row(2), penalty_row(1, CF_NR_FK="0.3"), penalty_row(1, CF_NR_FK="0.5")]
    result = run(write_csv(tmp_path / "dup.csv", rows), chunk_rows=2)
    assert (result.accepted, result.rejected, result.duplicates) == (2, 2, 2)
    stored = {r.data["CF_WSH"]: r for r in _records(db)}
    assert stored["榕市监罚〔2025〕1号"].data["CF_NR_FK"] == "0.5"
    assert stored["榕市监罚〔2025〕1号"].version == 1
    with db.transaction() as s:
        rejects = s.scalars(sa.select(Reject).where(Reject.batch_id == result.batch_id).order_by(Reject.line)).all()
        assert [(r.line, r.code) for r in rejects] == [(2, "duplicate_in_file"), (4, "duplicate_in_file")]
        assert "第 5 行" in rejects[0].reason


# --- versions and re-runs -------------------------------------------------------------------------------


def test_a_changed_record_becomes_a_new_version_with_the_old_one_kept(run: IngestRun, db: Database, tmp_path: Path) -> None:
    first = run(write_csv(tmp_path / "v1.csv", [penalty_row(n) for n in range(1, 4)]))
    assert first.accepted == 3
    second = run(write_csv(tmp_path / "v2.csv", [penalty_row(1), penalty_row(2, CF_NR_FK="0.8"), penalty_row(3), penalty_row(4)]))
    assert (second.accepted, second.updated, second.unchanged, second.rejected) == (1, 1, 2, 0)
    changed = ingest.find_record(db, item="admin_penalty", key={"CF_WSH": "榕市监罚〔2025〕2号", "CF_CFJGDM": AUTHORITY})
    assert changed is not None
    assert (changed.version, changed.data["CF_NR_FK"], changed.batch_id) == (2, "0.8", second.batch_id)
    history = ingest.record_history(db, record_id=changed.id)
    assert [(v.version, v.data["CF_NR_FK"], v.batch_id) for v in history] == [
        (1, "0.2", first.batch_id),
        (2, "0.8", second.batch_id),
    ]
    assert history[0].superseded_at is not None
    assert history[-1].superseded_at is None


def test_rerunning_a_file_changes_nothing(run: IngestRun, db: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", [penalty_row(n) for n in range(1, 8)] + [penalty_row(99, CF_JDRQ="bad")])
    first = run(path)
    before = _store_state(db)
    replay = run(path)
    assert replay.replay_of == first.batch_id
    assert (replay.accepted, replay.updated, replay.unchanged, replay.rejected) == (0, 0, 7, 1)
    assert replay.rejects_file == first.rejects_file
    # A file with the same rows in another order is not the same file: it is compared record by record.
    reordered = run(write_csv(tmp_path / "r.csv", [penalty_row(n) for n in reversed(range(1, 8))]))
    assert (reordered.accepted, reordered.updated, reordered.unchanged, reordered.replay_of) == (0, 0, 7, None)
    assert _store_state(db) == before
    assert _count(db, RecordVersion) == 0


def test_record_json_is_stored_as_text_the_database_reads_on_insert_and_on_update(
    run: IngestRun, db: Database, tmp_path: Path
) -> None:
    # SQLite bulk writes hand the JSON over as UTF-8 bytes cast to text: it must land as text (not a blob),
    # equal to what the ORM reads, and readable by the database's own JSON functions.
    name = '福州,引号"公司\\'
    run(write_csv(tmp_path / "v1.csv", [penalty_row(1, CF_XDR_MC=name), penalty_row(2)]))
    run(write_csv(tmp_path / "v2.csv", [penalty_row(1, CF_XDR_MC=name), penalty_row(2, CF_NR_FK="0.8")]))
    with db.transaction() as s:
        if s.get_bind().dialect.name == "sqlite":
            query = "SELECT typeof(data), json_extract(data, '$.CF_XDR_MC'), json_extract(data, '$.CF_NR_FK') FROM ingest_record"
        else:
            query = "SELECT json_typeof(data), data->>'CF_XDR_MC', data->>'CF_NR_FK' FROM ingest_record"
        stored = sorted(s.execute(sa.text(query)).all(), key=lambda r: str(r[2]))
    kind = "text" if stored[0][0] == "text" else "object"
    assert [tuple(r) for r in stored] == [(kind, name, "0.2"), (kind, penalty_row(2)["CF_XDR_MC"], "0.8")]
    assert sorted(r.data["CF_XDR_MC"] for r in _records(db)) == sorted([name, str(penalty_row(2)["CF_XDR_MC"])])


# --- sources ---------------------------------------------------------------------------------------------


def test_a_cli_delivery_registers_unknown_source_units_as_pending_and_an_operator_confirms(
    run: IngestRun, db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    rows = [penalty_row(1), penalty_row(2, CF_SJLYDM=OTHER_AUTHORITY, CF_SJLY="闽侯县市场监督管理局")]
    result = run(write_csv(tmp_path / "p.csv", rows))
    assert result.accepted == 2
    pending, total = ingest.list_sources(db, status="pending")
    assert total == 2
    assert {(s.code, s.name) for s in pending} == {(AUTHORITY, "福州市市场监督管理局"), (OTHER_AUTHORITY, "闽侯县市场监督管理局")}
    assert all(s.items == ["admin_penalty"] and s.department_code == "admin_bodies" for s in pending)
    view = ingest.confirm_source(db, actor=ADMIN, clock=clock, code=OTHER_AUTHORITY)
    assert (view.status, view.confirmed_by) == ("active", ADMIN.label)
    actions = [e.action for e in audit.recent(db, actor=ADMIN, limit=20)]
    assert actions.count("ingest.source.register_pending") == 1
    assert "ingest.source.confirm" in actions
    # Records point at their row's source.
    with db.transaction() as s:
        ids = {r.code: r.id for r in s.scalars(sa.select(Source))}
    by_key = {r.data["CF_WSH"]: r.source_id for r in _records(db)}
    assert by_key["榕市监罚〔2025〕2号"] == ids[OTHER_AUTHORITY]


def test_without_cli_registration_unknown_source_units_are_rejected(run: IngestRun, db: Database, tmp_path: Path) -> None:
    result = run(write_csv(tmp_path / "p.csv", [penalty_row(1)]), register_unknown=False)
    assert (result.accepted, result.rejected) == (0, 1)
    with db.transaction() as s:
        assert s.scalars(sa.select(Reject.code).where(Reject.batch_id == result.batch_id)).all() == ["source_unknown"]
    assert ingest.list_sources(db)[1] == 0


def test_seeded_sources_are_idempotent_and_utilities_are_sourced_per_row(
    db: Database, clock: FrozenClock, generated: Path, run: IngestRun
) -> None:
    first = ingest.seed_sources(db, ADMIN, clock)
    again = ingest.seed_sources(db, ADMIN, clock)
    assert [s.code for s in first] == [s.code for s in again]
    by_department = {s.department_code: s for s in first}
    assert {"samr", "tax", "court", "water", "power", "gas", "admin_bodies"} <= set(by_department)
    assert "utilities" not in by_department
    assert "authorized" not in by_department["samr"].modes
    result = run(generated / "utility_payment.csv")
    assert result.rejected == 0
    with db.transaction() as s:
        used = {
            (row.data["utility"], row.source_id)
            for row in s.scalars(sa.select(Record).where(Record.item_code == "utility_payment").limit(500))
        }
    expected = {"water": by_department["water"].id, "electricity": by_department["power"].id, "gas": by_department["gas"].id}
    assert all(expected[utility] == source for utility, source in used)


# --- subjects in any order ----------------------------------------------------------------------------


def test_records_of_a_subject_not_yet_registered_are_kept_and_linked_when_it_registers(
    run: IngestRun, db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    ingest.seed_sources(db, ADMIN, clock)
    uscc = uscc_for(31_000_001)
    penalty = run(write_csv(tmp_path / "p.csv", [penalty_row(1, CF_XDR_SHXYM=uscc)]))
    assert penalty.accepted == 1
    assert registry.search_subjects(db, q=uscc)[1] == 0
    kept = ingest.visible_records(db, uscc=uscc, as_of=AS_OF)
    assert [r.item_code for r in kept] == ["admin_penalty"]
    fields = load_catalog().item("registration").field_names
    reg = {
        "uscc": uscc,
        "name": "福州市测试1号贸易有限公司",
        "entity_type": "有限责任公司",
        "legal_rep_name": "张三",
        "legal_rep_id_type": "身份证",
        "legal_rep_id_no": "350102198001010011",
        "registered_capital": "100",
        "established_on": "2015-03-02",
        "region_code": "350102",
        "industry_code": "F51",
        "address": "福州市鼓楼区",
        "business_scope": "批发",
        "status": "存续",
        "registration_authority": "福州市鼓楼区市场监督管理局",
    }
    registration = run(write_csv(tmp_path / "r.csv", [reg], fields=fields))
    assert registration.accepted == 1
    assert registry.search_subjects(db, q=uscc)[1] == 1
    linked = ingest.visible_records(db, uscc=uscc, as_of=AS_OF)
    assert sorted(r.item_code for r in linked) == ["admin_penalty", "registration"]
    # The penalty was not rewritten: same version, same batch.
    again = next(r for r in linked if r.item_code == "admin_penalty")
    assert (again.version, again.batch_id) == (1, penalty.batch_id)


def test_a_registration_row_the_registry_refuses_is_refused_by_the_batch_too(
    run: IngestRun, db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    ingest.seed_sources(db, ADMIN, clock)
    fields = load_catalog().item("registration").field_names
    base = {
        "uscc": uscc_for(31_000_002),
        "name": "测试企业",
        "entity_type": "有限责任公司",
        "legal_rep_name": "张三",
        "established_on": "2015-03-02",
        "region_code": "350102",
        "status": "存续",
        "registration_authority": "福州市鼓楼区市场监督管理局",
    }
    result = run(write_csv(tmp_path / "r.csv", [base, {**base, "uscc": uscc_for(31_000_003), "status": "营业中"}], fields=fields))
    assert (result.accepted, result.rejected) == (1, 1)
    with db.transaction() as s:
        reject = s.scalars(sa.select(Reject).where(Reject.batch_id == result.batch_id)).one()
    assert (reject.line, reject.field, reject.code) == (3, "status", "registry")


# --- personal data ------------------------------------------------------------------------------------


def test_personal_fields_are_encrypted_at_rest_masked_on_read_and_revealed_with_an_audit(
    run: IngestRun, db: Database, cipher: PiiCipher, tmp_path: Path
) -> None:
    row = penalty_row(1)
    run(write_csv(tmp_path / "p.csv", [row]))
    record = _records(db)[0]
    assert record.data["CF_FR_ZJHM"] == "350102********" + str(row["CF_FR_ZJHM"])[-4:]
    assert record.data["CF_FRDB"] == "张*"
    assert record.pii is not None
    assert row["CF_FR_ZJHM"] not in record.pii
    assert row["CF_FR_ZJHM"] not in json.dumps(record.data)
    clear = ingest.reveal_personal(db, actor=ADMIN, cipher=cipher, record_id=record.id)
    assert clear == {"CF_FRDB": "张三", "CF_FR_ZJHM": row["CF_FR_ZJHM"]}
    assert audit.recent(db, actor=ADMIN, limit=1)[0].action == "ingest.record.reveal"


# --- crash safety -------------------------------------------------------------------------------------


def test_a_failure_after_the_first_chunk_leaves_no_partial_batch_and_a_rerun_lands_every_row_once(
    run: IngestRun, db: Database, tmp_path: Path, tmp_var: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [penalty_row(n) for n in range(1, 31)] + [penalty_row(500, CF_SJLYDM=OTHER_AUTHORITY), penalty_row(501, CF_JDRQ="x")]
    path = write_csv(tmp_path / "p.csv", rows)
    original = pipeline.write_chunk
    calls = {"n": 0}

    def failing(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed mid-batch")
        original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "write_chunk", failing)
    with pytest.raises(RuntimeError, match="killed mid-batch"):
        run(path, chunk_rows=10)
    assert calls["n"] == 2
    assert _count(db, Record) == 0
    assert _count(db, Batch) == 0
    assert _count(db, Reject) == 0
    assert ingest.list_sources(db)[1] == 0
    assert list((tmp_var / "rejects").glob("*")) == [] if (tmp_var / "rejects").exists() else True
    monkeypatch.setattr(pipeline, "write_chunk", original)
    result = run(path, chunk_rows=10)
    assert (result.accepted, result.rejected, result.replay_of) == (31, 1, None)
    assert _count(db, Record) == 31
    again = run(path, chunk_rows=10)
    assert (again.accepted, again.unchanged) == (0, 31)
    assert _count(db, Record) == 31


# --- publication and retention --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decided", "types", "severity", "rule", "publication_end"),
    [
        # 2019 rule (until 2023-04-30): general 3 months–1 year.
        ("2023-04-30", "罚款", "general", "ndrc_2019_527", "2024-04-30"),
        # NDRC Order No. 58 from 2023-05-01: 3 months–3 years.
        ("2023-05-01", "罚款", "general", "ndrc_order_58", "2026-05-01"),
        ("2026-03-31", "警告", "minor", "ndrc_order_58", "2029-03-31"),
        # From 2026-04-01: general at most 1 year; minor normally not published at all.
        ("2026-04-01", "罚款", "general", "gov_2025_22", "2027-04-01"),
        ("2026-04-01", "警告", "minor", "gov_2025_22", "2026-03-31"),
        # Several types: the longest applies (revocation is serious: 1–3 years).
        ("2026-04-01", "罚款;吊销许可证件", "serious", "gov_2025_22", "2029-04-01"),
    ],
)
def test_publication_and_retention_follow_the_rule_in_force_at_the_decision(
    run: IngestRun, db: Database, tmp_path: Path, decided: str, types: str, severity: str, rule: str, publication_end: str
) -> None:
    row = penalty_row(1, CF_JDRQ=decided, CF_CFLB=types)
    result = run(write_csv(tmp_path / "p.csv", [row]))
    assert result.accepted == 1, result
    record = _records(db)[0]
    assert (record.severity, record.publication_rule, record.publication_end) == (
        severity,
        rule,
        date.fromisoformat(publication_end),
    )
    decision = date.fromisoformat(decided)
    assert record.retention_end == date(decision.year + 5, decision.month, decision.day)
    end = record.publication_end
    assert end is not None
    uscc = str(row["CF_XDR_SHXYM"])
    after = date.fromordinal(end.toordinal() + 1)
    assert len(ingest.visible_records(db, uscc=uscc, as_of=decision)) == (1 if end >= decision else 0)
    assert len(ingest.visible_records(db, uscc=uscc, as_of=max(end, decision))) == (1 if end >= decision else 0)
    assert ingest.visible_records(db, uscc=uscc, as_of=after) == []
    assert len(ingest.visible_records(db, uscc=uscc, as_of=date.fromordinal(end.toordinal() + 1), include_unpublished=True)) == 1


def test_special_sectors_raise_the_minimum_under_order_58(run: IngestRun, db: Database, tmp_path: Path) -> None:
    row = penalty_row(1, CF_JDRQ="2024-03-01", CF_YJ="《中华人民共和国消防法》第六十条")
    run(write_csv(tmp_path / "p.csv", [row]))
    record = _records(db)[0]
    assert record.publication_min_end == date(2025, 3, 1)  # 1 year instead of 3 months (fire safety)


def test_rows_past_retention_are_refused_and_the_purge_deletes_records_that_expire(
    run: IngestRun, db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    rows = [penalty_row(1, CF_JDRQ="2021-06-29"), penalty_row(2, CF_JDRQ="2021-06-30"), penalty_row(3, CF_JDRQ="2021-07-01")]
    result = run(write_csv(tmp_path / "p.csv", rows))
    # Kept 5 years from the decision: 2021-06-29 ended yesterday (clock: 2026-06-30 China time).
    assert (result.accepted, result.rejected) == (2, 1)
    first = next(r for r in _records(db) if r.data["CF_WSH"] == "榕市监罚〔2025〕2号")
    with db.transaction() as s:
        ingest.mark_disputed(s, actor=ADMIN, record_id=first.id, reason="test")
    clock.set(datetime(2026, 6, 30, 17, tzinfo=UTC))  # 2026-07-01 China time
    summary = ingest.purge_expired(db, actor=ADMIN, clock=clock)
    assert summary.records == {"admin_penalty": 1}
    assert [r.data["CF_WSH"] for r in _records(db)] == ["榕市监罚〔2025〕3号"]
    event = audit.recent(db, actor=ADMIN, limit=1)[0]
    assert event.action == "ingest.record.purge"
    assert ingest.purge_expired(db, actor=ADMIN, clock=clock).total == 0
