"""Long-running operations: started with a 202, polled at `/operations/{id}`, read at `/result`.

A started operation answers 202 with `Location` (where to poll), `x-ms-operation-id` and
`Retry-After`. Polling shows NotStarted, then Running with a growing percentage, then Succeeded
(with `Location` pointing at the result, when there is one) or Failed (with the error). It ends
once its emulated duration has passed and its work, run in a worker thread, has finished.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import uuid
from typing import TYPE_CHECKING

from emulator_core._answers import Answer

if TYPE_CHECKING:
    from collections.abc import Callable

    from emulator_core._clock import Clock

__all__ = ["LongRunning", "LongRunningOperations", "OperationFailedError", "OperationLookupError"]

_STARTING = 0.05  # the share of its duration an operation spends NotStarted


class OperationFailedError(Exception):
    """Raised by an operation's work: the operation fails with this code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class OperationLookupError(LookupError):
    """An operation that does not exist, or whose result is not there (yet)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclasses.dataclass
class LongRunning:
    """One started operation."""

    id: str
    created: float
    ready_at: float
    result: object = None
    future: concurrent.futures.Future[object] | None = None
    failure: OperationFailedError | None = None
    finished: float | None = None


class LongRunningOperations:
    """The operations of one emulator, timed on its clock; `location` is where they are polled."""

    def __init__(self, clock: Clock, *, duration: float, location: str) -> None:
        self._clock = clock
        self.duration = duration
        self.location = location.rstrip("/")
        self._operations: dict[str, LongRunning] = {}
        self._pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="emulator-lro")

    def start(self, result: object = None, work: Callable[[], object] | None = None) -> LongRunning:
        """Start an operation; `work` runs beside the server and what it returns is the result."""
        now = self._clock.now()
        operation = LongRunning(str(uuid.uuid4()), now, now + self.duration, result)
        if work is not None:
            operation.future = self._pool.submit(work)
        self._operations[operation.id] = operation
        return operation

    def accepted(self, operation: LongRunning, origin: str) -> Answer:
        """The 202 that tells a caller where to poll."""
        return Answer(202, None, self._headers(operation, origin, running=True))

    def _headers(
        self, operation: LongRunning, origin: str, *, running: bool
    ) -> list[tuple[str, str]]:
        headers = [("x-ms-operation-id", operation.id)]
        if running:
            wait = max(operation.ready_at - self._clock.now(), 0.0)
            headers.append(("Location", f"{origin}{self.location}/{operation.id}"))
            headers.append(("Retry-After", str(self._clock.retry_after(wait))))
        return headers

    def _settle(self, operation: LongRunning) -> str:
        """NotStarted, Running, Succeeded or Failed, now (recording the end once reached)."""
        if operation.finished is not None:
            return "Failed" if operation.failure else "Succeeded"
        now = self._clock.now()
        future = operation.future
        if now < operation.ready_at or (future is not None and not future.done()):
            started = operation.created + self.duration * _STARTING
            return "NotStarted" if now < started else "Running"
        if future is not None:
            error = future.exception()
            if isinstance(error, OperationFailedError):
                operation.failure = error
            elif error is not None:
                operation.failure = OperationFailedError(
                    "InternalError", f"The work failed: {error}"
                )
            else:
                value = future.result()
                operation.result = operation.result if value is None else value
        operation.finished = max(now, operation.ready_at)
        return "Failed" if operation.failure else "Succeeded"

    def find(self, operation_id: str) -> LongRunning:
        """The operation; raises OperationLookupError 404."""
        operation = self._operations.get(operation_id.lower())
        if operation is None:
            raise OperationLookupError(
                404, "EntityNotFound", f"The operation {operation_id} was not found."
            )
        return operation

    def state(self, operation_id: str, origin: str) -> Answer:
        """`GET /operations/{id}`: the operation's state document."""
        operation = self.find(operation_id)
        status = self._settle(operation)
        now = self._clock.now()
        done = status in {"Succeeded", "Failed"}
        elapsed = now - operation.created
        percent = (
            100 if done else min(99, int(100 * elapsed / self.duration)) if self.duration else 0
        )
        body: dict[str, object] = {
            "status": status,
            "createdTimeUtc": self._clock.isoformat(operation.created),
            "lastUpdatedTimeUtc": self._clock.isoformat(operation.finished or now),
            "percentComplete": 0 if status == "NotStarted" else percent,
        }
        if operation.failure is not None:
            body["error"] = {
                "errorCode": operation.failure.code,
                "message": operation.failure.message,
            }
        headers = self._headers(operation, origin, running=not done)
        if status == "Succeeded" and operation.result is not None:
            headers.append(("Location", f"{origin}{self.location}/{operation.id}/result"))
        return Answer(200, body, headers)

    def result(self, operation_id: str) -> Answer:
        """`GET /operations/{id}/result`: the outcome of a succeeded operation."""
        operation = self.find(operation_id)
        status = self._settle(operation)
        if status != "Succeeded":
            raise OperationLookupError(
                400,
                "OperationNotSucceeded",
                f"The operation {operation_id} has not succeeded (it is {status}).",
            )
        if operation.result is None:
            raise OperationLookupError(
                400, "OperationHasNoResult", f"The operation {operation_id} has no result."
            )
        if isinstance(operation.result, Answer):  # content that is not JSON, with its type
            result = operation.result
            return Answer(200, result.body, [*result.headers, ("x-ms-operation-id", operation.id)])
        return Answer(200, operation.result, [("x-ms-operation-id", operation.id)])

    def reset(self) -> None:
        """Forget every operation."""
        self._operations.clear()

    def close(self) -> None:
        """Stop the worker threads (work not yet started is dropped)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __len__(self) -> int:
        return len(self._operations)
