"""The Chinese web UI the platform serves itself: HTML pages, their templates and static files."""

from pathlib import Path

#: Hand-written CSS and icons served under /static; no third-party front-end files.
STATIC_DIR: Path = Path(__file__).resolve().parent / "static"

__all__ = ["STATIC_DIR"]
