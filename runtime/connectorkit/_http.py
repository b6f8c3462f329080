"""The HTTP client every call shares, with the event hooks that count and debug-log requests."""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass

import httpx

from connectorkit._bounds import bound_response
from connectorkit._redact import MASK, mask
from connectorkit._version import version

__all__ = [
    "DEFAULT_ATTEMPT_TIMEOUT_S",
    "CallState",
    "current_call",
    "new_client",
]

log = logging.getLogger("connectorkit")

# Longest a single attempt may wait for the service when the caller set no Timeout.
DEFAULT_ATTEMPT_TIMEOUT_S = 120.0
_DEBUG_BODY_LIMIT = 4000
_SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "proxy-authorization"})


@dataclass(slots=True)
class CallState:
    """Per-call counters and switches, reached from httpx's event hooks through a context var."""

    debug: bool = False
    requests: int = 0
    retries: int = 0
    # The call's bounds on every response body: a deadline on time.monotonic, a size limit.
    deadline: float | None = None
    timeout_s: float = 0.0
    max_response_bytes: int | None = None


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
    state = current_call.get()
    if state is None:
        return
    if state.deadline is not None and state.max_response_bytes is not None:
        bound_response(
            response,
            deadline=state.deadline,
            timeout_s=state.timeout_s,
            limit=state.max_response_bytes,
        )
    if not state.debug:
        return
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


def new_client() -> httpx.Client:
    """The one HTTP client a process uses (its connection pool is shared across calls)."""
    return httpx.Client(
        follow_redirects=False,
        timeout=DEFAULT_ATTEMPT_TIMEOUT_S,
        headers={"User-Agent": f"connectorkit/{version()}"},
        event_hooks={"request": [_on_request], "response": [_on_response]},
    )
