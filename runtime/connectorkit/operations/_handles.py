"""Operation handles in the state store: a started operation any worker can resume.

A handle is a record keyed by its id (``ck:{op:ID}``): the action, its inputs (a file input as
where it was, not its bytes), which connection (its key, and its stored name if it has one;
never a credential), and each operation it follows (what identifies it, its status, polls,
percent). An index lets ``connectorkit operations list`` find them. Records expire a week
after their last change, as the services forget their operations too.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from connectorkit.state import State

__all__ = [
    "HANDLE_TTL_S",
    "OPERATION_INDEX",
    "OperationBook",
    "Tracked",
    "new_handle",
    "running_result",
    "summary",
]

OPERATION_INDEX = "ck:operations"
HANDLE_TTL_S = 7 * 24 * 3600.0


def new_handle() -> str:
    """A fresh handle: ``op_`` and 20 random URL-safe characters."""
    return "op_" + secrets.token_urlsafe(15)


def _key(handle: str) -> str:
    # A hash tag must not hold braces; a handle never does (see new_handle), but a caller's may.
    return "ck:{op:" + handle.replace("{", "(").replace("}", ")") + "}"


class OperationBook:
    """The handles of one state store (opened on first use)."""

    def __init__(self, state: Callable[[], State]) -> None:
        self._state = state

    def save(self, record: dict[str, Any]) -> None:
        """Write ``record`` (it holds its ``handle``) and list it in the index."""
        store = self._state().store
        handle = str(record["handle"])
        store.put(_key(handle), json.dumps(record).encode(), ttl_s=HANDLE_TTL_S)
        summary = {k: record.get(k) for k in ("action", "created", "updated", "status")}
        store.hash_set(OPERATION_INDEX, handle, json.dumps(summary).encode())

    def get(self, handle: str) -> dict[str, Any] | None:
        """The record of ``handle``, or ``None`` (never started here, or expired)."""
        data = self._state().store.get(_key(handle))
        return json.loads(data) if data else None

    def handles(self) -> list[dict[str, Any]]:
        """A summary of every handle (newest first); expired ones leave the index."""
        store = self._state().store
        found = []
        for handle, raw in store.hash_all(OPERATION_INDEX).items():
            if store.get(_key(handle)) is None:
                store.hash_delete(OPERATION_INDEX, handle)
                continue
            found.append({"handle": handle, **json.loads(raw)})
        return sorted(found, key=lambda s: s.get("created") or 0, reverse=True)

    def forget(self, handle: str) -> bool:
        """Drop a handle; whether it existed."""
        store = self._state().store
        store.hash_delete(OPERATION_INDEX, handle)
        return store.delete(_key(handle))


@dataclass(slots=True)
class Tracked:
    """One operation as its handle keeps it: what identifies it and how it went so far."""

    kept: dict[str, Any]
    started_at: float
    status: str = "running"  # running, succeeded, failed, cancelled, timeout
    service_status: str | None = None
    percent: float | None = None
    polls: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The operation as JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tracked:
        """An operation read back from a handle."""
        return cls(
            kept=dict(data.get("kept") or {}),
            started_at=float(data.get("started_at") or 0.0),
            status=str(data.get("status") or "running"),
            service_status=data.get("service_status"),
            percent=data.get("percent"),
            polls=int(data.get("polls") or 0),
        )


def summary(record: Mapping[str, Any], wall: float | None = None) -> dict[str, Any]:
    """What a caller is told of an operation: its handle and how it goes."""
    parts = [Tracked.from_dict(p["op"]) for p in record.get("parts", []) if p.get("op")]
    out: dict[str, Any] = {
        "handle": record["handle"],
        "action": record["action"],
        "status": record.get("status", "running"),
    }
    if len(record.get("parts", [])) == 1 and parts:
        part = parts[0]
        out.update(service_status=part.service_status, percent=part.percent, polls=part.polls)
    elif record.get("parts"):
        statuses = [p["op"]["status"] if p.get("op") else "not_started" for p in record["parts"]]
        out["operations"] = {s: statuses.count(s) for s in sorted(set(statuses))}
        out["polls"] = sum(p.polls for p in parts)
    out["started_at"] = record.get("created")
    if wall is not None and record.get("created"):
        out["elapsed_s"] = round(wall - float(record["created"]), 1)
    return out


def running_result(record: Mapping[str, Any], wall: float) -> dict[str, Any]:
    """The result of a call that leaves its operation running."""
    return {"status": "running", "operation": summary(record, wall)}
