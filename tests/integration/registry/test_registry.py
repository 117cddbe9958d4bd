"""Loading registration records; personal data encrypted at rest, masked on read, reads audited."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.factories import ADMIN, RegistrationRowFactory, uscc_for
from xinyidai import registry
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.errors import Forbidden, NotFound
from xinyidai.kernel.pii import PiiCipher


def load(db: Database, clock: FrozenClock, cipher: PiiCipher, rows: list[dict[str, str]]) -> registry.LoadSummary:
    return registry.load_registrations(
        db, actor=ADMIN, clock=clock, cipher=cipher, rows=enumerate(rows, start=2), source="test.csv"
    )


def test_load_rerun_and_update(db: Database, clock: FrozenClock, cipher: PiiCipher) -> None:
    rows = RegistrationRowFactory.build_batch(5)
    first = load(db, clock, cipher, rows)
    assert (first.accepted, first.updated, first.unchanged, first.rejected) == (5, 0, 0, [])
    again = load(db, clock, cipher, rows)
    assert (again.accepted, again.updated, again.unchanged) == (0, 0, 5)
    rows[0] = {**rows[0], "status": "注销"}
    changed = load(db, clock, cipher, rows)
    assert (changed.accepted, changed.updated, changed.unchanged) == (0, 1, 4)
    items, total = registry.search_subjects(db, status="注销")
    assert total == 1
    assert items[0].uscc == rows[0]["uscc"]


def test_bad_rows_are_reported_with_line_and_reason_and_good_ones_land(
    db: Database, clock: FrozenClock, cipher: PiiCipher
) -> None:
    good = RegistrationRowFactory.build()
    bad_check = RegistrationRowFactory.build(uscc=uscc_for(7)[:-1] + ("0" if uscc_for(7)[-1] != "0" else "1"))
    bad_date = RegistrationRowFactory.build(established_on="2015/13/45")
    missing = RegistrationRowFactory.build(name="")
    summary = load(db, clock, cipher, [good, bad_check, bad_date, missing])
    assert summary.accepted == 1
    lines = dict(summary.rejected)
    assert set(lines) == {3, 4, 5}
    assert any(r.startswith("uscc: check") for r in lines[3])
    assert any(r.startswith("established_on") for r in lines[4])
    assert lines[5] == ["name: 必填"]


def test_id_number_encrypted_at_rest_masked_on_read_and_read_audited(db: Database, clock: FrozenClock, cipher: PiiCipher) -> None:
    row = RegistrationRowFactory.build()
    load(db, clock, cipher, [row])
    with db.transaction() as s:
        raw = s.execute(sa.text("SELECT * FROM subject")).mappings().one()
    assert row["legal_rep_id_no"] not in " ".join(str(v) for v in raw.values())
    detail = registry.get_subject(db, actor=ADMIN, uscc=row["uscc"], can_read_all=True, can_read_own=False, own_uscc=None)
    assert detail.legal_rep_id_masked == "350102********123X"
    assert detail.region_name is not None
    assert detail.region_name.startswith("福建省福州市")
    assert registry.reveal_legal_rep_id(db, actor=ADMIN, cipher=cipher, uscc=row["uscc"]) == row["legal_rep_id_no"]
    with db.transaction() as s:
        actions = s.scalars(sa.text("SELECT action FROM audit_event WHERE subject = :u ORDER BY seq"), {"u": row["uscc"]}).all()
    assert actions == ["registry.subject.read", "registry.subject.reveal_id"]


def test_enterprise_reads_only_its_own(db: Database, clock: FrozenClock, cipher: PiiCipher) -> None:
    mine, other = RegistrationRowFactory.build_batch(2)
    load(db, clock, cipher, [mine, other])
    own = registry.get_subject(db, actor=ADMIN, uscc=mine["uscc"], can_read_all=False, can_read_own=True, own_uscc=mine["uscc"])
    assert own.uscc == mine["uscc"]
    with pytest.raises(Forbidden):
        registry.get_subject(db, actor=ADMIN, uscc=other["uscc"], can_read_all=False, can_read_own=True, own_uscc=mine["uscc"])
    with db.transaction() as s:
        denied = s.scalar(sa.text("SELECT count(*) FROM audit_event WHERE action = 'registry.subject.read.denied'"))
    assert denied == 1
    with pytest.raises(NotFound):
        registry.get_subject(db, actor=ADMIN, uscc=uscc_for(999), can_read_all=True, can_read_own=False, own_uscc=None)


def test_figures(db: Database, clock: FrozenClock, cipher: PiiCipher) -> None:
    load(db, clock, cipher, RegistrationRowFactory.build_batch(3))
    figures = registry.subject_figures(db)
    assert figures["total"] == 3
    assert figures["by_status"] == {"存续": 3}
    assert figures["top_regions"][0][0] == "350102"
