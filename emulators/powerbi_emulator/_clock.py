"""The emulated clock: real time sped up by the time scale, and advanced on request."""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["EmulatorClock"]


class EmulatorClock:
    """Emulated seconds since the epoch, running `time_scale` times faster than real time.

    It starts at the real wall-clock time, so timestamps look current; `advance` jumps it
    forward (to expire tokens or empty rate windows without waiting).
    """

    def __init__(
        self,
        time_scale: float = 1.0,
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._scale = time_scale
        self._monotonic = monotonic
        self._origin_wall = wall()
        self._origin_mono = monotonic()
        self._offset = 0.0

    @property
    def time_scale(self) -> float:
        """How many emulated seconds pass per real second."""
        return self._scale

    def now(self) -> float:
        """The current emulated time, in seconds since the epoch."""
        elapsed = self._monotonic() - self._origin_mono
        return self._origin_wall + elapsed * self._scale + self._offset

    def advance(self, seconds: float) -> float:
        """Jump `seconds` (emulated) into the future; returns the new time."""
        if seconds < 0 or math.isnan(seconds):
            raise ValueError("the clock only moves forward")
        self._offset += seconds
        return self.now()

    def real_seconds(self, emulated_seconds: float) -> float:
        """How long `emulated_seconds` lasts in real time."""
        return emulated_seconds / self._scale

    def retry_after(self, emulated_seconds: float) -> int:
        """A Retry-After value in whole real seconds: rounded up, at least 1."""
        return max(1, math.ceil(self.real_seconds(emulated_seconds) - 1e-9))

    def isoformat(self, when: float | None = None) -> str:
        """An ISO 8601 UTC timestamp with milliseconds and a Z, like Power BI's."""
        moment = dt.datetime.fromtimestamp(self.now() if when is None else when, dt.UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def aad_timestamp(self) -> str:
        """The timestamp format of Microsoft identity platform error bodies."""
        return dt.datetime.fromtimestamp(self.now(), dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
