"""`xinyidai uscc …`: validate unified social credit codes."""

from __future__ import annotations

from typing import Annotated

import typer

from xinyidai.cli.root import emit
from xinyidai.kernel import uscc as uscc_rules

uscc_app = typer.Typer(help="统一社会信用代码 (USCC) tools.", no_args_is_help=True)


@uscc_app.command("validate")
def validate(
    codes: Annotated[list[str], typer.Argument(help="Codes to validate.")],
    lenient: Annotated[bool, typer.Option("--lenient", help="Accept known legacy pilot codes with a warning.")] = False,
) -> None:
    """Print one JSON object per code; exit status 1 if any code is invalid."""
    invalid = False
    for code in codes:
        result = uscc_rules.validate(code, lenient=lenient)
        invalid = invalid or not result.valid
        emit(result.to_json())
    raise typer.Exit(1 if invalid else 0)


def register(app: typer.Typer) -> None:
    """Attach the commands."""
    app.add_typer(uscc_app, name="uscc")
