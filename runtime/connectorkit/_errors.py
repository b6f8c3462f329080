"""The closed error hierarchy: one class per ``error.type`` of the invocation contract."""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "EXIT_CODES",
    "AuthError",
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
    "TimeoutError",
    "UnknownAction",
]


class ConnectorError(Exception):
    """A failure the contract names; ``type`` and ``exit_code`` are fixed per subclass."""

    type: ClassVar[str] = "internal_error"
    exit_code: ClassVar[int] = 3

    def __init__(
        self,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.fields = fields

    def to_dict(self) -> dict[str, Any]:
        """The ``error`` object of the response envelope."""
        out: dict[str, Any] = {"type": self.type, "message": self.message}
        out.update({k: v for k, v in self.fields.items() if v is not None})
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


class HttpError(ConnectorError):
    """The service answered a non-success status (``status``, ``code``, service ``message``)."""

    type = "http_error"
    exit_code = 1


class RateLimited(ConnectorError):
    """HTTP 429 and the retries are exhausted; carries ``retry_after`` seconds."""

    type = "rate_limited"
    exit_code = 1


class TimeoutError(ConnectorError):  # noqa: A001 - the contract's name; always used qualified
    """The call's time budget ran out."""

    type = "timeout"
    exit_code = 1


class NetworkError(ConnectorError):
    """The service could not be reached."""

    type = "network_error"
    exit_code = 1


class PartialFailure(ConnectorError):
    """A multi-request action stopped part way; ``details`` say what was done and what was not."""

    type = "partial_failure"
    exit_code = 1


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
