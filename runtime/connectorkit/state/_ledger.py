"""The ledger of a push job: what became of each batch, so a push resumes after a crash.

A batch is ``committed`` (the service accepted it), ``unknown`` (the connection broke after it
was sent: it may have landed), ``failed`` (refused; not stored) or ``not_sent``. A resumed job
never sends a batch the ledger knows as committed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from connectorkit.state._open import State

__all__ = ["BatchStatus", "JobLedger"]

BatchStatus = Literal["committed", "unknown", "failed", "not_sent"]
_STATUSES = frozenset(get_args(BatchStatus))


def _key(job_id: str) -> str:
    return f"ck:{{job:{job_id}}}:batches"


class JobLedger:
    """Per job id, one entry per batch (its status and whatever the caller records with it)."""

    def __init__(self, state: State) -> None:
        self.state = state

    def record(self, job_id: str, batch: int, status: BatchStatus, **info: Any) -> None:
        """File the status of ``batch`` (1-based) of ``job_id``; one store operation."""
        if status not in _STATUSES:
            raise ValueError(f"batch status must be one of {sorted(_STATUSES)}, not {status!r}")
        entry = {"status": status, **info}
        self.state.store.hash_set(_key(job_id), str(batch), json.dumps(entry).encode())

    def batches(self, job_id: str) -> dict[int, dict[str, Any]]:
        """Every recorded batch of ``job_id``, by number, in order; one store operation."""
        found = self.state.store.hash_all(_key(job_id))
        return {int(n): json.loads(v) for n, v in sorted(found.items(), key=lambda i: int(i[0]))}

    def committed(self, job_id: str) -> set[int]:
        """The batches known to be committed (never to be sent again)."""
        return {n for n, e in self.batches(job_id).items() if e["status"] == "committed"}

    def forget(self, job_id: str) -> None:
        """Drop the whole ledger of ``job_id``."""
        for number in list(self.state.store.hash_all(_key(job_id))):
            self.state.store.hash_delete(_key(job_id), number)
