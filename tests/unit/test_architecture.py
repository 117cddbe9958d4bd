"""Architecture rules import-linter cannot express: domains meet only through their public packages."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[2] / "src" / "xinyidai"
#: Packages that hold rules and data of one domain each.
DOMAINS = {
    "audit",
    "catalog",
    "consent",
    "demodata",
    "evaluation",
    "exchange",
    "ingest",
    "job",
    "lending",
    "objection",
    "principal",
    "product",
    "quality",
    "registry",
    "report",
    "scorecard",
    "simulator",
    "verification",
}
#: Modules allowed to reach into any domain's internals: the composition roots.
ROOTS = {"app", "demo", "db", "cli", "web"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.extend(f"{node.module}.{a.name}" for a in node.names)
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
    return names


def test_domains_use_each_other_only_through_their_package() -> None:
    offenders: list[str] = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        owner = rel.parts[0].removesuffix(".py")
        if owner in ROOTS:
            continue
        for name in _imports(path):
            parts = name.split(".")
            if len(parts) >= 3 and parts[0] == "xinyidai" and parts[1] in DOMAINS and parts[1] != owner:
                imported = __import__(".".join(parts[:2]), fromlist=["__all__"])
                public = set(getattr(imported, "__all__", ()))
                # `from xinyidai.audit import record` is fine; `xinyidai.audit.tables` is not.
                if parts[2] not in public and not (len(parts) == 3 and parts[2] in public):
                    offenders.append(f"{rel}: {name}")
    assert offenders == []


def test_every_module_opens_with_a_docstring() -> None:
    missing = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if "migrations/versions" not in str(p) and ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) is None
    ]
    assert missing == []
