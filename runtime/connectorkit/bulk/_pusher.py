"""Push: send batches with a few requests in flight, paced, and account for every one of them.

The pusher knows nothing about HTTP or about a service: it is given the batches, a function that
sends one (raising a :class:`ConnectorError` when it fails; the sender waits for the shared rate
budgets itself), and a ledger that remembers what happened to each batch. Batches complete in
any order; each one's fate is recorded as it lands:

- ``committed``: the service answered with success;
- ``unknown``: the request left and then the answer was lost (connection broken, time out), so
  the service may or may not have stored it;
- ``failed``: the service refused it, or it never left;
- ``not_sent``: the push stopped before its turn.

The first failure stops new sends; requests already in flight are let finish so that their fate
is known rather than guessed. A batch is written to the ledger as ``unknown`` just before it is
sent, so a process killed mid-request leaves an honest ledger behind.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
from typing import TYPE_CHECKING, Any

import msgspec

from connectorkit.core._errors import ConnectorError, NetworkError, TimeoutError
from connectorkit.state._ledger import BatchStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from connectorkit.bulk._batching import Batch

__all__ = [
    "BatchRecord",
    "BatchStatus",
    "PushReport",
    "Pusher",
    "may_have_landed",
]


class BatchRecord(msgspec.Struct):
    """One batch's place in the input and its fate."""

    number: int
    first: int
    count: int
    status: BatchStatus
    error: dict[str, Any] | None = None

    @property
    def end(self) -> int:
        """Position just past the batch's last row."""
        return self.first + self.count

    def to_dict(self) -> dict[str, Any]:
        """The record as the envelope and the ledger show it."""
        out: dict[str, Any] = {
            "batch": self.number,
            "first": self.first,
            "count": self.count,
            "status": str(self.status),
        }
        if self.error is not None:
            out["error"] = self.error
        return out


class PushReport(msgspec.Struct):
    """Every batch's record, in input order, and why the push stopped early if it did."""

    records: list[BatchRecord] = msgspec.field(default_factory=list)
    error: ConnectorError | None = None
    committed_rows: int = 0  # rows in batches the service confirmed, kept as they land
    settled: int = 0  # batches whose fate is known

    @property
    def complete(self) -> bool:
        """Whether every batch was committed."""
        return self.error is None and all(r.status is BatchStatus.COMMITTED for r in self.records)

    def by_status(self, status: BatchStatus) -> list[BatchRecord]:
        """The records of one status, in input order."""
        return [r for r in self.records if r.status is status]


def _failed(report: PushReport) -> bool:
    # A function, not an inline test: the report changes under mypy's narrowing in run().
    return report.error is not None


def may_have_landed(error: ConnectorError) -> bool:
    """Whether the service may have done the work of a request that ended in ``error``.

    The sender marks such an error ``uncertain`` (an attempt broke after sending, a 5xx, the
    budget ran out mid-answer — also when a later attempt then failed plainly).
    """
    if error.uncertain:
        return True
    return isinstance(error, NetworkError | TimeoutError) and bool(error.request_sent)


class Pusher:
    """Sends batches with at most ``in_flight`` requests outstanding, paced, each accounted."""

    def __init__(
        self,
        send: Callable[[Batch], None],
        *,
        in_flight: int = 1,
        on_record: Callable[[BatchRecord], None] | None = None,
        on_progress: Callable[[PushReport, int], None] | None = None,
    ) -> None:
        if in_flight < 1:
            raise ValueError("in_flight must be at least 1")
        self._send = send
        self._in_flight = in_flight
        # Where the fate of each batch is written as soon as it is known (a later record of
        # the same batch replaces it): the job ledger.
        self._record = on_record or (lambda _record: None)
        self._on_progress = on_progress

    def run(self, batches: Iterable[Batch]) -> PushReport:
        """Push ``batches`` in order; never raises for a batch's failure (see the report)."""
        report = PushReport()
        by_number: dict[int, BatchRecord] = {}
        iterator = iter(batches)
        with cf.ThreadPoolExecutor(self._in_flight, thread_name_prefix="push") as pool:
            pending: dict[cf.Future[None], Batch] = {}
            try:
                for batch in iterator:
                    if report.error is not None:
                        self._not_sent(batch, by_number)
                        continue
                    while len(pending) >= self._in_flight:
                        self._settle(pending, report, by_number, cf.FIRST_COMPLETED)
                    if _failed(report):
                        self._not_sent(batch, by_number)
                        continue
                    # Written ahead: should this process die with the request in flight, the
                    # ledger says its fate is unknown instead of forgetting it was sent.
                    self._record(
                        BatchRecord(batch.number, batch.first, batch.count, BatchStatus.UNKNOWN)
                    )
                    # Each request runs in the caller's context (its counters and debug switch).
                    context = contextvars.copy_context()
                    pending[pool.submit(context.run, self._send, batch)] = batch
                    if self._in_flight == 1:
                        self._settle(pending, report, by_number, cf.ALL_COMPLETED)
            finally:
                while pending:
                    self._settle(pending, report, by_number, cf.ALL_COMPLETED)
        report.records = [by_number[n] for n in sorted(by_number)]
        return report

    def _settle(
        self,
        pending: dict[cf.Future[None], Batch],
        report: PushReport,
        by_number: dict[int, BatchRecord],
        when: str,
    ) -> None:
        done, _ = cf.wait(pending, return_when=when)
        for future in done:
            batch = pending.pop(future)
            error = future.exception()
            if error is None:
                record = BatchRecord(batch.number, batch.first, batch.count, BatchStatus.COMMITTED)
            elif isinstance(error, ConnectorError):
                status = BatchStatus.UNKNOWN if may_have_landed(error) else BatchStatus.FAILED
                record = BatchRecord(
                    batch.number, batch.first, batch.count, status, error.to_dict()
                )
                if report.error is None:
                    report.error = error
            else:
                raise error
            by_number[batch.number] = record
            report.settled += 1
            if record.status is BatchStatus.COMMITTED:
                report.committed_rows += record.count
            self._record(record)
            if self._on_progress is not None:
                self._on_progress(report, len(pending))

    def _not_sent(self, batch: Batch, by_number: dict[int, BatchRecord]) -> None:
        record = BatchRecord(batch.number, batch.first, batch.count, BatchStatus.NOT_SENT)
        by_number[batch.number] = record
        self._record(record)
