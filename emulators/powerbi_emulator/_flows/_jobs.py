"""An operation that runs in emulated time: queued, running, then ended; and hourly limits.

Nothing runs in the background: a job's phase is read from the clock whenever it is asked
for, and `Completions` applies what an ending changes (an import's new dataset, a
deployment's copies) at the first request after the emulated moment it ended.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import heapq
import itertools
from typing import TYPE_CHECKING, Literal

from powerbi_emulator._http import ApiError

if TYPE_CHECKING:
    from collections.abc import Callable

    from powerbi_emulator._clock import EmulatorClock

__all__ = ["JOB_STATUS", "Completions", "HourlyLimit", "Phase", "Timeline", "parse_utc"]

Phase = Literal["queued", "running", "succeeded", "failed", "cancelled"]
HOUR = 3600.0
# The words of the jobs whose status is NotStarted, Running, Succeeded or Failed.
JOB_STATUS: dict[Phase, str] = {
    "queued": "NotStarted",
    "running": "Running",
    "succeeded": "Succeeded",
    "failed": "Failed",
    "cancelled": "Failed",
}


def parse_utc(text: str, name: str) -> float:
    """An ISO 8601 date-time (UTC unless it says otherwise) in epoch seconds; 400 if not one."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ApiError(
            400, "InvalidRequest", f"{name} must be an ISO 8601 UTC date-time; got {text!r}."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


@dataclasses.dataclass
class Timeline:
    """When an operation started, how long it waits and runs, and how it ends."""

    started: float
    queued: float
    running: float
    fails: bool = False
    cancelled_at: float | None = None

    @property
    def ends(self) -> float:
        """The emulated time it ends (its cancellation, if cancelled first)."""
        natural = self.started + self.queued + self.running
        return natural if self.cancelled_at is None else min(natural, self.cancelled_at)

    @property
    def runs_from(self) -> float:
        """The emulated time it leaves the queue."""
        return self.started + self.queued

    def phase(self, now: float) -> Phase:
        """Where it is at `now`."""
        if (
            self.cancelled_at is not None
            and now >= self.cancelled_at
            and (self.cancelled_at < self.started + self.queued + self.running)
        ):
            return "cancelled"
        if now >= self.ends:
            return "failed" if self.fails else "succeeded"
        return "queued" if now < self.runs_from else "running"

    def percent(self, now: float) -> int:
        """How much of the running part is done, 0 to 100 (100 only once it ended)."""
        if now >= self.ends:
            return 100
        if now < self.runs_from or self.running <= 0:
            return 0
        return min(99, int(100 * (now - self.runs_from) / self.running))

    def finished(self, now: float) -> bool:
        """Whether it has ended (any way) at `now`."""
        return self.phase(now) in {"succeeded", "failed", "cancelled"}


class Completions:
    """Effects due when operations end, applied in the order they ended."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = itertools.count()

    def at(self, when: float, effect: Callable[[float], None]) -> None:
        """Run `effect(when)` at the first settle at or after emulated time `when`."""
        heapq.heappush(self._due, (when, next(self._seq), effect))

    def settle(self, now: float) -> None:
        """Apply every effect due by `now`."""
        while self._due and self._due[0][0] <= now:
            when, _, effect = heapq.heappop(self._due)
            effect(when)

    def clear(self) -> None:
        """Forget every pending effect."""
        self._due.clear()


class HourlyLimit:
    """At most `limit` admitted requests in any hour of emulated time (0: no limit)."""

    def __init__(self, clock: EmulatorClock, what: str) -> None:
        self._clock = clock
        self._what = what
        self._times: collections.deque[float] = collections.deque()

    def admit(self, limit: int) -> None:
        """Count one request, or raise 429 with the Retry-After until a slot frees."""
        now = self._clock.now()
        while self._times and self._times[0] <= now - HOUR:
            self._times.popleft()
        if limit and len(self._times) >= limit:
            retry_after = self._clock.retry_after(self._times[0] + HOUR - now)
            raise ApiError(
                429,
                "TooManyRequests",
                f"Too many {self._what} requests: at most {limit} per hour. Retry after "
                f"{retry_after} second(s).",
                headers=[("Retry-After", str(retry_after))],
            )
        self._times.append(now)

    def used(self) -> int:
        """Requests admitted in the last hour."""
        now = self._clock.now()
        return sum(1 for t in self._times if t > now - HOUR)

    def clear(self) -> None:
        """Forget every request."""
        self._times.clear()
