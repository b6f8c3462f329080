"""What a response says, read as the pack's quirks describe the service.

The service's error code and message (where its error bodies keep them), whether the token was
refused, whether it is throttling, ``Retry-After``, and the parsed body. Nothing here names a
service: each rule comes from :class:`~connectorkit._definitions.Quirks`.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from connectorkit._errors import AuthError, ConnectorError, HttpError, RateLimited

if TYPE_CHECKING:
    import httpx

    from connectorkit._definitions import Quirks

__all__ = [
    "error_fields",
    "error_for",
    "parse_body",
    "parse_retry_after",
    "service_error",
    "token_refused",
]


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        import email.utils  # noqa: PLC0415 - the rare date form; keeps start-up lean

        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


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
    try:
        body = json.loads(response.content)
    except ValueError:
        return None, None
    return error_fields(body, quirks)


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
    """The body as JSON when it is JSON, else as text; ``None`` when empty."""
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        return response.text
