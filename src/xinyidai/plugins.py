"""Discovery of the modules each domain contributes: API routers, page routers, jobs, CLI commands.

The composition root asks here instead of listing modules, so a new domain plugs in by naming its
modules by convention (`<domain>/api.py` with `router`, `web/<name>_pages.py` or `web/pages.py` with
`router`, `<domain>/jobs.py` with `register_jobs(registry, container)`, `cli/<name>_cmd.py` with `register(app)`).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from types import ModuleType

import xinyidai


def domain_modules(name: str) -> list[ModuleType]:
    """`xinyidai.<domain>.<name>` for every domain package that has one, in name order."""
    found = []
    for info in sorted(pkgutil.iter_modules(xinyidai.__path__), key=lambda i: i.name):
        if info.ispkg and importlib.util.find_spec(f"xinyidai.{info.name}.{name}") is not None:
            found.append(importlib.import_module(f"xinyidai.{info.name}.{name}"))
    return found


def package_modules(package: str, *, suffix: str) -> list[ModuleType]:
    """Modules of `package` whose names end with `suffix` (e.g. web's '_pages', cli's '_cmd'), in name order."""
    pkg = importlib.import_module(package)
    return [
        importlib.import_module(f"{package}.{info.name}")
        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name)
        if info.name.endswith(suffix) or info.name == suffix.lstrip("_")
    ]
