"""The HTTP client every call shares: counting and debug logging hooks, error mapping."""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from connectorkit import __version__
from connectorkit._errors import AuthError, ConnectorError, HttpError, RateLimited
from connectorkit._redact import MASK, mask
from connectorkit._retry import parse_retry_after
from connectorkit._strictjson import NOT_JSON, loads_service

__all__ = [
    "DEFAULT_ATTEMPT_TIMEOUT_S",
    "CallState",
    "current_call",
    "error_for",
    "new_client",
    "parse_body",
    "service_error",
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
    if state is None or not state.debug:
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
        headers={"User-Agent": f"connectorkit/{__version__}"},
        event_hooks={"request": [_on_request], "response": [_on_response]},
    )


def service_error(response: httpx.Response) -> tuple[str | None, str | None]:
    """Power BI's own ``{"error": {"code", "message"}}``, when the body has it."""
    body = loads_service(response.content)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message")
        return (str(code) if code else None), (str(message) if message else None)
    if isinstance(error, str):
        return error, (
            str(body.get("error_description")) if body.get("error_description") else None
        )
    return None, None


def error_for(response: httpx.Response) -> ConnectorError:
    """The contract error for a non-success response."""
    status = response.status_code
    code, message = service_error(response)
    text = message or f"the service answered {status} {response.reason_phrase}"
    fields: dict[str, Any] = {"status": status, "code": code}
    if status == 429:  # noqa: PLR2004
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimited(text, retry_after=retry_after, **fields)
    if status == 401 or (status == 403 and code == "TokenExpired"):  # noqa: PLR2004
        return AuthError(f"the service refused the credentials: {text}", **fields)
    return HttpError(text, **fields)


def parse_body(response: httpx.Response) -> Any:
    """The body as strict JSON, else as text (``None`` when empty)."""
    if not response.content:
        return None
    body = loads_service(response.content)
    return response.text if body is NOT_JSON else body
