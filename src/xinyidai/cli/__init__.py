"""The `xinyidai` command: one root, one module per domain's commands."""

from xinyidai.cli.root import app, main

__all__ = ["app", "main"]
