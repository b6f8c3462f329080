"""Stored connections: a connection's values and token kept in the store under a name.

A platform (or a person) logs in once with ``connectorkit auth login --save NAME`` and from then
on names the connection in requests; the token is renewed in the store, shared by every worker.
The whole record (values, secrets among them) is sealed; the token lives in the token records
under the connection's own lineage, so its renewal is single-flight like any other. That
lineage is pinned: it never expires while the connection exists, and goes with it.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectorkit.state import _keys
from connectorkit.state._tokens import StoreTokens, lineage_of, pinned_lineage

if TYPE_CHECKING:
    from connectorkit.state._open import State

__all__ = ["NAME_PATTERN", "StoredConnection", "StoredConnections", "connection_lineage"]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_INDEX = _keys.CONNECTIONS
_LAYOUT = 2  # records from before 2 keep their token under the unpinned lineage_of(...)


def connection_lineage(name: str) -> str:
    """The token lineage of the stored connection ``name`` (pinned: it never expires)."""
    return pinned_lineage("stored-connection", name)


def _unpinned_lineage(name: str) -> str:
    return lineage_of("stored-connection", name)


@dataclass(frozen=True, slots=True)
class StoredConnection:
    """One stored connection: the pack's connection ``key``, its values, and its newest token."""

    name: str
    key: str
    values: dict[str, Any] = field(repr=False)
    token: dict[str, Any] | None = field(default=None, repr=False)
    saved_at: float = 0.0

    @property
    def lineage(self) -> str:
        """Where its token is kept among the token records."""
        return connection_lineage(self.name)


class StoredConnections:
    """Save, load, list and remove stored connections (``load``/``save``/``names``/``remove``)."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.tokens = StoreTokens(state)

    @staticmethod
    def check_name(name: str) -> str:
        """``name`` if it is a valid connection name; ``ValueError`` saying why otherwise."""
        if not NAME_PATTERN.match(name):
            raise ValueError(
                "a connection name is 1-64 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit"
            )
        return name

    def save(
        self, name: str, key: str, values: dict[str, Any], token: dict[str, Any] | None
    ) -> StoredConnection:
        """Store (or replace) connection ``name``; its token becomes the newest of its lineage."""
        self.check_name(name)
        now = time.time()
        record = {"key": key, "values": values, "saved_at": now, "layout": _LAYOUT}
        sealed = self.state.sealer.seal(json.dumps(record).encode())
        self.state.store.hash_set(_INDEX, name, sealed)
        if token is not None:
            self.tokens.put(connection_lineage(name), token)
        else:
            self.tokens.forget(connection_lineage(name))
        return StoredConnection(name, key, values, token, now)

    def load(self, name: str) -> StoredConnection | None:
        """Connection ``name`` with its newest token, or ``None`` if there is none by that name."""
        sealed = self.state.store.hash_get(_INDEX, name)
        if sealed is None:
            return None
        record = json.loads(self.state.sealer.open(sealed))
        if record.get("layout") != _LAYOUT:
            record = self._upgrade(name, record)
        token = self.tokens.get(connection_lineage(name))
        return StoredConnection(
            name, record["key"], record["values"], token, float(record.get("saved_at", 0))
        )

    def _upgrade(self, name: str, record: dict[str, Any]) -> dict[str, Any]:
        """Move the token of a connection saved before lineages were pinned to its pinned one."""
        old = _unpinned_lineage(name)
        token = self.tokens.get(old)
        if token is not None and self.tokens.get(connection_lineage(name)) is None:
            self.tokens.put(connection_lineage(name), token)
        self.tokens.forget(old)
        record = {**record, "layout": _LAYOUT}
        self.state.store.hash_set(_INDEX, name, self.state.sealer.seal(json.dumps(record).encode()))
        return record

    def names(self) -> list[str]:
        """Every stored connection's name, sorted."""
        return sorted(self.state.store.hash_all(_INDEX))

    def revision(self) -> str:
        """A short digest that changes whenever a connection is saved, replaced or removed."""
        digest = hashlib.sha256()
        records = self.state.store.hash_all(_INDEX)
        for name in sorted(records):
            digest.update(name.encode() + b"\0" + hashlib.sha256(records[name]).digest())
        return digest.hexdigest()[:16]

    def remove(self, name: str) -> bool:
        """Forget connection ``name`` and its token; whether it existed."""
        existed = self.state.store.hash_delete(_INDEX, name)
        self.tokens.forget(connection_lineage(name))
        self.tokens.forget(_unpinned_lineage(name))  # saved before lineages were pinned
        return existed

    def reseal(self) -> int:
        """Seal every stored connection and token again with the newest key; how many."""
        count = 0
        for name, sealed in self.state.store.hash_all(_INDEX).items():
            self.state.store.hash_set(_INDEX, name, self.state.sealer.reseal(sealed))
            self.load(name)  # moves a token saved before lineages were pinned
            token = self.tokens.get(connection_lineage(name))
            if token is not None:
                self.tokens.put(connection_lineage(name), token)
            count += 1
        return count
