"""Re-encrypting personal data under the current data key, in audited batches (密钥轮换).

It sits beside the audit log because every batch it commits is an audited change, and because no domain
owns key management yet; the columns come from the domains that own them (`kernel.pii.EncryptedColumn`),
so this module never imports another domain's tables — it addresses each column by name.

Resumable and idempotent by construction: a batch selects only values whose header is not the current
`<version>:<key id>:`, re-encrypts them, and commits with its audit event; a crash loses at most the batch
in flight, and a second run finds nothing to do. Each row is updated only if it still holds the value read
(compare-and-set), so a concurrent change by the application is never overwritten with older data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from xinyidai.audit.service import record
from xinyidai.db import Database
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.clock import Clock
from xinyidai.kernel.errors import Conflict
from xinyidai.kernel.pii import EncryptedColumn, PiiCipher, PiiError, parse_token


class DigestWouldChange(Conflict):
    """A stored lookup digest differs from the one the cipher computes: rotating now would break lookups."""

    code = "pii_digest_unstable"
    title = "查找摘要密钥与存量数据不一致，已停止密钥轮换"


@dataclass(frozen=True, slots=True)
class RowError:
    """A value that could not be re-encrypted (reported, never skipped silently)."""

    row_id: str
    reason: str


@dataclass
class ColumnRotation:
    """What one column's rotation did."""

    column: str
    rotated: int = 0
    batches: int = 0
    changed_meanwhile: int = 0
    errors: list[RowError] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """For the CLI."""
        return {
            "column": self.column,
            "rotated": self.rotated,
            "batches": self.batches,
            "changed_meanwhile": self.changed_meanwhile,
            "errors": [{"id": e.row_id, "reason": e.reason} for e in self.errors],
        }


def _table(col: EncryptedColumn) -> sa.TableClause:
    columns = [sa.column(col.id_column), sa.column(col.column, sa.String)]
    if col.digest_column:
        columns.append(sa.column(col.digest_column, sa.String))
    return sa.table(col.table, *columns)


def pending_rotation(db: Database, *, cipher: PiiCipher, columns: Sequence[EncryptedColumn]) -> dict[str, int]:
    """How many values of each column are not yet under the current key and suite."""
    counts: dict[str, int] = {}
    with db.transaction() as session:
        for col in columns:
            t = _table(col)
            value = t.c[col.column]
            query = (
                sa.select(sa.func.count())
                .select_from(t)
                .where(value.is_not(None), ~value.startswith(cipher.header, autoescape=True))
            )
            counts[col.name] = int(session.scalar(query) or 0)
    return counts


def rotate_column(
    db: Database,
    *,
    cipher: PiiCipher,
    column: EncryptedColumn,
    actor: ActorRef,
    batch: int = 500,
    clock: Clock | None = None,
) -> ColumnRotation:
    """Re-encrypt every value of one column not under the current key; one transaction and audit event per batch."""
    if batch < 1:
        raise ValueError("batch must be positive")
    t = _table(column)
    ident, value = t.c[column.id_column], t.c[column.column]
    digest = t.c[column.digest_column] if column.digest_column else None
    result = ColumnRotation(column.name)
    last: Any = None
    while True:
        with db.transaction() as session:
            query = sa.select(ident, value, *([digest] if digest is not None else [])).where(
                value.is_not(None), ~value.startswith(cipher.header, autoescape=True)
            )
            if last is not None:
                query = query.where(ident > last)
            rows = session.execute(query.order_by(ident).limit(batch)).all()
            if not rows:
                return result
            rotated, from_keys = 0, set()
            for row in rows:
                row_id, token = row[0], str(row[1])
                try:
                    suite, key_id, _ = parse_token(token)
                    plain = cipher.decrypt(token, context=column.context)
                except PiiError as exc:
                    result.errors.append(RowError(str(row_id), str(exc)))
                    continue
                if digest is not None and row[2] is not None and row[2] != cipher.digest(plain):
                    raise DigestWouldChange(
                        f"{column.name} 第 {row_id} 行的查找摘要与当前摘要密钥不符：请把 XINYIDAI_DATA_DIGEST_KEY "
                        "设为最初的数据密钥后再轮换"
                    )
                updated = session.execute(
                    sa.update(t)
                    .where(ident == row_id, value == token)
                    .values({column.column: cipher.encrypt(plain, context=column.context)})
                )
                if getattr(updated, "rowcount", 0) == 1:
                    rotated += 1
                    from_keys.add(f"{suite.value}:{key_id}")
                else:
                    result.changed_meanwhile += 1
            if rotated:
                record(
                    session,
                    actor=actor,
                    action="keys.pii.rotate",
                    target_type="encrypted_column",
                    target_id=column.name[:64],
                    data={
                        "column": column.name,
                        "rows": rotated,
                        "from": sorted(from_keys),
                        "to": f"{cipher.suite.value}:{cipher.key_id}",
                    },
                    clock=clock,
                )
                result.rotated += rotated
                result.batches += 1
            last = rows[-1][0]


def rotate_pii(
    db: Database,
    *,
    cipher: PiiCipher,
    columns: Sequence[EncryptedColumn],
    actor: ActorRef,
    batch: int = 500,
    clock: Clock | None = None,
) -> list[ColumnRotation]:
    """Rotate every column in turn (see `rotate_column`)."""
    return [rotate_column(db, cipher=cipher, column=c, actor=actor, batch=batch, clock=clock) for c in columns]
