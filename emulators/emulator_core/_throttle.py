"""A request rate per caller, on the emulated clock: over it, how long to wait."""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emulator_core._clock import Clock

__all__ = ["RequestRate"]


class RequestRate:
    """At most `limit` requests per `per` emulated seconds for each key (a sliding window)."""

    def __init__(self, clock: Clock, limit: int, per: float) -> None:
        self._clock = clock
        self.limit = limit
        self.per = per
        self._windows: dict[str, collections.deque[float]] = {}

    def take(self, key: str) -> float:
        """Count one request of `key`: 0 when admitted, else the emulated seconds to wait."""
        now = self._clock.now()
        window = self._windows.setdefault(key, collections.deque())
        while window and window[0] <= now - self.per:
            window.popleft()
        if len(window) >= self.limit:
            return window[0] + self.per - now
        window.append(now)
        return 0.0

    def reset(self) -> None:
        """Forget every window."""
        self._windows.clear()
