"""Tokens shared by every worker of a store, renewed by one of them at a time.

The runtime's auth flow files each token under a digest of its connection identity (never a
secret) and renews it single-flight: it takes the key's lease, reads the key again (another
worker may have renewed it meanwhile), and only then asks the token endpoint. Here that
interface lives on a state store: records are sealed, and a lease is held in the store with a
TTL, so renewal is single-flight across threads, processes and machines, and a worker killed
while holding a lease blocks the others no longer than the TTL.

Records do not stay forever. Each is written with a lifetime (the backend's own: a Redis TTL, an
``expires`` column in SQLite) counted from the last write:

- a token with a refresh token (a lineage pointer: "this refresh token became that token") is
  kept for the retention, ``CONNECTORKIT_TOKEN_RETENTION`` (90 days by default, a common
  refresh token lifetime), after its access token expires; a caller that still holds the
  refresh token may present it until then;
- a token without one (a client-credentials token) is useless once expired: it is kept
  :data:`EXPIRED_GRACE_S` past its ``expires_at`` (never longer than the retention);
- a stored connection's own lineage (:func:`pinned_lineage`) never expires: it goes when the
  connection is removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from connectorkit.core._settings import settings
from connectorkit.state import _keys

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from connectorkit.state._open import State

__all__ = [
    "DEFAULT_LEASE_TTL_S",
    "EXPIRED_GRACE_S",
    "LEASE_TTL_ENV",
    "StoreTokens",
    "lineage_of",
    "pinned_lineage",
    "record_ttl",
]

LEASE_TTL_ENV = "CONNECTORKIT_LEASE_TTL"
DEFAULT_LEASE_TTL_S = 20.0
EXPIRED_GRACE_S = 300.0  # clocks of several machines may disagree by a little
_LONGEST_S = 10 * 365 * 86400.0  # a bound for any lifetime (Redis refuses a TTL past 2**63 ms)
_PINNED = "conn-"
_POLL_S = (0.01, 0.2)  # first and longest pause between looks at a lease someone else holds


def lineage_of(*parts: str) -> str:
    """A token key from its parts (which may be secrets): a digest, never the parts."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def pinned_lineage(*parts: str) -> str:
    """A token key like :func:`lineage_of`'s whose records never expire (stored connections')."""
    return _PINNED + lineage_of(*parts)


def record_ttl(key: str, token: Mapping[str, Any], now: float, retention_s: float) -> float | None:
    """How long the record of ``token`` under ``key`` is kept from ``now`` (``None``: always)."""
    if key.startswith(_PINNED):
        return None
    expires_at = token.get("expires_at")
    left = 0.0
    if isinstance(expires_at, int | float) and not isinstance(expires_at, bool):
        left = min(max(float(expires_at) - now, 0.0), _LONGEST_S)
    if token.get("refresh_token"):
        ttl = left + retention_s
    elif expires_at is None:
        ttl = retention_s
    else:
        ttl = min(left + EXPIRED_GRACE_S, retention_s)
    return min(ttl, _LONGEST_S)


class StoreTokens:
    """The runtime's token-store interface (``clock``, ``get``, ``put``, ``lease``) on a store.

    Records are sealed; leases are held in the store with a TTL, so they are single-flight
    across processes and machines and a worker that dies gives its lease up by itself.
    """

    def __init__(
        self,
        state: State | Callable[[], State],
        *,
        lease_ttl_s: float | None = None,
        retention_s: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._state = state
        self.clock = clock
        self.sleep = sleep
        self.lease_ttl_s = lease_ttl_s or settings().lease_ttl_s or DEFAULT_LEASE_TTL_S
        self._retention_s = retention_s

    @property
    def state(self) -> State:
        """The state store, opened on first use when given as a function that opens it."""
        if callable(self._state):
            self._state = self._state()
        return self._state

    def get(self, key: str) -> dict[str, Any] | None:
        """The token filed under ``key`` (a lineage digest), read from the store."""
        raw = self.state.store.get(_keys.token(key))
        if raw is None:
            return None
        record: dict[str, Any] = json.loads(self.state.sealer.open(raw))
        return dict(record["token"])

    @property
    def retention_s(self) -> float:
        """How long a token that can be renewed is kept past its expiry (the store's setting)."""
        if self._retention_s is None:
            return self.state.token_retention_s
        return self._retention_s

    def put(self, key: str, token: Mapping[str, Any]) -> None:
        """File ``token`` under ``key``, sealed, for the lifetime :func:`record_ttl` gives it."""
        record = {"token": dict(token)}
        ttl_s = record_ttl(key, token, self.clock(), self.retention_s)
        sealed = self.state.sealer.seal(json.dumps(record).encode())
        self.state.store.put(_keys.token(key), sealed, ttl_s=ttl_s)

    def forget(self, key: str) -> None:
        """Drop the token filed under ``key``."""
        self.state.store.delete(_keys.token(key))

    @contextmanager
    def lease(self, key: str, *, wait: float | None) -> Iterator[bool]:
        """Hold ``key``'s lease in the store (for at most its TTL), waiting up to ``wait``."""
        owner = f"{os.getpid()}.{threading.get_ident()}.{secrets.token_hex(4)}"
        store = self.state.store
        deadline = None if wait is None else time.monotonic() + max(wait, 0.0)
        pause = _POLL_S[0]
        while not store.acquire_lease(_keys.token_lease(key), owner, self.lease_ttl_s):
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                yield False
                return
            self.sleep(pause if left is None else min(pause, left))
            pause = min(pause * 2, _POLL_S[1])
        try:
            yield True
        finally:
            store.release_lease(_keys.token_lease(key), owner)
