"""The emulator as one ASGI application: faults, latency, routing, request log."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TYPE_CHECKING

from powerbi_emulator._config import EmulatorConfig
from powerbi_emulator._control import ControlApi
from powerbi_emulator._flows._blob import BLOB_ROOT, is_upload
from powerbi_emulator._http import (
    ApiError,
    BodyError,
    BodyStream,
    BodyTooLargeError,
    HttpRequest,
    HttpResponse,
    Receive,
    Scope,
    Send,
    read_body,
    send_response,
)
from powerbi_emulator._platform import is_identity_path
from powerbi_emulator._state import EmulatorState

if TYPE_CHECKING:
    from powerbi_emulator._faults import ActiveFault

__all__ = ["EmulatorApp", "create_app"]

logger = logging.getLogger("powerbi_emulator")

LOGGED_BODY_BYTES = 64 * 1024  # larger JSON bodies are logged by size only
API_BODY_LIMIT = 16 * 1024 * 1024  # the REST API refuses larger requests
DEFAULT_RETRY_AFTER = 1  # seconds, for an injected 429 that names none
TOO_MANY_REQUESTS = 429
_SHORTFALL = 64  # bytes promised by Content-Length but never sent by drop_after


class _ShuttingDownError(Exception):
    """The server is stopping while a request sleeps."""


class EmulatorApp:
    """An ASGI app emulating the Power BI service and its identity platform.

    Runs under any ASGI server; faults that drop connections need uvicorn (elsewhere they
    raise ConnectionResetError into the server).
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.state = EmulatorState(config)
        self._control = ControlApi(self.state)
        self._closed = False
        self._closing: asyncio.Event | None = None
        self._closing_loop: asyncio.AbstractEventLoop | None = None

    def close(self) -> None:
        """Wake every sleeping request (latency, stall) and drop it: the server is stopping.

        Call it on the server's event loop.
        """
        self._closed = True
        if self._closing is not None:
            self._closing.set()

    def _closing_event(self) -> asyncio.Event:
        # One event per event loop: the app may serve several loops in turn (tests).
        loop = asyncio.get_running_loop()
        if self._closing is None or self._closing_loop is not loop:
            self._closing, self._closing_loop = asyncio.Event(), loop
            if self._closed:
                self._closing.set()
        return self._closing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        try:
            if is_upload(scope):  # read by its handler as it streams in, at any size
                request = HttpRequest.from_scope(scope, b"", BodyStream(receive))
            else:
                body = await read_body(receive)
                if body is None:
                    return
                request = HttpRequest.from_scope(scope, body)
        except BodyTooLargeError as exc:
            await send_response(send, ApiError(413, "RequestEntityTooLarge", str(exc)).response())
            return
        except BodyError as exc:
            await send_response(send, ApiError(400, "InvalidRequest", str(exc)).response())
            return
        if request.segments[:1] == ("_emulator",):
            await send_response(send, self._control.handle(request))
            return
        try:
            await self._serve(request, send, receive, started)
        except _ShuttingDownError:
            await _drop(send, receive, None)

    async def _serve(
        self, request: HttpRequest, send: Send, receive: Receive, started: float
    ) -> None:
        fault = self.state.faults.pick(request.method, request.raw_path)
        entry = self._log_entry(request, fault)
        action = fault.spec.action if fault else None
        if fault is not None and action == "drop_before":
            self._finish(entry, None, started)
            await _drop(send, receive, None)
            return
        if fault is not None and action == "status":
            headers = []
            if fault.spec.retry_after is not None:
                headers.append(("Retry-After", str(fault.spec.retry_after)))
            elif fault.spec.status == TOO_MANY_REQUESTS:  # the service always says when
                headers.append(("Retry-After", str(DEFAULT_RETRY_AFTER)))
            response = HttpResponse.json(fault.spec.status, fault.error_body(), headers=headers)
        else:
            if fault is not None and action == "stall":
                await self._sleep(fault.spec.stall_ms / 1000)
            response = await self._dispatch(request, entry)
        if entry["kind"] == "api" and response.header("RequestId") is None:
            response.headers.append(("RequestId", str(uuid.uuid4())))  # faults included
        self._finish(entry, response, started)
        if action == "drop_after":
            await _drop(send, receive, response)
        else:
            await send_response(send, response)

    async def _dispatch(self, request: HttpRequest, entry: dict[str, object]) -> HttpResponse:
        segments = request.segments
        delayed = False

        async def delay() -> None:
            nonlocal delayed
            if not delayed and self.config.latency_ms:
                await self._sleep(self.config.latency_ms / 1000)
            delayed = True

        try:
            if _is_api(segments):
                try:
                    _check_size(request)
                    response = await self.state.api.handle(request, delay, entry)
                except ApiError as exc:
                    response = exc.response()
                if response.header("RequestId") is None:
                    response.headers.append(("RequestId", str(uuid.uuid4())))
                return response
            if segments[:1] == (BLOB_ROOT,):
                response, details = await self.state.service.flows.blobs.handle(request)
                entry.update(details)
                return response
            identity = self._identity(request, entry)
            if identity is not None:
                await delay()
                return identity
        except _ShuttingDownError:
            raise
        except Exception:
            logger.exception(
                "emulator defect while handling %s %s", request.method, request.raw_path
            )
            return ApiError(
                500, "InternalServerError", "The emulator failed; see its log."
            ).response()
        return ApiError(404, "NotFound", f"No resource at {request.raw_path}.").response()

    def _identity(self, request: HttpRequest, entry: dict[str, object]) -> HttpResponse | None:
        """The identity platform's endpoints (sign-in, discovery, managed identity)."""
        answer = self.state.identity.handle(request)
        if answer is None:
            return None
        response, details = answer
        entry.update({k: v for k, v in details.items() if v is not None})
        return response

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._closing_event().wait(), timeout=seconds)
        except TimeoutError:
            return
        raise _ShuttingDownError

    def _log_entry(self, request: HttpRequest, fault: ActiveFault | None) -> dict[str, object]:
        kind = "other"
        if _is_api(request.segments):
            kind = "api"
        elif is_identity_path(request.segments):
            kind = "identity"
        elif request.segments[:1] == (BLOB_ROOT,):
            kind = "blob"
        entry: dict[str, object] = {
            "time": self.state.clock.isoformat(),
            "kind": kind,
            "method": request.method,
            "path": request.raw_path,
            "query": dict(request.query),
        }
        if fault is not None:
            entry["fault"] = {"id": fault.id, "action": fault.spec.action}
        if request.stream is not None:
            entry["content_type"] = request.media_type
        if request.body and kind == "api":
            entry["content_type"] = request.media_type
            if request.media_type == "application/json" and len(request.body) <= LOGGED_BODY_BYTES:
                try:
                    entry["json"] = request.json()
                except BodyError:
                    entry["json"] = None
            else:
                entry["body_bytes"] = len(request.body)
        return entry

    def _finish(
        self, entry: dict[str, object], response: HttpResponse | None, started: float
    ) -> None:
        entry["status"] = response.status if response is not None else None
        entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
        self.state.log.record(entry)
        fault = entry.get("fault")
        suffix = f" [fault {fault['id']} {fault['action']}]" if isinstance(fault, dict) else ""
        logger.info(
            "%s %s -> %s (%.0f ms)%s",
            entry["method"], entry["path"], entry["status"] or "dropped",
            entry["duration_ms"], suffix,
        )  # fmt: skip

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _check_size(request: HttpRequest) -> None:
    """The REST API's 16 MB cap on a request (file uploads, multipart, may be larger)."""
    if len(request.body) > API_BODY_LIMIT and request.media_type != "multipart/form-data":
        raise ApiError(
            413,
            "RequestEntityTooLarge",
            f"The request body is {len(request.body)} bytes; the service takes at most "
            f"{API_BODY_LIMIT} (16 MB).",
        )


def _is_api(segments: tuple[str, ...]) -> bool:
    """Whether a path is under the REST API's `/v1.0/myorg` (any case, as the service)."""
    return tuple(s.lower() for s in segments[:2]) == ("v1.0", "myorg")


async def _drop(send: Send, receive: Receive, partial: HttpResponse | None) -> None:
    """Close the connection abruptly, before any byte of a response or mid-response.

    With `partial`, its headers and half its body are sent first, under a Content-Length
    promising more than is ever sent: the client sees a truncated response.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if partial is not None:
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in partial.headers]
        declared = str(len(partial.body) + _SHORTFALL).encode()
        headers.append((b"content-length", declared))
        await send({"type": "http.response.start", "status": partial.status, "headers": headers})
        half = partial.body[: len(partial.body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})
    if transport is None or not hasattr(transport, "close"):
        # Not under uvicorn: let the server fail the connection.
        raise ConnectionResetError("connection dropped by an emulator fault")
    transport.close()
    # Wait for the server to notice, so it does not report an unfinished response.
    try:
        async with asyncio.timeout(5):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:  # pragma: no cover - the transport is closed; nothing more to do
        return


def create_app(config: EmulatorConfig | None = None) -> EmulatorApp:
    """A new emulator ASGI app (for in-process use, e.g. with httpx.ASGITransport)."""
    return EmulatorApp(config or EmulatorConfig())
