"""Where the data folders are: inside the wheel, or beside the package in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Folder `name` (content, grammars): the wheel's copy first, else the repository's."""
    installed = _PACKAGE / "_data" / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name


def demo_dir(lang: str = "en") -> Path:
    """The recorded demo session (01.wav, 02.wav, ...) shipped with a language's content."""
    return data_dir("content") / lang / "demo"
