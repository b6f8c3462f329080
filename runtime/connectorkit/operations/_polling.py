"""Polling one started operation until it ends, the call's time runs out, or its own timeout.

:class:`Poller` owns the waiting: a poll's ``Retry-After`` within the declared bounds, else the
declared interval growing by its backoff; a poll that meets throttling, a server error or no
answer is tried again after the same wait (five in a row end the call); the word at
``status.at`` decides running, succeeded, failed or cancelled. It never waits past the call's
time budget: it stops first and says the operation is still running.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectorkit.core._errors import ConnectorError, HttpError, NetworkError, RateLimited
from connectorkit.core._errors import TimeoutError as CallTimeout
from connectorkit.http._limits import TIME_SCALE_ENV
from connectorkit.http._responses import parse_retry_after
from connectorkit.operations._scope import Scope, field_at

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import httpx

    from connectorkit.operations._handles import Tracked
    from connectorkit.pack._multistep import LongRunningDef

__all__ = ["MAX_POLL_ERRORS", "Polled", "Poller", "Step", "time_scale", "transient"]

MAX_POLL_ERRORS = 5
_SERVER_ERROR = 500


@dataclass(slots=True)
class Step:
    """One poll: the outcome, its answer, the wait before the next poll and the interval then."""

    outcome: str
    response: httpx.Response | None = None
    scope: Scope | None = None
    wait: float = 0.0
    interval: float = 0.0
    error: ConnectorError | None = None


@dataclass(slots=True)
class Polled:
    """How following an operation ended: its outcome, and the last poll's answer."""

    outcome: str  # succeeded, failed, cancelled, timeout, running (the call's time ran out)
    response: httpx.Response | None = None
    scope: Scope | None = None


def transient(error: ConnectorError) -> bool:
    """A poll that says nothing about the operation: throttled, a server error, no answer."""
    if isinstance(error, RateLimited | NetworkError | CallTimeout):
        return True
    return isinstance(error, HttpError) and (error.status or 0) >= _SERVER_ERROR


def time_scale() -> float:
    """How much faster than the service's clock to pace polls (``CONNECTORKIT_LIMITS_TIME_SCALE``).

    Against an emulator whose clock runs F times faster, the declared intervals and an
    operation's time limit are divided by F; a ``Retry-After`` is the service's own, in real
    seconds, and is taken as it is.
    """
    text = os.environ.get(TIME_SCALE_ENV, "")
    try:
        scale = float(text) if text else 1.0
    except ValueError:
        return 1.0
    return scale if scale > 0 else 1.0


class Poller:
    """Follows operations of one long-running definition, within one call's time budget."""

    def __init__(
        self,
        definition: LongRunningDef,
        *,
        poll: Callable[[Tracked], httpx.Response],
        remaining: Callable[[], float | None],
        sleep: Callable[[float], None],
        wall: Callable[[], float],
        on_poll: Callable[[Tracked], None] | None = None,
    ) -> None:
        scale = time_scale()
        if scale != 1.0:
            definition = dataclasses.replace(
                definition,
                first_s=definition.first_s / scale,
                max_interval_s=definition.max_interval_s / scale,
                timeout_s=definition.timeout_s / scale if definition.timeout_s else None,
            )
        self.definition = definition
        self._poll = poll
        self._remaining = remaining
        self._sleep = sleep
        self._wall = wall
        self._on_poll = on_poll

    def clamp(self, retry_after: float) -> float:
        """A ``Retry-After`` within the declared bounds."""
        d = self.definition
        return min(max(retry_after, d.retry_after_min_s), d.retry_after_max_s)

    def first_wait(self, response: httpx.Response | None) -> float:
        """The wait before the first poll: the starting answer's Retry-After, else the interval."""
        retry_after = parse_retry_after(response.headers.get("Retry-After")) if response else None
        return self.clamp(retry_after) if retry_after is not None else self.definition.first_s

    def _left(self) -> float | None:
        """Seconds left of the call (``0`` when none are)."""
        try:
            return self._remaining()
        except CallTimeout:
            return 0.0

    def follow(
        self, tracked: Tracked, names: Mapping[str, Any], wait: float, *, once: bool = False
    ) -> Polled:
        """Poll ``tracked`` (first after ``wait`` seconds) until it ends or the call's time does.

        ``names``: the inputs (the kept values are added). ``once``: one poll, then say how it
        goes. Raises the contract error of a poll that failed for good (refused, not found,
        five transient failures in a row).
        """
        interval = self.definition.first_s
        errors = 0
        while True:
            if self.timed_out(tracked):
                return Polled("timeout")
            left = self._left()
            if left is not None and wait >= left:
                return Polled("running")  # the call's time ends before the next poll
            if wait > 0:
                self._sleep(wait)
            step = self.poll_once(tracked, names, interval)
            if step.error is not None:
                errors += 1
                if errors >= MAX_POLL_ERRORS or self._left() == 0.0:
                    if self._left() == 0.0:
                        return Polled("running")
                    raise step.error
            else:
                errors = 0
                if step.outcome != "running" or once:
                    return Polled(step.outcome, step.response, step.scope)
            wait, interval = step.wait, step.interval

    def timed_out(self, tracked: Tracked) -> bool:
        """Whether ``tracked`` ran past the declared timeout (then it is marked so)."""
        limit = self.definition.timeout_s
        if limit is not None and self._wall() - tracked.started_at >= limit:
            tracked.status = "timeout"
            return True
        return False

    def poll_once(self, tracked: Tracked, names: Mapping[str, Any], interval: float) -> Step:
        """One poll: how the operation goes, and how long to wait before the next one.

        A transient failure comes back as ``error`` (with the wait it asked for); any other
        failure is raised.
        """
        d = self.definition
        try:
            response = self._poll(tracked)
        except ConnectorError as error:
            if not transient(error):
                raise
            retry_after = getattr(error, "retry_after", None)
            wait = self.clamp(retry_after) if retry_after is not None else interval
            return Step("running", wait=wait, interval=interval, error=error)
        tracked.polls += 1
        scope = Scope({**names, **tracked.kept}, response)
        word = self._word(scope)
        tracked.service_status = word
        percent = field_at(scope.body, d.progress) if d.progress else None
        if isinstance(percent, int | float) and not isinstance(percent, bool):
            tracked.percent = float(percent)
        outcome = d.status.outcome(word)
        if outcome != "running":
            tracked.status = outcome
            if outcome == "succeeded":
                tracked.percent = 100.0
        if self._on_poll is not None:
            self._on_poll(tracked)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None:  # the service paces the polls: the interval stays
            return Step(outcome, response, scope, wait=self.clamp(retry_after), interval=interval)
        following = min(interval * d.backoff, d.max_interval_s)
        return Step(outcome, response, scope, wait=interval, interval=following)

    def _word(self, scope: Scope) -> str | None:
        at = self.definition.status.at
        if at == "$status":
            return str(scope.get("$status"))
        value = field_at(scope.body, at)
        return None if value is None else str(value)
