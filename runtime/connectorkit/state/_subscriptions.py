"""Trigger subscriptions: where each one stands, and who is polling it, in the state store.

A subscription is a platform's own name for "this trigger with these inputs". Its record holds
its position (the cursor: a high-water mark and the ids seen at it, the ids listed at the last
poll, or the service's next URL) under a short token, with the few positions before it, so that
a poll repeated from an earlier cursor gives the same events again. A poll holds the
subscription's lease from reading the position until its answer is out and the new position is
written, so two workers sharing a store never answer the same events: the second waits, then
reads the position the first wrote (as a token renewal does). A worker that dies holding it
blocks the others no longer than the lease's lifetime.

A record is written with a lifetime counted from its last poll (:data:`RETENTION_S`): a
subscription nobody polls for that long is forgotten, and its next poll starts it anew.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectorkit.state import _keys

if TYPE_CHECKING:
    from collections.abc import Callable

    from connectorkit.state._store import Store

__all__ = ["RETENTION_S", "SubscriptionRef", "Subscriptions"]

RETENTION_S = 90 * 86400.0
_POLL_S = (0.01, 0.25)  # first and longest pause between looks at a lease someone else holds


@dataclass(frozen=True, slots=True)
class SubscriptionRef:
    """Which subscription: the pack, the trigger and the platform's id for it."""

    pack: str
    trigger: str
    id: str

    @property
    def name(self) -> str:
        """The subscription as one text (inside a key's hash tag)."""
        return _keys.tag(f"{self.pack}/{self.trigger}/{self.id}")


class Subscriptions:
    """The subscriptions of one store (opened on first use)."""

    def __init__(
        self,
        store: Callable[[], Store],
        *,
        sleep: Callable[[float], None] = time.sleep,
        retention_s: float = RETENTION_S,
    ) -> None:
        self._store = store
        self._sleep = sleep
        self.retention_s = retention_s

    def acquire(self, ref: SubscriptionRef, *, ttl_s: float, wait_s: float) -> str | None:
        """Take the subscription's lease for ``ttl_s``, waiting up to ``wait_s``; its owner.

        ``None`` when someone else held it all that time.
        """
        owner = f"{os.getpid()}.{threading.get_ident()}.{secrets.token_hex(4)}"
        store = self._store()
        key = _keys.subscription(ref.name, "lease")
        deadline = time.monotonic() + max(wait_s, 0.0)
        pause = _POLL_S[0]
        while not store.acquire_lease(key, owner, ttl_s):
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._sleep(min(pause, left))
            pause = min(pause * 2, _POLL_S[1])
        return owner

    def release(self, ref: SubscriptionRef, owner: str) -> None:
        """Give the lease back (only if ``owner`` still holds it)."""
        self._store().release_lease(_keys.subscription(ref.name, "lease"), owner)

    def read(self, ref: SubscriptionRef) -> dict[str, Any] | None:
        """The subscription's record, or ``None`` when it has none (new, or forgotten)."""
        raw = self._store().get(_keys.subscription(ref.name, "cursor"))
        return json.loads(raw) if raw else None

    def write(self, ref: SubscriptionRef, record: dict[str, Any]) -> None:
        """Keep ``record`` for the retention from now."""
        data = json.dumps(record, separators=(",", ":"), sort_keys=True).encode()
        self._store().put(_keys.subscription(ref.name, "cursor"), data, ttl_s=self.retention_s)

    def forget(self, ref: SubscriptionRef) -> bool:
        """Drop the subscription's record; whether it had one."""
        return self._store().delete(_keys.subscription(ref.name, "cursor"))
