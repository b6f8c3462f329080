"""The ledger of push jobs: what became of each batch, so a push resumes in any process.

A job is a record (:class:`~connectorkit.state._records.Records` of kind ``job``): its
description (the action, its inputs but the rows, when it started) and one entry per batch.
A batch is ``committed`` (the service accepted it), ``unknown`` (the connection broke after it
was sent: it may have landed), ``failed`` (refused; not stored) or ``not_sent``. A resumed job
never sends a batch the ledger knows as committed.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from connectorkit.state._records import Records

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from connectorkit.state._open import State

__all__ = ["BatchStatus", "JobLedger"]


class BatchStatus(enum.StrEnum):
    """What became of one batch."""

    COMMITTED = "committed"
    UNKNOWN = "unknown"
    FAILED = "failed"
    NOT_SENT = "not_sent"


class JobLedger:
    """Push jobs by id: each one's description and the fate of each of its batches."""

    def __init__(self, state: State | Callable[[], State]) -> None:
        opened = state if callable(state) else (lambda: state)
        self._records = Records(lambda: opened().store, "job", entries="batches")

    def open(self, job_id: str, about: Mapping[str, Any]) -> dict[str, Any] | None:
        """Start ``job_id`` unless it exists (atomically); the existing description if it does."""
        return self._records.create(job_id, about)

    def about(self, job_id: str) -> dict[str, Any] | None:
        """The description of ``job_id``, or None when there is no such job."""
        return self._records.get(job_id)

    def ended(self, job_id: str, ending: Mapping[str, Any]) -> None:
        """Note that a push of ``job_id`` ended, and how (its ``ends`` counts the endings)."""

        def with_ending(about: dict[str, Any]) -> dict[str, Any]:
            ends = int((about.get("ended") or {}).get("ends", 0)) + 1
            return {**about, "ended": {**ending, "ends": ends}}

        self._records.amend(job_id, with_ending)

    def descriptions(self) -> dict[str, dict[str, Any]]:
        """Every job's description by id (one store operation)."""
        return self._records.described()

    def record(self, job_id: str, batch: int, status: BatchStatus | str, **info: Any) -> None:
        """File the status of ``batch`` (1-based) of ``job_id``; one store operation."""
        try:
            known = BatchStatus(status)
        except ValueError:
            allowed = sorted(str(s) for s in BatchStatus)
            raise ValueError(f"batch status must be one of {allowed}, not {status!r}") from None
        self._records.put_entry(job_id, str(batch), {"status": str(known), **info})

    def batches(self, job_id: str) -> dict[int, dict[str, Any]]:
        """Every recorded batch of ``job_id``, by number, in order; one store operation."""
        found = self._records.entries(job_id)
        return {int(n): found[n] for n in sorted(found, key=int)}

    def committed(self, job_id: str) -> set[int]:
        """The batches known to be committed (never to be sent again)."""
        return {n for n, e in self.batches(job_id).items() if e["status"] == BatchStatus.COMMITTED}

    def job_ids(self) -> list[str]:
        """Every job id the store knows, oldest first."""
        return self._records.ids()

    def forget(self, job_id: str) -> bool:
        """Drop a job and its ledger; whether it existed."""
        return self._records.forget(job_id)
