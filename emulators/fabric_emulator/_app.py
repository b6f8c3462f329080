"""The Fabric emulator as one ASGI application: identity, REST API, OneLake, control API.

OneLake is served under `/onelake/` on the same port, and at the root for requests whose Host
is the cloud's OneLake host (a proxy in front of the emulator). Faults, latency and the request
log work as in the Power BI emulator, with Fabric's error bodies.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TYPE_CHECKING

from fabric_emulator._config import FabricConfig
from fabric_emulator._control import FabricControl
from fabric_emulator._errors import FabricError
from fabric_emulator._onelake import MAX_APPEND_BYTES
from fabric_emulator._state import FabricState
from powerbi_emulator._app import _drop
from powerbi_emulator._http import BodyError, BodyTooLargeError, HttpRequest, read_body
from powerbi_emulator._platform import is_identity_path

if TYPE_CHECKING:
    from powerbi_emulator._faults import ActiveFault
    from powerbi_emulator._http import HttpResponse, Receive, Scope, Send

__all__ = ["FabricApp", "create_app"]

logger = logging.getLogger("fabric_emulator")

TOO_MANY_REQUESTS = 429
_FAULT_CODES = {429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}


class _ShuttingDownError(Exception):
    """The server is stopping while a request sleeps."""


class FabricApp:
    """An ASGI app emulating Microsoft Fabric (REST API and OneLake) and its identity platform."""

    def __init__(self, config: FabricConfig) -> None:
        self.config = config
        self.state = FabricState(config)
        self._control = FabricControl(self.state)
        self._closed = False
        self._closing: asyncio.Event | None = None
        self._closing_loop: asyncio.AbstractEventLoop | None = None

    def close(self) -> None:
        """Wake every sleeping request and drop it, and stop the operations' workers."""
        self._closed = True
        if self._closing is not None:
            self._closing.set()
        self.state.close()

    def _closing_event(self) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        if self._closing is None or self._closing_loop is not loop:
            self._closing, self._closing_loop = asyncio.Event(), loop
            if self._closed:
                self._closing.set()
        return self._closing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point."""
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        try:
            body = await read_body(receive, MAX_APPEND_BYTES + 1)
            if body is None:
                return
            request = HttpRequest.from_scope(scope, body)
        except BodyTooLargeError as exc:
            await _send(
                send, FabricError(413, "RequestBodyTooLarge", str(exc)).response(), head=False
            )
            return
        except BodyError as exc:
            await _send(send, FabricError(400, "InvalidInput", str(exc)).response(), head=False)
            return
        if request.segments[:1] == ("_emulator",):
            await _send(send, self._control.handle(request), head=False)
            return
        try:
            await self._serve(request, send, receive, started)
        except _ShuttingDownError:
            await _drop(send, receive, None)

    def _kind(self, request: HttpRequest) -> str:
        host = request.headers.get("host", "").rsplit(":", 1)[0].lower()
        if request.segments[:1] == ("onelake",) or host == self.state.cloud.onelake_host:
            return "onelake"
        if request.segments[:1] == ("v1",):
            return "api"
        return "identity" if is_identity_path(request.segments) else "other"

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
            response = _fault_response(fault)
        else:
            if fault is not None and action == "stall":
                await self._sleep(fault.spec.stall_ms / 1000)
            response = await self._dispatch(request, entry)
        if response.header("RequestId") is None and entry["kind"] == "api":
            response.headers.append(("RequestId", str(uuid.uuid4())))
        self._finish(entry, response, started)
        if action == "drop_after":
            await _drop(send, receive, response)
        else:
            await _send(send, response, head=request.method == "HEAD")

    async def _delay(self) -> None:
        if self.config.shared.latency_ms:
            await self._sleep(self.config.shared.latency_ms / 1000)

    async def _dispatch(self, request: HttpRequest, entry: dict[str, object]) -> HttpResponse:
        try:
            if entry["kind"] == "api":
                try:
                    return await self.state.api.handle(request, self._delay, entry)
                except FabricError as exc:
                    return exc.response()
            await self._delay()
            if entry["kind"] == "onelake":
                segments = request.segments
                segments = segments[1:] if segments[:1] == ("onelake",) else segments
                return self.state.onelake.handle(request, segments)
            return self._identity(request, entry)
        except _ShuttingDownError:
            raise
        except Exception:
            logger.exception(
                "emulator defect while handling %s %s", request.method, request.raw_path
            )
            return FabricError(
                500, "InternalServerError", "The emulator failed; see its log."
            ).response()

    def _identity(self, request: HttpRequest, entry: dict[str, object]) -> HttpResponse:
        """The identity platform's endpoints (sign-in, discovery, managed identity)."""
        answer = self.state.identity.handle(request)
        if answer is None:
            return FabricError(
                404, "EntityNotFound", f"No resource at {request.raw_path}."
            ).response()
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
        entry: dict[str, object] = {
            "time": self.state.clock.isoformat(),
            "kind": self._kind(request),
            "method": request.method,
            "path": request.raw_path,
            "query": dict(request.query),
        }
        if fault is not None:
            entry["fault"] = {"id": fault.id, "action": fault.spec.action}
        if request.body and entry["kind"] != "identity":
            entry["content_type"] = request.media_type
            entry["body_bytes"] = len(request.body)
        return entry

    def _finish(
        self, entry: dict[str, object], response: HttpResponse | None, started: float
    ) -> None:
        entry["status"] = response.status if response is not None else None
        entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
        self.state.log.record(entry)
        logger.info(
            "%s %s -> %s (%.0f ms)", entry["method"], entry["path"], entry["status"] or "dropped",
            entry["duration_ms"],
        )  # fmt: skip


def _fault_response(fault: ActiveFault) -> HttpResponse:
    """An injected error status, worded as Fabric words errors (429s always say when)."""
    spec = fault.spec
    code = spec.code or _FAULT_CODES.get(spec.status, "InjectedFault")
    message = spec.message or f"Injected fault {fault.id}: HTTP {spec.status}."
    headers = []
    if spec.retry_after is not None:
        headers.append(("Retry-After", str(spec.retry_after)))
    elif spec.status == TOO_MANY_REQUESTS:
        headers.append(("Retry-After", "1"))
    return FabricError(spec.status, code, message, headers=headers).response()


async def _send(send: Send, response: HttpResponse, *, head: bool) -> None:
    """Send a complete response; a HEAD's Content-Length is the one it declares."""
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    if response.header("content-length") is None:
        headers.append((b"content-length", str(len(response.body)).encode()))
    body = b"" if head else response.body
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def create_app(config: FabricConfig | None = None) -> FabricApp:
    """A new Fabric emulator ASGI app (for in-process use, e.g. with httpx.ASGITransport)."""
    return FabricApp(config or FabricConfig())
