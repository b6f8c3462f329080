"""Operation handles in the state store: a started operation any worker can resume.

A handle is a record of the state store's one ledger layer (:class:`~connectorkit.state.
Records`, kind ``op``). Its description holds what does not change: the action, its inputs (a
file input as where it was, not its bytes), which connection (its key, and its stored name if
it has one; never a credential), when it started. Its entries hold what does: one per
operation it follows (the slice of a list it was started for, what identifies it, its status,
polls, percent), and its overall status. ``connectorkit operations list`` reads the index;
handles that ended more than a week ago leave it then.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from connectorkit.state import Records

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from connectorkit.state import State

__all__ = [
    "ENDED_KEPT_S",
    "OperationBook",
    "Tracked",
    "new_handle",
    "running_result",
    "summary",
]

# A handle that ended is listed this long after its last change, then forgotten.
ENDED_KEPT_S = 7 * 24 * 3600.0
_DESCRIBED = ("handle", "action", "inputs", "connection", "created")


def new_handle() -> str:
    """A fresh handle: ``op_`` and 20 random URL-safe characters."""
    return "op_" + secrets.token_urlsafe(15)


class OperationBook:
    """The handles of one state store (opened on first use)."""

    def __init__(self, state: Callable[[], State]) -> None:
        self._records = Records(lambda: state().store, "op")

    def save(self, record: Mapping[str, Any]) -> None:
        """Write ``record`` (it holds its ``handle``): its description once, its state each time."""
        handle = str(record["handle"])
        self._records.create(handle, {k: record.get(k) for k in _DESCRIBED})
        for number, part in enumerate(record.get("parts") or ()):
            self._records.put_entry(handle, f"part:{number:06d}", part)
        state = {"status": record.get("status"), "updated": record.get("updated")}
        self._records.put_entry(handle, "state", state)

    def get(self, handle: str) -> dict[str, Any] | None:
        """The record of ``handle`` as it was saved, or ``None``."""
        about = self._records.get(handle)
        if about is None:
            return None
        entries = self._records.entries(handle)
        parts = [entries[name] for name in sorted(entries) if name.startswith("part:")]
        return {**about, **entries.get("state", {}), "parts": parts}

    def handles(self, now: float) -> list[dict[str, Any]]:
        """Every handle's record, newest first; one that ended a week ago is forgotten."""
        found = []
        for handle in self._records.ids():
            record = self.get(handle)
            if record is None:
                continue
            ended = record.get("status") not in (None, "running")
            if ended and now - float(record.get("updated") or 0) > ENDED_KEPT_S:
                self.forget(handle)
                continue
            found.append(record)
        return sorted(found, key=lambda r: r.get("created") or 0, reverse=True)

    def forget(self, handle: str) -> bool:
        """Drop a handle; whether it existed."""
        return self._records.forget(handle)


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
