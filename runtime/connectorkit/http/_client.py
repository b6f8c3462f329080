"""The HTTP client every call shares, with the event hooks that count and debug-log requests."""

from __future__ import annotations

import contextvars
import logging
import threading
from typing import Any

import httpx
import msgspec

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


class CallState(msgspec.Struct):
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


class _PlainTransport(httpx.HTTPTransport):
    """httpx's transport for plain http:// only: its pool has no TLS context at all.

    httpx makes one for every transport, and the first TLS context of a process costs OpenSSL's
    set-up (milliseconds of a cold start) for connections that never use it. An https request
    never comes here (:class:`_ByScheme`); if one did, httpcore would make its default context.
    """

    def __init__(
        self, *, limits: httpx.Limits, http1: bool = True, http2: bool = False, **_tls: Any
    ) -> None:
        """``limits`` and the HTTP versions as httpx's client gives them; its TLS options unused."""
        import httpcore  # noqa: PLC0415 - imported by httpx's transports already

        # The one attribute httpx's HTTPTransport keeps (httpx is pinned to 0.28 in pyproject).
        self._pool = httpcore.ConnectionPool(
            ssl_context=None,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=http1,
            http2=http2,
        )


class _ByScheme(httpx.BaseTransport):
    """httpx's own transport, whose TLS context is made only for the first https:// request.

    Loading the certificate store costs tens of milliseconds of a cold start, for nothing when
    the service is reached over plain http (a local emulator, a gateway on loopback). An https
    request gets exactly the transport httpx would have made.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._lock = threading.Lock()
        self._plain: httpx.HTTPTransport | None = None
        self._tls: httpx.HTTPTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._for(request.url.scheme).handle_request(request)

    def _for(self, scheme: str) -> httpx.HTTPTransport:
        tls = scheme != "http"
        made = self._tls if tls else self._plain
        if made is None:
            with self._lock:
                made = self._tls if tls else self._plain
                if made is None:
                    made = (httpx.HTTPTransport if tls else _PlainTransport)(**self._options)
                    if tls:
                        self._tls = made
                    else:
                        self._plain = made
        return made

    def close(self) -> None:
        for made in (self._plain, self._tls):
            if made is not None:
                made.close()


class _Cookieless(httpx.Cookies):
    """The shared client keeps no cookies: a call's requests never carry another call's."""

    def extract_cookies(self, response: httpx.Response) -> None:
        """Ignore the cookies a response sets (``serve`` shares the client between callers)."""


class _Client(httpx.Client):
    """httpx's client with the transports above (proxies from the environment kept)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._cookies = _Cookieless()

    def _init_transport(self, *args: Any, **kwargs: Any) -> httpx.BaseTransport:
        if kwargs.get("transport") is not None:
            return super()._init_transport(*args, **kwargs)
        kwargs.pop("transport", None)
        return _RequestTransport(_ByScheme(**kwargs))

    def _init_proxy_transport(self, *args: Any, **kwargs: Any) -> httpx.BaseTransport:
        return _RequestTransport(super()._init_proxy_transport(*args, **kwargs))


def new_client() -> httpx.Client:
    """The one HTTP client a process uses (its connection pool is shared across calls)."""
    return _Client(
        follow_redirects=False,
        timeout=DEFAULT_ATTEMPT_TIMEOUT_S,
        headers={"User-Agent": f"connectorkit/{version()}"},
        event_hooks={"request": [_on_request], "response": [_on_response]},
    )
