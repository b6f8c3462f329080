"""The HTTP client every call shares, with the event hooks that count and debug-log requests."""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass

import httpx

from connectorkit.core._redact import MASK, mask
from connectorkit.core._version import version
from connectorkit.http._bounds import bound_response

__all__ = [
    "DEFAULT_ATTEMPT_TIMEOUT_S",
    "STREAMED",
    "TRANSPORT_EXTENSION",
    "CallState",
    "current_call",
    "new_client",
]

log = logging.getLogger("connectorkit")

# A request whose answer is streamed to disk (a file saved with save_to): its body is neither
# read into memory by the auth flow nor bounded by the call's response size; the time budget
# still applies.
STREAMED = "connectorkit.streamed"
# Longest a single attempt may wait for the service when the caller set no Timeout.
DEFAULT_ATTEMPT_TIMEOUT_S = 120.0
_DEBUG_BODY_LIMIT = 4000
_SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "proxy-authorization"})


@dataclass(slots=True)
class CallState:
    """Per-call counters and switches, reached from httpx's event hooks through a context var.

    The call's bounds are not here: its budget travels on each request (``_bounds``).
    """

    debug: bool = False
    requests: int = 0
    retries: int = 0


current_call: contextvars.ContextVar[CallState | None] = contextvars.ContextVar(
    "connectorkit_call", default=None
)


def _on_request(request: httpx.Request) -> None:
    state = current_call.get()
    if state is None:
        return
    state.requests += 1
    if state.debug:
        log.info(
            "→ %s %s\n%s%s", request.method, request.url, _headers(request.headers), _body(request)
        )


def _on_response(response: httpx.Response) -> None:
    # A file streamed to disk may be of any size; its time is bounded all the same.
    streamed = bool(response.is_success and response.request.extensions.get(STREAMED))
    bound_response(response, any_size=streamed)
    state = current_call.get()
    if state is None or not state.debug or response.request.extensions.get(STREAMED):
        return  # a streamed file is not read for the debug log
    response.read()
    log.info(
        "← %s %s (%s %s)\n%s%s",
        response.status_code,
        response.reason_phrase,
        response.request.method,
        response.request.url,
        _headers(response.headers),
        "  (token response hidden: it carries tokens)\n"
        if _is_form(response.request)
        else _text(response.content),
    )


def _is_form(request: httpx.Request) -> bool:
    """A form post is a token request here: its body and answer carry credentials."""
    content_type: str = request.headers.get("content-type", "")
    return content_type.startswith("application/x-www-form-urlencoded")


def _headers(headers: httpx.Headers) -> str:
    return "".join(
        f"  {k}: {MASK if k.lower() in _SENSITIVE_HEADERS else v}\n" for k, v in headers.items()
    )


def _body(request: httpx.Request) -> str:
    try:
        content = request.content
    except httpx.RequestNotRead:
        return "  (streamed body)\n"
    if _is_form(request):
        return "  (form body hidden: it carries credentials)\n"
    return _text(content)


def _text(content: bytes) -> str:
    if not content:
        return ""
    shown = content[:_DEBUG_BODY_LIMIT].decode("utf-8", "replace")
    more = f" … ({len(content)} bytes)" if len(content) > _DEBUG_BODY_LIMIT else ""
    return f"  {mask(shown)}{more}\n"


# A request whose extensions hold a transport under this key is sent through it instead of the
# shared pool: an auth flow that signs in connections (NTLM) keeps its requests on its own.
TRANSPORT_EXTENSION = "connectorkit.transport"


class _RequestTransport(httpx.BaseTransport):
    """The shared pool, unless the request brings its own transport."""

    def __init__(self, shared: httpx.BaseTransport) -> None:
        self._shared = shared

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        own = request.extensions.get(TRANSPORT_EXTENSION)
        if isinstance(own, httpx.BaseTransport):
            return own.handle_request(request)
        return self._shared.handle_request(request)

    def close(self) -> None:
        self._shared.close()


def new_client() -> httpx.Client:
    """The one HTTP client a process uses (its connection pool is shared across calls)."""
    client = httpx.Client(
        follow_redirects=False,
        timeout=DEFAULT_ATTEMPT_TIMEOUT_S,
        headers={"User-Agent": f"connectorkit/{version()}"},
        event_hooks={"request": [_on_request], "response": [_on_response]},
    )
    # Wrapped after the fact: a client given a transport of its own ignores HTTP(S)_PROXY.
    client._transport = _RequestTransport(client._transport)  # noqa: SLF001 - see above
    client._mounts = {  # noqa: SLF001 - the proxies httpx mounted from the environment
        pattern: None if mounted is None else _RequestTransport(mounted)
        for pattern, mounted in client._mounts.items()  # noqa: SLF001
    }
    return client
