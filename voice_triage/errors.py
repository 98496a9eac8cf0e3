"""One exception family. Every message is one line a user can act on."""

from __future__ import annotations


class TriageError(Exception):
    """Base of every error the program reports to a user (exit status 1 unless a subclass says)."""

    exit_code = 1

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class BadInputError(TriageError):
    """The user's input (a file, an argument, an answer) is not usable: exit 2."""

    exit_code = 2


class ContentError(TriageError):
    """A content or grammar file is broken: the program refuses to start."""


class AudioError(BadInputError):
    """An audio file cannot be read or converted."""


class ModelError(TriageError):
    """A speech model is missing or cannot be loaded."""


class DeviceError(TriageError):
    """No usable microphone or speaker."""
