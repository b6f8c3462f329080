"""The bounds of one call: its time budget, the longest single wait, the largest response.

Every call is bounded, also when the caller sets nothing:

    bound                      default    per call (input)       per process (environment)
    whole-call time budget     300 s      timeout (ms)           CONNECTORKIT_TIMEOUT_MS
    one Retry-After wait       60 s       max_retry_wait_ms      CONNECTORKIT_MAX_RETRY_WAIT_MS
    response body size         64 MiB     max_response_bytes     CONNECTORKIT_MAX_RESPONSE_BYTES

The time budget covers connecting, sending, every byte of every response body, every retry and
every wait. httpx's timeouts apply per operation (a body that drips one byte a second never
trips a 2 s read timeout), so a response body is read through :class:`BoundedStream`, which
checks the deadline and the size after every chunk, and a :class:`Watchdog` shuts the socket
down at the deadline so that a read blocked in the kernel ends too.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import math
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import httpx
import msgspec

from connectorkit.core._errors import HttpError, TimeoutError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_RETRY_WAIT_S",
    "DEFAULT_TIMEOUT_S",
    "BoundedStream",
    "BudgetSpent",
    "CallBounds",
    "ResponseTooLarge",
    "Watchdog",
    "bound_response",
]

log = logging.getLogger("connectorkit")

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_MAX_RETRY_WAIT_S = 60.0
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_ENVIRONMENT = {
    "timeout_s": ("CONNECTORKIT_TIMEOUT_MS", 1000.0),
    "max_retry_wait_s": ("CONNECTORKIT_MAX_RETRY_WAIT_MS", 1000.0),
    "max_response_bytes": ("CONNECTORKIT_MAX_RESPONSE_BYTES", 1.0),
}


class CallBounds(msgspec.Struct, frozen=True):
    """How long a call may take, how long it waits at most once, how much it reads at most."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    max_retry_wait_s: float = DEFAULT_MAX_RETRY_WAIT_S
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> CallBounds:
        """The process's defaults: the built-in ones, overridden by the environment."""
        environ = os.environ if environ is None else environ
        found: dict[str, Any] = {}
        for field, (name, per_unit) in _ENVIRONMENT.items():
            text = environ.get(name)
            if not text:
                continue
            number = int(text) if text.isdigit() else 0
            if number < 1:
                log.warning("%s=%r is not a whole number of 1 or more: ignored", name, text)
                continue
            found[field] = number / per_unit if per_unit != 1 else number
        return cls(**found)

    def for_call(
        self,
        *,
        timeout_ms: int | None = None,
        max_retry_wait_ms: int | None = None,
        max_response_bytes: int | None = None,
    ) -> CallBounds:
        """These bounds with what one call's inputs override."""
        if not timeout_ms and max_retry_wait_ms is None and not max_response_bytes:
            return self
        return CallBounds(
            timeout_s=timeout_ms / 1000 if timeout_ms else self.timeout_s,
            max_retry_wait_s=(
                max_retry_wait_ms / 1000 if max_retry_wait_ms is not None else self.max_retry_wait_s
            ),
            max_response_bytes=max_response_bytes or self.max_response_bytes,
        )


class ResponseTooLarge(HttpError):
    """The response body passed the call's ``max_response_bytes``; what was read is dropped."""

    _shown = ("status", "code", "max_response_bytes")

    def __init__(self, status: int, limit: int) -> None:
        super().__init__(
            f"the service's response is larger than the limit of {limit} bytes "
            "(max_response_bytes; CONNECTORKIT_MAX_RESPONSE_BYTES for the process)",
            status=status,
            code="response_too_large",
        )
        self.max_response_bytes = limit


class BudgetSpent(TimeoutError):
    """The budget ran out while a response was arriving: the request was sent."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            f"the call's time budget of {timeout_s * 1000:.0f} ms ran out while the response "
            "was arriving",
            timeout_ms=round(timeout_s * 1000),
            request_sent=True,
        )


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
        limit: int,
        sock: socket.socket | None,
    ) -> None:
        self._stream = stream
        self._status = status
        self._deadline = deadline
        self._timeout_s = timeout_s
        self._limit = limit
        self._ticket = _WATCHDOG.arm(deadline, sock) if sock is not None else None

    def __iter__(self) -> Iterator[bytes]:
        read = 0
        try:
            for chunk in self._stream:
                read += len(chunk)
                if read > self._limit:
                    raise ResponseTooLarge(self._status, self._limit)
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


def bound_response(
    response: httpx.Response, *, deadline: float, timeout_s: float, limit: int
) -> None:
    """Read ``response``'s body only within the deadline and the size limit.

    ``deadline`` is on ``time.monotonic``'s clock. Called when the headers have arrived and the
    body has not been read; a ``Content-Length`` past the limit is refused at once.
    """
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise ResponseTooLarge(response.status_code, limit)
    stream = response.stream
    if not isinstance(stream, httpx.SyncByteStream):
        return  # an async stream cannot be read by this client anyway
    network = response.extensions.get("network_stream")
    sock = network.get_extra_info("socket") if network is not None else None
    response.stream = BoundedStream(
        stream,
        status=response.status_code,
        deadline=deadline,
        timeout_s=timeout_s,
        limit=limit,
        sock=sock if isinstance(sock, socket.socket) else None,
    )
