"""Where tokens live between calls: a small store interface and its in-memory implementation.

An auth flow files each token under a key that digests the connection's identity (never the
secrets themselves) and renews it single-flight: it takes a lease on the key, reads the key
again (another holder may have renewed it meanwhile), and only then asks the token endpoint.
A store shared by several processes (SQLite, Redis) implements the same four members.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from contextlib import AbstractContextManager

__all__ = ["MemoryTokenStore", "TokenStore", "token_key"]


def token_key(*parts: str) -> str:
    """The store key of an identity made of ``parts`` (a SHA-256 digest: no secret is kept)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class TokenStore(Protocol):
    """Tokens by key, with a lease that makes a renewal single-flight."""

    clock: Callable[[], float]
    """Seconds since the epoch, as tokens' ``expires_at`` count them."""

    def get(self, key: str) -> dict[str, Any] | None:
        """The token filed under ``key``, if any."""
        ...

    def put(self, key: str, token: Mapping[str, Any]) -> None:
        """File ``token`` under ``key`` (the newest wins)."""
        ...

    def lease(self, key: str, *, wait: float | None) -> AbstractContextManager[bool]:
        """Hold ``key`` exclusively while renewing its token; waits at most ``wait`` seconds.

        Gives ``True`` when held, ``False`` when the wait ran out.
        """
        ...


class _Slot:
    """The newest token of one key, and the lock of its renewal."""

    __slots__ = ("lock", "token")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.token: dict[str, Any] | None = None


class MemoryTokenStore:
    """A thread-safe, bounded token store for one process (``invoke``, or ``serve``'s workers)."""

    def __init__(self, *, clock: Callable[[], float] = time.time, max_entries: int = 4096) -> None:
        self.clock = clock
        self._max_entries = max_entries
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._slots)

    def clear(self) -> None:
        """Forget every token."""
        with self._lock:
            self._slots.clear()

    def get(self, key: str) -> dict[str, Any] | None:
        """The token filed under ``key``, if any."""
        return self._slot(key).token

    def put(self, key: str, token: Mapping[str, Any]) -> None:
        """File ``token`` under ``key``."""
        self._slot(key).token = dict(token)

    @contextmanager
    def lease(self, key: str, *, wait: float | None) -> Iterator[bool]:
        """Hold ``key``'s lock for a renewal, waiting at most ``wait`` seconds."""
        lock = self._slot(key).lock
        held = lock.acquire(timeout=-1 if wait is None else max(wait, 0.0))
        try:
            yield held
        finally:
            if held:
                lock.release()

    def _slot(self, key: str) -> _Slot:
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = _Slot()
                while len(self._slots) > self._max_entries:
                    self._slots.popitem(last=False)
            else:
                self._slots.move_to_end(key)
            return slot
