"""Just enough HTTP over raw ASGI: requests routed on the raw path, JSON and form bodies."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, unquote

from powerbi_emulator._cloud import public_origin

__all__ = [
    "MAX_BODY_BYTES",
    "ApiError",
    "BodyError",
    "BodyStream",
    "BodyTooLargeError",
    "HttpRequest",
    "HttpResponse",
    "Receive",
    "Scope",
    "Send",
    "dumps",
    "parse_json_strict",
    "read_body",
    "send_response",
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

MAX_BODY_BYTES = 64 * 1024 * 1024


class ApiError(Exception):
    """A Power BI style error response: `{"error": {"code": ..., "message": ...}}`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[dict[str, str]] | None = None,
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
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return HttpResponse.json(self.status, {"error": error}, headers=self.headers)


class BodyError(ValueError):
    """A request body that cannot be parsed."""


class BodyTooLargeError(BodyError):
    """A request body over the size the emulator accepts."""


class BodyStream:
    """A request body read as it arrives (uploads), instead of whole before routing.

    Read it once, with `chunks()` or `read()`; `received` counts the bytes so far.
    """

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._done = False
        self.received = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's chunks; raises BodyError if the client goes away before the end."""
        while not self._done:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._done = True
                raise BodyError("the client disconnected before the end of the body")
            chunk = message.get("body", b"")
            self._done = not message.get("more_body", False)
            self.received += len(chunk)
            if chunk:
                yield chunk

    async def read(self, limit: int) -> bytes:
        """The whole body (a small one); raises BodyTooLargeError above `limit` bytes."""
        parts: list[bytes] = []
        async for chunk in self.chunks():
            parts.append(chunk)
            if self.received > limit:
                raise BodyTooLargeError(f"the request body is larger than {limit} bytes")
        return b"".join(parts)


@dataclasses.dataclass(frozen=True)
class HttpRequest:
    """One request, with its raw path split into percent-decoded segments."""

    method: str
    raw_path: str
    segments: tuple[str, ...]
    query_string: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    origin: str
    stream: BodyStream | None = None  # an upload, read by its handler (then `body` is empty)

    @classmethod
    def from_scope(cls, scope: Scope, body: bytes, stream: BodyStream | None = None) -> HttpRequest:
        """Build from an ASGI scope; raises BodyError on an undecodable path."""
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        # Some ASGI test transports include the query in raw_path; the spec says they should not.
        raw_path = raw.decode("latin-1").split("?", 1)[0]
        try:
            # As the service does, `//` and a trailing `/` add no segment.
            segments = tuple(unquote(s, errors="strict") for s in raw_path.split("/") if s)
        except UnicodeDecodeError:
            raise BodyError("the request path is not valid UTF-8 once percent-decoded") from None
        query_string = scope.get("query_string", b"").decode("latin-1")
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host")
        if not host:
            server = scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        origin = public_origin(f"{scope.get('scheme', 'http')}://{host}", headers)
        return cls(
            scope["method"], raw_path, segments, query_string, query, headers, body, origin, stream
        )

    @property
    def media_type(self) -> str:
        """The Content-Type without parameters, lower-cased ('' when absent)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def json(self) -> object:
        """The body as strict JSON (NaN and Infinity rejected); raises BodyError."""
        return parse_json_strict(self.body)

    def form(self) -> dict[str, str]:
        """The body as an application/x-www-form-urlencoded form (last value wins)."""
        try:
            text = self.body.decode("utf-8")
            return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))
        except (UnicodeDecodeError, ValueError):
            raise BodyError("the body is not a valid url-encoded form") from None


@dataclasses.dataclass
class HttpResponse:
    """A response to send: complete in `body`, or `length` bytes produced by `stream`.

    A stream is iterated only while sending, so a large file is never held in memory.
    """

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    stream: Iterable[bytes] | None = None
    length: int = 0

    @classmethod
    def streamed(
        cls, status: int, length: int, chunks: Iterable[bytes], headers: list[tuple[str, str]]
    ) -> HttpResponse:
        """A response whose `length` bytes come from `chunks` as it is sent."""
        return cls(status, b"", headers, chunks, length)

    @classmethod
    def json(
        cls, status: int, payload: object, *, headers: list[tuple[str, str]] | None = None
    ) -> HttpResponse:
        """A JSON response."""
        content = [("content-type", "application/json; charset=utf-8")]
        return cls(status, dumps(payload), content + list(headers or []))

    def header(self, name: str) -> str | None:
        """The first value of header `name`, if set."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)


def dumps(payload: object) -> bytes:
    """Compact UTF-8 JSON; refuses NaN and Infinity, which JSON does not have."""
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _reject_constant(name: str) -> object:
    raise BodyError(f"{name} is not valid JSON")


def parse_json_strict(body: bytes) -> object:
    """Parse JSON, rejecting NaN/Infinity (Python accepts them by default) and huge floats."""
    try:
        value: object = json.loads(body, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise BodyError("the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise BodyError(f"the body is not valid JSON: {exc.msg} at position {exc.pos}") from None
    _reject_overflow(value)
    return value


def _reject_overflow(value: object) -> None:
    # 1e999 parses to inf without passing through parse_constant.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise BodyError("a number in the body is too large to represent")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


async def read_body(receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """Read the whole request body; None when the client disconnected. Raises BodyError."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def send_response(send: Send, response: HttpResponse) -> None:
    """Send a response, its stream chunk by chunk (the server applies back-pressure)."""
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    length = len(response.body) if response.stream is None else response.length
    headers.append((b"content-length", str(length).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if response.stream is not None:
        for chunk in response.stream:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": response.body, "more_body": False})
