"""Personal-data key rotation over real rows: k1 → k2 (and → SM4), all readable, digests unchanged, audited,
resumable after a crash, a no-op when run again, refused when it would break lookups."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from typer.testing import CliRunner

from tests.conftest import TEST_SECRET
from tests.factories import ADMIN, RegistrationRowFactory
from tests.integration.audit.trail_helpers import fresh_database
from xinyidai import audit, principal, registry
from xinyidai.audit.tables import AuditEvent
from xinyidai.cli import keys_cmd
from xinyidai.config import Settings
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import EncryptedColumn, PiiCipher

K1, K2 = b"\x01" * 32, b"\x02" * 32
B1, B2 = base64.b64encode(K1).decode(), base64.b64encode(K2).decode()
ID_CONTEXT, PHONE_CONTEXT = "subject.legal_rep_id", "app_user.phone"
_DECLARED = {c.name: c for c in keys_cmd.encrypted_columns()}
SUBJECT_COL, PHONE_COL = _DECLARED["subject.legal_rep_id_enc"], _DECLARED["app_user.phone_enc"]
COLUMNS = [SUBJECT_COL, PHONE_COL]


def k1() -> PiiCipher:
    return PiiCipher(key=K1, key_id="k1")


def k2(**kw: Any) -> PiiCipher:
    return PiiCipher(key=K2, key_id="k2", old_keys={"k1": K1}, **({"digest_key": K1} | kw))


def _seed(db: Database, clock: FrozenClock, cipher: PiiCipher, n: int = 5) -> dict[str, str]:
    """n subjects with legal representatives' ID numbers and two users with phones; uscc → ID number."""
    rows = RegistrationRowFactory.build_batch(n)
    for i, row in enumerate(rows):
        row["legal_rep_id_no"] = f"3501021980010{i:04d}X"[:17] + "X"
    summary = registry.load_registrations(db, actor=ADMIN, clock=clock, cipher=cipher, rows=enumerate(rows, 2), source="t")
    assert summary.accepted == n
    for i in range(2):
        principal.create_user(
            db,
            actor=ADMIN,
            clock=clock,
            cipher=cipher,
            username=f"phone{i}",
            password="Correct-Horse-9",
            role=principal.Role.OPERATOR,
            display_name="运营",
            phone=f"1391234567{i}",
        )
    return {r["uscc"]: r["legal_rep_id_no"] for r in rows}


def _values(db: Database, table: str, column: str, *extra: str) -> list[tuple[Any, ...]]:
    with db.transaction() as s:
        cols = ", ".join([column, *extra])
        return [tuple(r) for r in s.execute(sa.text(f"SELECT {cols} FROM {table} WHERE {column} IS NOT NULL ORDER BY id"))]


def _rotation_events(db: Database) -> list[AuditEvent]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(AuditEvent).where(AuditEvent.action == "keys.pii.rotate").order_by(AuditEvent.seq)))


def test_rotation_re_encrypts_every_value_keeps_digests_and_is_audited(db: Database, clock: FrozenClock) -> None:
    ids = _seed(db, clock, k1())
    before = _values(db, "subject", "legal_rep_id_enc", "legal_rep_id_digest", "uscc")
    assert all(v[0].startswith("v1:k1:") for v in before)
    assert audit.pending_rotation(db, cipher=k2(), columns=COLUMNS) == {SUBJECT_COL.name: 5, PHONE_COL.name: 2}

    results = audit.rotate_pii(db, cipher=k2(), columns=COLUMNS, actor=ADMIN, batch=2)
    assert [(r.column, r.rotated, r.batches, r.errors) for r in results] == [
        (SUBJECT_COL.name, 5, 3, []),
        (PHONE_COL.name, 2, 1, []),
    ]

    after = _values(db, "subject", "legal_rep_id_enc", "legal_rep_id_digest", "uscc")
    reader = k2()
    for (token, digest, uscc), (old_token, old_digest, _) in zip(after, before, strict=True):
        assert token.startswith("v1:k2:")
        assert token != old_token
        assert reader.decrypt(token, context=ID_CONTEXT) == ids[uscc]
        assert digest == old_digest == reader.digest(ids[uscc])  # lookups by ID number still find the row
    phones = [reader.decrypt(t, context=PHONE_CONTEXT) for (t,) in _values(db, "app_user", "phone_enc")]
    assert sorted(phones) == ["13912345670", "13912345671"]
    # The application reads the rotated value through its own service.
    uscc = next(iter(ids))
    assert registry.reveal_legal_rep_id(db, actor=ADMIN, cipher=reader, uscc=uscc) == ids[uscc]

    events = _rotation_events(db)
    assert [e.data["rows"] for e in events] == [2, 2, 1, 2]
    assert events[0].data["from"] == ["aes-256-gcm:k1"]
    assert events[0].data["to"] == "aes-256-gcm:k2"
    assert audit.verify(db).ok

    again = audit.rotate_pii(db, cipher=k2(), columns=COLUMNS, actor=ADMIN)
    assert all(r.rotated == 0 and r.batches == 0 for r in again)
    assert len(_rotation_events(db)) == 4  # a finished rotation does nothing, not even an audit event
    assert _values(db, "subject", "legal_rep_id_enc", "legal_rep_id_digest", "uscc") == after


def test_switching_to_sm4_is_a_rotation_too(db: Database, clock: FrozenClock) -> None:
    ids = _seed(db, clock, k1(), n=3)
    sm4 = k2(suite="sm4-gcm")
    audit.rotate_pii(db, cipher=sm4, columns=COLUMNS, actor=ADMIN)
    for token, uscc in _values(db, "subject", "legal_rep_id_enc", "uscc"):
        assert token.startswith("sm4gcm1:k2:")
        assert sm4.decrypt(token, context=ID_CONTEXT) == ids[uscc]
    assert audit.pending_rotation(db, cipher=sm4, columns=COLUMNS) == {SUBJECT_COL.name: 0, PHONE_COL.name: 0}


class _Crash(Exception):
    pass


class _CrashingCipher(PiiCipher):
    """Dies on the n-th encryption, like a process killed in the middle of a batch."""

    def __init__(self, *, crash_at: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.calls, self.crash_at = 0, crash_at

    def encrypt(self, plaintext: str, *, context: str) -> str:
        self.calls += 1
        if self.calls == self.crash_at:
            raise _Crash()
        return super().encrypt(plaintext, context=context)


def test_a_crash_loses_only_the_batch_in_flight_and_a_rerun_finishes(db: Database, clock: FrozenClock) -> None:
    ids = _seed(db, clock, k1())
    crashing = _CrashingCipher(crash_at=4, key=K2, key_id="k2", old_keys={"k1": K1}, digest_key=K1)
    with pytest.raises(_Crash):
        audit.rotate_pii(db, cipher=crashing, columns=[SUBJECT_COL], actor=ADMIN, batch=2)
    tokens = [t for (t,) in _values(db, "subject", "legal_rep_id_enc")]
    assert sum(t.startswith("v1:k2:") for t in tokens) == 2  # the first batch committed, the second rolled back
    assert audit.pending_rotation(db, cipher=k2(), columns=[SUBJECT_COL]) == {SUBJECT_COL.name: 3}
    [done] = audit.rotate_pii(db, cipher=k2(), columns=[SUBJECT_COL], actor=ADMIN, batch=2)
    assert done.rotated == 3
    for token, uscc in _values(db, "subject", "legal_rep_id_enc", "uscc"):
        assert k2().decrypt(token, context=ID_CONTEXT) == ids[uscc]


def test_rotation_stops_before_changing_a_row_when_digests_would_change(db: Database, clock: FrozenClock) -> None:
    _seed(db, clock, k1(), n=3)
    before = _values(db, "subject", "legal_rep_id_enc")
    unpinned = PiiCipher(key=K2, key_id="k2", old_keys={"k1": K1})  # digest key would follow the new data key
    with pytest.raises(audit.DigestWouldChange, match="XINYIDAI_DATA_DIGEST_KEY"):
        audit.rotate_pii(db, cipher=unpinned, columns=[SUBJECT_COL], actor=ADMIN)
    assert _values(db, "subject", "legal_rep_id_enc") == before
    assert _rotation_events(db) == []


def test_values_under_an_unknown_key_are_reported_and_the_rest_rotated(db: Database, clock: FrozenClock) -> None:
    _seed(db, clock, k1(), n=3)
    with db.transaction() as s:
        stray = PiiCipher(key=b"\x09" * 32, key_id="k0").encrypt("35010219800101000X", context=ID_CONTEXT)
        first_id = s.scalar(sa.text("SELECT id FROM subject ORDER BY id LIMIT 1"))
        s.execute(sa.text("UPDATE subject SET legal_rep_id_enc = :v WHERE id = :i"), {"v": stray, "i": first_id})
    [result] = audit.rotate_pii(db, cipher=k2(), columns=[SUBJECT_COL], actor=ADMIN)
    assert result.rotated == 2
    assert len(result.errors) == 1
    assert "k0" in result.errors[0].reason


# --- the command -----------------------------------------------------------------------------------


class RotationSettings(Settings):
    """Settings with the fields this work proposes (until Settings declares them)."""

    data_keys_old: SecretStr = SecretStr("")
    data_cipher: str = "aes-256-gcm"
    data_digest_key: SecretStr | None = None


@pytest.fixture
def committed(tmp_path: Path, database_url: str) -> Iterator[tuple[str, Database]]:
    with fresh_database(tmp_path, database_url, "rotate") as made:
        yield made


def test_keys_rotate_pii_command(committed: tuple[str, Database], clock: FrozenClock, monkeypatch: pytest.MonkeyPatch) -> None:
    url, db = committed
    ids = _seed(db, clock, k1(), n=4)
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": url,
        "secret_key": TEST_SECRET,
        "data_key": B2,
        "data_key_id": "k2",
        "data_keys_old": f"k1:{B1}",
        "data_digest_key": B1,
        "log_level": "WARNING",
    }
    monkeypatch.setattr(keys_cmd, "settings", lambda: RotationSettings(**values))
    from xinyidai.cli import app

    def run(*args: str) -> tuple[int, dict[str, Any]]:
        result = CliRunner().invoke(app, ["keys", "rotate-pii", *args])
        assert result.stdout.strip(), (result.exit_code, result.output, result.exception)
        return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])

    code, dry = run("--dry-run")
    assert code == 0
    assert dry["pending"][SUBJECT_COL.name] == 4
    code, done = run("--batch", "3")
    assert code == 0
    rotated = {c["column"]: c["rotated"] for c in done["columns"]}
    assert rotated[SUBJECT_COL.name] == 4
    assert rotated[PHONE_COL.name] == 2
    for token, uscc in _values(db, "subject", "legal_rep_id_enc", "uscc"):
        assert k2().decrypt(token, context=ID_CONTEXT) == ids[uscc]
    code, again = run()
    assert code == 0
    assert all(c["rotated"] == 0 for c in again["columns"])
    code, unknown = run("--column", "nope.nope")
    assert code == 2
    assert SUBJECT_COL.name in unknown["declared"]
    # Rotating on to k3 while forgetting to pin the digest key: refused before any row changes.
    k3 = values | {"data_key": base64.b64encode(b"\x03" * 32).decode(), "data_key_id": "k3", "data_digest_key": None}
    monkeypatch.setattr(keys_cmd, "settings", lambda: RotationSettings(**(k3 | {"data_keys_old": f"k1:{B1},k2:{B2}"})))
    code, refused = run()
    assert code == 1
    assert "XINYIDAI_DATA_DIGEST_KEY" in refused["reason"]


def test_domains_declare_their_encrypted_columns() -> None:
    names = [c.name for c in keys_cmd.encrypted_columns()]
    assert SUBJECT_COL.name in names
    assert PHONE_COL.name in names
    assert len(names) == len(set(names))
    assert all(isinstance(c, EncryptedColumn) for c in keys_cmd.encrypted_columns())
