"""`xinyidai catalog show`: the public credit information catalog."""

from __future__ import annotations

import typer

from xinyidai.cli.root import emit

catalog_app = typer.Typer(help="Public credit information catalog (公共信用信息基础目录).", no_args_is_help=True)


@catalog_app.command("show")
def show(
    version: str | None = typer.Option(None, "--version", help="Catalog version (2021, 2022, 2024); default: in force today."),
) -> None:
    """Print the catalog version as JSON: categories and items with disclosure class and schema."""
    from xinyidai.catalog import catalog_document

    emit(catalog_document(version))


def register(app: typer.Typer) -> None:
    """Attach the commands."""
    app.add_typer(catalog_app, name="catalog")
