"""What the core needs of an emulated clock (the emulators' own clock has it)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Clock"]


class Clock(Protocol):
    """Emulated seconds since the epoch, and the forms the services write them in."""

    def now(self) -> float:
        """The current emulated time."""
        ...

    def isoformat(self, when: float | None = None) -> str:
        """An ISO 8601 UTC timestamp (now, or `when`)."""
        ...

    def retry_after(self, emulated_seconds: float) -> int:
        """A Retry-After value in whole real seconds for an emulated wait (at least 1)."""
        ...
