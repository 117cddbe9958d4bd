"""Imports every domain's `tables` module so that Base.metadata is complete (for migrations and tests only).

Discovered rather than listed, so a new domain's tables are picked up without editing this file.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from types import ModuleType

import xinyidai


def _load() -> list[ModuleType]:
    modules = []
    for info in sorted(pkgutil.iter_modules(xinyidai.__path__), key=lambda i: i.name):
        if info.ispkg and importlib.util.find_spec(f"xinyidai.{info.name}.tables") is not None:
            modules.append(importlib.import_module(f"xinyidai.{info.name}.tables"))
    return modules


TABLE_MODULES = _load()

__all__ = ["TABLE_MODULES"]
