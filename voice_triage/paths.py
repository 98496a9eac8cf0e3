"""Where the data folders are: inside the wheel, or beside the package in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Folder `name` (content, grammars, demo): the wheel's copy first, else the repository's."""
    installed = _PACKAGE / "_data" / name
    if installed.is_dir():
        return installed
    repo = _PACKAGE.parent
    if name == "demo":
        return repo / "tests" / "fixtures" / "sessions" / "demo"
    return repo / name
