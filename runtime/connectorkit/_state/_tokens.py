"""Tokens shared by every worker of a store, renewed by one of them at a time.

The runtime's auth flow files each token under a digest of its connection identity (never a
secret) and renews it single-flight: it takes the key's lease, reads the key again (another
worker may have renewed it meanwhile), and only then asks the token endpoint. Here that
interface lives on a state store: records are sealed, and a lease is held in the store with a
TTL, so renewal is single-flight across threads, processes and machines, and a worker killed
while holding a lease blocks the others no longer than the TTL.
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

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from connectorkit._state._open import State

__all__ = ["DEFAULT_LEASE_TTL_S", "LEASE_TTL_ENV", "StoreTokens", "lineage_of"]

LEASE_TTL_ENV = "CONNECTORKIT_LEASE_TTL"
DEFAULT_LEASE_TTL_S = 20.0
_POLL_S = (0.01, 0.2)  # first and longest pause between looks at a lease someone else holds


def lineage_of(*parts: str) -> str:
    """A token key from its parts (which may be secrets): a digest, never the parts."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _token_key(key: str) -> str:
    return f"ck:{{tok:{key}}}:token"


def _lease_key(key: str) -> str:
    return f"ck:{{tok:{key}}}:lease"


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
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._state = state
        self.clock = clock
        self.sleep = sleep
        self.lease_ttl_s = lease_ttl_s or float(
            os.environ.get(LEASE_TTL_ENV) or DEFAULT_LEASE_TTL_S
        )

    @property
    def state(self) -> State:
        """The state store, opened on first use when given as a function that opens it."""
        if callable(self._state):
            self._state = self._state()
        return self._state

    def get(self, key: str) -> dict[str, Any] | None:
        """The token filed under ``key`` (a lineage digest), read from the store."""
        raw = self.state.store.get(_token_key(key))
        if raw is None:
            return None
        record: dict[str, Any] = json.loads(self.state.sealer.open(raw))
        return dict(record["token"])

    def put(self, key: str, token: Mapping[str, Any]) -> None:
        """File ``token`` under ``key``, sealed."""
        record = {"token": dict(token)}
        self.state.store.put(_token_key(key), self.state.sealer.seal(json.dumps(record).encode()))

    def forget(self, key: str) -> None:
        """Drop the token filed under ``key``."""
        self.state.store.delete(_token_key(key))

    @contextmanager
    def lease(self, key: str, *, wait: float | None) -> Iterator[bool]:
        """Hold ``key``'s lease in the store (for at most its TTL), waiting up to ``wait``."""
        owner = f"{os.getpid()}.{threading.get_ident()}.{secrets.token_hex(4)}"
        store = self.state.store
        deadline = None if wait is None else time.monotonic() + max(wait, 0.0)
        pause = _POLL_S[0]
        while not store.acquire_lease(_lease_key(key), owner, self.lease_ttl_s):
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                yield False
                return
            self.sleep(pause if left is None else min(pause, left))
            pause = min(pause * 2, _POLL_S[1])
        try:
            yield True
        finally:
            store.release_lease(_lease_key(key), owner)
