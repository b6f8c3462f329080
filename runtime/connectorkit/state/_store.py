"""The store interface: a handful of primitives every backend implements the same way.

Everything that outlives one call (tokens, rate budgets, push job ledgers, stored connections)
is built from these primitives in backend-independent modules, so a backend stays thin: memory
(unit tests), SQLite (one machine, the default) and Redis (many machines).

A value may be given a lifetime (``put(…, ttl_s=…)``): past it the value reads as absent, and
each backend drops it in its own way (Redis expires the key itself; SQLite and memory sweep
expired rows now and then, cheaply, on a write). Without one a value stays until deleted.

Keys are laid out for a Redis Cluster: an operation that touches several keys keeps them in one
hash slot by sharing a ``{tag}`` (``ck:{tok:…}:lease``, ``ck:{res:…}:w0``); nothing takes a lock
wider than one key or one tagged group.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

__all__ = ["HOLD_POLL_S", "SWEEP_EVERY_S", "StateError", "Store", "Window"]

# A full set of slots frees when a holder finishes, at a moment no one knows: look again after
# this long (or when the first slot expires, if sooner).
HOLD_POLL_S = 0.05

# SQLite and memory drop expired values on a write that gives a lifetime, at most this often per
# store object (a short-lived `invoke` sweeps on its first such write): one indexed DELETE.
SWEEP_EVERY_S = 600.0


class StateError(Exception):
    """The state store cannot be used as configured (a bad URL, a missing key, a bad file)."""


class Window(msgspec.Struct, frozen=True):
    """One sliding-window budget: at most ``limit`` units in any ``seconds``-long window.

    ``units`` is what one take costs in this window (1 for a request, N for N rows); a window
    whose ``units`` is 0 is checked for nothing and charged nothing.
    """

    key: str
    limit: int
    seconds: float
    units: int = 1


class Store(Protocol):
    """The primitives of a state backend; every method is atomic and safe across processes."""

    url: str

    def get(self, key: str) -> bytes | None:
        """The value at ``key``, or ``None``."""

    def put(self, key: str, value: bytes, *, ttl_s: float | None = None) -> None:
        """Set ``key`` to ``value``, for ``ttl_s`` seconds (``None``: until deleted)."""

    def compare_and_set(self, key: str, expected: bytes | None, value: bytes) -> bool:
        """Set ``key`` to ``value`` (no lifetime) if it holds ``expected`` (``None``: absent)."""

    def delete(self, key: str) -> bool:
        """Remove ``key``; whether it existed."""

    def acquire_lease(self, key: str, owner: str, ttl_s: float) -> bool:
        """Take the lease ``key`` for ``owner`` for ``ttl_s`` seconds, if no one else holds it."""

    def release_lease(self, key: str, owner: str) -> None:
        """Give the lease back, only if ``owner`` still holds it."""

    def hash_get(self, key: str, field: str) -> bytes | None:
        """One field of the hash at ``key``."""

    def hash_set(self, key: str, field: str, value: bytes) -> None:
        """Set one field of the hash at ``key``."""

    def hash_delete(self, key: str, field: str) -> bool:
        """Remove one field; whether it existed."""

    def hash_all(self, key: str) -> dict[str, bytes]:
        """Every field of the hash at ``key``."""

    def take(
        self,
        windows: tuple[Window, ...],
        *,
        holds: str | None = None,
        holder: str = "",
        capacity: int = 0,
        hold_ttl_s: float = 0.0,
    ) -> float:
        """Charge every window at once, or none: 0.0 when taken, else the seconds to wait.

        With ``holds`` the take also needs one of ``capacity`` slots of that set (released by
        :meth:`release_hold`, or on its own after ``hold_ttl_s`` if the holder dies); while they
        are all taken the wait is at most :data:`HOLD_POLL_S`. All keys share one hash tag.
        """

    def release_hold(self, key: str, holder: str) -> None:
        """Give back a slot taken with :meth:`take`."""

    def sweep(self) -> int:
        """Drop every expired value (and expired lease and hold) now; how many values went.

        Redis expires keys on its own and answers 0; the others also sweep by themselves.
        """

    def close(self) -> None:
        """Release the backend's connections."""
