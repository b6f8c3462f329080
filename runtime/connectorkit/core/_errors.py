"""The closed error hierarchy: one class per ``error.type`` of the invocation contract.

Each error takes its attributes in the constructor, typed, and :meth:`ConnectorError.to_dict`
writes the ones that are set into the envelope's ``error`` object::

    ConnectorError                     exit 3 unless a subclass says otherwise
    ├── InvalidRequest                 exit 2  the request's shape
    ├── UnknownAction                  exit 2
    ├── InvalidInput                   exit 2  details name each field
    ├── InvalidConnection              exit 2
    ├── AuthError                      exit 1  status, code, oauth_error, oauth_error_description
    ├── HttpError                      exit 1  status, code, endpoint (retry_after unshown)
    │   ├── RateLimited                exit 1  + retry_after shown (+ job_id of a paused push)
    │   └── ResponseTooLarge           exit 1  + max_response_bytes
    ├── TimeoutError                   exit 1  timeout_ms, request_sent, retry_after, last_error
    │   └── BudgetSpent                exit 1  the budget ran out while an answer arrived
    ├── NetworkError                   exit 1  request_sent
    ├── PartialFailure                 exit 1  committed, total, resume_from, job_id, ranges
    └── InternalError                  exit 3
        └── PackError                  exit 3  problems (each a Problem: file, line, path)

Any of them may carry ``operation``: the long-running operation the call was following when it
failed (its handle, status and the service's details).
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "BUDGET_ENDPOINT",
    "EXIT_CODES",
    "AuthError",
    "BudgetSpent",
    "ConnectorError",
    "HttpError",
    "InternalError",
    "InvalidConnection",
    "InvalidInput",
    "InvalidRequest",
    "NetworkError",
    "PackError",
    "PartialFailure",
    "Problem",
    "RateLimited",
    "ResponseTooLarge",
    "TimeoutError",
    "UnknownAction",
]


class ConnectorError(Exception):
    """A failure the contract names; ``type`` and ``exit_code`` are fixed per subclass."""

    type: ClassVar[str] = "internal_error"
    exit_code: ClassVar[int] = 3
    # The attributes (besides message and details) that go into the envelope, in this order.
    _shown: ClassVar[tuple[str, ...]] = ()
    # Set by the sender when an attempt may have done its work at the service without saying
    # so (a batch with such an error is "unknown", not "failed"); not shown in the envelope.
    uncertain: bool = False

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        # A pack's error hint (``error_hints``) matched by this error: what to change.
        self.hint: str | None = None
        # The long-running operation the call followed (its handle, status, details), if any.
        self.operation: dict[str, Any] | None = None

    def add_hint(self, hint: str) -> None:
        """Attach a pack's hint: shown as ``hint`` and appended to the message."""
        self.hint = hint
        self.message = f"{self.message}; {hint}"
        self.args = (self.message,)

    def to_dict(self) -> dict[str, Any]:
        """The ``error`` object of the response envelope."""
        out: dict[str, Any] = {"type": self.type, "message": self.message}
        for name in self._shown:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.hint is not None:
            out["hint"] = self.hint
        if self.operation is not None:
            out["operation"] = self.operation
        if self.details is not None:
            out["details"] = self.details
        return out


class InvalidRequest(ConnectorError):
    """Stdin is not a JSON object, or ``action``/``inputs``/``connection`` has the wrong shape."""

    type = "invalid_request"
    exit_code = 2


class UnknownAction(ConnectorError):
    """No such action in the pack."""

    type = "unknown_action"
    exit_code = 2


class InvalidInput(ConnectorError):
    """An input is missing, of the wrong type or out of range; ``details`` names each field."""

    type = "invalid_input"
    exit_code = 2


class InvalidConnection(ConnectorError):
    """A connection value is missing or malformed, or there is no usable token."""

    type = "invalid_connection"
    exit_code = 2


class AuthError(ConnectorError):
    """The token endpoint refused, or 401/403 persisted after a refresh."""

    type = "auth_error"
    exit_code = 1
    _shown = ("status", "code", "oauth_error", "oauth_error_description")

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        oauth_error: str | None = None,
        oauth_error_description: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.status = status
        self.code = code
        self.oauth_error = oauth_error
        self.oauth_error_description = oauth_error_description


class HttpError(ConnectorError):
    """The service answered a non-success status (``status``, ``code``, service ``message``).

    ``endpoint`` is ``"token"`` when the token endpoint answered, not the action's request.
    ``retry_after``: the wait the service asked for (a 503 may send one); the envelope shows
    it for :class:`RateLimited` only.
    """

    type = "http_error"
    exit_code = 1
    _shown: ClassVar[tuple[str, ...]] = ("status", "code", "endpoint")

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        code: str | None = None,
        endpoint: str | None = None,
        retry_after: float | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.status = status
        self.code = code
        self.endpoint = endpoint
        self.retry_after = retry_after


# The ``endpoint`` of a RateLimited raised before sending: a rate budget of the pack had no room.
BUDGET_ENDPOINT = "budget"


class RateLimited(HttpError):
    """The service throttled the request and the retries are exhausted; ``retry_after`` seconds.

    With ``endpoint`` :data:`BUDGET_ENDPOINT` no request was sent: a rate budget the pack
    declares had no room within the call's time budget (``status`` is then ``None``). A push
    that paused rather than wait past its time budget also carries its ``job_id`` and how far
    it got (``committed`` of ``total``).
    """

    type = "rate_limited"
    _shown = ("status", "code", "retry_after", "endpoint", "job_id", "committed", "total")

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 429,
        code: str | None = None,
        retry_after: float | None = None,
        endpoint: str | None = None,
        job_id: str | None = None,
        committed: int | None = None,
        total: int | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(
            message,
            status=status,
            code=code,
            endpoint=endpoint,
            retry_after=retry_after,
            details=details,
        )
        self.job_id = job_id
        self.committed = committed
        self.total = total


class ResponseTooLarge(HttpError):
    """The response body passed the call's ``max_response_bytes``; what was read is dropped."""

    _shown = ("status", "code", "max_response_bytes")

    def __init__(self, status: int, limit: int) -> None:
        super().__init__(
            f"the service's response is larger than the limit of {limit} bytes "
            "(max_response_bytes; CONNECTORKIT_MAX_RESPONSE_BYTES for the process)",
            status=status,
            code="response_too_large",
        )
        self.max_response_bytes = limit


class TimeoutError(ConnectorError):  # noqa: A001 - the contract's name; always used qualified
    """The call's time budget ran out, or the service did not answer in time.

    ``request_sent``: the request may have reached the service. ``last_error``: what the last
    attempt met before the budget stopped the retries.
    """

    type = "timeout"
    exit_code = 1
    _shown = ("timeout_ms", "request_sent", "retry_after", "last_error")

    def __init__(
        self,
        message: str,
        *,
        timeout_ms: int | None = None,
        request_sent: bool | None = None,
        retry_after: float | None = None,
        last_error: dict[str, Any] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.timeout_ms = timeout_ms
        self.request_sent = request_sent
        self.retry_after = retry_after
        self.last_error = last_error


class BudgetSpent(TimeoutError):
    """The budget ran out while a response was arriving: the request was sent."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            f"the call's time budget of {timeout_s * 1000:.0f} ms ran out while the response "
            "was arriving",
            timeout_ms=round(timeout_s * 1000),
            request_sent=True,
        )


class NetworkError(ConnectorError):
    """The service could not be reached; ``request_sent``: the request may have reached it."""

    type = "network_error"
    exit_code = 1
    _shown = ("request_sent",)

    def __init__(
        self,
        message: str,
        *,
        request_sent: bool | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.request_sent = request_sent


class PartialFailure(ConnectorError):
    """A multi-request action stopped part way; ``details`` say what was done and what was not.

    ``ranges`` maps each batch status to its ``[first, end)`` row ranges; ``resume_from`` is set
    only when re-sending from that row can neither double a committed row nor skip an unknown
    one; ``job_id`` names the push job that resumes exactly.
    """

    type = "partial_failure"
    exit_code = 1
    _shown = ("committed", "total", "resume_from", "job_id", "ranges")

    def __init__(
        self,
        message: str,
        *,
        committed: int,
        total: int,
        resume_from: int | None = None,
        job_id: str | None = None,
        ranges: dict[str, list[list[int]]] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.committed = committed
        self.total = total
        self.resume_from = resume_from
        self.job_id = job_id
        self.ranges = ranges


class InternalError(ConnectorError):
    """A defect in the runtime (or a broken pack); the message never carries secrets."""

    type = "internal_error"
    exit_code = 3


# error.type -> exit code of `invoke`, straight from the classes above.
EXIT_CODES: dict[str, int] = {
    cls.type: cls.exit_code
    for cls in (
        InvalidRequest,
        UnknownAction,
        InvalidInput,
        InvalidConnection,
        AuthError,
        HttpError,
        RateLimited,
        TimeoutError,
        NetworkError,
        PartialFailure,
        InternalError,
    )
}


class Problem:
    """One problem found in a pack file, with where it is."""

    __slots__ = ("file", "line", "message", "path")

    def __init__(self, file: str, line: int | None, path: str, message: str) -> None:
        self.file = file
        self.line = line
        self.path = path
        self.message = message

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        at = f" at {self.path}" if self.path else ""
        return f"{where}:{at} {self.message}" if at else f"{where}: {self.message}"

    def __repr__(self) -> str:
        return f"Problem({self.file!r}, {self.line!r}, {self.path!r}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Problem):
            return NotImplemented
        return (self.file, self.line, self.path, self.message) == (
            other.file,
            other.line,
            other.path,
            other.message,
        )

    def __hash__(self) -> int:
        return hash((self.file, self.line, self.path, self.message))

    def to_dict(self) -> dict[str, Any]:
        """The problem as JSON."""
        return {"file": self.file, "line": self.line, "path": self.path, "message": self.message}


class PackError(InternalError):
    """The pack on disk is invalid; ``problems`` lists every one with file and line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        shown = "; ".join(str(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""  # noqa: PLR2004
        super().__init__(f"the action pack is invalid: {shown}{more}")
