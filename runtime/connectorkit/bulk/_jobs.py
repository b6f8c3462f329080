"""Push jobs as people see them, and remembered values, in the state store.

The jobs themselves are kept by :class:`~connectorkit.state._ledger.JobLedger`; this module
sums one up for ``connectorkit jobs``. What an action remembered (a table's columns) is kept
under its own key, so that other processes see it too.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from connectorkit.state import _keys

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from connectorkit.state import State

__all__ = ["StoreMemory", "job_summary"]


def job_summary(
    about: Mapping[str, Any], batches: Mapping[int, Mapping[str, Any]]
) -> dict[str, Any]:
    """Rows and batches per status, for ``jobs list`` and ``jobs show``."""
    counts: dict[str, dict[str, int]] = {}
    for entry in batches.values():
        status = str(entry.get("status"))
        bucket = counts.setdefault(status, {"batches": 0, "rows": 0})
        bucket["batches"] += 1
        bucket["rows"] += int(entry.get("count", 0))
    settled = {"committed"} == set(counts) and bool(counts)
    state = "done" if settled else ("open" if counts else "started")
    if "unknown" in counts:
        state = "needs a decision"
    elif "failed" in counts or "not_sent" in counts:
        state = "stopped"
    return {
        "action": about.get("action"),
        "inputs": about.get("inputs", {}),
        "created": about.get("created"),
        "state": state,
        "batches": counts,
    }


class StoreMemory:
    """Remembered values (e.g. a table's columns) on the state store."""

    def __init__(self, state: Callable[[], State]) -> None:
        self._state = state

    def recall(self, key: str) -> Any:
        """The JSON value remembered under ``key``, if any (None when nothing is)."""
        data = self._state().store.get(_keys.remembered(key))
        return json.loads(data) if data else None

    def remember(self, key: str, value: Any) -> None:
        """Keep ``value`` (JSON) under ``key``."""
        self._state().store.put(_keys.remembered(key), json.dumps(value).encode())
