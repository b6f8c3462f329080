"""Tokens shared by every worker of a store, renewed by one of them at a time.

A token lives under its *lineage*: the digest of the connection identity (token URL, client,
scope) and of the first refresh token seen, or a stored connection's name. A refresh token that
replaces another points back to the same lineage, so a request that still carries an old
refresh token finds the newest token instead of spending a used one.

Renewal is single-flight at three levels: a lock per lineage inside the process, then a lease
in the store (with a TTL, so a worker killed while holding it blocks the others no longer than
that), and after taking the lease the record is read again, since another worker may have just
renewed it. Records are versioned and written with compare-and-set: the newest always wins.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectorkit import _errors

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from connectorkit._state._open import State

__all__ = ["LEASE_TTL_ENV", "Renewal", "SharedTokens", "StoreTokens", "lineage_of"]

LEASE_TTL_ENV = "CONNECTORKIT_LEASE_TTL"
DEFAULT_LEASE_TTL_S = 20.0
MAX_LOCAL_ENTRIES = 4096
_POLL_S = (0.01, 0.2)  # first and longest pause between looks at a lease someone else holds

logger = logging.getLogger("connectorkit.state")


def lineage_of(*parts: str) -> str:
    """A lineage identity: a digest of its parts (which may be secrets), never the parts."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def _token_key(lineage: str) -> str:
    return f"ck:{{tok:{lineage}}}:token"


def _lease_key(lineage: str) -> str:
    return f"ck:{{tok:{lineage}}}:lease"


def _pointer_key(refresh_token: str) -> str:
    return f"ck:{{rt:{lineage_of('refresh', refresh_token)}}}:lineage"


@dataclass(frozen=True, slots=True)
class Renewal:
    """What a caller gets back: the token to use and whether it is new to that caller."""

    token: dict[str, Any]
    new: bool


class SharedTokens:
    """Token records in a store, with single-flight renewal across threads and processes."""

    def __init__(
        self,
        state: State,
        *,
        lease_ttl_s: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.state = state
        self.lease_ttl_s = lease_ttl_s or float(
            os.environ.get(LEASE_TTL_ENV) or DEFAULT_LEASE_TTL_S
        )
        self.clock = clock
        self.sleep = sleep
        self.owner = f"{os.getpid()}.{secrets.token_hex(6)}"
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._cache: dict[str, dict[str, Any]] = {}
        self.renewals = 0  # token requests this process made, for the benchmark

    # -- records -----------------------------------------------------------------------------

    def _lock(self, lineage: str) -> threading.Lock:
        with self._locks_guard:
            if len(self._locks) >= MAX_LOCAL_ENTRIES and lineage not in self._locks:
                # Bounded memory for a long-lived worker: forget the idle ones (the store keeps
                # every token; a lock in use stays with the thread that holds it).
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
                self._cache.clear()
            return self._locks.setdefault(lineage, threading.Lock())

    def _read(self, lineage: str) -> tuple[bytes | None, dict[str, Any] | None]:
        raw = self.state.store.get(_token_key(lineage))
        if raw is None:
            return None, None
        record: dict[str, Any] = json.loads(self.state.sealer.open(raw))
        self._cache[lineage] = record
        return raw, record

    def lineage_for(self, base: str, refresh_token: str | None) -> str:
        """The lineage a token belongs to: its refresh token's, followed to the first one."""
        if refresh_token is None:
            return base
        found = self.state.store.get(_pointer_key(refresh_token))
        return found.decode() if found is not None else lineage_of(base, refresh_token)

    def cached(self, lineage: str) -> dict[str, Any] | None:
        """The token this process last saw for ``lineage`` (no store operation)."""
        record = self._cache.get(lineage)
        return None if record is None else dict(record["token"])

    def peek(self, lineage: str) -> dict[str, Any] | None:
        """The newest token of ``lineage`` in the store."""
        _, record = self._read(lineage)
        return None if record is None else dict(record["token"])

    def save(self, lineage: str, token: dict[str, Any]) -> None:
        """File ``token`` as the newest of ``lineage`` (a login or an import), unconditionally."""
        _, record = self._read(lineage)
        version = 1 + (record["version"] if record else 0)
        self._write(lineage, None, {"version": version, "token": token}, force=True)

    def forget(self, lineage: str) -> None:
        """Drop ``lineage``'s token."""
        self.state.store.delete(_token_key(lineage))
        self._cache.pop(lineage, None)

    def _write(
        self, lineage: str, expected: bytes | None, record: dict[str, Any], *, force: bool = False
    ) -> bool:
        sealed = self.state.sealer.seal(json.dumps(record).encode())
        store = self.state.store
        if force:
            store.put(_token_key(lineage), sealed)
        elif not store.compare_and_set(_token_key(lineage), expected, sealed):
            return False
        self._cache[lineage] = record
        refresh = record["token"].get("refresh_token")
        if refresh:
            store.put(_pointer_key(str(refresh)), lineage.encode())
        return True

    # -- renewal -----------------------------------------------------------------------------

    def obtain(
        self,
        lineage: str,
        *,
        given: dict[str, Any] | None,
        failed: str | None,
        usable: Callable[[dict[str, Any]], bool],
        fetch: Callable[[dict[str, Any] | None, float], dict[str, Any]],
        remaining: Callable[[], float | None],
    ) -> Renewal:
        """A usable token of ``lineage`` other than ``failed``, renewing it if none is.

        ``given`` is the caller's own token (the request's), ``fetch(base, timeout)`` asks the
        token endpoint for a new one from ``base`` (the newest known token, whose refresh token
        has never been spent). ``remaining`` is the call's time budget.
        """

        def good(token: dict[str, Any] | None) -> bool:
            return token is not None and token.get("access_token") != failed and usable(token)

        def found(token: dict[str, Any]) -> Renewal:
            # New to the caller only if it brought an older one (a fetched token always is).
            return Renewal(dict(token), new=given is not None and token != given)

        with self._hold(self._lock(lineage), remaining):
            local = self.cached(lineage)
            if local is not None and good(local):
                return found(local)
            _, record = self._read(lineage)
            newest = record["token"] if record else given
            if newest is not None and good(newest):
                return found(newest)
            pause = _POLL_S[0]
            while not self.state.store.acquire_lease(
                _lease_key(lineage), self.owner, self.lease_ttl_s
            ):
                left = remaining()
                self.sleep(pause if left is None else min(pause, left))
                pause = min(pause * 2, _POLL_S[1])
                _, record = self._read(lineage)
                if record is not None and good(record["token"]):
                    return found(record["token"])
            try:
                # Read again under the lease: another worker may have renewed it just now.
                raw, record = self._read(lineage)
                newest = record["token"] if record else given
                if newest is not None and good(newest):
                    return found(newest)
                left = remaining()
                # Finish well inside the lease, or another worker could spend the same token.
                timeout = (
                    self.lease_ttl_s * 0.8 if left is None else min(left, self.lease_ttl_s * 0.8)
                )
                token = fetch(newest, timeout)
                self.renewals += 1
                version = 1 + (record["version"] if record else 0)
                if not self._write(lineage, raw, {"version": version, "token": token}):
                    logger.warning("a newer token was filed while this one was fetched; both work")
                return Renewal(token, new=True)
            finally:
                self.state.store.release_lease(_lease_key(lineage), self.owner)

    def _hold(self, lock: threading.Lock, remaining: Callable[[], float | None]) -> _Held:
        return _Held(lock, remaining)


class _Held:
    """A thread lock taken no longer than the call's time budget allows."""

    def __init__(self, lock: threading.Lock, remaining: Callable[[], float | None]) -> None:
        self._lock = lock
        self._remaining = remaining

    def __enter__(self) -> None:
        left = self._remaining()
        if not self._lock.acquire(timeout=-1 if left is None else left):
            raise _errors.TimeoutError(
                "the call's time budget ran out while another request was renewing the token"
            )

    def __exit__(self, *_: object) -> None:
        self._lock.release()


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
        record = {"version": 0, "token": dict(token)}
        self.state.store.put(_token_key(key), self.state.sealer.seal(json.dumps(record).encode()))

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
