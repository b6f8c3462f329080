"""The bounds of one call: its time budget, the longest single wait, the largest response.

Every call is bounded, also when the caller sets nothing:

    bound                      default    per call (input)       per process (environment)
    whole-call time budget     300 s      timeout (ms)           CONNECTORKIT_TIMEOUT_MS
    one Retry-After wait       60 s       max_retry_wait_ms      CONNECTORKIT_MAX_RETRY_WAIT_MS
    response body size         64 MiB     max_response_bytes     CONNECTORKIT_MAX_RESPONSE_BYTES

The time budget covers connecting, sending, every byte of every response body, every retry and
every wait. A call's :class:`Budget` holds it, on the call's one clock, with the size limit;
it travels on each request of the call, the auth flow's too, in the request's extensions
(:data:`BUDGET_EXTENSION`). httpx's timeouts apply per operation (a body that drips one byte a
second never trips a 2 s read timeout), so the client reads a response body through
:class:`BoundedStream`, which checks the deadline and the size after every chunk, and a
:class:`Watchdog` shuts the socket down at the deadline so that a read blocked in the kernel
ends too.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import math
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from connectorkit.core._errors import BudgetSpent, ResponseTooLarge, TimeoutError
from connectorkit.core._settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

__all__ = [
    "BUDGET_EXTENSION",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_RETRY_WAIT_S",
    "DEFAULT_TIMEOUT_S",
    "BoundedStream",
    "Budget",
    "CallBounds",
    "Watchdog",
    "bound_response",
]

log = logging.getLogger("connectorkit")

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_MAX_RETRY_WAIT_S = 60.0
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CallBounds:
    """How long a call may take, how long it waits at most once, how much it reads at most."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    max_retry_wait_s: float = DEFAULT_MAX_RETRY_WAIT_S
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> CallBounds:
        """The process's defaults: the built-in ones, overridden by the environment."""
        given = Settings.read(environ)
        found: dict[str, Any] = {}
        if given.timeout_ms is not None:
            found["timeout_s"] = given.timeout_ms / 1000
        if given.max_retry_wait_ms is not None:
            found["max_retry_wait_s"] = given.max_retry_wait_ms / 1000
        if given.max_response_bytes is not None:
            found["max_response_bytes"] = given.max_response_bytes
        return cls(**found)

    def for_call(
        self,
        *,
        timeout_ms: int | None = None,
        max_retry_wait_ms: int | None = None,
        max_response_bytes: int | None = None,
    ) -> CallBounds:
        """These bounds with what one call's inputs override."""
        return CallBounds(
            timeout_s=timeout_ms / 1000 if timeout_ms else self.timeout_s,
            max_retry_wait_s=(
                max_retry_wait_ms / 1000 if max_retry_wait_ms is not None else self.max_retry_wait_s
            ),
            max_response_bytes=max_response_bytes or self.max_response_bytes,
        )


# The key of a request's extensions that carries the call's Budget to its response's body.
BUDGET_EXTENSION = "connectorkit.budget"


@dataclass(slots=True)
class Budget:
    """One call's bounds on one clock: the time it has left, the largest body it reads.

    Every attempt and every wait comes out of the time; every response body is read within
    what is left of it (see :func:`bound_response`).
    """

    total_s: float | None
    clock: Callable[[], float] = time.monotonic
    max_response_bytes: int | None = None
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def elapsed(self) -> float:
        """Seconds since the call started."""
        return self.clock() - self.started

    def left(self) -> float | None:
        """Seconds left, possibly none or fewer (``None``: unbounded)."""
        return None if self.total_s is None else self.total_s - self.elapsed()

    def remaining(self) -> float | None:
        """Seconds left (``None``: unbounded); raises the contract's timeout when none are left."""
        left = self.left()
        if left is not None and left <= 0:
            assert self.total_s is not None  # noqa: S101 - a left time comes from a total
            raise TimeoutError(
                f"the call's time budget of {self.total_s * 1000:.0f} ms ran out",
                timeout_ms=round(self.total_s * 1000),
            )
        return left


class Watchdog:
    """Shuts sockets down at their deadlines (one thread for the whole process, started lazily).

    A blocked ``recv`` wakes up when its socket is shut down, so a response whose bytes arrive
    too slowly cannot hold a call past its budget even between two of httpx's read timeouts.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._armed: dict[int, socket.socket] = {}
        self._fired: set[int] = set()
        self._next = 0
        self._thread: threading.Thread | None = None
        # When the thread wakes up next by itself (infinity: only when notified). A deadline
        # later than that needs no wake-up: waking the thread on every arm would make each
        # request hand the GIL to it and wait to get it back.
        self._wakes_at = math.inf

    def arm(self, deadline: float, sock: socket.socket) -> int:
        """Shut ``sock`` down at ``deadline`` (``time.monotonic``) unless disarmed first."""
        with self._condition:
            self._next += 1
            ticket = self._next
            self._armed[ticket] = sock
            heap = self._heap
            while heap and heap[0][1] not in self._armed:
                heapq.heappop(heap)  # disarmed already: forget it here, the thread may sleep on
            heapq.heappush(heap, (deadline, ticket))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="connectorkit-watchdog", daemon=True
                )
                self._thread.start()
            if deadline < self._wakes_at:
                self._wakes_at = deadline  # the thread re-reads the heap as soon as it runs
                self._condition.notify()
            return ticket

    def disarm(self, ticket: int) -> bool:
        """Stop watching; ``True`` when the watchdog had already shut the socket down."""
        with self._condition:
            self._armed.pop(ticket, None)
            if ticket in self._fired:
                self._fired.discard(ticket)
                return True
            return False

    def _run(self) -> None:
        with self._condition:
            while True:
                while self._heap and self._heap[0][1] not in self._armed:
                    heapq.heappop(self._heap)  # disarmed: forget it
                if not self._heap:
                    self._wakes_at = math.inf
                    self._condition.wait()
                    continue
                deadline, ticket = self._heap[0]
                left = deadline - time.monotonic()
                if left > 0:
                    self._wakes_at = deadline
                    self._condition.wait(left)
                    continue
                heapq.heappop(self._heap)
                sock = self._armed.pop(ticket)
                self._fired.add(ticket)
                with contextlib.suppress(OSError):  # already closed: nothing to interrupt
                    sock.shutdown(socket.SHUT_RDWR)


_WATCHDOG = Watchdog()


class BoundedStream(httpx.SyncByteStream):
    """A response body that stops at the call's deadline or at its size limit."""

    def __init__(
        self,
        stream: httpx.SyncByteStream,
        *,
        status: int,
        deadline: float,
        timeout_s: float,
        limit: float,
        sock: socket.socket | None,
    ) -> None:
        self._stream = stream
        self._status = status
        self._deadline = deadline
        self._timeout_s = timeout_s
        self._limit = limit
        watched = sock is not None and math.isfinite(deadline)
        self._ticket = _WATCHDOG.arm(deadline, sock) if watched and sock is not None else None

    def __iter__(self) -> Iterator[bytes]:
        read = 0
        try:
            for chunk in self._stream:
                read += len(chunk)
                if read > self._limit:
                    raise ResponseTooLarge(self._status, int(self._limit))
                if time.monotonic() >= self._deadline:
                    raise BudgetSpent(self._timeout_s)
                yield chunk
        except (httpx.TransportError, OSError):
            if self._stopped():
                raise BudgetSpent(self._timeout_s) from None
            raise
        finally:
            self._stopped()

    def _stopped(self) -> bool:
        """Disarm the watchdog; whether it had cut the connection at the deadline."""
        ticket, self._ticket = self._ticket, None
        return ticket is not None and _WATCHDOG.disarm(ticket)

    def close(self) -> None:
        self._stopped()
        self._stream.close()


def bound_response(response: httpx.Response, *, any_size: bool = False) -> None:
    """Read ``response``'s body only within its call's budget: time left and size limit.

    The budget is the one its request carries (:data:`BUDGET_EXTENSION`); a request without
    one is left alone. Called when the headers have arrived and the body has not been read; a
    ``Content-Length`` past the limit is refused at once. ``any_size``: no size limit (a file
    streamed to disk), only the time.
    """
    budget = response.request.extensions.get(BUDGET_EXTENSION)
    if not isinstance(budget, Budget):
        return
    most = budget.max_response_bytes
    limit: float = math.inf if any_size or most is None else most
    left = budget.left()
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise ResponseTooLarge(response.status_code, int(limit))
    stream = response.stream
    if not isinstance(stream, httpx.SyncByteStream):
        return  # an async stream cannot be read by this client anyway
    network = response.extensions.get("network_stream")
    sock = network.get_extra_info("socket") if network is not None else None
    response.stream = BoundedStream(
        stream,
        status=response.status_code,
        # What is left of the budget, from now on the clock of the socket's reads.
        deadline=math.inf if left is None else time.monotonic() + left,
        timeout_s=budget.total_s or 0.0,
        limit=limit,
        sock=sock if isinstance(sock, socket.socket) else None,
    )
