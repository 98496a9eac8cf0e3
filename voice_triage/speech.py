"""Speech out: one small protocol, so the voice, typed and test front ends share the interview."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Voice(Protocol):
    """Says a prompt to the user (aloud, on screen, or into a test's list)."""

    def say(self, text: str) -> None: ...

    def set_rate(self, words_per_minute: int) -> None: ...

    @property
    def rate(self) -> int: ...
