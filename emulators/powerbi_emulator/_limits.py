"""Push dataset throttling: pending requests, POST-rows requests per minute, rows per hour."""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import TYPE_CHECKING

from powerbi_emulator._http import ApiError

if TYPE_CHECKING:
    from powerbi_emulator._clock import EmulatorClock
    from powerbi_emulator._config import PushLimits

__all__ = ["PushThrottle"]

MINUTE = 60.0
HOUR = 3600.0

ROWS_PER_HOUR_MESSAGE = (
    "You are over your rows per hour limit for this dataset. To push more rows per hour, "
    "upgrade your account to Power BI Pro or retry your push later."
)


@dataclasses.dataclass
class _DatasetWindow:
    posts_minute: deque[float] = dataclasses.field(default_factory=deque)
    posts_hour: deque[float] = dataclasses.field(default_factory=deque)
    rows_hour: deque[tuple[float, int]] = dataclasses.field(default_factory=deque)
    rows_in_hour: int = 0
    pending: int = 0

    def prune(self, now: float) -> None:
        while self.posts_minute and self.posts_minute[0] <= now - MINUTE:
            self.posts_minute.popleft()
        while self.posts_hour and self.posts_hour[0] <= now - HOUR:
            self.posts_hour.popleft()
        while self.rows_hour and self.rows_hour[0][0] <= now - HOUR:
            self.rows_in_hour -= self.rows_hour.popleft()[1]


class PushThrottle:
    """The per-dataset limits of POST rows, on the emulated clock.

    A request first takes a pending slot (held while it is in flight, latency included), then
    is admitted against the request windows (admitted requests count, even if their rows are
    then rejected), and its rows are charged to the hourly budget only once they are stored.
    Over a limit: `ApiError` 429 with Retry-After in real seconds.
    """

    def __init__(self, limits: PushLimits, clock: EmulatorClock) -> None:
        self._limits = limits
        self._clock = clock
        self._windows: dict[str, _DatasetWindow] = {}

    def reset(self) -> None:
        """Forget every window and pending count."""
        self._windows.clear()

    def _window(self, dataset_id: str) -> _DatasetWindow:
        return self._windows.setdefault(dataset_id, _DatasetWindow())

    def acquire_pending(self, dataset_id: str) -> None:
        """Take a pending slot, or raise 429 when the dataset has too many in flight."""
        window = self._window(dataset_id)
        if window.pending >= self._limits.max_pending_posts:
            raise self._throttled(
                1.0 * self._clock.time_scale,
                f"Too many pending POST rows requests for dataset {dataset_id}: at most "
                f"{self._limits.max_pending_posts} may be in flight.",
            )
        window.pending += 1

    def release_pending(self, dataset_id: str) -> None:
        """Give a pending slot back."""
        window = self._window(dataset_id)
        window.pending = max(0, window.pending - 1)

    def admit(self, dataset_id: str, rows: int, table_rows: int) -> None:
        """Count one POST rows request of `rows` rows, or raise 429 if over a window."""
        limits, now = self._limits, self._clock.now()
        window = self._window(dataset_id)
        window.prune(now)
        if len(window.posts_minute) >= limits.posts_per_minute:
            raise self._throttled(
                window.posts_minute[0] + MINUTE - now,
                f"Too many POST rows requests for dataset {dataset_id}: at most "
                f"{limits.posts_per_minute} per minute.",
            )
        if table_rows >= limits.large_table_rows and (
            len(window.posts_hour) >= limits.large_table_posts_per_hour
        ):
            raise self._throttled(
                window.posts_hour[0] + HOUR - now,
                f"Too many POST rows requests for dataset {dataset_id}: a table with "
                f"{limits.large_table_rows} rows or more takes at most "
                f"{limits.large_table_posts_per_hour} per hour.",
            )
        if window.rows_in_hour + rows > limits.rows_per_hour:
            raise self._throttled(self._rows_wait(window, rows, now), ROWS_PER_HOUR_MESSAGE)
        window.posts_minute.append(now)
        window.posts_hour.append(now)

    def charge_rows(self, dataset_id: str, rows: int) -> None:
        """Charge stored rows to the dataset's hourly budget."""
        if rows:
            window = self._window(dataset_id)
            window.rows_hour.append((self._clock.now(), rows))
            window.rows_in_hour += rows

    def _rows_wait(self, window: _DatasetWindow, rows: int, now: float) -> float:
        excess = window.rows_in_hour + rows - self._limits.rows_per_hour
        for stamp, count in window.rows_hour:
            excess -= count
            if excess <= 0:
                return stamp + HOUR - now
        return HOUR  # only when one POST alone is over a (configured) hourly budget

    def _throttled(self, wait: float, message: str) -> ApiError:
        retry_after = self._clock.retry_after(wait)
        return ApiError(
            429,
            "TooManyRequests",
            f"{message} Retry after {retry_after} second(s).",
            headers=[("Retry-After", str(retry_after))],
        )

    def snapshot(self, dataset_id: str) -> dict[str, int]:
        """Current counts for one dataset, for the state endpoint."""
        window = self._window(dataset_id)
        window.prune(self._clock.now())
        return {
            "pending": window.pending,
            "posts_last_minute": len(window.posts_minute),
            "posts_last_hour": len(window.posts_hour),
            "rows_last_hour": window.rows_in_hour,
        }
