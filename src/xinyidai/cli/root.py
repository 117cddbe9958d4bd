"""Root command and the shared helpers every command module uses."""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import Any

import typer

from xinyidai.config import Settings

app = typer.Typer(
    name="xinyidai",
    help="信易贷融资信用服务平台 — xinyidai command line.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@cache
def settings() -> Settings:
    """Settings, built once per process on first use (never at import time)."""
    return Settings()


def emit(obj: Any) -> None:
    """Print one JSON object on its own line (UTF-8, Chinese unescaped)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def _register() -> None:
    from xinyidai.plugins import package_modules

    for module in package_modules("xinyidai.cli", suffix="_cmd"):
        module.register(app)


_register()


def main() -> None:
    """Console-script entry point."""
    app()
