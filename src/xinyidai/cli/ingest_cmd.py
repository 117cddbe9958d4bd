"""`xinyidai ingest FILE`, `xinyidai ingest-dir DIR` and `xinyidai sources …`: bulk delivery from the command line.

`ingest` prints one JSON object `{"batch_id", "accepted", "updated", "unchanged", "rejected",
"rejects_file"}` and exits 0 when the batch was processed (even with rejects), 2 when the file could not
be read at all (then the object is `{"error", "detail"}`). A row naming a source unit the platform does not
know registers it as a pending source for an operator to confirm.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from xinyidai.cli.root import emit, settings

#: The operator's command-line tool acts as this system actor in the audit log.
CLI_ACTOR_NAME = "cli-ingest"

sources_app = typer.Typer(help="Data sources (数据来源单位).", no_args_is_help=True)


def _container() -> Any:
    from xinyidai.app import build_container

    return build_container(settings())


def _actor() -> Any:
    from xinyidai.kernel.actor import ActorRef

    return ActorRef.system(CLI_ACTOR_NAME)


def ingest(
    file: Annotated[Path, typer.Argument(help="The delivered file (CSV UTF-8/GB18030, XLSX or JSON Lines).")],
    source: Annotated[str | None, typer.Option("--source", help="Source unit code (数据来源单位代码) of the whole file.")] = None,
    item: Annotated[str | None, typer.Option("--item", help="Catalog item code; recognised from the header if omitted.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="auto, csv, xlsx or jsonl.")] = "auto",
) -> None:
    """Ingest one file as one batch and print its summary as JSON."""
    from xinyidai import ingest as ingest_domain
    from xinyidai.kernel.errors import DomainError

    if fmt not in ("auto", "csv", "xlsx", "jsonl"):
        emit({"error": "invalid_format", "detail": f"--format must be auto, csv, xlsx or jsonl, not {fmt!r}"})
        raise typer.Exit(2)
    container = _container()
    try:
        result = ingest_domain.ingest_file(
            container.db,
            actor=_actor(),
            clock=container.clock,
            cipher=container.cipher,
            var_dir=container.settings.var_dir,
            path=file,
            item=item,
            source=source,
            fmt=fmt,
            channel=ingest_domain.Channel.CLI,
            register_unknown=True,
        )
    except DomainError as exc:
        emit({"error": exc.code, "detail": exc.detail})
        raise typer.Exit(2) from None
    finally:
        container.db.dispose()
    emit(result.contract())


def ingest_dir(directory: Annotated[Path, typer.Argument(help="A generator output directory (with manifest.json).")]) -> None:
    """Ingest every department file of a directory, registration first; print one JSON object per file."""
    from xinyidai import ingest as ingest_domain
    from xinyidai.kernel.errors import DomainError

    container = _container()
    failed = False
    try:
        entries = ingest_domain.ingest_directory(
            container.db,
            actor=_actor(),
            clock=container.clock,
            cipher=container.cipher,
            var_dir=container.settings.var_dir,
            directory=directory,
        )
    except DomainError as exc:
        emit({"error": exc.code, "detail": exc.detail})
        raise typer.Exit(2) from None
    finally:
        container.db.dispose()
    for entry in entries:
        if entry.result is not None:
            emit({"file": entry.file, "item": entry.result.item_code, **entry.result.contract()})
        else:
            failed = True
            emit({"file": entry.file, "error": entry.error})
    raise typer.Exit(1 if failed else 0)


@sources_app.command("list")
def list_sources(status: Annotated[str | None, typer.Option(help="active or pending")] = None) -> None:
    """Print every source as one JSON object per line."""
    from xinyidai import ingest as ingest_domain

    container = _container()
    try:
        views, _total = ingest_domain.list_sources(container.db, status=status, limit=100_000)
    finally:
        container.db.dispose()
    for view in views:
        emit(dataclasses.asdict(view))


@sources_app.command("confirm")
def confirm(code: Annotated[str, typer.Argument(help="Source unit code.")]) -> None:
    """Confirm a pending source."""
    from xinyidai import ingest as ingest_domain
    from xinyidai.kernel.errors import DomainError

    container = _container()
    try:
        view = ingest_domain.confirm_source(container.db, actor=_actor(), clock=container.clock, code=code)
    except DomainError as exc:
        emit({"error": exc.code, "detail": exc.detail})
        raise typer.Exit(1) from None
    finally:
        container.db.dispose()
    emit(dataclasses.asdict(view))


@sources_app.command("seed")
def seed() -> None:
    """Register one active source per catalog department (idempotent)."""
    from xinyidai import ingest as ingest_domain

    container = _container()
    try:
        views = ingest_domain.seed_sources(
            container.db, _actor(), container.clock, region_code=container.settings.node_region_code
        )
    finally:
        container.db.dispose()
    emit({"sources": [v.code for v in views]})


def register(app: typer.Typer) -> None:
    """Attach the commands."""
    app.command("ingest")(ingest)
    app.command("ingest-dir")(ingest_dir)
    app.add_typer(sources_app, name="sources")
