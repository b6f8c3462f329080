"""Push jobs and remembered values, kept in the state store so that other processes see them.

A job is a description (the action, its inputs but the rows, when it started) and a ledger of
batches (status, rows, digest of the body). Every key of one job shares the hash tag
``{job:ID}``, so a Redis Cluster keeps a job in one slot; an index of job ids lets
``connectorkit jobs list`` find them. What an action remembered (a table's columns) sits under
``{mem:…}``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from connectorkit.bulk._pusher import BatchRecord
    from connectorkit.state import JobLedger, State

__all__ = ["JOB_INDEX", "StoreJobBook", "StoreMemory", "job_summary"]

JOB_INDEX = "ck:jobs"


def _about_key(job_id: str) -> str:
    return f"ck:{{job:{job_id}}}:about"


class StoreJobBook:
    """The job ledger on the state store (see :class:`connectorkit.bulk._push.JobBook`)."""

    def __init__(self, state: Callable[[], State]) -> None:
        self._state = state

    def _ledger(self) -> JobLedger:
        from connectorkit.state import JobLedger  # noqa: PLC0415 - the store opens lazily

        return JobLedger(self._state())

    def open(self, job_id: str, about: Mapping[str, Any]) -> dict[str, Any] | None:
        """Start ``job_id`` unless it exists (atomically); the existing description if it does."""
        store = self._state().store
        data = json.dumps(dict(about), sort_keys=True).encode()
        if store.compare_and_set(_about_key(job_id), None, data):
            store.hash_set(JOB_INDEX, job_id, data)
            return None
        existing = store.get(_about_key(job_id))
        return json.loads(existing) if existing else {}

    def record(self, job_id: str, record: BatchRecord, digest: str) -> None:
        """File the fate of one batch; one store operation."""
        entry = record.to_dict()
        status, number = entry.pop("status"), entry.pop("batch")
        self._ledger().record(job_id, number, status, **entry, digest=digest)

    def batches(self, job_id: str) -> dict[int, dict[str, Any]]:
        """Every batch recorded for ``job_id``, by number."""
        return {n: {"batch": n, **e} for n, e in self._ledger().batches(job_id).items()}

    def about(self, job_id: str) -> dict[str, Any] | None:
        """The description of ``job_id``, or None when there is no such job."""
        data = self._state().store.get(_about_key(job_id))
        return json.loads(data) if data else None

    def job_ids(self) -> list[str]:
        """Every job id the store knows, oldest first."""
        index = self._state().store.hash_all(JOB_INDEX)
        return sorted(index, key=lambda j: json.loads(index[j]).get("created", 0))

    def forget(self, job_id: str) -> bool:
        """Drop a job and its ledger; whether it existed."""
        store = self._state().store
        self._ledger().forget(job_id)
        store.hash_delete(JOB_INDEX, job_id)
        return store.delete(_about_key(job_id))


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

    def recall(self, key: str) -> list[dict[str, Any]] | None:
        """The value remembered under ``key``, if any."""
        data = self._state().store.get(f"ck:{{mem:{_tag(key)}}}")
        value = json.loads(data) if data else None
        return value if isinstance(value, list) else None

    def remember(self, key: str, columns: list[dict[str, Any]]) -> None:
        """Keep ``columns`` under ``key``."""
        self._state().store.put(f"ck:{{mem:{_tag(key)}}}", json.dumps(columns).encode())


def _tag(text: str) -> str:
    # A hash tag must not hold braces; the rest of the key may be any text.
    return text.replace("{", "(").replace("}", ")")
