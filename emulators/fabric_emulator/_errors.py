"""Errors as Fabric words them, and as OneLake's storage API does."""

from __future__ import annotations

import uuid

from powerbi_emulator._http import HttpResponse

__all__ = ["FabricError", "StorageError"]


class FabricError(Exception):
    """A Fabric REST error: `{"requestId", "errorCode", "message", "moreDetails"}`.

    The code is repeated in the `x-ms-public-api-error-code` header, as the service does.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[tuple[str, str]] | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or []

    def response(self) -> HttpResponse:
        """The error as an HTTP response."""
        request_id = str(uuid.uuid4())
        body: dict[str, object] = {
            "requestId": request_id,
            "errorCode": self.code,
            "message": self.message,
        }
        if self.details:
            body["moreDetails"] = [
                {"errorCode": code, "message": message} for code, message in self.details
            ]
        headers = [("x-ms-public-api-error-code", self.code), ("RequestId", request_id)]
        return HttpResponse.json(self.status, body, headers=headers + self.headers)


class StorageError(Exception):
    """An Azure storage (ADLS Gen2) error: `{"error": {"code", "message"}}`, `x-ms-error-code`."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or []

    def response(self, time: str) -> HttpResponse:
        """The error as an HTTP response; the message ends with the request id and `time`."""
        request_id = str(uuid.uuid4())
        message = f"{self.message}\nRequestId:{request_id}\nTime:{time}"
        headers = [("x-ms-error-code", self.code), ("x-ms-request-id", request_id)]
        return HttpResponse.json(
            self.status,
            {"error": {"code": self.code, "message": message}},
            headers=headers + self.headers,
        )
