"""`xinyidai keys …`: rotate the personal-data key over every encrypted column; make new key material."""

from __future__ import annotations

import base64
import os
from typing import Annotated

import typer

from xinyidai import audit
from xinyidai.cli.root import emit, settings
from xinyidai.db import Database, create_database_engine
from xinyidai.kernel.actor import ActorRef
from xinyidai.kernel.errors import DomainError
from xinyidai.kernel.pii import EncryptedColumn, cipher_from_settings
from xinyidai.plugins import domain_modules

keys_app = typer.Typer(help="Keys: personal-data key rotation and new key material.", no_args_is_help=True)


def encrypted_columns() -> list[EncryptedColumn]:
    """Every encrypted column, as each domain declares them in `<domain>/encrypted.py` (`ENCRYPTED_COLUMNS`)."""
    seen: dict[str, EncryptedColumn] = {}
    for module in domain_modules("encrypted"):
        for column in getattr(module, "ENCRYPTED_COLUMNS", ()):
            seen.setdefault(column.name, column)
    return list(seen.values())


@keys_app.command("rotate-pii")
def rotate_pii(
    column: Annotated[
        list[str] | None, typer.Option("--column", help="Only this table.column (repeatable); default: every declared one.")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction (one audit event each).")] = 500,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count the values not yet under the current key.")] = False,
) -> None:
    """Re-encrypt every value not yet under XINYIDAI_DATA_KEY_ID (and the configured cipher) in audited batches.

    Resumable and idempotent: run it again after a crash, or to check — a finished rotation does nothing.
    The retired keys must be readable (XINYIDAI_DATA_KEYS_OLD) and lookup digests must keep their key
    (XINYIDAI_DATA_DIGEST_KEY); otherwise it stops before changing a row it cannot prove it keeps findable.
    """
    s = settings()
    cipher = cipher_from_settings(s)
    declared = encrypted_columns()
    chosen = declared if not column else [c for c in declared if c.name in set(column)]
    unknown = sorted(set(column or ()) - {c.name for c in declared})
    if unknown:
        emit({"ok": False, "reason": f"未声明的加密列: {', '.join(unknown)}", "declared": [c.name for c in declared]})
        raise typer.Exit(2)
    db = Database(create_database_engine(s.database_url), node_id=s.node_id)
    try:
        if dry_run:
            emit(
                {
                    "ok": True,
                    "dry_run": True,
                    "to": cipher.header.rstrip(":"),
                    "pending": audit.pending_rotation(db, cipher=cipher, columns=chosen),
                }
            )
            return
        results = audit.rotate_pii(db, cipher=cipher, columns=chosen, actor=ActorRef.system("cli.keys"), batch=batch)
    except DomainError as exc:
        emit({"ok": False, "reason": exc.detail})
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    ok = all(not r.errors for r in results)
    emit({"ok": ok, "to": cipher.header.rstrip(":"), "columns": [r.to_json() for r in results]})
    if not ok:
        raise typer.Exit(1)


@keys_app.command("new-data-key")
def new_data_key() -> None:
    """Print a fresh random 32-byte data key (base64) for XINYIDAI_DATA_KEY."""
    emit({"data_key": base64.b64encode(os.urandom(32)).decode()})


@keys_app.command("new-signing-key")
def new_signing_key() -> None:
    """Print a fresh Ed25519 checkpoint key (base64 seed for XINYIDAI_AUDIT_SIGNING_KEY) and its public verifier key."""
    seed = os.urandom(32)
    signer = audit.CheckpointSigner.from_seed(seed, name=audit.origin_for(settings().node_id))
    emit({"audit_signing_key": base64.b64encode(seed).decode(), "verifier_key": signer.verifier.encode()})


def register(app: typer.Typer) -> None:
    """Attach the commands."""
    app.add_typer(keys_app, name="keys")
