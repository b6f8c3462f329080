"""Records kept by id in the state store, so that any process can see and resume them.

A record has a description (a JSON object, replaced only by compare-and-set) and entries
(JSON objects by name, each written in one store operation), and an index of every record of
its kind lists them oldest first. A push job is a record whose entries are its batches
(:class:`~connectorkit.state._ledger.JobLedger`); a long-running operation can be one whose
description is its handle. Every key of one record shares its hash tag (see ``_keys``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from connectorkit.state import _keys

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from connectorkit.state._store import Store

__all__ = ["Records"]


def _encode(value: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(value), sort_keys=True).encode()


class Records:
    """The records of one ``kind`` (``job``, ``op``…) in the store ``store()`` opens on use."""

    def __init__(self, store: Callable[[], Store], kind: str, *, entries: str = "entries") -> None:
        self._store = store
        self.kind = kind
        self._entries = entries
        self._index = _keys.record_index(kind)

    def _about_key(self, record_id: str) -> str:
        return _keys.record(self.kind, record_id, "about")

    def _entries_key(self, record_id: str) -> str:
        return _keys.record(self.kind, record_id, self._entries)

    def create(self, record_id: str, about: Mapping[str, Any]) -> dict[str, Any] | None:
        """Start ``record_id`` with ``about`` unless it exists (atomically).

        None when it was created; the existing description when it already was.
        """
        store = self._store()
        data = _encode(about)
        if store.compare_and_set(self._about_key(record_id), None, data):
            store.hash_set(self._index, record_id, data)
            return None
        existing = store.get(self._about_key(record_id))
        return json.loads(existing) if existing else {}

    def get(self, record_id: str) -> dict[str, Any] | None:
        """The description of ``record_id``, or None when there is no such record."""
        data = self._store().get(self._about_key(record_id))
        return json.loads(data) if data else None

    def replace(
        self, record_id: str, expected: Mapping[str, Any], about: Mapping[str, Any]
    ) -> bool:
        """Set the description to ``about`` if it is still ``expected``; whether it was.

        Two workers resuming the same record: one wins, the other reads the new description.
        """
        store = self._store()
        key = self._about_key(record_id)
        current = store.get(key)
        if current is None or json.loads(current) != dict(expected):
            return False
        return store.compare_and_set(key, current, _encode(about))

    def amend(
        self, record_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any] | None:
        """Replace the description with ``change(description)``, atomically; the new one.

        Retried while another worker changes it meanwhile; the index holds the new one too.
        ``None`` when there is no such record.
        """
        store = self._store()
        key = self._about_key(record_id)
        while True:
            current = store.get(key)
            if current is None:
                return None
            about = change(json.loads(current))
            data = _encode(about)
            if store.compare_and_set(key, current, data):
                store.hash_set(self._index, record_id, data)
                return about

    def described(self) -> dict[str, dict[str, Any]]:
        """Every record's description as the index holds it (one store operation)."""
        return {i: json.loads(v) for i, v in self._store().hash_all(self._index).items()}

    def put_entry(self, record_id: str, name: str, entry: Mapping[str, Any]) -> None:
        """Write one entry of ``record_id`` (replacing an entry of that name); one operation."""
        self._store().hash_set(self._entries_key(record_id), name, json.dumps(dict(entry)).encode())

    def entries(self, record_id: str) -> dict[str, dict[str, Any]]:
        """Every entry of ``record_id``, by name; one store operation."""
        found = self._store().hash_all(self._entries_key(record_id))
        return {name: json.loads(value) for name, value in found.items()}

    def ids(self) -> list[str]:
        """Every record of this kind, oldest first (by the ``created`` of its description)."""
        index = self._store().hash_all(self._index)
        return sorted(index, key=lambda i: json.loads(index[i]).get("created", 0))

    def forget(self, record_id: str) -> bool:
        """Drop a record, its entries and its place in the index; whether it existed."""
        store = self._store()
        for name in list(store.hash_all(self._entries_key(record_id))):
            store.hash_delete(self._entries_key(record_id), name)
        store.hash_delete(self._index, record_id)
        return store.delete(self._about_key(record_id))
