"""What a response says, read as the pack's quirks describe the service.

The service's error code and message (where its error bodies keep them), whether the token was
refused, whether it is throttling, ``Retry-After``, and the parsed body. Nothing here names a
service: each rule comes from :class:`~connectorkit.pack._definitions.Quirks`.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from connectorkit.core._errors import AuthError, ConnectorError, HttpError, RateLimited
from connectorkit.core._json import NOT_JSON, loads_exact, loads_service

if TYPE_CHECKING:
    import httpx

    from connectorkit.pack._definitions import Quirks

__all__ = [
    "error_fields",
    "error_for",
    "parse_body",
    "parse_retry_after",
    "service_error",
    "token_refused",
]


# No Retry-After is taken at more than a year: the figure stays a plain finite number.
MAX_RETRY_AFTER_S = 365 * 24 * 3600.0
_SECONDS = re.compile(r"[+-]?\d+(?:\.\d+)?")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    Anything else (``inf``, ``1e20``, ``NaN``) is no Retry-After at all. A huge number of seconds
    stays finite (at most a year): the call's longest wait turns it into ``rate_limited``.
    """
    if not value:
        return None
    value = value.strip()
    if _SECONDS.fullmatch(value):
        # RFC 9110 10.2.3 says whole seconds; a fraction is tolerated.
        return min(max(0.0, float(value)), MAX_RETRY_AFTER_S)
    try:
        import email.utils  # noqa: PLC0415 - the rare date form; keeps start-up lean

        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S)


def _at(body: Any, path: str) -> str | None:
    """The text at a dotted ``path`` of a JSON body (a number counts as text), if any."""
    value = body
    for step in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


def error_fields(body: Any, quirks: Quirks) -> tuple[str | None, str | None]:
    """The service's error ``(code, message)`` in a parsed body, where its quirks say they are."""
    code = next((c for p in quirks.error_code if (c := _at(body, p)) is not None), None)
    message = next((m for p in quirks.error_message if (m := _at(body, p)) is not None), None)
    return code, message


def service_error(response: httpx.Response, quirks: Quirks) -> tuple[str | None, str | None]:
    """The service's error ``(code, message)`` in a response body, when it has them."""
    body = loads_service(response.content)
    return (None, None) if body is NOT_JSON else error_fields(body, quirks)


def token_refused(response: httpx.Response, quirks: Quirks) -> bool:
    """Whether ``response`` says the access token itself was refused (renew it, try once more)."""
    status = response.status_code
    matches = [r for r in quirks.token_refused if r.status == status]
    if not matches:
        return False
    if any(r.code is None for r in matches):
        return True
    code = service_error(response, quirks)[0]
    return any(r.code == code for r in matches)


def error_for(response: httpx.Response, quirks: Quirks) -> ConnectorError:
    """The contract error for a non-success response."""
    status = response.status_code
    code, message = service_error(response, quirks)
    text = message or f"the service answered {status} {response.reason_phrase}"
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status in quirks.throttled:
        return RateLimited(text, status=status, code=code, retry_after=retry_after)
    if token_refused(response, quirks):
        return AuthError(f"the service refused the credentials: {text}", status=status, code=code)
    return HttpError(text, status=status, code=code, retry_after=retry_after)


def parse_body(response: httpx.Response) -> Any:
    """The body as strict JSON when it is that, else as text; ``None`` when empty."""
    content = response.content
    if not content:
        return None
    # msgspec first: what it accepts is exactly what the strict reading gives, several times
    # faster; what it refuses is read the strict way, which decides between JSON and text.
    body = loads_exact(content)
    if body is NOT_JSON:
        body = loads_service(content)
    return response.text if body is NOT_JSON else body
