"""The in-memory backend: one process, for unit tests and for callers that want no files."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from connectorkit.state._sliding import wait_for
from connectorkit.state._store import HOLD_POLL_S, SWEEP_EVERY_S

if TYPE_CHECKING:
    from collections.abc import Callable

    from connectorkit.state._store import Window

__all__ = ["MemoryStore"]


class MemoryStore:
    """Every primitive under one lock; ``clock`` may be replaced to test time-based behaviour."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.url = "memory://"
        self.clock = clock
        self._lock = threading.Lock()
        self._values: dict[str, bytes] = {}
        self._expires: dict[str, float] = {}  # the values given a lifetime: when it ends
        self._next_sweep = 0.0
        self._leases: dict[str, tuple[str, float]] = {}
        self._hashes: dict[str, dict[str, bytes]] = {}
        self._logs: dict[str, list[tuple[float, int]]] = {}
        self._holds: dict[str, dict[str, float]] = {}

    def _live(self, key: str, now: float) -> bytes | None:
        """The value at ``key`` unless its lifetime has ended (then it goes); under the lock."""
        if self._expires.get(key, now + 1) <= now:
            del self._values[key], self._expires[key]
        return self._values.get(key)

    def get(self, key: str) -> bytes | None:
        """See :class:`Store`."""
        now = self.clock()
        with self._lock:
            return self._live(key, now)

    def put(self, key: str, value: bytes, *, ttl_s: float | None = None) -> None:
        """See :class:`Store`."""
        now = self.clock()
        with self._lock:
            self._values[key] = value
            if ttl_s is None:
                self._expires.pop(key, None)
                return
            self._expires[key] = now + ttl_s
            if now >= self._next_sweep:
                self._sweep(now)

    def compare_and_set(self, key: str, expected: bytes | None, value: bytes) -> bool:
        """See :class:`Store`."""
        now = self.clock()
        with self._lock:
            if self._live(key, now) != expected:
                return False
            self._values[key] = value
            self._expires.pop(key, None)
            return True

    def delete(self, key: str) -> bool:
        """See :class:`Store`."""
        now = self.clock()
        with self._lock:
            existed = self._live(key, now) is not None
            self._values.pop(key, None)
            self._expires.pop(key, None)
            return existed

    def sweep(self) -> int:
        """See :class:`Store`."""
        now = self.clock()
        with self._lock:
            return self._sweep(now)

    def _sweep(self, now: float) -> int:
        self._next_sweep = now + SWEEP_EVERY_S
        gone = [key for key, ends in self._expires.items() if ends <= now]
        for key in gone:
            del self._values[key], self._expires[key]
        for name, (_, ends) in list(self._leases.items()):
            if ends <= now:
                del self._leases[name]
        for name, slots in list(self._holds.items()):
            for holder, ends in list(slots.items()):
                if ends <= now:
                    del slots[holder]
            if not slots:
                del self._holds[name]
        return len(gone)

    def acquire_lease(self, key: str, owner: str, ttl_s: float) -> bool:
        """See :class:`Store`."""
        now = self.clock()
        with self._lock:
            held = self._leases.get(key)
            if held is not None and held[1] > now and held[0] != owner:
                return False
            self._leases[key] = (owner, now + ttl_s)
            return True

    def release_lease(self, key: str, owner: str) -> None:
        """See :class:`Store`."""
        with self._lock:
            if self._leases.get(key, ("", 0.0))[0] == owner:
                del self._leases[key]

    def hash_get(self, key: str, field: str) -> bytes | None:
        """See :class:`Store`."""
        with self._lock:
            return self._hashes.get(key, {}).get(field)

    def hash_set(self, key: str, field: str, value: bytes) -> None:
        """See :class:`Store`."""
        with self._lock:
            self._hashes.setdefault(key, {})[field] = value

    def hash_delete(self, key: str, field: str) -> bool:
        """See :class:`Store`."""
        with self._lock:
            return self._hashes.get(key, {}).pop(field, None) is not None

    def hash_all(self, key: str) -> dict[str, bytes]:
        """See :class:`Store`."""
        with self._lock:
            return dict(self._hashes.get(key, {}))

    def take(
        self,
        windows: tuple[Window, ...],
        *,
        holds: str | None = None,
        holder: str = "",
        capacity: int = 0,
        hold_ttl_s: float = 0.0,
    ) -> float:
        """See :class:`Store`."""
        now = self.clock()
        with self._lock:
            wait = 0.0
            for window in windows:
                log = self._logs.setdefault(window.key, [])
                log[:] = [(at, units) for at, units in log if at > now - window.seconds]
                wait = max(wait, wait_for(window, log, now))
            slots: dict[str, float] = {}
            if holds is not None:
                slots = self._holds.setdefault(holds, {})
                for name, expires in list(slots.items()):
                    if expires <= now:
                        del slots[name]
                if len(slots) >= capacity:
                    wait = max(wait, min(min(slots.values()) - now, HOLD_POLL_S))
            if wait > 0:
                return wait
            for window in windows:
                if window.units:
                    self._logs[window.key].append((now, window.units))
            if holds is not None:
                slots[holder] = now + hold_ttl_s
            return 0.0

    def release_hold(self, key: str, holder: str) -> None:
        """See :class:`Store`."""
        with self._lock:
            self._holds.get(key, {}).pop(holder, None)

    def close(self) -> None:
        """Nothing to release."""
